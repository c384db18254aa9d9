/**
 * Coordinator stats: per choice (mode/engine, "split/<engine>" for CPU +
 * engine splits) messages, bytes, time and a latency histogram (send() ->
 * settled, log2 buckets), errors, and every fallback with its reason.
 *
 * Stats live in the sending process. So that `ferry stat` (another process)
 * can show them, each process with a coordinator that sent something writes
 * a snapshot to <statsDir>/<pid>.json about once a second (and at exit);
 * readers skip files of processes that are gone (and remove them).
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Histogram bucket i counts times in [2^(i+7), 2^(i+8)) ns; bucket 0 also everything below 256 ns. */
export const HIST_BUCKETS = 30;

export class Histogram {
  readonly counts = new Array<number>(HIST_BUCKETS).fill(0);
  n = 0;
  add(ns: number): void {
    const i = ns < 256 ? 0 : Math.min(HIST_BUCKETS - 1, Math.floor(Math.log2(ns)) - 7);
    this.counts[i]!++;
    this.n++;
  }
  /** The upper bound of the bucket holding the p-th percentile (ns). */
  percentile(p: number): number {
    if (!this.n) return 0;
    let want = Math.ceil((p / 100) * this.n);
    for (let i = 0; i < HIST_BUCKETS; i++) {
      want -= this.counts[i]!;
      if (want <= 0) return 2 ** (i + 8);
    }
    return 2 ** (HIST_BUCKETS + 7);
  }
}

export interface ChoiceStats {
  messages: number;
  bytes: number;
  /** Sum of send() -> settled times, ns. */
  ns: number;
  /** Sum of the sending thread's time inside send(), ns. */
  syncNs: number;
  errors: number;
  /** Messages whose engine send failed and were copied inline instead. */
  retriedInline: number;
  p50Ns: number;
  p99Ns: number;
  /** Histogram: counts per log2 bucket, bucket i = [2^(i+7), 2^(i+8)) ns. */
  histogram: number[];
}

export type FallbackKind = "engine gone" | "engine failing" | "queue full" | "engine backlog" | "engine error, sent inline" | "recovered";

export interface FallbackRecord {
  /** ISO time. */
  at: string;
  kind: FallbackKind;
  /** The engine that could not be used (label). */
  engine: string;
  /** What was wanted and what was done instead, e.g. "offload/sw -> inline/cpu". */
  change: string;
  size: number;
  reason: string;
}

export class Recorder {
  readonly choices = new Map<string, { s: Omit<ChoiceStats, "p50Ns" | "p99Ns" | "histogram">; h: Histogram }>();
  readonly fallbackCounts = new Map<string, number>();
  readonly recent: FallbackRecord[] = [];
  fallbacks = 0;

  /**
   * Successful sends not yet folded in: (size, ns, syncNs) per send, their choice apart. recordLater() only
   * writes here, so the path of a send the policy did not decide afresh (the fast tier, a remembered
   * decision) touches one array, not the choice map, its record and its histogram (each a cold cache line
   * and page after a gap or a large copy: section 8's 64 B cell, 8b's 16 MiB stream).
   */
  readonly #later = new Float64Array(3 * 256);
  readonly #laterChoice: string[] = new Array<string>(256).fill("");
  #laterN = 0;
  /** Sends of the publishers' fast tier (the coordinator counts them as decisions). */
  fast = 0;

  /** A successful send of the publishers' fast tier. */
  recordInline(size: number, ns: number): void {
    this.fast++;
    this.recordLater("inline/cpu", size, ns, ns);
  }

  /** A successful send, folded into the choice's record when stats are read (or every 256). */
  recordLater(choice: string, size: number, ns: number, syncNs: number): void {
    const i = this.#laterN;
    this.#later[3 * i] = size;
    this.#later[3 * i + 1] = ns;
    this.#later[3 * i + 2] = syncNs;
    this.#laterChoice[i] = choice;
    if ((this.#laterN = i + 1) === 256) this.#fold();
  }

  #fold(): void {
    const n = this.#laterN;
    this.#laterN = 0;
    const l = this.#later;
    for (let i = 0; i < n; i++) this.record(this.#laterChoice[i]!, l[3 * i]!, l[3 * i + 1]!, l[3 * i + 2]!, false, false);
  }

  record(choice: string, size: number, ns: number, syncNs: number, error: boolean, retried: boolean): void {
    let c = this.choices.get(choice);
    if (!c) this.choices.set(choice, (c = { s: { messages: 0, bytes: 0, ns: 0, syncNs: 0, errors: 0, retriedInline: 0 }, h: new Histogram() }));
    c.s.messages++;
    c.s.bytes += size;
    c.s.ns += ns;
    c.s.syncNs += syncNs;
    if (error) c.s.errors++;
    if (retried) c.s.retriedInline++;
    c.h.add(ns);
  }

  fallback(f: Omit<FallbackRecord, "at">): FallbackRecord {
    const r = { at: new Date().toISOString(), ...f };
    if (f.kind !== "recovered") this.fallbacks++;
    const key = `${f.kind}: ${f.engine}`;
    this.fallbackCounts.set(key, (this.fallbackCounts.get(key) ?? 0) + 1);
    this.recent.push(r);
    if (this.recent.length > 50) this.recent.shift();
    return r;
  }

  snapshot(): { choices: Record<string, ChoiceStats>; fallbacks: { count: number; byKind: Record<string, number>; recent: FallbackRecord[] } } {
    this.#fold();
    const choices: Record<string, ChoiceStats> = {};
    for (const [k, { s, h }] of this.choices)
      choices[k] = { ...s, p50Ns: h.percentile(50), p99Ns: h.percentile(99), histogram: [...h.counts] };
    return { choices, fallbacks: { count: this.fallbacks, byKind: Object.fromEntries(this.fallbackCounts), recent: [...this.recent] } };
  }
}

/* ------------------------------------------------------------------ snapshots for other processes */

/** Where processes leave their coordinator stats: $FERRY_STATS_DIR, else $XDG_RUNTIME_DIR/ferry/coordinator, else <tmp>/ferry-<uid>/coordinator. */
export function statsDir(): string {
  const env = process.env;
  if (env.FERRY_STATS_DIR) return env.FERRY_STATS_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "ferry", "coordinator");
  return join(tmpdir(), `ferry-${process.getuid?.() ?? 0}`, "coordinator");
}

export interface ProcessStats {
  pid: number;
  argv: string;
  updated: string;
  coordinators: unknown[];
}

const sources = new Set<() => unknown | null>();
let timer: ReturnType<typeof setInterval> | null = null;
let hooked = false;

function writeSnapshot(): void {
  const coordinators = [...sources].map((f) => f()).filter((x) => x !== null);
  if (!coordinators.length) return;
  try {
    const dir = statsDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${process.pid}.json`);
    const snap: ProcessStats = { pid: process.pid, argv: process.argv.slice(1).join(" ").slice(0, 200), updated: new Date().toISOString(), coordinators };
    writeFileSync(`${file}.tmp`, JSON.stringify(snap), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  } catch {
    // stats for other processes are best effort
  }
}

/** Register a snapshot source (a coordinator); returns nothing. FERRY_STATS=0 turns the files off. */
export function shareStats(source: () => unknown | null): void {
  if (process.env.FERRY_STATS === "0") return;
  sources.add(source);
  if (!timer) {
    timer = setInterval(writeSnapshot, 1000);
    timer.unref?.();
  }
  if (!hooked) {
    hooked = true;
    process.on("exit", writeSnapshot);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The snapshots of every live process (files of dead ones are removed); this process's own is fresh. */
export function readSharedStats(): ProcessStats[] {
  writeSnapshot();
  const dir = statsDir();
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /^\d+\.json$/.test(f));
  } catch {
    return [];
  }
  const out: ProcessStats[] = [];
  for (const f of files) {
    const pid = Number(f.slice(0, -5));
    const path = join(dir, f);
    if (!alive(pid)) {
      // the last snapshot of an exited process is shown once more, then removed
      try {
        out.push({ ...(JSON.parse(readFileSync(path, "utf8")) as ProcessStats), argv: `(exited) ${pid}` });
      } catch {
        // torn or foreign file
      }
      rmSync(path, { force: true });
      continue;
    }
    try {
      out.push(JSON.parse(readFileSync(path, "utf8")) as ProcessStats);
    } catch {
      // being rewritten: skip this time
    }
  }
  return out.sort((a, b) => a.pid - b.pid);
}
