/**
 * Message header codecs. A header is raw bytes (a Uint8Array, any other
 * ArrayBufferView, an ArrayBuffer) or anything else as JSON, at most
 * HEADER_MAX bytes.
 */
import { Errno, FerryError, HEADER_MAX } from "@ferry/native";
import type { Header } from "./types";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The user's header as bytes (null when there is none). FERRY_E_INVAL when it cannot be encoded. */
function userBytes(h: Header): Uint8Array | null {
  if (h === undefined) return null;
  if (h instanceof Uint8Array) return h;
  if (ArrayBuffer.isView(h)) return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
  if (h instanceof ArrayBuffer) return new Uint8Array(h);
  let json: string | undefined;
  try {
    json = JSON.stringify(h);
  } catch (e) {
    throw new FerryError(Errno.INVAL, `header cannot be encoded as JSON: ${(e as Error)?.message ?? e}`);
  }
  if (json === undefined) throw new FerryError(Errno.INVAL, `a header of type ${typeof h} cannot be encoded as JSON`);
  return encoder.encode(json);
}

/** The header's bytes for libferry, or null when there is none (undefined or empty). */
export function encodeHeader(h: Header): Uint8Array | null {
  const user = userBytes(h);
  const n = user?.length ?? 0;
  if (n > HEADER_MAX) throw new FerryError(Errno.TOOBIG, `header of ${n} bytes exceeds ${HEADER_MAX}`);
  return n ? user : null;
}

/** Parse a received header as JSON; FERRY_E_CORRUPT when it is not (raw bytes, a damaged header). */
export function decodeHeader(raw: Uint8Array, seq: number): Header {
  try {
    return JSON.parse(decoder.decode(raw));
  } catch {
    throw new FerryError(Errno.CORRUPT, `header of message ${seq} (${raw.length} bytes) is not JSON: read msg.headerBytes for raw headers`);
  }
}
