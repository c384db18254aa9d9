/**
 * 0. The floors the spin targets are ratios to (issue 7), measured in the
 * same run: the Bun Atomics floor here (measure/atomics-floor.ts: two Bun
 * processes, one shared cache line); the C floor is bench_pingpong's `floor`
 * rows of the C section. Targets: Bun spin 64 B one-way <= 3x the Bun
 * floor, C spin <= 2x the C floor. The floor drifts with where the VM puts
 * its two vCPUs (35 ns on SMT siblings, 60-70 ns on two cores, ~230 ns across
 * sockets, from minute to minute), so this section measures the Bun spin
 * ratio itself: rounds of a floor session then a Bun spin session (64 B, a
 * tryReceive loop, measure/pingpong.ts), samples pooled per kind.
 */
import { fmtNs, table } from "../lib/format";
import { target } from "../lib/target";
import { pct, sorted } from "../lib/stats";
import { atomicsFloorRtts } from "../measure/atomics-floor";
import { pingPongRtts } from "../measure/pingpong";
import type { FloorResult } from "../schema";
import { section } from "../section";
import { cPingPongs } from "./c";
import { ferry64, spinLoop } from "./latency";

export const floor = section({
  name: "floor",
  title: "0. the one-way floor of two Bun processes: Atomics on one shared cache line",
  alwaysTargets: true,
  empty: (): FloorResult => null,
  config: (o) => ({ iterations: o.quick ? 20_000 : 200_000, warmup: o.quick ? 2_000 : 20_000, spin: o.quick ? 10_000 : 60_000, rounds: o.quick ? 2 : 4 }),
  async run(cfg) {
    const floors: Float64Array[] = [];
    const spins: Float64Array[] = [];
    for (let round = 0; round < cfg.rounds; round++) {
      floors.push(await atomicsFloorRtts(Math.ceil(cfg.iterations / cfg.rounds), cfg.warmup));
      spins.push(await pingPongRtts({ wait: "spin", size: 64, replySize: 64, send: "loan", iterations: cfg.spin, warmup: 2000, warmupMs: 150, maxMs: 2000 }));
    }
    const pool = (xs: Float64Array[]) => sorted(xs.flatMap((x) => [...x]));
    const f = pool(floors);
    const s = pool(spins);
    return { n: f.length, p50_ns: pct(f, 50) / 2, p99_ns: pct(f, 99) / 2, spin_n: s.length, spin_p50_ns: pct(s, 50) / 2, rounds: cfg.rounds };
  },
  table: (r) =>
    r
      ? table({
        head: ["floor", "one-way p50", "one-way p99", "n"],
        rows: [
          ["Bun Atomics, one cache line", fmtNs(r.p50_ns), fmtNs(r.p99_ns), r.n],
          ...(r.spin_p50_ns ? [["Bun spin 64 B (tryReceive loop), rounds between", fmtNs(r.spin_p50_ns), "", r.spin_n ?? ""]] : []),
        ],
      })
      : "not measured",
  targets(r, ctx) {
    const ratio = (x: number) => `${x.toFixed(2)}x`;
    // the spin of this section's own rounds (interleaved with the floor), else the latency section's
    const bunSpin = r?.spin_p50_ns ?? ferry64(ctx).find(spinLoop)?.p50_ns;
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
        note: r && bunSpin ? `Bun spin ${fmtNs(bunSpin)}, floor ${fmtNs(r.p50_ns)}${r.spin_p50_ns ? ` (${r.rounds} interleaved rounds)` : " (latency section)"}` : undefined,
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
