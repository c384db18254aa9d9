/**
 * @ferry/sw-engine — copy threads owned by this process. Pass the engine to a
 * publisher (`ch.publisher({ engine: swEngine() })`) or to a single send
 * (`pub.send(bytes, { mode: "offload", engine })`): the copy into shared
 * memory then runs on these threads while the sending thread goes on.
 *
 * Depends on @ferry/native only. The defaults are @ferry/native's
 * swDefaults(), the same ones the shared engine behind `engine: "sw"` uses.
 */
import { Engine, swDefaults, type EngineProbe, type EngineStats } from "@ferry/native";

export interface SwEngineOptions {
  /** Copy threads. Default: one less than the CPUs this process may use, at least 1. */
  threads?: number;
  /** Chunk size: copies are split in chunks of this size (and pipelined receivers see progress per chunk). Default 256 KiB. */
  chunkBytes?: number;
  /** CPUs (0..63) to pin the copy threads to: thread i runs on the i-th lowest of them, round robin. Default: not pinned. */
  pin?: number[];
  /** On close, finish queued copies instead of cancelling them (cancelled sends reject with FERRY_E_CLOSED). */
  drain?: boolean;
  /** cache "auto": copies of at least this many bytes bypass the cache. Default min(LLC/2, 16 MiB). */
  coldThreshold?: number;
}

/**
 * The defaults swEngine() picks on this machine and why (@ferry/native's
 * swDefaults()), and whether libferry's `sw` engine can run them here (its
 * probe op, asked without opening an engine).
 */
export function detect(): { threads: number; chunkBytes: number; cpus: number; reason: string; available: boolean; probe: EngineProbe } {
  const d = swDefaults();
  const probe = Engine.probe("sw", { threads: d.threads, chunkBytes: d.chunkBytes });
  return { ...d, available: probe.available, probe };
}

export type SwEngine = Engine & { readonly options: Required<Omit<SwEngineOptions, "pin" | "coldThreshold">> & SwEngineOptions };

/** Open a software copy engine. Close it (or `using`) when done; its threads sleep when idle. */
export function swEngine(opts: SwEngineOptions = {}): SwEngine {
  const d = swDefaults();
  const threads = opts.threads ?? d.threads;
  const chunkBytes = opts.chunkBytes ?? d.chunkBytes;
  const e = new Engine("sw", {
    threads, chunkBytes, pin: opts.pin, drain: opts.drain, coldThreshold: opts.coldThreshold,
  }) as SwEngine;
  Object.defineProperty(e, "options", { value: { ...opts, threads, chunkBytes, drain: opts.drain ?? false } });
  return e;
}

export type { EngineStats };
