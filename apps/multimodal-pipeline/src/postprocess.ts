/**
 * Turning model outputs into answers: text boxes from PP-OCR's probability
 * map, speech segments from Silero VAD's per-frame probabilities.
 */

export interface Box {
  /** In the original image's pixels. */
  x: number;
  y: number;
  w: number;
  h: number;
  /** Mean text probability inside the region. */
  score: number;
}

export interface DetOptions {
  /** Pixel threshold on the probability map (PaddleOCR's det_db_thresh). */
  thresh?: number;
  /** A region's mean probability must reach this (det_db_box_thresh). */
  boxThresh?: number;
  /** Regions smaller than this many map pixels are noise. */
  minArea?: number;
  /** How far the shrunk text kernel is grown back (det_db_unclip_ratio). */
  unclip?: number;
  /** Round the box to whole pixels (default true). */
  round?: boolean;
}

/**
 * Text regions of one size × size probability map (DB post-processing,
 * simplified to axis-aligned boxes): threshold, 4-connected components,
 * score filter, grow each box by area × unclip / perimeter, scale to the
 * original image.
 */
export function textBoxes(prob: Float32Array, size: number, width: number, height: number, o: DetOptions = {}): Box[] {
  const thresh = o.thresh ?? 0.3, boxThresh = o.boxThresh ?? 0.5, minArea = o.minArea ?? 8, unclip = o.unclip ?? 1.5;
  const n = size * size;
  const label = new Int32Array(n);
  const stack = new Int32Array(n);
  const boxes: Box[] = [];
  let next = 0;
  for (let start = 0; start < n; start++) {
    if (label[start] || prob[start]! < thresh) continue;
    next++;
    let top = 0, area = 0, sum = 0;
    let x0 = size, y0 = size, x1 = -1, y1 = -1;
    stack[top++] = start;
    label[start] = next;
    while (top) {
      const p = stack[--top]!;
      const x = p % size, y = (p - x) / size;
      area++;
      sum += prob[p]!;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      const nb = [x > 0 ? p - 1 : -1, x < size - 1 ? p + 1 : -1, y > 0 ? p - size : -1, y < size - 1 ? p + size : -1];
      for (const q of nb) if (q >= 0 && !label[q] && prob[q]! >= thresh) (label[q] = next), (stack[top++] = q);
    }
    const score = sum / area;
    if (area < minArea || score < boxThresh) continue;
    const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    const d = (bw * bh * unclip) / (2 * (bw + bh));
    const sx = width / size, sy = height / size;
    const X0 = Math.max(0, x0 - d), Y0 = Math.max(0, y0 - d), X1 = Math.min(size, x1 + 1 + d), Y1 = Math.min(size, y1 + 1 + d);
    const r = o.round === false ? (v: number) => Math.round(v * 100) / 100 : Math.round;
    boxes.push({ x: r(X0 * sx), y: r(Y0 * sy), w: r((X1 - X0) * sx), h: r((Y1 - Y0) * sy), score: Math.round(score * 1000) / 1000 });
  }
  return boxes.sort((a, b) => a.y - b.y || a.x - b.x);
}

export interface Segment {
  startMs: number;
  endMs: number;
}

/**
 * Speech segments from per-frame probabilities (frameMs apart): frames at or
 * above `thresh` are speech; gaps up to maxGapMs are bridged; segments
 * shorter than minMs are dropped.
 */
export function speechSegments(probs: ArrayLike<number>, frameMs: number, thresh = 0.5, maxGapMs = 160, minMs = 96): Segment[] {
  const out: Segment[] = [];
  let cur: Segment | null = null;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i]! < thresh) continue;
    const s = i * frameMs, e = (i + 1) * frameMs;
    if (cur && s - cur.endMs <= maxGapMs) cur.endMs = e;
    else {
      if (cur) out.push(cur);
      cur = { startMs: s, endMs: e };
    }
  }
  if (cur) out.push(cur);
  return out.filter((g) => g.endMs - g.startMs >= minMs);
}

/** Boxes found on a size × size map, in an image of width × height, rounded to pixels. */
export function scaleBoxes(boxes: Box[], size: number, width: number, height: number): Box[] {
  const sx = width / size, sy = height / size;
  return boxes.map((b) => ({ x: Math.round(b.x * sx), y: Math.round(b.y * sy), w: Math.round(b.w * sx), h: Math.round(b.h * sy), score: b.score }));
}
