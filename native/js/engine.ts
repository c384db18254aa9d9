/**
 * Copy engines from JS: one class over libferry's engine registry. Built in:
 * "cpu" (copies in the caller's thread, temporal or non-temporal stores) and
 * "sw" (copy threads; @ferry/sw-engine wraps it). Plugins: Engine.load(path).
 *
 * Lives in @ferry/native so engine packages depend on the binding only;
 * @ferry/channel re-exports it.
 */
import { availableParallelism } from "node:os";
import { ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { lib } from "./symbols";
import { Errno, FerryError, check } from "./errors";
import { ENGINE_F_DRAIN, ENGINE_NAME_MAX, EngineCap } from "./constants";
import { NativeHandle } from "./handle";
import {
  COMPLETION_ALIGN, COMPLETION_SIZE, EngineCapsLayout, EngineConfigLayout, EngineProbeLayout, EngineStatsLayout, decode, encode,
} from "./structs";
import { cstr, fromCstr } from "./text";

const sym = lib.symbols;

export interface EngineConfig {
  /** sw: copy threads (default: online CPUs - 1, at least 1). */
  threads?: number;
  /** sw: chunk size = progress granularity for pipelining (default 256 KiB, min 4 KiB). */
  chunkBytes?: number;
  /** sw: CPUs (0..63) for the copy threads: thread i runs on the i-th lowest of them, round robin. */
  pin?: number[];
  /** sw: job queue entries (power of two, default 1024). */
  queueDepth?: number;
  /** On close, finish queued copies instead of cancelling them. */
  drain?: boolean;
  /** cache "auto": copies of at least this many bytes use non-temporal stores. */
  coldThreshold?: number;
  /** sw: an idle copy thread polls this long before sleeping (ns, default 20 µs). */
  idleSpinNs?: number;
  /** Engine-specific "key=value,..." options (plugins). */
  options?: string;
}

export interface EngineCaps {
  name: string;
  async: boolean;
  cacheHints: boolean;
  progress: boolean;
  batch: boolean;
  /** Every accepted copy is finished without a poll (libferry's cpu, sw and dsa engines): a waiter may sleep on the completion notification alone. */
  selfFinish: boolean;
  /** The copy runs on the host's CPUs (libferry's cpu and sw engines, the emulated DSA device): what slows them slows it. Not a hardware engine's. */
  hostCpu: boolean;
  maxBatch: number;
  maxTransfer: number;
  chunkBytes: number;
  threads: number;
  coldThreshold: number;
}

export interface EngineStats {
  submitted: number;
  jobs: number;
  errors: number;
  bytes: number;
  busyNs: number;
  chunks: number;
  fullWaits: number;
  threads: number;
}

/** An open engine instance. close() finishes or cancels queued copies (see `drain`) and frees it; idempotent. */
/** Engine.probe(): what an engine would be on this machine. */
export interface EngineProbe {
  name: string;
  available: boolean;
  /** Why not, or what it found. */
  reason: string;
  async: boolean;
  cacheHints: boolean;
  progress: boolean;
  batch: boolean;
  maxTransfer: number;
}

/**
 * ferry_engine_config for `cfg`, followed in the same ArrayBuffer by the
 * options text it points at: one allocation that stays put, and alive for
 * the whole call it is the argument of (the options are read during it only).
 */
function configBuffer(cfg: EngineConfig): Uint8Array {
  for (const key of ["threads", "chunkBytes", "queueDepth", "coldThreshold", "idleSpinNs"] as const) {
    const v = cfg[key];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0))
      throw new FerryError(Errno.INVAL, `engine option ${key} must be a non-negative integer, got ${v}`);
  }
  for (const cpu of cfg.pin ?? [])
    if (!Number.isInteger(cpu) || cpu < 0 || cpu > 63)
      throw new FerryError(Errno.INVAL, `engine option pin: CPU ${cpu} is outside 0..63`);
  const opts = cfg.options === undefined ? null : cstr(cfg.options);
  const size = EngineConfigLayout.size;
  const buf = new Uint8Array(new ArrayBuffer(size + (opts?.length ?? 0)));
  encode(EngineConfigLayout, buf, {
    size,
    threads: cfg.threads ?? 0,
    chunkBytes: cfg.chunkBytes ?? 0,
    cpuMask: (cfg.pin ?? []).reduce((m, cpu) => m | (1n << BigInt(cpu)), 0n),
    queueDepth: cfg.queueDepth ?? 0,
    flags: cfg.drain ? ENGINE_F_DRAIN : 0,
    coldThreshold: cfg.coldThreshold ?? 0,
    idleSpinNs: cfg.idleSpinNs ?? 0,
  });
  if (opts) {
    buf.set(opts, size);
    encode(EngineConfigLayout, buf, { options: BigInt(ptr(buf, size)) });
  }
  return buf;
}

export class Engine extends NativeHandle {
  readonly name: string;

  /** Open an instance of a registered engine ("cpu", "sw", or a loaded plugin's name). */
  constructor(name: string, cfg: EngineConfig = {}) {
    const buf = configBuffer(cfg);
    const out = new BigUint64Array(1);
    check(sym.ferry_engine_open(cstr(name), buf, out), `open engine "${name}"`);
    super(Number(out[0]) as Pointer, sym.ferry_engine_close);
    this.name = name;
  }

  protected get what() {
    return `engine "${this.name}"`;
  }

  #selfFinish: boolean | undefined;
  /** caps().selfFinish, asked once (read by every engine send). */
  get selfFinish(): boolean {
    return (this.#selfFinish ??= this.caps().selfFinish);
  }

  /**
   * Could engine `name` run here with `cfg`? Asks the engine's probe op without
   * opening it: `available`, the capabilities it would have, and the exact
   * reason when it is not available (no device, no permission, ...).
   */
  static probe(name: string, cfg: EngineConfig = {}): EngineProbe {
    const out = new Uint8Array(EngineProbeLayout.size);
    check(sym.ferry_engine_probe(cstr(name), configBuffer(cfg), out), `probe engine "${name}"`);
    const p = decode(EngineProbeLayout, out);
    return {
      name, available: p.available === 1, reason: p.reason,
      async: !!(p.flags & EngineCap.async), cacheHints: !!(p.flags & EngineCap.cacheHints),
      progress: !!(p.flags & EngineCap.progress), batch: !!(p.flags & EngineCap.batch), maxTransfer: p.maxTransfer,
    };
  }

  /** Load a plugin engine (a shared library exporting ferry_engine_entry); returns its name. */
  static load(path: string): string {
    const name = new Uint8Array(ENGINE_NAME_MAX + 1);
    check(sym.ferry_engine_load(cstr(path), name, name.length), `load engine "${path}"`);
    return fromCstr(name);
  }

  /** Names of the registered engines. */
  static list(): string[] {
    const buf = new Uint8Array(1024);
    check(sym.ferry_engine_list(buf, buf.length), "list engines");
    const s = fromCstr(buf);
    return s ? s.split(",") : [];
  }

  caps(): EngineCaps {
    const b = new Uint8Array(EngineCapsLayout.size);
    check(sym.ferry_engine_caps_get(this.handle, b), "engine caps");
    const c = decode(EngineCapsLayout, b);
    return {
      name: c.name,
      async: !!(c.flags & EngineCap.async), cacheHints: !!(c.flags & EngineCap.cacheHints),
      progress: !!(c.flags & EngineCap.progress), batch: !!(c.flags & EngineCap.batch),
      selfFinish: !!(c.flags & EngineCap.selfFinish), hostCpu: !!(c.flags & EngineCap.hostCpu),
      maxBatch: c.maxBatch, maxTransfer: c.maxTransfer, chunkBytes: c.chunkBytes, threads: c.threads,
      coldThreshold: c.coldThreshold,
    };
  }

  stats(): EngineStats {
    const b = new Uint8Array(EngineStatsLayout.size);
    check(sym.ferry_engine_stats_get(this.handle, b), "engine stats");
    return decode(EngineStatsLayout, b);
  }
}

/** An engine instance, or the name of a registered engine ("cpu", "sw", a plugin's). */
export type EngineLike = Engine | string;

/**
 * The sw engine's defaults, owned here and nowhere else: swEngine() in
 * @ferry/sw-engine and the shared engine behind `engine: "sw"` both open
 * with these. Copy threads: one less than the CPUs this process may use (at
 * least 1), leaving one to the sending thread; 256 KiB chunks.
 */
export function swDefaults(): { threads: number; chunkBytes: number; cpus: number; reason: string } {
  const cpus = availableParallelism();
  const threads = Math.max(1, cpus - 1);
  return {
    threads,
    chunkBytes: 256 * 1024,
    cpus,
    reason: `${cpus} CPU(s) available: ${threads} copy thread(s) leave one CPU to the sending thread; 256 KiB chunks keep per-chunk overhead under 1% and pipelining fine-grained`,
  };
}

/** Engines opened by name for `engine: "sw"` and friends, one per name per process. */
const named = new Map<string, Engine>();

/** @internal the engine an EngineLike names: itself, or the process's shared instance of that name. */
export function engineByName(e: EngineLike): Engine {
  if (typeof e !== "string") return e;
  let engine = named.get(e);
  if (!engine || engine.closed) {
    const d = e === "sw" ? swDefaults() : null;
    engine = new Engine(e, d ? { threads: d.threads, chunkBytes: d.chunkBytes } : {});
    named.set(e, engine);
  }
  return engine;
}

/** @internal a COMPLETION_ALIGN-aligned completion record in memory that JS keeps alive (`keep`). */
export function completionRecord(): { ptr: Pointer; keep: ArrayBuffer } {
  const keep = new ArrayBuffer(COMPLETION_SIZE * 2);
  const base = Number(ptr(new Uint8Array(keep)));
  const rec = (base + ((COMPLETION_ALIGN - (base % COMPLETION_ALIGN)) % COMPLETION_ALIGN)) as Pointer;
  new Uint8Array(toArrayBuffer(rec, 0, COMPLETION_SIZE)).fill(0);
  return { ptr: rec, keep };
}
