/**
 * What travels with a request or a reply: a small JSON object (method, url,
 * headers, correlation id, reply channel, deadline; or status and headers).
 * It goes in the message header (at most HEADER_MAX bytes, 4 KiB). When it is
 * larger (long cookies, many headers) it goes in front of the payload instead,
 * padded to 64 bytes so the body keeps its alignment, and the header only says
 * how long that prefix is ({ id, p }).
 */
import { HEADER_MAX } from "@ferry/channel";

/** Keep well under HEADER_MAX: the channel may add a 16-byte checksum envelope. */
export const HEADER_BUDGET = HEADER_MAX - 96;
export const PREFIX_ALIGN = 64;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The wire names of the request meta (short keys: it is encoded per request). */
export interface RequestMeta {
  /** correlation id, unique per gateway */
  id: number;
  /** method */
  m: string;
  /** url */
  u: string;
  /** headers as [name, value] pairs */
  h: [string, string][];
  /** reply channel name */
  r: string;
  /** deadline, ms since the epoch: a worker skips a request it claims after this */
  d: number;
  /** body bytes */
  n: number;
}

export interface ReplyMeta {
  id: number;
  /** status */
  s: number;
  /** headers */
  h: [string, string][];
}

/** A worker's first word on a claimed request: its pid (the gateway watches it while the request runs). */
export interface AckMeta {
  id: number;
  ack: number;
}

/**
 * Encode `meta`: either as the header (prefix 0) or, when too long, as a
 * payload prefix of `prefix` bytes (a multiple of 64) with a tiny header.
 */
export function encodeMeta<M extends { id: number }>(meta: M): { header: Uint8Array; prefix: Uint8Array | null; prefixLen: number } {
  const json = enc.encode(JSON.stringify(meta));
  if (json.length <= HEADER_BUDGET) return { header: json, prefix: null, prefixLen: 0 };
  const prefixLen = Math.ceil((json.length + 4) / PREFIX_ALIGN) * PREFIX_ALIGN;
  const prefix = new Uint8Array(prefixLen);
  new DataView(prefix.buffer).setUint32(0, json.length, true);
  prefix.set(json, 4);
  return { header: enc.encode(JSON.stringify({ id: meta.id, p: prefixLen })), prefix, prefixLen };
}

/**
 * Decode what encodeMeta produced: the header's JSON, and when it names a
 * prefix, the prefix's JSON from `payload`. Returns the meta and where the
 * body starts in the payload. Throws on anything malformed (a peer's word is
 * checked, not trusted).
 */
export function decodeMeta<T>(header: unknown, payload: Uint8Array): { meta: T; offset: number } {
  if (typeof header !== "object" || header === null || typeof (header as { id?: unknown }).id !== "number")
    throw new Error("malformed message header");
  const p = (header as { p?: unknown }).p;
  if (p === undefined) return { meta: header as T, offset: 0 };
  if (typeof p !== "number" || !Number.isSafeInteger(p) || p < 4 || p > payload.length || p % PREFIX_ALIGN !== 0)
    throw new Error("malformed meta prefix");
  const len = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
  if (len > p - 4) throw new Error("malformed meta prefix length");
  return { meta: JSON.parse(dec.decode(payload.subarray(4, 4 + len))) as T, offset: p };
}

/** Headers as pairs (Set-Cookie stays one pair per cookie). */
export function headerPairs(h: Headers): [string, string][] {
  const out: [string, string][] = [];
  h.forEach((v, k) => {
    if (k !== "set-cookie") out.push([k, v]);
  });
  for (const c of h.getSetCookie()) out.push(["set-cookie", c]);
  return out;
}

export function pairsToHeaders(pairs: unknown): Headers {
  const h = new Headers();
  if (!Array.isArray(pairs)) return h;
  for (const p of pairs) if (Array.isArray(p) && typeof p[0] === "string" && typeof p[1] === "string") h.append(p[0], p[1]);
  return h;
}
