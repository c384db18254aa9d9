/** @ferry/native: libferry's binding. Wrapper packages import from here. */
import { lib } from "./symbols";
import { FerryError } from "./errors";

export { lib } from "./symbols";
export { candidates, findLibrary } from "./load";
export { Errno, FerryError, codeName, type FerryErrorCode } from "./errors";

const sym = lib.symbols;

/** Throw a FerryError for a negative return code, with libferry's detail. */
export function check(rc: number, what?: string): number {
  if (rc >= 0) return rc;
  throw fail(rc, what);
}

export function fail(rc: number, what?: string): FerryError {
  const detail = String(sym.ferry_last_error() ?? "");
  const base = String(sym.ferry_strerror(rc));
  const msg = detail && detail !== base ? `${base}: ${detail}` : base;
  return new FerryError(rc, what ? `${what}: ${msg}` : msg);
}

/** NUL-terminated UTF-8 for char* arguments. */
export function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
}

export const version: string = String(sym.ferry_version());
export const abiVersion: number = sym.ferry_abi_version();

export const Wait = { spin: 0, block: 1, hybrid: 2 } as const;
export const Backpressure = { block: 0, error: 1, "drop-oldest": 2 } as const;
export const SendMode = { offload: 1, pipelined: 2 } as const;
export const CacheHint = { auto: 0, hot: 1, cold: 2 } as const;
export const MSG_PIPELINED = 1;
export const HEADER_MAX = 4096;
export const NAME_MAX = 64;
/** Engine sends of at most this many bytes are copied into the job at submit (ferry.h). */
export const SEND_COPY_MAX = 4096;

/** Remove every ferry segment in /dev/shm that no live process uses. */
export function gc(): number {
  return check(sym.ferry_gc(), "gc");
}
