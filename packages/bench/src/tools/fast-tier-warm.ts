/**
 * What auto's fast tier costs with its code warm: one process, a calibrated coordinator's publisher, 64 B
 * (or `size`) sends back to back, each timed, auto (`send(src, { header })`) against a fixed inline send
 * (`send(src, { mode: "inline", header })`) in six alternating repetitions of `n` sends; a subscriber in the
 * same process releases each message. Prints each repetition's median send time in ns. Section 8 times the
 * same sends cold (after other variants and a receiver's wake-up): docs/benchmarks.md, "Where issue 9 closes".
 *
 *   bun run packages/bench/src/tools/fast-tier-warm.ts [size=64] [gapNs=0] [n=20000]
 */
import { Channel, defaultPolicy, setDefaultPolicy } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";
import { median } from "../lib/stats";

setDefaultPolicy(defaultPolicy);
const size = Number(process.argv[2] ?? 64);
const gap = Number(process.argv[3] ?? 0);
const n = Number(process.argv[4] ?? 20_000);
const co = await Coordinator.calibrate({ objective: "latency" });
const ch = Channel.create(`fastwarm-${process.pid}`, { capacity: 4 * 2 ** 20 + 2 * size, slots: 64 });
const sub = ch.subscribe();
const pub = ch.publisher({ coordinator: co });
const src = new Uint8Array(size).fill(1);
const header = new Uint8Array([0]);
const res: Record<string, number[]> = { auto: [], inline: [] };
try {
  for (let rep = 0; rep < 6; rep++)
    for (const v of rep % 2 ? ["inline", "auto"] : ["auto", "inline"]) {
      const ts: number[] = [];
      for (let i = 0; i < n; i++) {
        if (gap) {
          const g = Bun.nanoseconds();
          while (Bun.nanoseconds() - g < gap);
        }
        const t0 = Bun.nanoseconds();
        await (v === "auto" ? pub.send(src, { header }) : pub.send(src, { mode: "inline", header }));
        ts.push(Bun.nanoseconds() - t0);
        sub.tryReceive()?.release();
      }
      res[v]!.push(median(ts));
    }
  console.log(`${size} B, median send per repetition (ns): auto ${res.auto!.join(" ")} | inline ${res.inline!.join(" ")}`);
} finally {
  pub.close();
  sub.close();
  ch.close();
}
