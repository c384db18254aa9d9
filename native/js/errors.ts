/** FerryError: every failing libferry call surfaces as one of these. */
export type FerryErrorCode =
  | "FERRY_E_INVAL" | "FERRY_E_NAME" | "FERRY_E_EXISTS" | "FERRY_E_NOTFOUND" | "FERRY_E_BADMAGIC"
  | "FERRY_E_VERSION" | "FERRY_E_CORRUPT" | "FERRY_E_FULL" | "FERRY_E_TOOBIG" | "FERRY_E_AGAIN"
  | "FERRY_E_TIMEOUT" | "FERRY_E_EOF" | "FERRY_E_PEERDEAD" | "FERRY_E_CLOSED" | "FERRY_E_STATE"
  | "FERRY_E_LIMIT" | "FERRY_E_SYS" | "FERRY_E_PERM" | "FERRY_E_NOMEM" | "FERRY_E_BUSY"
  | "FERRY_E_UNKNOWN";

/** Numeric codes, equal to the C enum ferry_error. */
export const Errno = {
  INVAL: -1, NAME: -2, EXISTS: -3, NOTFOUND: -4, BADMAGIC: -5, VERSION: -6, CORRUPT: -7, FULL: -8,
  TOOBIG: -9, AGAIN: -10, TIMEOUT: -11, EOF: -12, PEERDEAD: -13, CLOSED: -14, STATE: -15, LIMIT: -16,
  SYS: -17, PERM: -18, NOMEM: -19, BUSY: -20,
} as const;

const NAMES: Record<number, FerryErrorCode> = Object.fromEntries(
  Object.entries(Errno).map(([k, v]) => [v, `FERRY_E_${k}` as FerryErrorCode]),
);

export class FerryError extends Error {
  override name = "FerryError";
  /** Stable string code, e.g. "FERRY_E_FULL". */
  readonly code: FerryErrorCode;
  /** The negative number libferry returned. */
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.errno = errno;
    this.code = NAMES[errno] ?? "FERRY_E_UNKNOWN";
  }
}

export function codeName(errno: number): FerryErrorCode {
  return NAMES[errno] ?? "FERRY_E_UNKNOWN";
}
