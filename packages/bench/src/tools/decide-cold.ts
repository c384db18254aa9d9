/**
 * What a fresh decision costs when the coordinator's code is cold (issue 9): in one process,
 * a coordinator calibrated as section 8's (measure/coordinator.ts toolCoordinator: INLINE_SCALE applies) decides random 10-40 MiB sizes (each one new, so
 * decided afresh), each right after reading a 96 MiB buffer (which evicts the caches, as a
 * large copy does) and a 100 µs pause. Prints the median and p90 of decide() after the first
 * 50. It idles IDLE_MS first (default 300: the coordinator's warm-up has run by then;
 * FERRY_COORD_WARMUP=0 runs without it). EVICT=0: no read between decisions (warm).
 *
 *   bun run packages/bench/src/tools/decide-cold.ts [decisions=300]
 *
 * Compare builds in runs that alternate: this 2-vCPU VM moves medians by ~20% between runs.
 */
import { MiB } from "../lib/format";
import { coldCoordinator } from "../measure/coordinator";
import { pct, sorted } from "../lib/stats";

const n = Number(process.argv[2] ?? 300);
const evict = process.env.EVICT !== "0";
using cold = await coldCoordinator("decide-cold");
const { co, ctx } = cold;
await cold.idle();
const ns: number[] = [];
for (let i = 0; i < n; i++) {
  const size = (10 * MiB + Math.floor(Math.random() * 30 * MiB)) & ~63;
  if (evict) cold.evict();
  else {
    const g = Bun.nanoseconds();
    while (Bun.nanoseconds() - g < 100_000);
  }
  const t0 = Bun.nanoseconds();
  co.decide(size, ctx);
  ns.push(Bun.nanoseconds() - t0);
}
const s = sorted(ns.slice(Math.min(50, n >> 2)));
console.log(`fresh decide() of 10-40 MiB${evict ? " after a 96 MiB read" : " (warm)"}: median ${(pct(s, 50) / 1e3).toFixed(1)} µs, p90 ${(pct(s, 90) / 1e3).toFixed(1)} µs (${s.length} decisions; ${co.stats().decidedAfresh} computed afresh; warm-up ${cold.warmUp})`);
