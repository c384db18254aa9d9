/**
 * @ferry/dsa-engine — copies into shared memory handed to Intel DSA (the
 * Data Streaming Accelerator in Xeon CPUs since Sapphire Rapids) through a
 * user work queue of the Linux idxd driver, or to libferry's emulated DSA
 * device, which speaks the same descriptor and completion-record formats in
 * software (a correctness vehicle, not a speed-up).
 *
 *   dsaEngine({ device: "auto" })          first usable /dev/dsa/wqX.Y, else the sw
 *                                          engine, with the reason in `fallback`
 *   dsaEngine({ device: "/dev/dsa/wq0.0" }) that queue, or throw with the reason
 *   dsaEngine({ device: "emulated" })      the emulated device
 *   detect()                               what was found, or why nothing usable was
 *
 * Depends on @ferry/native only: the engine is libferry's built-in `dsa`
 * (native/src/engine/dsa*.c), and the fallback is its built-in `sw`.
 */
import { Engine, Errno, FerryError, swDefaults, type EngineProbe, type EngineStats } from "@ferry/native";

export type DsaDevice = "auto" | "emulated" | (string & {});

/** The emulated device's shape (only with device "emulated"). */
export interface EmulatedDsaOptions {
  /** Work-queue mode: "shared" (ENQCMD semantics: full means retry) or "dedicated" (full means the descriptor is dropped). Default "shared". */
  mode?: "shared" | "dedicated";
  /** Work-queue entries. Default 32. */
  size?: number;
  /** Bytes per descriptor; larger copies are split. Default 2 MiB. */
  maxTransfer?: number;
  /** Descriptors per batch (0: no batches). Default 32. */
  maxBatch?: number;
  /** gen_cap cache-control bit: whether `cache: "hot"` may set the CC flag. Default true. */
  cacheControl?: boolean;
  /** Worker threads (the device's engines). Default 1. */
  workers?: number;
  /** Fault injection for tests, e.g. "pf_write@2:4096+bad_opcode@5" (see native/src/engine/dsa_emu.c). */
  inject?: string;
}

export interface DsaEngineOptions {
  /** "auto" (default), "emulated", or a work queue path such as "/dev/dsa/wq0.0". */
  device?: DsaDevice;
  /** How the completion thread waits for the device: "yield" (default), "spin" (pause loop) or "umwait" (WAITPKG; pause where absent). */
  wait?: "spin" | "yield" | "umwait";
  /** Split (and progress) granularity below the queue's max transfer. Default: the max transfer. */
  chunkBytes?: number;
  /** cache "auto": copies of at least this many bytes go without CC (cold). */
  coldThreshold?: number;
  /** On close, finish copies not yet handed to the device instead of cancelling them. */
  drain?: boolean;
  /** Page faults (partial completions): "resubmit" the remainder (default; the CPU finishes it after 3 tries) or finish it on the "cpu" at once. */
  pageFaults?: "resubmit" | "cpu";
  /** Batch descriptors for runs of small copies. Default true. */
  batch?: boolean;
  /** With device "emulated". */
  emulated?: EmulatedDsaOptions;
  /** Raw "key=value,..." options appended for the native engine (tests: sysfs=, dev=, cpu=, stall_ms=, ...). */
  options?: string;
}

/** A DSA engine, or (device "auto" without usable hardware) the sw engine standing in for it. */
export type DsaEngine = Engine & {
  /** "dsa" when DSA (real or emulated) copies, "sw" when `auto` fell back. */
  readonly engine: "dsa" | "sw";
  /** The device asked for. */
  readonly device: DsaDevice;
  /** Why the sw engine stands in (device "auto" only); undefined when DSA is used. */
  readonly fallback: string | undefined;
  /** What the probe found (or why nothing usable). */
  readonly reason: string;
  stats(): EngineStats & { engine: "dsa" | "sw"; fallback?: string };
};

function nativeOptions(o: DsaEngineOptions): string {
  const kv: string[] = [`device=${o.device ?? "auto"}`];
  if (o.wait) kv.push(`wait=${o.wait}`);
  if (o.pageFaults) kv.push(`pf=${o.pageFaults}`);
  if (o.batch !== undefined) kv.push(`batch=${o.batch ? 1 : 0}`);
  const em = o.emulated;
  if (em) {
    if ((o.device ?? "auto") !== "emulated") throw new FerryError(Errno.INVAL, `dsaEngine: "emulated" options need device "emulated"`);
    if (em.mode) kv.push(`wq_mode=${em.mode}`);
    if (em.size !== undefined) kv.push(`wq_size=${em.size}`);
    if (em.maxTransfer !== undefined) kv.push(`max_transfer=${em.maxTransfer}`);
    if (em.maxBatch !== undefined) kv.push(`max_batch=${em.maxBatch}`);
    if (em.cacheControl !== undefined) kv.push(`cc=${em.cacheControl ? 1 : 0}`);
    if (em.workers !== undefined) kv.push(`workers=${em.workers}`);
    if (em.inject) kv.push(`inject=${em.inject}`);
  }
  for (const s of kv) if (s.slice(s.indexOf("=") + 1).includes(",")) throw new FerryError(Errno.INVAL, `dsaEngine: option ${s} may not contain ","`);
  if (o.options) kv.push(o.options);
  return kv.join(",");
}

export interface DsaDetect {
  /** A usable DSA work queue (or the emulated device, when asked for) exists. */
  available: boolean;
  /** What was found (queue, mode, size, max transfer, cache control, submission path), or the exact reason nothing usable was. */
  reason: string;
  device: DsaDevice;
  probe: EngineProbe;
}

/** Ask the dsa engine's probe op (nothing is opened): is `device` usable here, and why (not)? */
export function detect(opts: Pick<DsaEngineOptions, "device" | "options" | "emulated"> = {}): DsaDetect {
  const device = opts.device ?? "auto";
  const probe = Engine.probe("dsa", { options: nativeOptions({ ...opts, device }) });
  return { available: probe.available, reason: probe.reason, device, probe };
}

/** Open a DSA engine. Close it (or `using`) when done. */
export function dsaEngine(opts: DsaEngineOptions = {}): DsaEngine {
  const device = opts.device ?? "auto";
  const options = nativeOptions({ ...opts, device });
  let e: Engine;
  let fallback: string | undefined;
  let reason: string;
  const probe = Engine.probe("dsa", { options });
  reason = probe.reason;
  if (device === "auto" && !probe.available) {
    fallback = `no usable DSA, using the sw engine: ${probe.reason}`;
    const d = swDefaults();
    e = new Engine("sw", { threads: d.threads, chunkBytes: opts.chunkBytes ?? d.chunkBytes, drain: opts.drain, coldThreshold: opts.coldThreshold });
  } else {
    e = new Engine("dsa", { options, chunkBytes: opts.chunkBytes, drain: opts.drain, coldThreshold: opts.coldThreshold });
  }
  const kind = fallback ? "sw" : "dsa";
  const base = e.stats.bind(e);
  Object.defineProperties(e, {
    engine: { value: kind },
    device: { value: device },
    fallback: { value: fallback },
    reason: { value: reason },
    stats: { value: () => ({ ...base(), engine: kind, ...(fallback ? { fallback } : {}) }) },
  });
  return e as DsaEngine;
}

export type { EngineStats };
