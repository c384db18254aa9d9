/**
 * auto with sizes that vary (issue 9): each message a random size in [lo, hi] MiB (so each is
 * decided afresh: remembered decisions are per size), sent by auto and by one fixed mode in
 * rounds (same size, the order alternating), 100 µs apart, to a receiver that stamps arrival
 * (measure/coordinator.ts's setup). Prints auto / fixed per round (median and mean) and
 * auto's decision time per send (decide() or remembered.take()). INLINE_SCALE=6: the
 * calibrated profile with inline copies 6x as slow (a synthetic one on which the engines win
 * from ~1 MiB, as on the device machine); FIX=offload: compare with offload/sw (default inline).
 *
 *   bun run packages/bench/src/tools/auto-varied.ts [loMiB=1] [hiMiB=8] [rounds=150]
 */
import { defaultPolicy, setDefaultPolicy, type Publisher, type SendPolicy } from "@ferry/channel";
import { toolCoordinator } from "../measure/coordinator";
import { MiB } from "../lib/format";
import { monoNs } from "../lib/msg";
import { Session } from "../lib/session";
import { median } from "../lib/stats";
setDefaultPolicy(defaultPolicy);

const lo = Number(process.argv[2] ?? 1) * MiB;
const hi = Number(process.argv[3] ?? 8) * MiB;
const n = Number(process.argv[4] ?? 150);
const fix = process.env.FIX === "offload" ? "offload" : "inline";
const co = await toolCoordinator();
let decideNs = 0;
const timed: SendPolicy = {
  get fastInline() { return co.fastInline; },
  decide(size, ctx) { const a = Bun.nanoseconds(); const d = co.decide(size, ctx); decideNs += Bun.nanoseconds() - a; return d; },
  observe: (r) => co.observe(r),
  retryInline: (e) => co.retryInline(e),
  remembered: {
    take(size, pub) { const a = Bun.nanoseconds(); const d = co.remembered.take(size, pub); decideNs += Bun.nanoseconds() - a; return d; },
    settled: (d, size, ns, syncNs) => co.remembered.settled(d, size, ns, syncNs),
  },
};
await using s = new Session({ role: "recv", data: { tag: "avary", capacity: hi + 4 * MiB, slots: 64 }, ack: { tag: "avarya", capacity: MiB, slots: 64 }, ackWait: "block", args: [MiB, "hybrid"] });
await s.peer.ready;
const pub: Publisher = s.data.publisher({ backpressure: "block", timeoutMs: -1, policy: timed });
const src = new Uint8Array(hi).fill(5);
const header = new Uint8Array([0]);
const once = async (size: number, auto: boolean): Promise<[number, number]> => {
  const g = Bun.nanoseconds();
  while (Bun.nanoseconds() - g < 100_000);
  decideNs = 0;
  const t0 = monoNs();
  await pub.send(src.subarray(0, size), auto ? { header } : { mode: fix, engine: fix === "offload" ? "sw" : undefined, header });
  const [t1] = await s.recvAck();
  return [t1 - t0, decideNs];
};
for (let i = 0; i < 40; i++) { await once(lo, true); await once(lo, false); } // warm-up at one size
const ratio: number[] = [], dec: number[] = [];
for (let i = 0; i < n; i++) {
  const size = (lo + Math.floor(Math.random() * (hi - lo))) & ~63;
  let a: [number, number], f: [number, number];
  if (i & 1) { a = await once(size, true); f = await once(size, false); }
  else { f = await once(size, false); a = await once(size, true); }
  ratio.push(a[0] / f[0]);
  dec.push(a[1]);
}
const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
const st = co.stats();
console.log(`${lo / MiB}-${hi / MiB} MiB, ${n} rounds: auto / ${fix} per round median ${median(ratio).toFixed(3)}x, mean ${mean(ratio).toFixed(3)}x; auto's decision per send median ${(median(dec) / 1e3).toFixed(1)} µs, mean ${(mean(dec) / 1e3).toFixed(1)} µs; ${st.decidedAfresh} computed afresh; ${Object.entries(st.choices).map(([k, c]) => `${k} ${c.messages}`).join(", ")}`);
pub.close();
