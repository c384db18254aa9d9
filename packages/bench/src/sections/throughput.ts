/** 2. Throughput, Bun -> Bun (zero-copy, zero-copy-nowrite, inline) and single-thread memcpy in the same run. */
import { KiB, MiB, fmtSize, table, type Grid } from "../lib/format";
import { chart, type Series } from "../lib/svg";
import { target } from "../lib/target";
import { throughput as measure } from "../measure/throughput";
import type { TputMode, TputResult } from "../schema";
import { section } from "../section";
import { cThroughputs } from "./c";

const MODES: TputMode[] = ["zero-copy", "zero-copy-nowrite", "inline", "memcpy"];
const PLOTTED = ["zero-copy", "inline", "memcpy"] as const;
const COLORS: Record<(typeof PLOTTED)[number], string> = { "zero-copy": "#1f77b4", inline: "#d62728", memcpy: "#555555" };

/** GB/s per size (rows) and mode (columns, those measured), and inline / memcpy; printed, and pasted by report.ts ("md"). */
export function tputGrid(r: TputResult[], style: "text" | "md"): Grid {
  const at = (mode: TputMode, size: number) => r.find((x) => x.mode === mode && x.size === size);
  const sizes = [...new Set(r.map((x) => x.size))].sort((a, b) => a - b);
  const modes = MODES.filter((m) => r.some((x) => x.mode === m));
  return {
    head: ["size", ...modes.map((m) => (style === "text" ? `${m} GB/s` : m)), style === "text" ? "inline/memcpy" : "inline / memcpy"],
    rows: sizes.map((s) => {
      const inl = at("inline", s)?.gbps;
      const mc = at("memcpy", s)?.gbps;
      return [fmtSize(s), ...modes.map((m) => at(m, s)?.gbps.toFixed(2) ?? "-"), inl && mc ? `${(inl / mc).toFixed(2)}` : "-"];
    }),
  };
}

export const throughput = section({
  name: "throughput",
  title: "2. throughput, Bun -> Bun, and single-thread memcpy in the same run",
  alwaysTargets: true,
  empty: () => [],
  config: (o) => ({
    sizes: [4 * KiB, 64 * KiB, MiB, 16 * MiB, 64 * MiB, 256 * MiB],
    modes: MODES,
    bytesPerRep: o.quick ? 64 * MiB : 256 * MiB,
    reps: o.quick ? 3 : 15,
    maxMsPerCell: o.quick ? 800 : 5000,
  }),
  run(cfg) {
    Bun.gc(true);
    return measure(cfg);
  },
  table(r) {
    return [
      table(tputGrid(r, "text")),
      "zero-copy: loan + bytes.fill(i) + publish; zero-copy-nowrite: loan + publish; inline: sendSync(private buffer);",
      "memcpy: dst.set(src) on two private arrays, in this process, reps interleaved with the others",
    ].join("\n");
  },
  targets(r) {
    const at = (mode: TputMode) => r?.find((x) => x.mode === mode && x.size === 64 * MiB);
    const inl = at("inline"), mc = at("memcpy");
    return [
      target("<=", {
        id: "inline-vs-memcpy",
        name: "inline copy of 64 MiB vs single-thread memcpy of 64 MiB (time ratio)",
        limit: 1.25,
        fmt: (x) => `${x.toFixed(2)}x`,
      }, inl && mc ? mc.gbps / inl.gbps : undefined),
    ];
  },
  /** GB/s vs size: the Bun modes and, when built, the C modes of the same run. */
  plot(r, ctx) {
    const tput: TputResult[] = r ?? [];
    const ctp = cThroughputs(ctx.results.c ?? []);
    if (!tput.length && !ctx.results.c?.length) return null;
    const series: Series[] = [];
    for (const mode of PLOTTED) {
      const points = tput.filter((x) => x.mode === mode).map((x) => ({ x: x.size, y: x.gbps }));
      if (points.length) series.push({ label: `Bun ${mode}${mode === "zero-copy" ? " (fill)" : mode === "memcpy" ? " (dst.set)" : ""}`, color: COLORS[mode], points });
    }
    for (const mode of PLOTTED) {
      const points = ctp.filter((x) => x.impl === mode).map((x) => ({ x: x.size, y: x.gbps }));
      if (points.length) series.push({ label: `C ${mode}`, color: COLORS[mode], dash: "6 4", points });
    }
    const m = ctx.machine;
    const svg = chart({
      width: 820,
      height: 500,
      title: "Ferry throughput between two processes vs message size",
      subtitle: `${m.cpu}, ${m.cores} cores; Bun ${m.bun}; median of reps; ${ctx.date.slice(0, 10)}${ctx.options.quick ? " (quick)" : ""}`,
      panels: [{
        left: 70, top: 60, width: 540, height: 380,
        xLabel: "message size (bytes, log scale)",
        yLabel: "GB/s (1e9 B/s, log scale)",
        series,
        tick: (v) => (v >= 1 ? `${v}` : v.toPrecision(1)),
        tip: (v) => `${v.toFixed(2)} GB/s`,
        pad: 1.4,
        legend: "right",
      }],
    });
    return { tag: "throughput", svg, docs: !ctx.options.quick && !ctx.options.only ? "docs/bench-throughput.svg" : null };
  },
});
