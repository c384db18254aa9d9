/** Output helpers shared by every command: errors, the one table routine, sizes. */

/** An error the CLI prints as one line (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1, readonly code?: string) {
    super(message);
  }
}

/** Usage error: exit code 2, like the parser's own. */
export const usage = (message: string) => new CliError(message, 2, "usage");

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return "-";
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} B`;
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 2 ** 10, kb: 1e3, kib: 2 ** 10, m: 2 ** 20, mb: 1e6, mib: 2 ** 20, g: 2 ** 30, gb: 1e9, gib: 2 ** 30 };

/** "64MiB", "1g", "4096", "1.5 GiB" -> bytes. */
export function parseSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(s);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw usage(`not a size: "${s}" (e.g. 4096, 64KiB, 16MiB, 1GiB)`);
  return Math.round(Number(m[1]) * unit);
}

/**
 * The one table routine: left-aligned columns padded to their widest cell,
 * numbers right-aligned. Every command that prints rows goes through it.
 */
export function table(head: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const num = head.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number"));
  const line = (r: string[]) => r.map((c, i) => (num[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join("  ").trimEnd();
  return [line(head), ...cells.map(line)].join("\n");
}

/** Print `value` as JSON, or `text()` for people. */
export function emit(json: boolean | undefined, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value) : text());
}
