/**
 * Deterministic payloads for the engine/mode tests: word k of a payload with
 * seed s is mix(k, s); byte i is byte (i & 3) (little endian) of word i >> 2.
 * Both sides can build or check any slice without sending the payload itself.
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
