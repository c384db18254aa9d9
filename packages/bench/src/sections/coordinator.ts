/**
 * 8. The coordinator (issue 9): `auto` against every fixed mode/engine, in
 * the same run, between two Bun processes.
 *
 *  a. end-to-end latency (send start -> the receiver has every byte; it does
 *     no work on them), 64 B .. 256 MiB, variants interleaved iteration by
 *     iteration: auto (Coordinator.calibrate({ objective: "latency" }), the
 *     default engines), inline, offload/sw, pipelined/sw, offload and
 *     pipelined through the emulated DSA device (a correctness vehicle: a
 *     fixed choice here, never one auto considers by default);
 *  b. sending-thread CPU per GiB, a stream of 16 and 64 MiB messages (<= 2
 *     sends in flight), inline vs auto under objective cpu, at the stream's
 *     steady state: auto first sends STEADY_SENDS (2,048) 16 MiB messages (not
 *     with --quick, which measures the cold stream), then 64 warm-up sends of
 *     each variant and size, then 7 alternating rounds (3 with --quick), the
 *     median round.
 *
 * Each size's table row also shows auto against the best fixed choice per round (the median of
 * auto's time / its time in the same round): steadier where the times are bimodal (64 B), shown
 * beside the target's ratio of medians, not instead of it.
 *
 * Targets: auto within 10% of the best fixed choice at every size; auto's
 * geometric mean over the sizes below every fixed choice's; sender CPU per
 * GiB under objective cpu <= 5% of inline's.
 *
 * Importing @ferry/coordinator makes its shared coordinator the process's
 * default policy; the bench puts the channel's own default back, so that no
 * other section changes behaviour (every send here names its coordinator).
 */
import { defaultPolicy, setDefaultPolicy } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";
import { dsaEngine } from "@ferry/dsa-engine";
import { KiB, MiB, fmtNs, fmtSize, table } from "../lib/format";
import { chart, type Series } from "../lib/svg";
import { target } from "../lib/target";
import { STEADY_SENDS, coordCpu, coordLatency, type Variant } from "../measure/coordinator";
import type { CoordResult } from "../schema";
import { section, type Log, type Options } from "../section";

setDefaultPolicy(defaultPolicy);

export interface CoordConfig {
  quick: boolean;
  sizes: number[];
  iterations: (size: number) => number;
  cpuSizes: number[];
  cpuBytes: number;
  emulatedDsa: boolean;
}

function config(o: Options): CoordConfig {
  const Q = o.quick;
  return {
    quick: Q,
    sizes: Q ? [64, 16 * KiB, MiB, 16 * MiB, 64 * MiB] : [64, KiB, 16 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB],
    iterations: (s) => (s <= 256 * KiB ? (Q ? 30 : 300) : s <= 4 * MiB ? (Q ? 15 : 100) : s <= 16 * MiB ? (Q ? 7 : 40) : s <= 64 * MiB ? (Q ? 5 : 15) : Q ? 5 : 9),
    cpuSizes: Q ? [16 * MiB] : [16 * MiB, 64 * MiB],
    cpuBytes: Q ? 256 * MiB : 1024 * MiB,
    emulatedDsa: process.env.FERRY_BENCH_NO_DSA !== "1",
  };
}

async function run(cfg: CoordConfig, log: Log): Promise<CoordResult> {
  const t0 = performance.now();
  const co = await Coordinator.calibrate({ objective: "latency" });
  const cpuCo = await Coordinator.calibrate({ objective: "cpu" });
  log(`calibration: ${co.profileSource} (${co.profile.ms} ms measured${co.profileNote ? `; ${co.profileNote}` : ""}); engines ${co.profile.engines.map((e) => e.label).join(", ")}`);
  log(`auto crossovers (latency): ${co.crossovers().map((x) => `${x.from} -> ${x.to} at ${fmtSize(x.size)}`).join(", ") || "none: inline everywhere"}`);
  const dsa = cfg.emulatedDsa ? dsaEngine({ device: "emulated" }) : null;
  const variants: Variant[] = [
    { name: "auto", mode: null },
    { name: "inline", mode: "inline" },
    { name: "offload/sw", mode: "offload", engine: "sw" },
    { name: "pipelined/sw", mode: "pipelined", engine: "sw" },
    ...(dsa ? [{ name: "offload/dsa-emulated", mode: "offload", engine: dsa }, { name: "pipelined/dsa-emulated", mode: "pipelined", engine: dsa }] as Variant[] : []),
  ];
  try {
    log("end-to-end latency per size (8a), median:");
    const lat = await coordLatency(cfg.sizes, variants, co, cfg.iterations, log);
    log("sending-thread CPU per GiB, objective cpu vs inline (8b):");
    const cpu = await coordCpu(cfg.cpuSizes, cfg.cpuBytes, cpuCo, cfg.quick ? 3 : 7, cfg.quick ? 0 : STEADY_SENDS);
    for (const c of cpu) log(`  ${fmtSize(c.size)}: inline ${fmtNs(c.inline_thread_ns_per_gib)}/GiB, auto ${fmtNs(c.auto_thread_ns_per_gib)}/GiB (${(c.ratio * 100).toFixed(1)}%; ${c.choice})`);
    return {
      calibration: { source: co.profileSource, ms: co.profile.ms, engines: co.profile.engines.map((e) => e.label), note: co.profileNote },
      variants: variants.map((v) => v.name),
      cells: lat.cells,
      choices: lat.choices,
      cpu,
      seconds: +((performance.now() - t0) / 1000).toFixed(1),
    };
  } finally {
    dsa?.close();
  }
}

/** auto / best fixed per size, and the geometric means. */
export function coordSummary(r: CoordResult) {
  const sizes = [...new Set(r.cells.map((c) => c.size))];
  const fixed = r.variants.filter((v) => v !== "auto");
  const cell = (v: string, s: number) => r.cells.find((c) => c.variant === v && c.size === s);
  const at = (v: string, s: number) => cell(v, s)?.median_ns ?? NaN;
  const perSize = sizes.map((s) => {
    const best = fixed.reduce((b, v) => (at(v, s) < at(b, s) ? v : b), fixed[0]!);
    const perRound = cell(best, s)?.auto_per_round ?? NaN;
    return { size: s, auto: at("auto", s), best, bestNs: at(best, s), ratio: at("auto", s) / at(best, s), perRound, choice: r.choices[s] ?? "" };
  });
  const geo = (v: string) => Math.exp(sizes.reduce((a, s) => a + Math.log(at(v, s)), 0) / sizes.length);
  const geos = Object.fromEntries(r.variants.map((v) => [v, geo(v)]));
  const bestFixedGeo = fixed.reduce((b, v) => (geos[v]! < geos[b]! ? v : b), fixed[0]!);
  return { perSize, geos, bestFixedGeo, worst: perSize.reduce((w, x) => (x.ratio > w.ratio ? x : w), perSize[0]!) };
}

function tables(r: CoordResult): string {
  const s = coordSummary(r);
  const sizes = s.perSize.map((x) => x.size);
  const at = (v: string, size: number) => r.cells.find((c) => c.variant === v && c.size === size)?.median_ns ?? NaN;
  const lat = table(["size", ...r.variants, "best fixed", "auto / best", "per round", "auto chose"], sizes.map((size, i) => [
    fmtSize(size), ...r.variants.map((v) => fmtNs(at(v, size))), s.perSize[i]!.best, `${s.perSize[i]!.ratio.toFixed(2)}x`,
    `${s.perSize[i]!.perRound.toFixed(2)}x`, s.perSize[i]!.choice,
  ]));
  const geo = table(["", ...r.variants], [["geometric mean", ...r.variants.map((v) => fmtNs(s.geos[v]!))]]);
  const cpu = table(["size", "inline thread CPU/GiB", "auto (objective cpu) thread CPU/GiB", "auto / inline", "inline wall/GiB", "auto wall/GiB", "auto chose"],
    r.cpu.map((c) => [fmtSize(c.size), fmtNs(c.inline_thread_ns_per_gib), fmtNs(c.auto_thread_ns_per_gib), `${(c.ratio * 100).toFixed(1)}%`, fmtNs(c.inline_wall_ns_per_gib), fmtNs(c.auto_wall_ns_per_gib), c.choice]));
  return `end-to-end latency (median), auto vs every fixed choice\n${lat}\n${geo}\nsending-thread CPU per GiB\n${cpu}`;
}

const COLORS: Record<string, string> = {
  auto: "#000000", inline: "#1f77b4", "offload/sw": "#ff7f0e", "pipelined/sw": "#2ca02c", "offload/dsa-emulated": "#9467bd", "pipelined/dsa-emulated": "#8c564b",
};

export const coordinator = section({
  name: "coordinator",
  title: "8. coordinator: auto vs every fixed mode/engine, Bun -> Bun",
  alwaysTargets: false,
  empty: () => null,
  config,
  run,
  table: (r) => (r ? tables(r) : ""),
  targets(r) {
    const s = r ? coordSummary(r) : null;
    const x = (v: number) => `${v.toFixed(2)}x`;
    const autoGeo = s?.geos.auto;
    const bestGeo = s ? s.geos[s.bestFixedGeo] : undefined;
    const cpuWorst = r?.cpu.length ? Math.max(...r.cpu.map((c) => c.ratio)) : undefined;
    return [
      target("<=", {
        id: "auto-vs-best-fixed",
        name: "auto end-to-end latency vs the best fixed mode/engine, worst size (64 B .. 256 MiB)",
        limit: 1.1,
        fmt: x,
        note: s ? `worst at ${fmtSize(s.worst.size)}: auto ${fmtNs(s.worst.auto)} (${s.worst.choice}) vs ${s.worst.best} ${fmtNs(s.worst.bestNs)} (per round ${s.worst.perRound.toFixed(2)}x; worst per round ${Math.max(...s.perSize.map((x) => x.perRound)).toFixed(2)}x)` : undefined,
      }, s?.worst.ratio),
      target("<=", {
        id: "auto-geomean",
        name: "auto geometric mean over the sizes vs the best single fixed choice (must be below 1)",
        limit: 0.999,
        fmt: (v) => `${v.toFixed(3)}x`,
        note: s ? `auto ${fmtNs(autoGeo!)}, best fixed ${s.bestFixedGeo} ${fmtNs(bestGeo!)}; ${Object.entries(s.geos).map(([k, v]) => `${k} ${fmtNs(v)}`).join(", ")}` : undefined,
      }, autoGeo !== undefined && bestGeo !== undefined ? autoGeo / bestGeo : undefined),
      target("<=", {
        id: "auto-cpu-vs-inline",
        name: "sending-thread CPU per GiB, auto under objective cpu vs inline (worst size)",
        limit: 0.05,
        fmt: (v) => `${(v * 100).toFixed(1)}%`,
        note: r?.cpu.length ? r.cpu.map((c) => `${fmtSize(c.size)}: ${fmtNs(c.auto_thread_ns_per_gib)} vs ${fmtNs(c.inline_thread_ns_per_gib)} per GiB (${c.choice})`).join("; ") : undefined,
      }, cpuWorst),
    ];
  },
  plot(r, ctx) {
    if (!r?.cells.length) return null;
    const m = ctx.machine;
    const series: Series[] = r.variants.map((v) => ({
      label: v, color: COLORS[v] ?? "#777777", dash: v === "auto" ? undefined : v.includes("dsa") ? "2 3" : "6 3",
      points: r.cells.filter((c) => c.variant === v).map((c) => ({ x: c.size, y: c.median_ns })),
    }));
    const s = coordSummary(r);
    const ms = (v: number) => (v >= 1e6 ? `${+(v / 1e6).toPrecision(3)} ms` : `${+(v / 1e3).toPrecision(3)} µs`);
    const svg = chart({
      width: 980,
      height: 470,
      title: "Ferry coordinator: auto vs every fixed mode/engine (two Bun processes)",
      subtitle: `${m.cpu}, ${m.cores} cores; Bun ${m.bun}; ${ctx.date.slice(0, 10)}${ctx.options.quick ? " (quick)" : ""}`,
      panels: [
        { left: 60, top: 80, width: 340, height: 300, title: "end-to-end latency (median)", xLabel: "message size (log scale)", yLabel: "send start → receiver has every byte", series, tick: ms, pad: 1.3, legend: "inside" },
        {
          left: 550, top: 80, width: 340, height: 300, title: "each choice / the best fixed one at that size", xLabel: "message size (log scale)", yLabel: "ratio (1 = best fixed)", pad: 1.1, legend: "inside",
          tick: (v) => v.toFixed(2),
          series: r.variants.map((v, i) => ({
            ...series[i]!,
            points: s.perSize.map((p) => ({ x: p.size, y: (r.cells.find((c) => c.variant === v && c.size === p.size)?.median_ns ?? NaN) / p.bestNs })),
          })),
        },
      ],
    });
    return { tag: "coordinator", svg, docs: ctx.options.quick ? null : "docs/bench-coordinator.svg" };
  },
});
