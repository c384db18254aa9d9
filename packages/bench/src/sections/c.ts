/** 4. The C microbenchmarks (native/build/bench): ping-pong, throughput, libferry's cold request path and iceoryx, same run. */
import { fmtNs, fmtSize, table, type Grid } from "../lib/format";
import { target } from "../lib/target";
import { cBenches } from "../measure/cbench";
import type { CCold, CPingPong, CRun, CThroughput, Result } from "../schema";
import { section } from "../section";

export const cPingPongs = (runs: CRun[]) => runs.flatMap((r) => r.records).filter((x): x is CPingPong => x.bench === "pingpong");
export const cThroughputs = (runs: CRun[]) => runs.flatMap((r) => r.records).filter((x): x is CThroughput => x.bench === "throughput");
export const cColds = (runs: CRun[]) => runs.flatMap((r) => r.records).filter((x): x is CCold => x.bench === "cold");

/** The C ping-pong, throughput and cold-path tables that have rows (printed, and pasted by report.ts). */
export function cGrids(runs: CRun[]): Grid[] {
  const out: Grid[] = [];
  const pp = cPingPongs(runs);
  const tp = cThroughputs(runs);
  const cold = cColds(runs);
  if (pp.length) out.push({ head: ["impl", "wait", "size", "p50", "p99", "n"], rows: pp.map((r) => [r.impl, r.wait, fmtSize(r.size), fmtNs(r.p50_ns), fmtNs(r.p99_ns), r.n]) });
  if (tp.length) {
    const sizes = [...new Set(tp.map((r) => r.size))].sort((a, b) => a - b);
    const impls = [...new Set(tp.map((r) => r.impl))];
    out.push({ head: ["size", ...impls.map((i) => `C ${i} GB/s`)], rows: sizes.map((s) => [fmtSize(s), ...impls.map((i) => tp.find((r) => r.impl === i && r.size === s)?.gbps.toFixed(2) ?? "-")]) });
  }
  if (cold.length) {
    const cell = (armed: boolean, phase: string) => {
      const r = cold.find((x) => x.armed === armed && x.phase === phase);
      return r ? `${fmtNs(r.p50_ns)} (p90 ${fmtNs(r.p90_ns)})` : "-";
    };
    const gap = `${cold[0]!.gap_us / 1000} ms`;
    out.push({
      head: [`libferry after ${gap} idle (bench_cold, p50)`, "wake armed (send incl. sendto)", "no wake"],
      rows: (["send", "take", "release"] as const).map((ph) => [ph, cell(true, ph), cell(false, ph)]),
    });
  }
  return out;
}

/** 64 B p50 of an impl, the spin row when there is one. */
const p64 = (pp: CPingPong[], impl: string) => pp.find((r) => r.impl === impl && r.size === 64 && r.wait === "spin") ?? pp.find((r) => r.impl === impl && r.size === 64);

/** The "for scale" numbers of the results JSON, and the line printed under the targets. */
export function scale(runs: CRun[]): { scale: Result["scale"]; line: string } {
  const pp = cPingPongs(runs);
  const iox = p64(pp, "iceoryx");
  const floor = p64(pp, "floor");
  const status = (n: string) => runs.find((r) => r.name === n)?.status ?? "not run";
  return {
    scale: { iceoryx_64B_p50_ns: iox?.p50_ns ?? null, floor_64B_p50_ns: floor?.p50_ns ?? null },
    line: `for scale: C iceoryx 64 B p50 ${iox ? fmtNs(iox.p50_ns) : `n/a (${status("iceoryx")})`}; C floor (two processes, one shared cache line) 64 B p50 ${floor ? fmtNs(floor.p50_ns) : `n/a (${status("bench_pingpong")})`}`,
  };
}

export const c = section({
  name: "c",
  title: "4. C microbenchmarks (native/build/bench)",
  alwaysTargets: true,
  empty: () => [],
  config: (o) => ({ quick: o.quick, timeoutS: o.quick ? 30 : 120, deadline: o.deadline }),
  run: (cfg) => cBenches(cfg.quick, cfg.timeoutS, cfg.deadline),
  table(runs) {
    const o = runs.map((r) => `${r.name}: ${r.status}${r.detail ? ` (${r.detail})` : ""}${r.seconds !== undefined ? `, ${r.seconds.toFixed(1)} s` : ""}, ${r.records.length} results`);
    for (const g of cGrids(runs)) o.push("\n" + table(g));
    return o.join("\n");
  },
  targets(runs) {
    const pp = cPingPongs(runs ?? []);
    const floor = pp.find((r) => r.impl === "floor" && r.size === 64);
    return [
      target("<=", {
        id: "c-spin-p50",
        name: "one-way 64 B C->C ferry spin, p50",
        limit: 150,
        fmt: fmtNs,
        note: `same run: C floor ${floor ? fmtNs(floor.p50_ns) : "n/a"} is the hardware limit of one hop on this machine`,
      }, pp.find((r) => r.impl === "ferry" && r.wait === "spin" && r.size === 64)?.p50_ns),
    ];
  },
});
