/**
 * Layouts of the public structs JS reads or writes, defined once with named
 * fields (the C names in camelCase, so a decoded struct is the JS object)
 * and checked at load against the library's ferry_sizeof_* getters.
 *
 * Offsets follow the C rules on the supported ABIs (x86-64, aarch64 Linux):
 * each field aligned to its size, the struct's size rounded up to its
 * largest alignment. A layout that disagrees with the library throws
 * FERRY_E_VERSION at import.
 */
import { lib } from "./symbols";
import { Errno, FerryError } from "./errors";
import { fromCstr } from "./text";

const sym = lib.symbols;

/** A field: a 32/64-bit integer, or a fixed char array (NUL-terminated text). */
export type FieldType = "u32" | "i32" | "u64" | { readonly char: number };
type Spec = Readonly<Record<string, FieldType>>;

export interface Struct<S extends Spec> {
  /** The C name, for messages. */
  readonly cname: string;
  /** sizeof in bytes, as computed from the fields (equal to the library's, checked at load). */
  readonly size: number;
  /** Byte offset of each field. */
  readonly offset: { readonly [K in keyof S]: number };
  readonly fields: S;
  /** The library's sizeof getter. */
  readonly sizeof: () => number | bigint;
}

/** A decoded struct: numbers (u64 exact below 2^53), text for char arrays. */
export type Decoded<S extends Spec> = { -readonly [K in keyof S]: S[K] extends { char: number } ? string : number };
/** Values to encode: every integer field, as number or bigint (u64); char arrays are not written. */
export type Encodable<S extends Spec> = { [K in keyof S as S[K] extends { char: number } ? never : K]?: number | bigint };

const width = (t: FieldType) => (typeof t === "object" ? t.char : t === "u64" ? 8 : 4);
const align = (t: FieldType) => (typeof t === "object" ? 1 : width(t));

export function defineStruct<const S extends Spec>(cname: string, sizeof: () => number | bigint, fields: S): Struct<S> {
  const offset: Record<string, number> = {};
  let at = 0;
  let maxAlign = 1;
  for (const [name, t] of Object.entries(fields)) {
    const a = align(t);
    at = Math.ceil(at / a) * a;
    offset[name] = at;
    at += width(t);
    maxAlign = Math.max(maxAlign, a);
  }
  const size = Math.ceil(at / maxAlign) * maxAlign;
  return Object.freeze({ cname, size, offset: Object.freeze(offset) as Struct<S>["offset"], fields, sizeof });
}

const TWO32 = 4294967296;
/** Little-endian u64 at 32-bit word index i -> number (exact below 2^53). */
export const u64 = (a: Uint32Array, i: number) => a[i]! + a[i + 1]! * TWO32;

/** Read every field of `s` from `bytes` (at least s.size long). */
export function decode<S extends Spec>(s: Struct<S>, bytes: Uint8Array): Decoded<S> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, s.size);
  const out: Record<string, number | string> = {};
  for (const [name, t] of Object.entries(s.fields)) {
    const o = s.offset[name]!;
    out[name] =
      typeof t === "object" ? fromCstr(bytes.subarray(o, o + t.char))
      : t === "u64" ? v.getUint32(o, true) + v.getUint32(o + 4, true) * TWO32
      : t === "i32" ? v.getInt32(o, true)
      : v.getUint32(o, true);
  }
  return out as Decoded<S>;
}

/** Write the given integer fields of `s` into `bytes` (others are left as they are). */
export function encode<S extends Spec>(s: Struct<S>, bytes: Uint8Array, values: Encodable<S>): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, s.size);
  for (const [name, x] of Object.entries(values as Record<string, number | bigint | undefined>)) {
    if (x === undefined) continue;
    const t = s.fields[name];
    const o = s.offset[name]!;
    if (t === "u64") v.setBigUint64(o, BigInt(x), true);
    else if (t === "i32") v.setInt32(o, Number(x), true);
    else if (t === "u32") v.setUint32(o, Number(x), true);
    else throw new FerryError(Errno.INVAL, `${s.cname}.${name} is not an integer field`);
  }
}

/** Byte offsets -> 32-bit word indices, for hot accessors over a Uint32Array. */
export function wordIndex<S extends Spec>(s: Struct<S>): { readonly [K in keyof S]: number } {
  const out: Record<string, number> = {};
  for (const [name, o] of Object.entries(s.offset)) out[name] = o / 4;
  return out as { [K in keyof S]: number };
}

/* ------------------------------------------------------------------ layouts (ferry.h) */

/** Result record of loan / publish / receive / collect; each handle owns one. */
export const MsgInfoLayout = defineStruct("ferry_msg_info", sym.ferry_sizeof_msg_info, {
  seq: "u64", offset: "u64", length: "u64", hdrOffset: "u64", hdrLength: "u32", token: "u32",
  dropped: "u64", status: "i32", flags: "u32", data: "u64",
});

/** Channel geometry and mapped addresses (ferry_channel_info_get). */
export const ChannelInfoLayout = defineStruct("ferry_channel_info", sym.ferry_sizeof_channel_info, {
  arenaSize: "u64", granule: "u64", ringSlots: "u64", arenaRo: "u64", ctrl: "u64", segmentSize: "u64", history: "u64",
});

/** Channel counters (ferry_channel_stats). */
export const StatsLayout = defineStruct("ferry_stats", sym.ferry_sizeof_stats, {
  published: "u64", tail: "u64", head: "u64", dropped: "u64", unheard: "u64", arenaUsed: "u64",
  publishers: "u64", subscribers: "u64", reclaimed: "u64", history: "u64", backlog: "u64",
});

/** Engine configuration (ferry_engine_open); `options` is a char* address. */
export const EngineConfigLayout = defineStruct("ferry_engine_config", sym.ferry_sizeof_engine_config, {
  size: "u32", threads: "u32", chunkBytes: "u64", cpuMask: "u64", queueDepth: "u32", flags: "u32",
  coldThreshold: "u64", idleSpinNs: "u64", options: "u64",
});

/** Engine capabilities (ferry_engine_caps_get). */
export const EngineCapsLayout = defineStruct("ferry_engine_caps", sym.ferry_sizeof_engine_caps, {
  name: { char: 32 }, flags: "u32", maxBatch: "u32", maxTransfer: "u64", chunkBytes: "u64",
  threads: "u32", abi: "u32", coldThreshold: "u64",
});

/** Engine counters (ferry_engine_stats_get). */
export const EngineStatsLayout = defineStruct("ferry_engine_stats", sym.ferry_sizeof_engine_stats, {
  submitted: "u64", jobs: "u64", errors: "u64", bytes: "u64", busyNs: "u64", chunks: "u64",
  fullWaits: "u64", threads: "u64",
});

/** What an engine would be here, without opening it (ferry_engine_probe). */
export const EngineProbeLayout = defineStruct("ferry_engine_probe_info", sym.ferry_sizeof_engine_probe_info, {
  size: "u32", available: "i32", flags: "u32", reserved: "u32", maxTransfer: "u64", reason: { char: 512 },
});

/** Every layout above, checked at load. */
export const structs = [
  MsgInfoLayout, ChannelInfoLayout, StatsLayout, EngineConfigLayout, EngineCapsLayout, EngineStatsLayout, EngineProbeLayout,
] as const;

/** JS allocates completion records (never reads their fields): only the size and alignment matter. */
export const COMPLETION_SIZE = 128;
export const COMPLETION_ALIGN = 64;

/** Layouts whose size differs from the library's, with both sizes. */
export function structMismatches(): string[] {
  const out: string[] = [];
  for (const s of structs) {
    const c = Number(s.sizeof());
    if (c !== s.size) out.push(`${s.cname} (js ${s.size} B, library ${c} B)`);
  }
  const c = Number(sym.ferry_sizeof_completion());
  if (c !== COMPLETION_SIZE) out.push(`ferry_completion (js ${COMPLETION_SIZE} B, library ${c} B)`);
  return out;
}

{
  const bad = structMismatches();
  if (bad.length)
    throw new FerryError(Errno.VERSION, `@ferry/native: struct layouts differ from libferry ${String(sym.ferry_version())}: ${bad.join(", ")}`);
}
