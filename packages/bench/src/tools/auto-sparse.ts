/**
 * auto when messages come far apart (issue 9): one size, each message after an idle gap (the
 * sender sleeps GAP_MS, 250 by default: the multimodal demo's requests come ~300 ms apart), a
 * fresh source buffer each time (as a worker fills a new tensor per request), to a receiver that
 * stamps arrival (measure/coordinator.ts's setup). Each round sends through auto, inline (libferry's
 * cache "auto": hot below min(LLC/2, 16 MiB)), inline with cache "cold" and offload/sw in an order that
 * rotates, one message per gap, so the machine's drift hits them alike. Prints each one's median
 * end to end (send start -> the receiver has every byte), auto's choice and time per send in order
 * (i inline, p pipelined, o offload, s split), and what the coordinator had learnt by the end
 * (the cache placement per size class, inline copies per size class, the engine's rates). The calibration is the cached one (measured if none).
 *
 *   bun run packages/bench/src/tools/auto-sparse.ts [size=9633792] [rounds=16]
 *   GAP_MS: the gap; PASSES=1: the receiver reads every byte once (Bun.hash) before it stamps
 */
import { defaultPolicy, setDefaultPolicy } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";
import { MiB } from "../lib/format";
import { monoNs } from "../lib/msg";
import { Session } from "../lib/session";
import { median } from "../lib/stats";
import { sentPerChoice } from "../measure/coordinator";
setDefaultPolicy(defaultPolicy);

const size = Number(process.argv[2] ?? 9_633_792);
const rounds = Number(process.argv[3] ?? 16);
const gapMs = Number(process.env.GAP_MS ?? 250);
const co = await Coordinator.calibrate({ objective: "latency" });
await using s = new Session({
  role: "recv",
  data: { tag: "sparse", capacity: 4 * size + 4 * MiB, slots: 64 },
  ack: { tag: "sparsea", capacity: MiB, slots: 64 },
  ackWait: "block",
  args: [MiB, "block"],
});
await s.peer.ready;
const pub = s.data.publisher({ backpressure: "block", timeoutMs: -1, coordinator: co });
// the receiver does no work per byte (arrival only), or PASSES hash passes over every byte (it reads the message)
const header = new Uint8Array([Number(process.env.PASSES ?? 0)]);
const variants = [
  { name: "auto", opts: { header } },
  { name: "inline", opts: { mode: "inline" as const, header } },
  { name: "inline cold", opts: { mode: "inline" as const, cache: "cold" as const, header } },
  { name: "offload/sw", opts: { mode: "offload" as const, engine: "sw", header } },
];
const times = variants.map(() => [] as number[]);
const seq: string[] = [];
const sent = () => sentPerChoice(co);
try {
  for (let r = 0; r < rounds; r++)
    for (let k = 0; k < variants.length; k++) {
      const j = (r + k) % variants.length;
      await Bun.sleep(gapMs);
      const src = new Float32Array(size / 4);
      for (let i = 0; i < src.length; i += 1024) src[i] = i; // written, as a worker's tensor is
      const before = j === 0 ? sent() : null;
      const t0 = monoNs();
      await pub.send(src, variants[j]!.opts);
      const [t1] = await s.recvAck();
      times[j]!.push(t1 - t0);
      if (before) {
        const after = sent();
        const kind = Object.keys(after).find((x) => after[x] !== (before[x] ?? 0)) ?? "?";
        seq.push(`${kind[0]}${((t1 - t0) / 1e3).toFixed(0)}`);
      }
    }
} finally {
  pub.close();
}
await s.end();
const ms = (ns: number) => (ns / 1e6).toFixed(2);
console.log(`${size} B every ${gapMs} ms, ${rounds} rounds: ${variants.map((v, j) => `${v.name} ${ms(median(times[j]!))} ms`).join(", ")} (median end to end)`);
console.log(`auto per send (µs): ${seq.join(" ")}`);
const st = co.stats();
const place = Object.entries(st.placement.classes).map(([k, c]) => `${k} ${c.chosen} (hot ${c.hot.correction}x, ${c.hot.seen} seen; cold ${c.cold.correction}x, ${c.cold.seen})`);
console.log(`learnt: placement ${place.join("; ") || "nothing"}; inline ${JSON.stringify(st.inlineCorrections)}; ${Object.entries(st.engines).map(([l, e]) => `${l} rate ${e.rateCorrection}x, pipelined ${e.pipelinedCorrection}x`).join("; ")}; auto now: ${co.explain(size).mode}/${co.explain(size).engine}`);
