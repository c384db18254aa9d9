/**
 * The CPU cost of one small-message hop inside one process (issue 7): loan(64) + one byte
 * written + publish + tryReceive + one byte read + release, per hop, on one channel. No
 * peer, so no cache line moves between cores: what the JS layer and libferry cost per hop.
 *
 *   bun run packages/bench/src/tools/hop-cost.ts [blocks=5] [hops=400000]
 *
 * Prints the median and the minimum of `blocks` timed blocks (after one warm-up block).
 * Runs of separate processes move by ~10% (where the JIT lands): compare builds over
 * several runs, alternating.
 */
import { Channel } from "@ferry/channel";

const blocks = Number(process.argv[2] ?? 5);
const hops = Number(process.argv[3] ?? 400_000);
const ch = Channel.create(`hop-cost-${process.pid}`, { capacity: 1 << 20, slots: 1024 });
try {
  const pub = ch.publisher();
  const sub = ch.subscribe();
  let sink = 0;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const l = pub.loan(64);
      l.bytes[0] = i;
      pub.publish(l);
      const m = sub.tryReceive()!;
      sink += m.bytes[0]!;
      m.release();
    }
  };
  run(hops);
  const ns: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const t0 = Bun.nanoseconds();
    run(hops);
    ns.push((Bun.nanoseconds() - t0) / hops);
  }
  ns.sort((a, b) => a - b);
  console.log(`64 B hop in one process: median ${ns[ns.length >> 1]!.toFixed(1)} ns, min ${ns[0]!.toFixed(1)} ns (${blocks} x ${hops} hops)${sink < 0 ? "" : ""}`);
} finally {
  ch.close();
}
