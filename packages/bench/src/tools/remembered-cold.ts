/**
 * What a remembered decision costs when the coordinator's code is cold (issue 9): in one process, a
 * coordinator calibrated as section 8's (measure/coordinator.ts toolCoordinator: INLINE_SCALE applies)
 * decides <size> once, then `remembered.take()` and `remembered.settled()` run as a stream of sends of
 * that size runs them, each right after reading a 96 MiB buffer (which evicts the caches and the TLB,
 * as a large copy does) and a 100 µs pause. Prints the median and p90 of each after the first 50. It
 * idles IDLE_MS first (default 300: the coordinator's warm-up has run by then; FERRY_COORD_WARMUP=0
 * runs without it).
 *
 *   bun run packages/bench/src/tools/remembered-cold.ts [takes=300]   (SIZE: default 16 MiB)
 *
 * Compare in runs that alternate: this 2-vCPU VM moves medians by ~20% between runs.
 */
import { MiB } from "../lib/format";
import { coldCoordinator } from "../measure/coordinator";
import { pct, sorted } from "../lib/stats";

const n = Number(process.argv[2] ?? 300);
const size = Number(process.env.SIZE ?? 16 * MiB);
using cold = await coldCoordinator("remembered-cold");
const { co, pub, ctx } = cold;
await cold.idle();
const r = co.remembered!;
co.decide(size, ctx);
const take: number[] = [], settled: number[] = [];
let missed = 0;
for (let i = 0; i < n; i++) {
  cold.evict();
  const t0 = Bun.nanoseconds();
  const d = r.take(size, pub);
  const t1 = Bun.nanoseconds();
  if (d === null) {
    missed++; // (not remembered: decide again, as a publisher would)
    co.decide(size, ctx);
    continue;
  }
  cold.evict();
  const t2 = Bun.nanoseconds();
  r.settled(d, size, 1_000_000, 1_000_000);
  const t3 = Bun.nanoseconds();
  if (i >= 50) {
    take.push(t1 - t0);
    settled.push(t3 - t2);
  }
}
const us = (xs: number[], p: number) => `${(pct(sorted(xs), p) / 1e3).toFixed(1)} µs`;
console.log(
  `${size} B (${co.explain(size).mode}): take median ${us(take, 50)}, p90 ${us(take, 90)}; settled median ${us(settled, 50)}, p90 ${us(settled, 90)} ` +
    `(${take.length} of each; ${missed} not remembered; warm-up ${cold.warmUp})`,
);
