/** Sizes, durations and ratios as text, and text / Markdown tables. */

export const KiB = 1024;
export const MiB = 1024 * 1024;

export function fmtSize(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

/** A short size for plot axes: "64K", "16M", "512". */
export function sizeLabel(n: number): string {
  if (n >= MiB) return `${n / MiB}M`;
  if (n >= KiB) return `${n / KiB}K`;
  return `${n}`;
}

/** Nanoseconds as a readable duration. */
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return "n/a";
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  if (x >= 100) return `${Math.round(x).toLocaleString("en-US")}x`;
  if (x >= 10) return `${x.toFixed(1)}x`;
  return `${x.toFixed(2)}x`;
}

export type Row = (string | number)[];

/** A table's head and rows, rendered as text (table) or Markdown (mdTable). */
export interface Grid {
  head: string[];
  rows: Row[];
}

/** Render rows (or a Grid) as an aligned text table. */
export function table(grid: string[] | Grid, body: Row[] = []): string {
  const { head, rows } = Array.isArray(grid) ? { head: grid, rows: body } : grid;
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

/** Render rows (or a Grid) as a Markdown table (first column left, the others right aligned). */
export function mdTable(grid: string[] | Grid, body: Row[] = []): string {
  const { head, rows } = Array.isArray(grid) ? { head: grid, rows: body } : grid;
  return [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i ? "---:" : "---")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}
