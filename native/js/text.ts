/** C strings for FFI arguments and results: one encoder and one decoder per process. */
import { Errno, FerryError } from "./errors";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * NUL-terminated UTF-8 for char* arguments. FERRY_E_INVAL for anything but a
 * string, or a string with a NUL in it (C would read only up to it).
 */
export function cstr(s: string): Uint8Array {
  if (typeof s !== "string") throw new FerryError(Errno.INVAL, `expected a string, got ${typeof s}`);
  if (s.includes("\0")) throw new FerryError(Errno.INVAL, `string ${JSON.stringify(s)} contains a NUL character`);
  return encoder.encode(`${s}\0`);
}

/** The text of a NUL-terminated buffer libferry filled (all of it when no NUL). */
export function fromCstr(b: Uint8Array): string {
  const end = b.indexOf(0);
  return decoder.decode(end < 0 ? b : b.subarray(0, end));
}
