/** Order statistics over samples (ns, GB/s, ...). */

export function sorted(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs).sort();
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function pct(s: ArrayLike<number>, p: number): number {
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export function median(xs: ArrayLike<number>): number {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length & 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The order in which to run `n` interleaved variants in round `round`: a
 * permutation drawn from a PRNG seeded by the round (the same every run), so
 * each variant follows every other about equally often. A rotation (i + j) % n
 * keeps the same predecessor for each variant in every round: whatever one
 * variant leaves behind (engine threads still polling, a cold cache) would
 * always be paid by the same next one.
 */
export function roundOrder(n: number, round: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let x = (Math.imul(round + 1, 0x9e3779b1) ^ 0x85ebca6b) >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    const j = x % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
