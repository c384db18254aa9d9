/**
 * 0. The floors the spin targets are ratios to (issue 7), measured in the
 * same run: the Bun Atomics floor here (measure/atomics-floor.ts: two Bun
 * processes, one shared cache line); the C floor is bench_pingpong's `floor`
 * rows of the C section. Targets: Bun spin 64 B one-way <= 3x the Bun
 * floor, C spin <= 2x the C floor.
 */
import { fmtNs, table } from "../lib/format";
import { target } from "../lib/target";
import { atomicsFloor } from "../measure/atomics-floor";
import type { FloorResult } from "../schema";
import { section } from "../section";
import { cPingPongs } from "./c";
import { ferry64, spinLoop } from "./latency";

export const floor = section({
  name: "floor",
  title: "0. the one-way floor of two Bun processes: Atomics on one shared cache line",
  alwaysTargets: true,
  empty: (): FloorResult => null,
  config: (o) => ({ iterations: o.quick ? 20_000 : 200_000, warmup: o.quick ? 2_000 : 20_000 }),
  run: (cfg) => atomicsFloor(cfg.iterations, cfg.warmup),
  table: (r) =>
    r ? table({ head: ["floor", "one-way p50", "one-way p99", "n"], rows: [["Bun Atomics, one cache line", fmtNs(r.p50_ns), fmtNs(r.p99_ns), r.n]] }) : "not measured",
  targets(r, ctx) {
    const ratio = (x: number) => `${x.toFixed(2)}x`;
    const bunSpin = ferry64(ctx).find(spinLoop)?.p50_ns;
    const pp = cPingPongs(ctx.results.c ?? []);
    const cFloor = pp.find((x) => x.impl === "floor" && x.size === 64)?.p50_ns;
    const cSpin = pp.find((x) => x.impl === "ferry" && x.wait === "spin" && x.size === 64)?.p50_ns;
    const iox = pp.find((x) => x.impl === "iceoryx" && x.size === 64)?.p50_ns;
    return [
      target("<=", {
        id: "bun-spin-vs-floor",
        name: "one-way 64 B Bun->Bun spin p50 vs the Bun Atomics floor (same run)",
        limit: 3,
        fmt: ratio,
        note: r && bunSpin ? `Bun spin ${fmtNs(bunSpin)}, floor ${fmtNs(r.p50_ns)}` : undefined,
      }, r && bunSpin ? bunSpin / r.p50_ns : undefined),
      target("<=", {
        id: "c-spin-vs-floor",
        name: "one-way 64 B C->C ferry spin p50 vs the C floor (same run)",
        limit: 2,
        fmt: ratio,
        note: cFloor && cSpin ? `C spin ${fmtNs(cSpin)}, C floor ${fmtNs(cFloor)}${iox ? `, iceoryx ${fmtNs(iox)}` : ""}` : undefined,
      }, cFloor && cSpin ? cSpin / cFloor : undefined),
    ];
  },
});
