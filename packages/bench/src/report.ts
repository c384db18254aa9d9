/**
 * Markdown tables from a results JSON (what docs/benchmarks.md pastes).
 *
 *   bun run packages/bench/src/report.ts [bench-results/latest.json]
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, fmtNs, fmtRatio, fmtSize } from "./util";

// The JSON written by run.ts (loosely typed: reports must also read older files).
// biome-ignore lint: any is the honest type of a parsed file
type J = any;

const md = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i ? "---:" : "---")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

export function markdown(r: J): string {
  const o: string[] = [];
  const m = r.machine ?? {};
  o.push(`Run of ${String(r.date).slice(0, 19).replace("T", " ")} UTC${r.quick ? " (--quick)" : ""}: ${m.cpu}, ${m.cores} cores${m.virtualized ? " (VM)" : ""}, L3 ${m.l3}, ${m.memory_gib} GiB, Linux ${m.kernel}; Bun ${m.bun}; libferry ${m.ferry}; ${r.seconds?.total} s in all.`);
  const bg = r.other_cpu_before?.foreign ?? 0;
  const during = Object.entries(r.other_cpu_during ?? {}) as [string, { foreign: number; busiest: string[] }][];
  o.push(`CPU used by other processes: ${(bg * 100).toFixed(0)}% before the run; during it: ${during.map(([k, v]) => `${k} ${(v.foreign * 100).toFixed(0)}%`).join(", ") || "n/a"}.`);
  o.push("");

  if (r.latency?.length) {
    o.push("**One-way latency, Bun → Bun** (loan/publish; receiver reads every cache line, then releases; RTT/2)\n");
    o.push(md(["receiver wait", "size", "p50", "p99", "min", "n"], r.latency.map((x: J) => [x.wait, fmtSize(x.size), fmtNs(x.p50_ns), fmtNs(x.p99_ns), fmtNs(x.min_ns), x.n])));
    o.push("");
  }
  if (r.throughput?.length) {
    const sizes = [...new Set(r.throughput.map((x: J) => x.size as number))].sort((a: J, b: J) => a - b) as number[];
    const modes = ["zero-copy", "zero-copy-nowrite", "inline", "memcpy"].filter((mo) => r.throughput.some((x: J) => x.mode === mo));
    const g = (mo: string, s: number) => r.throughput.find((x: J) => x.mode === mo && x.size === s);
    o.push("**Throughput, Bun → Bun, GB/s (median of reps)**, with single-thread memcpy (`dst.set(src)`) from the same run\n");
    o.push(md(["size", ...modes, "inline / memcpy"], sizes.map((s) => {
      const i = g("inline", s)?.gbps, c = g("memcpy", s)?.gbps;
      return [fmtSize(s), ...modes.map((mo) => (g(mo, s) ? g(mo, s).gbps.toFixed(2) : "-")), i && c ? (i / c).toFixed(2) : "-"];
    })));
    o.push("");
  }
  const p = r.peers;
  if (p?.others?.length) {
    const ipc = p.others.find((x: J) => x.impl === "bun-ipc");
    const uds = p.others.find((x: J) => x.impl === "unix-socket");
    const rows: (string | number)[][] = [
      ["Bun IPC (`serialization: \"advanced\"`)", fmtNs(ipc.rtt.median_ns), "1x", fmtRatio(uds.rtt.median_ns / ipc.rtt.median_ns), fmtNs(ipc.lat64.p50_ns), fmtNs(ipc.lat64.p99_ns)],
      ["Unix domain socket (Bun.listen/connect)", fmtNs(uds.rtt.median_ns), fmtRatio(ipc.rtt.median_ns / uds.rtt.median_ns), "1x", fmtNs(uds.lat64.p50_ns), fmtNs(uds.lat64.p99_ns)],
    ];
    for (const f of p.ferry_rtt ?? []) {
      const l = f.send === "loan" && !f.touch ? (p.ferry_64B ?? []).find((x: J) => x.wait === f.wait) : null;
      rows.push([
        `Ferry ${f.send === "loan" ? "loan" : "inline copy"}, ${f.wait}${f.touch ? ", receiver reads all 64 MiB" : ""}`,
        fmtNs(f.rtt_p50_ns),
        fmtRatio(ipc.rtt.median_ns / f.rtt_p50_ns),
        fmtRatio(uds.rtt.median_ns / f.rtt_p50_ns),
        l ? fmtNs(l.p50_ns) : "",
        l ? fmtNs(l.p99_ns) : "",
      ]);
    }
    o.push("**Peers, same run**: 64 MiB round trip (payload one way, small ack back; median) and 64 B one-way latency (RTT/2)\n");
    o.push(md(["transport", "64 MiB RTT", "× faster than Bun IPC", "× faster than UDS", "64 B p50", "64 B p99"], rows));
    o.push("");
  }
  const c: J[] = r.c ?? [];
  if (c.length) {
    o.push("**C microbenchmarks** (`native/build/bench`, same run): " + c.map((x) => `${x.name}: ${x.status}${x.detail ? ` (${x.detail})` : ""}`).join("; ") + "\n");
    const pp = c.flatMap((x) => x.records).filter((x: J) => x.bench === "pingpong");
    if (pp.length) {
      o.push(md(["impl", "wait", "size", "p50", "p99", "n"], pp.map((x: J) => [x.impl, x.wait, fmtSize(x.size), fmtNs(x.p50_ns), fmtNs(x.p99_ns), x.n])));
      o.push("");
    }
    const tp = c.flatMap((x) => x.records).filter((x: J) => x.bench === "throughput");
    if (tp.length) {
      const sizes = [...new Set(tp.map((x: J) => x.size as number))].sort((a, b) => a - b);
      const impls = [...new Set(tp.map((x: J) => x.impl as string))];
      o.push(md(["size", ...impls.map((i) => `C ${i} GB/s`)], sizes.map((s) => [fmtSize(s), ...impls.map((i) => tp.find((x: J) => x.impl === i && x.size === s)?.gbps.toFixed(2) ?? "-")])));
      o.push("");
    }
  }
  if (r.targets?.length) {
    o.push("**Targets**\n");
    o.push(md(["target", "goal", "measured", "status", "gap", "same run, for context"], r.targets.map((t: J) => [t.name, t.goal, t.measured, t.status === "PASS" ? "**PASS**" : t.status === "MISS" ? "**MISS**" : t.status, t.gap, t.note ?? ""])));
    const s = r.scale ?? {};
    o.push("");
    o.push(`For scale (C, same run): iceoryx 64 B p50 ${s.iceoryx_64B_p50_ns != null ? fmtNs(s.iceoryx_64B_p50_ns) : "n/a"}; floor (one cache line each way between the two processes) 64 B p50 ${s.floor_64B_p50_ns != null ? fmtNs(s.floor_64B_p50_ns) : "n/a"}.`);
  }
  return o.join("\n") + "\n";
}

if (import.meta.main) {
  const file = process.argv[2] ?? join(REPO_ROOT, "bench-results/latest.json");
  process.stdout.write(markdown(JSON.parse(readFileSync(file, "utf8"))));
}
