/** The modes section's tables (5a-5e) and its plot (latency and stream throughput vs size, per mode). */
import { fmtNs, fmtSize, table } from "../lib/format";
import { chart, type Series } from "../lib/svg";
import { MODES, type ModesResult, type SendMode } from "../schema";

export function modesTables(r: ModesResult): string {
  const o: string[] = [];
  const lat = (m: SendMode, size: number) => r.latency.find((c) => c.mode === m && c.size === size)!;
  if (r.engines) {
    o.push(`-- 5f. engine overhead: dsa on the ${r.engines.device} device vs sw (1 thread), in-process offload send, median`);
    o.push(table(["size", "sw", "dsa", "dsa/sw"], r.engines.cells.map((c) => [fmtSize(c.size), fmtNs(c.sw_ns), fmtNs(c.dsa_ns), `${c.ratio.toFixed(2)}x`])));
    o.push(`dsa: ${r.engines.reason}. The emulated device copies on a CPU thread: this is its overhead as a correctness vehicle, not a DSA speed claim.`);
  }
  o.push("-- 5a. end-to-end latency (send start -> receiver processed every byte), median");
  o.push(table(["size", "inline", "offload", "pipelined", "copy", "work", "limit", "inline/limit", "offload/limit", "pipelined/limit", "pipelined vs inline"], r.limits.map((x) => {
    const [i, p] = [lat("inline", x.size), lat("pipelined", x.size)];
    return [fmtSize(x.size), fmtNs(i.median_ns), fmtNs(lat("offload", x.size).median_ns), fmtNs(p.median_ns), fmtNs(x.copy_ns), fmtNs(x.work_ns), fmtNs(x.limit_ns),
      x.ratio.inline.toFixed(2), x.ratio.offload.toFixed(2), x.ratio.pipelined.toFixed(2), `${((1 - p.median_ns / i.median_ns) * 100).toFixed(0)}% lower`];
  })));
  o.push("copy = inline sendSync time, work = receiver's processing of a complete message (both from the inline runs); limit = max(copy, work)");
  if (r.parallelism) {
    const S = Math.min(2, Math.max(1, r.parallelism.copy_speedup));
    const bound = (x: ModesResult["limits"][number]) => Math.max(x.limit_ns, (x.copy_ns + x.work_ns) / S);
    o.push(`with the probe's ${S.toFixed(2)}x, two stages that share these CPUs cannot beat (copy + work) / ${S.toFixed(2)}: ` +
      r.limits.map((x) => `${fmtSize(x.size)} ${fmtNs(bound(x))} (pipelined ${(lat("pipelined", x.size).median_ns / bound(x)).toFixed(2)}x of it)`).join(", "));
  }

  o.push("\n-- 5b. stream throughput with producer work per message, receiver only touches (sleeps when idle)");
  const kinds = ["inline", "offload", "pipelined", "work-only", "copy-only"];
  const sizes = [...new Set(r.throughput.map((x) => x.size))];
  o.push(table(["size", "producer passes", ...kinds.map((k) => `${k} GB/s`), "offload/inline"], sizes.map((s) => {
    const g = (k: string) => r.throughput.find((x) => x.mode === k && x.size === s)?.gbps ?? NaN;
    return [fmtSize(s), r.throughput.find((x) => x.size === s)?.producer_passes ?? "-", ...kinds.map((k) => g(k).toFixed(2)), `${(g("offload") / g("inline")).toFixed(2)}x`];
  })));
  o.push("work-only: the producer's work alone; copy-only: inline sends without work (the copy alone). Ideal offload = min(work-only, copy-only)");

  o.push("\n-- 5c. sender CPU per GiB moved (no producer work)");
  o.push(table(["size", "mode", "sending thread CPU/GiB", "process CPU/GiB", "wall/GiB"], r.cpu.map((c) => [fmtSize(c.size), c.mode, fmtNs(c.thread_ns_per_gib), fmtNs(c.process_ns_per_gib), fmtNs(c.wall_ns_per_gib)])));

  o.push("\n-- 5d. hot vs cold: receiver's read (one Bun.hash pass) right after arrival");
  o.push(table(["size", "fits LLC", "mode", "cache", "read", "read GB/s", "sender copy"], r.hotcold.map((h) => [fmtSize(h.size), h.fits_llc ? "yes" : "no", h.mode, h.cache, fmtNs(h.read_ns), h.read_gbps.toFixed(2), fmtNs(h.copy_ns)])));

  o.push("\n-- 5e. C: bench_modes (one process: sending thread, receiver thread, sw copy thread)");
  o.push(`bench_modes: ${r.c.status}${r.c.detail ? ` (${r.c.detail})` : ""}`);
  if (r.c.records.length)
    o.push(table(["mode", "size", "n", "wall/msg", "sending thread CPU/msg"], r.c.records.map((x) => [x.mode, fmtSize(x.size), x.n, fmtNs(x.ns_per_msg), fmtNs(x.sender_cpu_ns_per_msg)])));
  o.push(`callgrind: ${r.callgrind.status}${r.callgrind.detail ? ` (${r.callgrind.detail})` : ""}`);
  if (r.callgrind.cells.length)
    o.push(table(["mode", "size", "sender Ir/msg", "all threads Ir/msg", "per thread"], r.callgrind.cells.map((c) => [c.mode, fmtSize(c.size), Math.round(c.sender_ir), Math.round(c.all_ir),
      Object.entries(c.threads).map(([k, v]) => `${k} ${Math.round(v)}`).join(", ")])));
  return o.join("\n");
}

const COLORS: Record<string, string> = { inline: "#d62728", offload: "#1f77b4", pipelined: "#2ca02c", limit: "#555555", "work-only": "#9467bd", "copy-only": "#8c564b" };

/** Two log-log panels: end-to-end latency vs size (with the limit) and stream throughput vs size, per mode. */
export function modesSvg(r: ModesResult, subtitle: string): string {
  const pts = <T extends { mode: string; size: number }>(cells: T[], mode: string, y: (c: T) => number) =>
    cells.filter((c) => c.mode === mode).map((c) => ({ x: c.size, y: y(c) }));
  const gbps = (mode: string) => pts(r.throughput, mode, (c) => c.gbps);
  const ms = (v: number) => (v >= 1e6 ? `${+(v / 1e6).toPrecision(3)} ms` : `${+(v / 1e3).toPrecision(3)} µs`);
  const common = { top: 80, width: 340, height: 300, xLabel: "message size (log scale)", pad: 1.3, legend: "inside" as const };
  return chart({
    width: 980,
    height: 470,
    title: "Ferry copy engines and modes: inline vs offload vs pipelined (two Bun processes)",
    subtitle,
    panels: [
      {
        ...common,
        left: 60,
        title: "end-to-end latency (median), receiver hashes every byte",
        yLabel: "send start → receiver done",
        series: [
          ...MODES.map((m): Series => ({ label: m, color: COLORS[m]!, points: pts(r.latency, m, (c) => c.median_ns) })),
          { label: "limit max(copy, work)", color: COLORS.limit!, dash: "5 4", points: r.limits.map((l) => ({ x: l.size, y: l.limit_ns })) },
        ],
        tick: ms,
      },
      {
        ...common,
        left: 550,
        title: "stream throughput, producer works per message",
        yLabel: "GB/s (1e9 B/s)",
        series: [
          ...MODES.map((m): Series => ({ label: m, color: COLORS[m]!, points: gbps(m) })),
          { label: "copy alone", color: COLORS["copy-only"]!, dash: "5 4", points: gbps("copy-only") },
          { label: "work alone", color: COLORS["work-only"]!, dash: "2 3", points: gbps("work-only") },
        ],
        tick: (v) => (v >= 1 ? `${+v.toPrecision(3)}` : v.toPrecision(2)),
      },
    ],
  });
}
