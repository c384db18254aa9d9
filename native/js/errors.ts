/**
 * FerryError: every failing libferry call surfaces as one of these.
 *
 * The numbers come from libferry at load (ferry_err_name for -1, -2, ...
 * until it answers FERRY_E_UNKNOWN), so they are never a copy of ferry.h.
 * The names are also listed below, once, because TypeScript needs them for
 * the FerryErrorCode type; that list is checked against the library's at
 * load, so a code added in C and missing here fails loudly instead of
 * turning into FERRY_E_UNKNOWN.
 *
 * Imports symbols.ts only (which imports load.ts only): no cycle.
 */
import { lib } from "./symbols";
import { FerryError as BaseError, setCodeNamer } from "./ferror";

const sym = lib.symbols;

/** Every FERRY_E_* name of ferry.h, in its order (checked against libferry at load). */
const NAMES = [
  "FERRY_E_INVAL", "FERRY_E_NAME", "FERRY_E_EXISTS", "FERRY_E_NOTFOUND", "FERRY_E_BADMAGIC",
  "FERRY_E_VERSION", "FERRY_E_CORRUPT", "FERRY_E_FULL", "FERRY_E_TOOBIG", "FERRY_E_AGAIN",
  "FERRY_E_TIMEOUT", "FERRY_E_EOF", "FERRY_E_PEERDEAD", "FERRY_E_CLOSED", "FERRY_E_STATE",
  "FERRY_E_LIMIT", "FERRY_E_SYS", "FERRY_E_PERM", "FERRY_E_NOMEM", "FERRY_E_BUSY",
] as const;

type KnownCode = (typeof NAMES)[number];
/** FERRY_E_NOLIB: libferry could not be loaded (raised by the loader in JS; no C number). */
export type FerryErrorCode = KnownCode | "FERRY_E_UNKNOWN" | "FERRY_E_NOLIB";
type ShortName<C> = C extends `FERRY_E_${infer K}` ? K : never;

const UNKNOWN = "FERRY_E_UNKNOWN";
/** Far beyond any real list: only stops a library that never answers UNKNOWN. */
const SCAN_LIMIT = 4096;

/** libferry's codes: code -> name, for -1, -2, ... until ferry_err_name says FERRY_E_UNKNOWN. */
export function libraryErrorNames(): Map<number, string> {
  const out = new Map<number, string>();
  for (let code = -1; code >= -SCAN_LIMIT; code--) {
    const name = String(sym.ferry_err_name(code));
    if (name === UNKNOWN) break;
    out.set(code, name);
  }
  return out;
}

const library = libraryErrorNames();
{
  const known = new Set<string>(NAMES);
  const inLibrary = new Set(library.values());
  const missing = [...inLibrary].filter((n) => !known.has(n));
  const extra = [...known].filter((n) => !inLibrary.has(n));
  if (missing.length || extra.length)
    throw new Error(
      `@ferry/native: FERRY_E_* names differ from libferry ${String(sym.ferry_version())}` +
        (missing.length ? `; missing in native/js/errors.ts: ${missing.join(", ")}` : "") +
        (extra.length ? `; unknown to the library: ${extra.join(", ")}` : ""),
    );
}

const BY_CODE = new Map<number, FerryErrorCode>(library as Map<number, KnownCode>);

/** Numeric codes, read from libferry at load: `Errno.FULL === -8`. */
export const Errno: { readonly [K in ShortName<KnownCode>]: number } = Object.freeze(
  Object.fromEntries([...library].map(([code, name]) => [name.slice("FERRY_E_".length), code])),
) as { readonly [K in ShortName<KnownCode>]: number };

export function codeName(errno: number): FerryErrorCode {
  return BY_CODE.get(errno) ?? UNKNOWN;
}

setCodeNamer(codeName);

/**
 * Every failing libferry call throws one: `code` is the stable name
 * ("FERRY_E_FULL"), `errno` the negative number libferry returned. Defined in
 * ferror.ts (which imports nothing native) so that the loader can throw one
 * when the library itself is missing (code "FERRY_E_NOLIB", errno 0).
 */
export const FerryError = BaseError as unknown as {
  new (errno: number, message: string, code?: FerryErrorCode): FerryError;
  prototype: FerryError;
};
export interface FerryError extends Error {
  readonly name: string;
  /** Stable string code, e.g. "FERRY_E_FULL". */
  readonly code: FerryErrorCode;
  /** The negative number libferry returned (0 for FERRY_E_NOLIB). */
  readonly errno: number;
}

/** Throw a FerryError for a negative return code, with libferry's detail. */
export function check(rc: number, what?: string): number {
  if (rc >= 0) return rc;
  throw fail(rc, what);
}

/** The FerryError for return code `rc`: libferry's text plus the calling thread's detail. */
export function fail(rc: number, what?: string): FerryError {
  const detail = String(sym.ferry_last_error() ?? "");
  const base = String(sym.ferry_strerror(rc));
  const msg = detail && detail !== base ? `${base}: ${detail}` : base;
  return new FerryError(rc, what ? `${what}: ${msg}` : msg);
}
