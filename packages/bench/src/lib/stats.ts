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
