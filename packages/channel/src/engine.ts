/**
 * Copy engines from JS: one class over libferry's engine registry. Built in:
 * "cpu" (copies in the caller's thread, temporal or non-temporal stores) and
 * "sw" (copy threads; @ferry/sw-engine wraps it). Plugins: Engine.load(path).
 */
import { ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { Errno, FerryError, check, cstr, lib } from "@ferry/native";

const sym = lib.symbols;
const TWO32 = 4294967296;

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

const registry = new FinalizationRegistry<Pointer>((h) => sym.ferry_engine_close(h));

export class Engine implements Disposable {
  readonly name: string;
  #handle: Pointer | null;

  /** Open an instance of a registered engine ("cpu", "sw", or a loaded plugin's name). */
  constructor(name: string, cfg: EngineConfig = {}) {
    this.name = name;
    for (const key of ["threads", "chunkBytes", "queueDepth", "coldThreshold", "idleSpinNs"] as const) {
      const v = cfg[key];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0))
        throw new FerryError(Errno.INVAL, `engine option ${key} must be a non-negative integer, got ${v}`);
    }
    for (const cpu of cfg.pin ?? [])
      if (!Number.isInteger(cpu) || cpu < 0 || cpu > 63)
        throw new FerryError(Errno.INVAL, `engine option pin: CPU ${cpu} is outside 0..63`);
    const out = new BigUint64Array(1);
    // struct ferry_engine_config (56 bytes, see ferry.h), followed in the same
    // ArrayBuffer by the options text it points at: one allocation that stays
    // put and alive for the whole open call (it is the argument)
    const opts = cfg.options === undefined ? null : cstr(cfg.options);
    const buf = new Uint8Array(new ArrayBuffer(56 + (opts?.length ?? 0)));
    const c = new DataView(buf.buffer);
    c.setUint32(0, 56, true);
    c.setUint32(4, cfg.threads ?? 0, true);
    c.setBigUint64(8, BigInt(cfg.chunkBytes ?? 0), true);
    c.setBigUint64(16, (cfg.pin ?? []).reduce((m, cpu) => m | (1n << BigInt(cpu)), 0n), true);
    c.setUint32(24, cfg.queueDepth ?? 0, true);
    c.setUint32(28, cfg.drain ? 1 : 0, true);
    c.setBigUint64(32, BigInt(cfg.coldThreshold ?? 0), true);
    c.setBigUint64(40, BigInt(cfg.idleSpinNs ?? 0), true);
    if (opts) {
      buf.set(opts, 56);
      c.setBigUint64(48, BigInt(ptr(buf, 56)), true); // read during the open call only
    }
    check(sym.ferry_engine_open(cstr(name), buf, out), `open engine "${name}"`);
    this.#handle = Number(out[0]) as Pointer;
    registry.register(this, this.#handle, this);
  }

  /** Load a plugin engine (a shared library exporting ferry_engine_entry); returns its name. */
  static load(path: string): string {
    const name = new Uint8Array(64);
    check(sym.ferry_engine_load(cstr(path), name, name.length), `load engine "${path}"`);
    return new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
  }

  /** Names of the registered engines. */
  static list(): string[] {
    const buf = new Uint8Array(1024);
    check(sym.ferry_engine_list(buf, buf.length), "list engines");
    const s = new TextDecoder().decode(buf.subarray(0, buf.indexOf(0)));
    return s ? s.split(",") : [];
  }

  get closed() { return this.#handle === null; }

  /** @internal */
  get handle(): Pointer {
    if (this.#handle === null) throw new FerryError(Errno.CLOSED, `engine "${this.name}" is closed`);
    return this.#handle;
  }

  caps(): EngineCaps {
    const b = new Uint8Array(72);
    check(sym.ferry_engine_caps_get(this.handle, b), "engine caps");
    const v = new DataView(b.buffer);
    const u64 = (o: number) => v.getUint32(o, true) + v.getUint32(o + 4, true) * TWO32;
    const flags = v.getUint32(32, true);
    return {
      name: new TextDecoder().decode(b.subarray(0, b.indexOf(0))),
      async: !!(flags & 1), cacheHints: !!(flags & 2), progress: !!(flags & 4), batch: !!(flags & 8),
      maxBatch: v.getUint32(36, true), maxTransfer: u64(40), chunkBytes: u64(48), threads: v.getUint32(56, true),
      coldThreshold: u64(64),
    };
  }

  stats(): EngineStats {
    const b = new Uint32Array(16);
    check(sym.ferry_engine_stats_get(this.handle, b), "engine stats");
    const u64 = (i: number) => b[i]! + b[i + 1]! * TWO32;
    return {
      submitted: u64(0), jobs: u64(2), errors: u64(4), bytes: u64(6), busyNs: u64(8), chunks: u64(10),
      fullWaits: u64(12), threads: u64(14),
    };
  }

  /** Finish or cancel queued copies (see drain) and free the engine. Idempotent. */
  close(): void {
    if (this.#handle === null) return;
    registry.unregister(this);
    sym.ferry_engine_close(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose]() {
    this.close();
  }
}

/** Engines opened by name for `engine: "sw"` and friends, one per name per process. */
const named = new Map<string, Engine>();
export function engineByName(name: string): Engine {
  let e = named.get(name);
  if (!e || e.closed) {
    e = new Engine(name, name === "sw" ? { threads: 1 } : {});
    named.set(name, e);
  }
  return e;
}

/** A 64-byte-aligned, 128-byte completion record in memory that JS keeps alive. */
export function completionRecord(): { ptr: Pointer; keep: ArrayBuffer } {
  const keep = new ArrayBuffer(256);
  const base = Number(ptr(new Uint8Array(keep)));
  const rec = (base + ((64 - (base % 64)) % 64)) as Pointer;
  new Uint8Array(toArrayBuffer(rec, 0, 128)).fill(0);
  return { ptr: rec, keep };
}
