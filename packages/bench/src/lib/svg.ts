/**
 * Hand-written SVG line charts, no dependencies: one or more log-log panels
 * (message size on x, log2; a value on y, log10 with 1-2-5 grid lines), one
 * line per series, a legend inside the panel or to its right.
 */
import { sizeLabel } from "./format";

export interface Series {
  label: string;
  color: string;
  dash?: string;
  /** x: message size in bytes; y: the value (points with y <= 0 or not finite are left out). */
  points: { x: number; y: number }[];
}

export interface Panel {
  /** The plot area. */
  left: number;
  top: number;
  width: number;
  height: number;
  /** Bold, above the plot area. */
  title?: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** y tick labels. */
  tick: (v: number) => string;
  /** The value in a point's tooltip (default: tick). */
  tip?: (v: number) => string;
  /** The y range is [min / pad, max * pad]. */
  pad: number;
  legend: "inside" | "right";
}

export interface Chart {
  width: number;
  height: number;
  title: string;
  subtitle: string;
  panels: Panel[];
}

export const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const ok = (p: { y: number }) => p.y > 0 && Number.isFinite(p.y);
const f1 = (v: number) => v.toFixed(1);

function panel(o: string[], p: Panel) {
  const { left: l, top: t, width: w, height: h } = p;
  const all = p.series.flatMap((s) => s.points).filter(ok);
  if (p.title) o.push(`<text x="${l}" y="${t - 10}" font-weight="bold">${esc(p.title)}</text>`);
  if (!all.length) {
    o.push(`<text x="${l}" y="${t + 20}">no data</text>`);
    return;
  }
  const xs = [...new Set(all.map((q) => q.x))].sort((a, b) => a - b);
  const x1 = Math.log2(xs[0]!), x2 = Math.log2(xs.at(-1)!);
  const y1 = Math.log10(Math.min(...all.map((q) => q.y)) / p.pad), y2 = Math.log10(Math.max(...all.map((q) => q.y)) * p.pad);
  const X = (v: number) => l + (x2 === x1 ? w / 2 : ((Math.log2(v) - x1) / (x2 - x1)) * w);
  const Y = (v: number) => t + h - ((Math.log10(v) - y1) / Math.max(1e-9, y2 - y1)) * h;
  const tip = p.tip ?? p.tick;
  // grid and y ticks: decades, with 2x and 5x minor lines
  for (let d = Math.floor(y1); d <= Math.ceil(y2); d++)
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** d;
      if (Math.log10(v) > y2 + 1e-9 || Math.log10(v) < y1 - 1e-9) continue;
      o.push(`<line x1="${l}" x2="${l + w}" y1="${f1(Y(v))}" y2="${f1(Y(v))}" stroke="${k === 1 ? "#ccc" : "#eee"}"/>`);
      o.push(`<text x="${l - 7}" y="${f1(Y(v))}" text-anchor="end" dominant-baseline="middle" fill="${k === 1 ? "#000" : "#888"}">${p.tick(v)}</text>`);
    }
  for (const s of xs) {
    o.push(`<line x1="${f1(X(s))}" x2="${f1(X(s))}" y1="${t}" y2="${t + h}" stroke="#eee"/>`);
    o.push(`<text x="${f1(X(s))}" y="${t + h + 17}" text-anchor="middle">${sizeLabel(s)}</text>`);
  }
  o.push(`<rect x="${l}" y="${t}" width="${w}" height="${h}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${l + w / 2}" y="${t + h + 38}" text-anchor="middle">${esc(p.xLabel)}</text>`);
  o.push(`<text transform="translate(${l - 50} ${t + h / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
  const dash = (s: Series) => (s.dash ? ` stroke-dasharray="${s.dash}"` : "");
  p.series.forEach((s, i) => {
    const pts = s.points.filter(ok).sort((a, b) => a.x - b.x);
    if (!pts.length) return;
    o.push(`<path d="${pts.map((q, j) => `${j ? "L" : "M"}${f1(X(q.x))} ${f1(Y(q.y))}`).join(" ")}" fill="none" stroke="${s.color}" stroke-width="2.2"${dash(s)}/>`);
    for (const q of pts)
      o.push(`<circle cx="${f1(X(q.x))}" cy="${f1(Y(q.y))}" r="3" fill="${s.color}"><title>${esc(s.label)} ${sizeLabel(q.x)}: ${tip(q.y)}</title></circle>`);
    const [lx, ly] = p.legend === "right" ? [l + w + 14, t + 10 + i * 20] : [l + 8, t + 12 + i * 16];
    o.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.2"${dash(s)}/>`);
    o.push(`<text x="${lx + 32}" y="${ly}" dominant-baseline="middle">${esc(s.label)}</text>`);
  });
}

export function chart(c: Chart): string {
  const { width: W, height: H } = c;
  const x = c.panels[0]?.left ?? 60;
  const o: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${x}" y="24" font-size="16" font-weight="bold">${esc(c.title)}</text>`,
    `<text x="${x}" y="42" fill="#555">${esc(c.subtitle)}</text>`,
  ];
  for (const p of c.panels) panel(o, p);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}
