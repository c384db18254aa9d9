/**
 * The FerryError class on its own, importing nothing native: the loader
 * (load.ts) throws one when libferry cannot be loaded, before any symbol
 * exists. errors.ts hands it the library's code names once they are read.
 */

/** Raised by JS before libferry is loaded (so it has no C number: errno 0). */
export const NOLIB = "FERRY_E_NOLIB";

let namer: ((errno: number) => string) | undefined;

/** errors.ts: the code -> name map read from libferry. */
export function setCodeNamer(fn: (errno: number) => string): void {
  namer = fn;
}

export class FerryError extends Error {
  override name = "FerryError";
  /** Stable string code, e.g. "FERRY_E_FULL" (the FerryErrorCode type of errors.ts). */
  readonly code: string;
  /** The negative number libferry returned (0 for FERRY_E_NOLIB, which has none). */
  readonly errno: number;
  constructor(errno: number, message: string, code?: string) {
    super(message);
    this.errno = errno;
    this.code = code ?? (namer ? namer(errno) : "FERRY_E_UNKNOWN");
  }
}
