/**
 * Deterministic payloads for the engine/mode tests: word k of a payload with
 * seed s is mix(k, s); byte i is byte (i & 3) (little endian) of word i >> 2.
 * Both sides can build or check any slice without sending the payload itself.
 * A message's header { p, i, s, size } names its pattern (PatternHeader).
 */
export const word = (k: number, s: number) => (Math.imul(k ^ s, 0x9e3779b1) ^ (k >>> 7) ^ s) >>> 0;

export function byteAt(i: number, s: number): number {
  return (word(i >>> 2, s) >>> ((i & 3) * 8)) & 255;
}

/** A fresh private buffer holding the payload (size bytes, seed s). */
export function makePayload(size: number, s: number): Uint8Array {
  const b = new Uint8Array(size);
  const n = size >>> 2;
  const w = new Uint32Array(b.buffer, 0, n);
  for (let k = 0; k < n; k++) w[k] = word(k, s);
  for (let i = n * 4; i < size; i++) b[i] = byteAt(i, s);
  return b;
}

/**
 * Index of the first byte of `view` (payload bytes [at, at + view.length))
 * that differs from the pattern, or -1 when all match.
 */
export function firstMismatch(view: Uint8Array, at: number, s: number): number {
  let i = 0;
  const len = view.length;
  // bytes until both the payload index and the view address are word aligned
  while (i < len && (((at + i) & 3) !== 0 || ((view.byteOffset + i) & 3) !== 0)) {
    if (view[i] !== byteAt(at + i, s)) return i;
    i++;
  }
  if (((at + i) & 3) === 0 && ((view.byteOffset + i) & 3) === 0) {
    const n = (len - i) >>> 2;
    const w = new Uint32Array(view.buffer, view.byteOffset + i, n);
    const k0 = (at + i) >>> 2;
    for (let k = 0; k < n; k++) {
      if (w[k] !== word(k0 + k, s)) {
        for (let j = i + k * 4; j < i + k * 4 + 4; j++) if (view[j] !== byteAt(at + j, s)) return j;
      }
    }
    i += n * 4;
  }
  for (; i < len; i++) if (view[i] !== byteAt(at + i, s)) return i;
  return -1;
}

export const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** Seed of message i of publisher p in run r. */
export const seedOf = (r: number, p: number, i: number) => (Math.imul(r + 1, 0x85ebca6b) ^ Math.imul(p + 1, 0xc2b2ae35) ^ Math.imul(i + 1, 0x27d4eb2f)) >>> 0;

/** Header of a pattern message: publisher p, message i, seed s, payload size. */
export type PatternHeader = { p: number; i: number; s: number; size: number };

/** Hash of `bytes` and whether they are exactly the payload `h` names. */
export function checkPayload(bytes: Uint8Array, h: PatternHeader): { hash: string; ok: boolean } {
  return { hash: sha256(bytes), ok: bytes.length === h.size && firstMismatch(bytes, 0, h.s) === -1 };
}

/**
 * Consume a pipelined message's chunks (e.g. msg.chunks({ minBytes })) and
 * check each one against seed `s` at the moment it is yielded: every byte of
 * a yielded chunk must already be final. A chunk shorter than `minBytes` that
 * does not end the `total` payload counts in shortChunks.
 */
export async function verifyChunks(chunks: AsyncIterable<Uint8Array>, s: number, minBytes: number, total: number) {
  const hasher = new Bun.CryptoHasher("sha256");
  let at = 0;
  let nChunks = 0;
  let badChunk: { chunk: number; at: number; len: number; firstBadByte: number } | null = null;
  let shortChunks = 0;
  for await (const c of chunks) {
    const bad = firstMismatch(c, at, s);
    if (bad >= 0 && !badChunk) badChunk = { chunk: nChunks, at, len: c.length, firstBadByte: at + bad };
    if (c.length < minBytes && at + c.length < total) shortChunks++;
    hasher.update(c);
    at += c.length;
    nChunks++;
  }
  return { chunkHash: hasher.digest("hex"), nChunks, chunkedBytes: at, badChunk, shortChunks };
}

/** Small deterministic PRNG (xorshift32) so publisher and test agree on sizes. */
export function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}
