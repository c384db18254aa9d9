/**
 * Hand-written SVG line chart: throughput (GB/s, log scale) against message
 * size (log scale), one line per mode. No dependencies.
 */
export interface Series {
  label: string;
  color: string;
  dash?: string;
  points: { size: number; gbps: number }[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function sizeLabel(n: number) {
  if (n >= 2 ** 20) return `${n / 2 ** 20}M`;
  if (n >= 2 ** 10) return `${n / 2 ** 10}K`;
  return `${n}`;
}

export function throughputSvg(series: Series[], title: string, subtitle: string): string {
  const W = 820, H = 500;
  const m = { l: 70, r: 210, t: 60, b: 60 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const all = series.flatMap((s) => s.points).filter((p) => p.gbps > 0 && Number.isFinite(p.gbps));
  const sizes = [...new Set(all.map((p) => p.size))].sort((a, b) => a - b);
  if (!all.length || !sizes.length) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="80"><text x="10" y="40" font-family="sans-serif">${esc(title)}: no data</text></svg>\n`;
  }
  const xmin = Math.log2(sizes[0]!), xmax = Math.log2(sizes[sizes.length - 1]!);
  const ymin = Math.log10(Math.min(...all.map((p) => p.gbps)) / 1.4);
  const ymax = Math.log10(Math.max(...all.map((p) => p.gbps)) * 1.4);
  const x = (size: number) => m.l + (xmax === xmin ? pw / 2 : ((Math.log2(size) - xmin) / (xmax - xmin)) * pw);
  const y = (g: number) => m.t + ph - ((Math.log10(g) - ymin) / Math.max(1e-9, ymax - ymin)) * ph;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(`<text x="${m.l}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  o.push(`<text x="${m.l}" y="42" fill="#555">${esc(subtitle)}</text>`);
  // grid + y ticks (decades, with 2x and 5x minor lines)
  for (let d = Math.floor(ymin); d <= Math.ceil(ymax); d++) {
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** d;
      if (Math.log10(v) > ymax + 1e-9 || Math.log10(v) < ymin - 1e-9) continue;
      const yy = y(v).toFixed(1);
      o.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${yy}" y2="${yy}" stroke="${k === 1 ? "#ccc" : "#eee"}"/>`);
      o.push(`<text x="${m.l - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="${k === 1 ? "#000" : "#888"}">${v >= 1 ? v : v.toPrecision(1)}</text>`);
    }
  }
  for (const s of sizes) {
    const xx = x(s).toFixed(1);
    o.push(`<line x1="${xx}" x2="${xx}" y1="${m.t}" y2="${m.t + ph}" stroke="#eee"/>`);
    o.push(`<text x="${xx}" y="${m.t + ph + 18}" text-anchor="middle">${sizeLabel(s)}</text>`);
  }
  o.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${m.l + pw / 2}" y="${H - 16}" text-anchor="middle">message size (bytes, log scale)</text>`);
  o.push(`<text transform="translate(20 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">GB/s (1e9 B/s, log scale)</text>`);
  // series
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p.gbps > 0 && Number.isFinite(p.gbps)).sort((a, b) => a.size - b.size);
    if (!pts.length) return;
    const d = pts.map((p, j) => `${j ? "L" : "M"}${x(p.size).toFixed(1)} ${y(p.gbps).toFixed(1)}`).join(" ");
    o.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
    for (const p of pts)
      o.push(`<circle cx="${x(p.size).toFixed(1)}" cy="${y(p.gbps).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.label)} ${sizeLabel(p.size)}: ${p.gbps.toFixed(2)} GB/s</title></circle>`);
    const ly = m.t + 10 + i * 20;
    o.push(`<line x1="${m.l + pw + 14}" x2="${m.l + pw + 42}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
    o.push(`<text x="${m.l + pw + 48}" y="${ly}" dominant-baseline="middle">${esc(s.label)}</text>`);
  });
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}
