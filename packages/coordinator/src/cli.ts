/**
 * What `ferry explain <size>` and `ferry stat` print, as functions the CLI
 * calls (the CLI owns argument parsing and output):
 *
 *   ferry explain 64MiB [--objective latency|throughput|cpu] [--recalibrate] [--json]
 *     console.log(await explainText(parseSize(arg), { objective, recalibrate }))
 *     console.log(JSON.stringify(await explainJson(parseSize(arg), { objective }), null, 2))
 *   ferry stat [--json]   (the coordinator part)
 *     console.log(statsText())  /  console.log(JSON.stringify(statsJson(), null, 2))
 *
 * explain uses the cached calibration of this machine (measuring once, <= 1 s,
 * when there is none or it is stale); stat reads the snapshots that processes
 * with a coordinator leave in statsDir().
 */
import { Errno, FerryError } from "@ferry/native";
import { Coordinator, fmtNs, fmtSize, type CoordinatorOptions, type CoordinatorStats, type Explanation, type Objective } from "./coordinator";
import { readSharedStats, statsDir, type ProcessStats } from "./stats";

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 2 ** 20, mb: 1e6, mib: 2 ** 20, g: 2 ** 30, gb: 1e9, gib: 2 ** 30 };

/** "64", "4k", "4KiB", "64MiB", "1.5M", "2GB" -> bytes (k/M/G and KiB/MiB/GiB are powers of two, kB/MB/GB of ten). FERRY_E_INVAL otherwise. */
export function parseSize(text: string | number): number {
  if (typeof text === "number") {
    if (!Number.isSafeInteger(text) || text < 0) throw new FerryError(Errno.INVAL, `size must be a non-negative integer, got ${text}`);
    return text;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new FerryError(Errno.INVAL, `cannot read size ${JSON.stringify(text)} (e.g. 4096, 64k, 16MiB, 1.5GB)`);
  return Math.round(Number(m[1]) * unit);
}

export interface ExplainCliOptions {
  objective?: Objective;
  /** Measure even when a cached profile is valid. */
  recalibrate?: boolean;
  /** Pass-through (engines, emulatedDsa, ...). */
  coordinator?: CoordinatorOptions;
}

export type ExplainJson = Explanation & { profile: { source: string; created: string; ms: number; note: string; engines: string[] } };

/** The decision for a message of `size` (bytes or text such as "64MiB") on this machine, as JSON. */
export async function explainJson(size: number | string, opts: ExplainCliOptions = {}): Promise<ExplainJson> {
  const bytes = parseSize(size);
  const co = await Coordinator.calibrate({ ...opts.coordinator, objective: opts.objective, recalibrate: opts.recalibrate });
  const e = co.explain(bytes);
  const p = co.profile;
  return { ...e, profile: { source: co.profileSource, created: p.created, ms: p.ms, note: co.profileNote, engines: p.engines.map((x) => x.label) } };
}

/** `ferry explain <size>` as text. */
export async function explainText(size: number | string, opts: ExplainCliOptions = {}): Promise<string> {
  return formatExplanation(await explainJson(size, opts));
}

export function formatExplanation(e: ExplainJson | Explanation): string {
  const lines: string[] = [];
  const split = e.cpuShare ? `, split ${(e.cpuShare * 100).toFixed(0)}% CPU / ${(100 - e.cpuShare * 100).toFixed(0)}% ${e.engine}` : "";
  const wait = e.wait === "block" ? "block" : `${e.wait} (spin ${fmtNs(e.spinNs)})`;
  lines.push(`${fmtSize(e.size)}, objective ${e.objective}: mode ${e.mode}, engine ${e.engine}${split}, cache ${e.cache}, wait ${wait}, chunk ${e.chunkBytes ? fmtSize(e.chunkBytes) : "-"}`);
  lines.push("why:");
  for (const r of e.reasons) lines.push(`  - ${r}`);
  lines.push("estimates (this size):");
  const w = Math.max(...e.estimates.map((x) => x.choice.length), 6);
  lines.push(`  ${"choice".padEnd(w)}  ${"latency".padStart(9)}  ${"sender CPU".padStart(10)}  ${"busy".padStart(9)}`);
  for (const x of e.estimates)
    lines.push(`  ${x.choice.padEnd(w)}  ${fmtNs(x.latencyNs).padStart(9)}  ${fmtNs(x.cpuNs).padStart(10)}  ${fmtNs(x.busyNs).padStart(9)}${x.excluded ? `  (not usable: ${x.excluded})` : ""}`);
  return lines.join("\n");
}

/** Coordinator stats of every live process (and the last snapshot of ones that exited since the last look). */
export function statsJson(): ProcessStats[] {
  return readSharedStats();
}

/** `ferry stat`'s coordinator part as text. */
export function statsText(all: ProcessStats[] = statsJson()): string {
  if (!all.length) return `coordinator: no process with a coordinator has sent anything (snapshots in ${statsDir()})`;
  const out: string[] = [];
  for (const p of all)
    for (const c of p.coordinators as CoordinatorStats[]) {
      out.push(`pid ${p.pid} (${p.argv}) coordinator #${c.id}, objective ${c.objective}, profile ${c.profile.source}${c.profile.created ? ` ${c.profile.created}` : ""}; ${c.decisions} decisions (${c.decidedAfresh ?? "?"} computed afresh), updated ${p.updated}`);
      out.push(`  ${"choice".padEnd(18)} ${"messages".padStart(9)} ${"bytes".padStart(10)} ${"mean".padStart(9)} ${"p50".padStart(9)} ${"p99".padStart(9)} ${"errors".padStart(6)} ${"→inline".padStart(7)}`);
      for (const [k, s] of Object.entries(c.choices))
        out.push(`  ${k.padEnd(18)} ${String(s.messages).padStart(9)} ${fmtSize(s.bytes).padStart(10)} ${fmtNs(s.ns / Math.max(1, s.messages)).padStart(9)} ${("≤" + fmtNs(s.p50Ns)).padStart(9)} ${("≤" + fmtNs(s.p99Ns)).padStart(9)} ${String(s.errors).padStart(6)} ${String(s.retriedInline).padStart(7)}`);
      for (const [label, e] of Object.entries(c.engines)) {
        out.push(`  engine ${label}: ${e.health}${e.reason ? ` (${e.reason})` : ""}, in flight ${e.inflight} (${fmtSize(e.inflightBytes)}), split CPU share ${(e.cpuShare * 100).toFixed(1)}% after ${e.splitSamples} split sends, ${e.errors} errors`);
        // what its sends taught (snapshots of an older library may lack these)
        const classes = Object.entries(e.splitClasses ?? {}).map(([k, x]) =>
          `${k} ${x.trusted ? "trusted" : x.lost ? `left out (${x.lost})` : "on trial"}${x.samples ? `, ${x.samples} seen at ${x.seenGBps} GB/s` : ""}`);
        if (e.rateCorrection !== undefined)
          out.push(`    learnt: rate ${e.rateCorrection}x, pipelined ${e.pipelinedCorrection}x the calibration${classes.length ? `; splits ${classes.join("; ")}` : ""}`);
      }
      const inl = Object.entries(c.inlineCorrections ?? {});
      if (inl.length) out.push(`  learnt: inline copies ${inl.map(([k, x]) => `${k} ${x}x`).join(", ")} the calibration (per size class)`);
      const place = Object.entries(c.placement?.classes ?? {});
      if (place.length)
        out.push(`  learnt: cache placement ${place.map(([k, x], i) => `${k} ${x.chosen} (hot${i ? "" : " copies"} ${x.hot.correction}x${i ? "" : " the calibration"}, ${x.hot.seen} seen; cold ${x.cold.correction}x, ${x.cold.seen})`).join("; ")}`);
      out.push(`  fallbacks: ${c.fallbacks.count}${Object.keys(c.fallbacks.byKind).length ? ` (${Object.entries(c.fallbacks.byKind).map(([k, n]) => `${k} ×${n}`).join(", ")})` : ""}`);
      for (const f of c.fallbacks.recent.slice(-5)) out.push(`    ${f.at} ${f.kind}: ${f.change}, ${fmtSize(f.size)}: ${f.reason}`);
    }
  return out.join("\n");
}
