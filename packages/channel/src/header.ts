/**
 * Message header codecs. A header is raw bytes (a Uint8Array, any other
 * ArrayBufferView, an ArrayBuffer) or anything else as JSON, at most
 * HEADER_MAX bytes in all.
 *
 * Checksums travel in a 16-byte envelope in front of the user's header
 * bytes, so JSON and raw headers keep their meaning and a message without a
 * checksum costs nothing:
 *
 *   0..3   magic 00 66 79 01 ("\0fy", envelope version 1): no JSON text starts with NUL
 *   4      flags: bit 0 = a CRC-32 is present (other bits 0)
 *   5..7   0
 *   8..11  CRC-32 (IEEE 802.3, zlib's; little endian) of the payload followed by the user's header bytes
 *   12..15 0
 *   16..   the user's header bytes (msg.headerBytes), possibly none
 *
 * A raw user header that itself starts with the magic and is at least 16
 * bytes long is wrapped in an envelope without a CRC, so every header this
 * library writes reads back unambiguously. (A raw header written by an older
 * Ferry that happens to start with these four bytes would be misread: the
 * magic starts with a NUL byte to make that unlikely.)
 */
import { Errno, FerryError, HEADER_MAX } from "@ferry/native";
import type { Header } from "./types";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const ENVELOPE_SIZE = 16;
const MAGIC0 = 0x00, MAGIC1 = 0x66, MAGIC2 = 0x79, MAGIC3 = 0x01;
const F_CRC32 = 1;

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

function startsWithMagic(b: Uint8Array): boolean {
  return b.length >= ENVELOPE_SIZE && b[0] === MAGIC0 && b[1] === MAGIC1 && b[2] === MAGIC2 && b[3] === MAGIC3;
}

/**
 * The header's bytes for libferry, or null when there is none (undefined or
 * empty, and no checksum). With `payload`, an envelope carrying the CRC-32 of
 * the payload and the user's header goes in front.
 */
export function encodeHeader(h: Header, payload?: Uint8Array): Uint8Array | null {
  const user = userBytes(h);
  const n = user?.length ?? 0;
  const wrap = payload !== undefined || (user !== null && startsWithMagic(user));
  const total = wrap ? ENVELOPE_SIZE + n : n;
  if (total > HEADER_MAX)
    throw new FerryError(
      Errno.TOOBIG,
      `header of ${n} bytes exceeds ${wrap ? `${HEADER_MAX - ENVELOPE_SIZE} (${HEADER_MAX} less the checksum envelope)` : HEADER_MAX}`,
    );
  if (!wrap) return n ? user : null;
  const out = new Uint8Array(total);
  out[0] = MAGIC0, out[1] = MAGIC1, out[2] = MAGIC2, out[3] = MAGIC3;
  if (user) out.set(user, ENVELOPE_SIZE);
  if (payload !== undefined) {
    out[4] = F_CRC32;
    new DataView(out.buffer).setUint32(8, checksumOf(payload, user), true);
  }
  return out;
}

/** CRC-32 of the payload followed by the user's header bytes (Bun.hash.crc32 chains through its seed). */
export function checksumOf(payload: Uint8Array, user: Uint8Array | null): number {
  const c = Bun.hash.crc32(payload);
  return user && user.length ? Bun.hash.crc32(user, c) : c;
}

/** A received header split into the user's bytes and the stored CRC-32 (undefined: none). */
export function splitHeader(raw: Uint8Array | null): { user: Uint8Array | null; crc: number | undefined } {
  if (raw === null || !startsWithMagic(raw)) return { user: raw, crc: undefined };
  const user = raw.length > ENVELOPE_SIZE ? raw.subarray(ENVELOPE_SIZE) : null;
  const crc = raw[4]! & F_CRC32 ? new DataView(raw.buffer, raw.byteOffset, ENVELOPE_SIZE).getUint32(8, true) : undefined;
  return { user, crc };
}

/** Parse a received header as JSON; FERRY_E_CORRUPT when it is not (raw bytes, a damaged header). */
export function decodeHeader(raw: Uint8Array, seq: number): Header {
  try {
    return JSON.parse(decoder.decode(raw));
  } catch {
    throw new FerryError(Errno.CORRUPT, `header of message ${seq} (${raw.length} bytes) is not JSON: read msg.headerBytes for raw headers`);
  }
}
