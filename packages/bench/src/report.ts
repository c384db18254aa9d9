/**
 * Markdown tables from a results JSON (what docs/benchmarks.md pastes).
 *
 *   bun run packages/bench/src/report.ts [bench-results/latest.json]
 *
 * Reads the schema run.ts writes (schema.ts); older files may lack fields, so
 * every section is optional here.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fmtNs, mdTable as md } from "./lib/format";
import { REPO_ROOT } from "./lib/machine";
import type { Result } from "./schema";
import { cGrids } from "./sections/c";
import { latencyGrid } from "./sections/latency";
import { peersGrid } from "./sections/peers";
import { tputGrid } from "./sections/throughput";

/** A results file as read: any field may be missing in one written by an older harness. */
export type ResultFile = Partial<Result>;

export function markdown(r: ResultFile): string {
  const o: string[] = [];
  const m: Partial<Result["machine"]> = r.machine ?? {};
  o.push(`Run of ${String(r.date).slice(0, 19).replace("T", " ")} UTC${r.quick ? " (--quick)" : ""}: ${m.cpu}, ${m.cores} cores${m.virtualized ? " (VM)" : ""}, L3 ${m.l3}, ${m.memory_gib} GiB, Linux ${m.kernel}; Bun ${m.bun}; libferry ${m.ferry}; ${r.seconds?.total} s in all.`);
  const bg = r.other_cpu_before?.foreign ?? 0;
  const during = Object.entries(r.other_cpu_during ?? {});
  o.push(`CPU used by other processes: ${(bg * 100).toFixed(0)}% before the run; during it: ${during.map(([k, v]) => `${k} ${(v.foreign * 100).toFixed(0)}%`).join(", ") || "n/a"}.`);
  o.push("");

  if (r.latency?.length) {
    o.push("**One-way latency, Bun → Bun** (loan/publish; receiver reads every cache line, then releases; RTT/2)\n");
    o.push(md(latencyGrid(r.latency)));
    o.push("");
  }
  if (r.throughput?.length) {
    o.push("**Throughput, Bun → Bun, GB/s (median of reps)**, with single-thread memcpy (`dst.set(src)`) from the same run\n");
    o.push(md(tputGrid(r.throughput, "md")));
    o.push("");
  }
  const peers = r.peers && peersGrid(r.peers, "md");
  if (peers) {
    o.push("**Peers, same run**: 64 MiB round trip (payload one way, small ack back; median) and 64 B one-way latency (RTT/2)\n");
    o.push(md(peers));
    o.push("");
  }
  const c = r.c ?? [];
  if (c.length) {
    o.push("**C microbenchmarks** (`native/build/bench`, same run): " + c.map((x) => `${x.name}: ${x.status}${x.detail ? ` (${x.detail})` : ""}`).join("; ") + "\n");
    for (const g of cGrids(c)) {
      o.push(md(g));
      o.push("");
    }
  }
  if (r.targets?.length) {
    o.push("**Targets**\n");
    o.push(md(["target", "goal", "measured", "status", "gap", "same run, for context"], r.targets.map((t) => [t.name, t.goal, t.measured, t.status === "PASS" ? "**PASS**" : t.status === "MISS" ? "**MISS**" : t.status, t.gap, t.note ?? ""])));
    const s: Partial<Result["scale"]> = r.scale ?? {};
    o.push("");
    o.push(`For scale (C, same run): iceoryx 64 B p50 ${s.iceoryx_64B_p50_ns != null ? fmtNs(s.iceoryx_64B_p50_ns) : "n/a"}; floor (one cache line each way between the two processes) 64 B p50 ${s.floor_64B_p50_ns != null ? fmtNs(s.floor_64B_p50_ns) : "n/a"}.`);
  }
  return o.join("\n") + "\n";
}

if (import.meta.main) {
  const file = process.argv[2] ?? join(REPO_ROOT, "bench-results/latest.json");
  process.stdout.write(markdown(JSON.parse(readFileSync(file, "utf8")) as ResultFile));
}
