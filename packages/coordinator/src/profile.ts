/**
 * The calibration profile: what each way of sending costs on this machine, as
 * measured points (size -> ns), and its cache on disk.
 *
 * Every decision is derived from these points (piecewise-linear between
 * them, the last segment's slope beyond); nothing about sizes is hard-coded.
 * A profile is measured in-process by calibrate.ts (<= 1 s), or given
 * (tests: synthetic profiles), and cached per machine + library build.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { libraryKey, machineKey, type LibraryKey, type MachineKey } from "./machine";

/** Measured points of one way of sending: [size in bytes, ns], sizes ascending. */
export type Series = [number, number][];

export interface EngineProfile {
  /** The label the coordinator knows the engine by: "sw", "dsa", "dsa-emulated", a plugin's name. */
  label: string;
  /** libferry's engine name ("sw", "dsa", a plugin's). */
  name: string;
  /** The engine copies on its own threads / device (a split needs this). */
  async: boolean;
  /** Its progress granularity (0: whole job). */
  chunkBytes: number;
  /** offload: send() -> settled (published), wall ns. */
  offload: Series;
  /** pipelined: send() -> settled (copy done), wall ns. */
  pipelined: Series;
  /** The sending thread's CPU ns per offload / pipelined send (submit, event-loop wake-ups, settle). */
  offloadCpu: Series;
  pipelinedCpu: Series;
  /** CPU + engine split (offload, cpuShare from the rates): wall ns, and the share it ran with. */
  split: Series;
  splitShare: number;
  /**
   * Pipelined sends as coordinators on this machine saw them, over this profile's estimate (Coordinator: the
   * pipelined correction), written back to the cached profile once learnt from three sends or more; a new
   * coordinator starts from it. The calibration times pipelined sends with no receiver, while a real one
   * runs beside its receiver (on two vCPUs 1.8-2.6x the calibration here), so every process re-learnt it
   * from three slow pipelined sends. Absent: none learnt yet.
   */
  pipelinedLearnt?: { corr: number; sends: number; at: string };
  /**
   * The engine copies on the host's CPUs (FERRY_CAP_HOST_CPU: libferry's sw engine, the emulated DSA device), so
   * what slows them slows it: its estimates follow the drift inline copies show (Coordinator, DRIFT_MAX). Absent
   * (a profile cached before this field, a hardware engine, a plugin that does not say): no drift.
   */
  hostCpu?: boolean;
}

/**
 * The calibration's method (calibrate.ts): a cached profile measured by another method is measured again.
 * 2: inline copies with cache "hot" and "cold" timed in runs of their own (method 1 alternated them, and a
 * hot copy right after a cold one took 1.7-1.9x as long at 1-8 MiB).
 * 3: from the size where copies turn cold (LLC/2, at most 16 MiB) up, each timed send reads another part of the
 * source buffer in turn (sourceOf), not the one the send before it has just left in the LLC.
 */
export const CALIBRATION_METHOD = 3;

export interface Profile {
  format: 1;
  /** CALIBRATION_METHOD of a measured profile (absent: method 1, or a profile not measured here) */
  method?: number;
  machine: MachineKey;
  library: LibraryKey;
  /** ISO time of the measurement. */
  created: string;
  /** How long the measurement took, ms. */
  ms: number;
  /** "measured" here, or "synthetic" (given by a test or a user). */
  source: "measured" | "synthetic";
  llcBytes: number;
  cpus: number;
  /** inline sends (sendSync) with cache "hot" / "cold": wall ns = sending thread ns. */
  inlineHot: Series;
  inlineCold: Series;
  engines: EngineProfile[];
  /** Notes of the measurement (engines skipped and why). */
  notes: string[];
}

/**
 * A series flattened into one Float64Array, [x0, y0, x1, y1, ...]: what the coordinator reads on the
 * path of a send. A Series is an array of two-element arrays, each its own object on the heap; after
 * a large copy has evicted the caches and the TLB, each one read is a miss, and a lookup walks
 * several. The coordinator's work around a remembered 16 MiB inline copy (bench tools/big-inline.ts,
 * seven alternating pairs): a median of 27.7 µs per send with series, 21.8 µs with curves. Build
 * once (curveOf), read with curveAt and curveSlope.
 */
export type Curve = Float64Array;

export function curveOf(s: Series): Curve {
  const c = new Float64Array(2 * s.length);
  for (let i = 0; i < s.length; i++) {
    c[2 * i] = s[i]![0];
    c[2 * i + 1] = s[i]![1];
  }
  return c;
}

/** ns at `size` on `c`: piecewise linear between points; below the first point its value; beyond the last, the last segment's slope. */
export function curveAt(c: Curve, size: number): number {
  const n = c.length >> 1;
  if (n === 0) return Infinity;
  if (size <= c[0]!) return c[1]!;
  for (let i = 1; i < n; i++) {
    const x1 = c[2 * i]!;
    if (size <= x1) {
      const x0 = c[2 * i - 2]!, y0 = c[2 * i - 1]!;
      return y0 + ((c[2 * i + 1]! - y0) * (size - x0)) / (x1 - x0);
    }
  }
  const xa = n > 1 ? c[2 * n - 4]! : 0, ya = n > 1 ? c[2 * n - 3]! : 0;
  const xb = c[2 * n - 2]!, yb = c[2 * n - 1]!;
  return yb + Math.max(0, (yb - ya) / (xb - xa)) * (size - xb);
}

/** ns per byte at large sizes (the last segment's slope, at least 1e-6). */
export function curveSlope(c: Curve): number {
  const n = c.length >> 1;
  if (n < 2) return n ? Math.max(1e-6, c[1]! / Math.max(1, c[0]!)) : Infinity;
  return Math.max(1e-6, (c[2 * n - 1]! - c[2 * n - 3]!) / (c[2 * n - 2]! - c[2 * n - 4]!));
}

/** ns at `size` on `s` (curveAt). */
export function predict(s: Series, size: number): number {
  return curveAt(curveOf(s), size);
}

/** ns per byte at large sizes (curveSlope). */
export function perByte(s: Series): number {
  return curveSlope(curveOf(s));
}

/** Build a series from a fixed cost and a rate (GB/s) at the given sizes: synthetic profiles. */
export function linear(fixedNs: number, gbps: number, sizes: number[] = DEFAULT_SIZES): Series {
  return sizes.map((s) => [s, fixedNs + s / gbps]);
}

export const DEFAULT_SIZES = [64, 4096, 65536, 1 << 20, 8 << 20, 32 << 20, 64 << 20];

/* ------------------------------------------------------------------ the cache */

/** The directory of the calibration cache: $FERRY_CACHE_DIR, else $XDG_CACHE_HOME/ferry, else ~/.cache/ferry. */
export function cacheDir(): string {
  const env = process.env;
  if (env.FERRY_CACHE_DIR) return env.FERRY_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ferry");
}

/**
 * The cache file of a profile for these engine labels and this libferry build
 * (`coordinator-<labels>-<library id>.json`). Each build has its own file, so
 * two installs or checkouts on one machine (two projects, a CI clone beside a
 * working tree) do not measure over each other's profile and what its sends
 * taught (`pipelinedLearnt`) at every switch; saving prunes the stale ones
 * (pruneCache).
 */
export function cacheFile(labels: string[], dir = cacheDir(), library = libraryKey().id): string {
  return join(dir, `${cacheStem(labels)}-${library}.json`);
}

function cacheStem(labels: string[]): string {
  const tag = labels.length ? [...labels].sort().join("+").replace(/[^A-Za-z0-9_.+-]/g, "_") : "cpu";
  return `coordinator-${tag}`;
}

/** Cached profiles kept per set of engine labels (of different libferry builds), newest first. */
export const CACHE_KEEP = 4;

export type CacheLookup = { profile: Profile; file: string } | { profile: null; file: string; why: string };

/** The cached profile for `labels` if one exists and was measured on this machine with this library build; else why not. */
export function loadCached(labels: string[], dir = cacheDir()): CacheLookup {
  const file = cacheFile(labels, dir);
  let p: Profile;
  try {
    p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  } catch (e) {
    return { profile: null, file, why: (e as NodeJS.ErrnoException).code === "ENOENT" ? "no cached profile" : `unreadable cache (${(e as Error).message})` };
  }
  if (p?.format !== 1 || !Array.isArray(p.engines)) return { profile: null, file, why: "cached profile has another format" };
  if ((p.method ?? 1) !== CALIBRATION_METHOD)
    return { profile: null, file, why: `cached profile was measured by calibration method ${p.method ?? 1} (now ${CALIBRATION_METHOD})` };
  const m = machineKey();
  if (p.machine?.id !== m.id) return { profile: null, file, why: `cached profile is of another machine (${p.machine?.cpu ?? "?"}, ${p.machine?.cpus ?? "?"} CPUs)` };
  const l = libraryKey();
  if (p.library?.id !== l.id)
    return { profile: null, file, why: `cached profile is of another libferry (${p.library?.version ?? "?"} build ${p.library?.build ?? "?"}; loaded: ${l.version} build ${l.build})` };
  const have = p.engines.map((e) => e.label).sort().join();
  if (have !== [...labels].sort().join()) return { profile: null, file, why: `cached profile has engines [${have}]` };
  return { profile: p, file };
}

/** Write a profile to the cache (atomically: temp file + rename). Errors are returned, not thrown: a cache is optional. */
export function saveCached(p: Profile, dir = cacheDir()): string | null {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const labels = p.engines.map((e) => e.label);
    const file = cacheFile(labels, dir, p.library.id);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(p, null, 1), { mode: 0o600 });
    renameSync(tmp, file);
    pruneCache(labels, dir, file, p.library);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Remove the cached profiles for `labels` that no process will read again:
 * those of an earlier build of the library at the same path as `library` (a
 * rebuild replaces it), those whose library file is gone, and beyond the
 * CACHE_KEEP newest. `kept`: the file just written. Best effort: a file another
 * process removes or rewrites meanwhile is skipped.
 */
function pruneCache(labels: string[], dir: string, kept: string, library: LibraryKey): void {
  const stem = cacheStem(labels);
  const ours = new RegExp(`^${stem.replace(/[.+]/g, "\\$&")}(-[0-9a-f]{16})?\\.json$`); // (without an id: the name before builds had their own file)
  const others: { file: string; mtime: number }[] = [];
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (file === kept || !ours.test(name)) continue;
    try {
      const q = JSON.parse(readFileSync(file, "utf8")) as Partial<Profile>;
      const path = q.library?.path ?? "";
      if ((path !== "" && path === library.path) || (path !== "" && !existsSync(path))) unlinkSync(file);
      else others.push({ file, mtime: statSync(file).mtimeMs });
    } catch {
      // (removed or being replaced by another process; unreadable files stay for the count below)
    }
  }
  others.sort((a, b) => b.mtime - a.mtime);
  for (const o of others.slice(CACHE_KEEP - 1)) {
    try {
      unlinkSync(o.file);
    } catch {
      // (gone already)
    }
  }
}

/** A synthetic profile (tests, what-ifs): inline and engines given as series; machine/library of this process. */
export function syntheticProfile(p: {
  inlineHot: Series; inlineCold?: Series; engines?: (Partial<EngineProfile> & { label: string; offload: Series })[]; llcBytes?: number; cpus?: number;
}): Profile {
  return {
    format: 1,
    machine: machineKey(),
    library: libraryKey(),
    created: new Date().toISOString(),
    ms: 0,
    source: "synthetic",
    llcBytes: p.llcBytes ?? 32 << 20,
    cpus: p.cpus ?? 2,
    inlineHot: p.inlineHot,
    inlineCold: p.inlineCold ?? p.inlineHot,
    engines: (p.engines ?? []).map((e) => ({
      name: e.label,
      async: true,
      chunkBytes: 256 << 10,
      pipelined: e.offload,
      offloadCpu: e.offload.map(([s]) => [s, 20_000] as [number, number]),
      pipelinedCpu: e.offload.map(([s]) => [s, 20_000] as [number, number]),
      split: [],
      splitShare: 0,
      ...e,
    })),
    notes: [],
  };
}
