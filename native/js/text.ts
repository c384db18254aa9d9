/** C strings for FFI arguments and results: one encoder and one decoder per process. */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** NUL-terminated UTF-8 for char* arguments. */
export function cstr(s: string): Uint8Array {
  return encoder.encode(`${s}\0`);
}

/** The text of a NUL-terminated buffer libferry filled (all of it when no NUL). */
export function fromCstr(b: Uint8Array): string {
  const end = b.indexOf(0);
  return decoder.decode(end < 0 ? b : b.subarray(0, end));
}
