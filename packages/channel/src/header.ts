/** Message header codecs: a Uint8Array goes as raw bytes, anything else as JSON (at most HEADER_MAX bytes). */
import { Errno, FerryError, HEADER_MAX } from "@ferry/native";
import type { Header } from "./types";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The header's bytes, or null when there is none (undefined or empty). */
export function encodeHeader(h: Header): Uint8Array | null {
  if (h === undefined) return null;
  const bytes = h instanceof Uint8Array ? h : encoder.encode(JSON.stringify(h));
  if (bytes.length > HEADER_MAX)
    throw new FerryError(Errno.TOOBIG, `header of ${bytes.length} bytes exceeds ${HEADER_MAX}`);
  return bytes.length ? bytes : null;
}

/** Parse a received header as JSON. */
export function decodeHeader(raw: Uint8Array): Header {
  return JSON.parse(decoder.decode(raw));
}
