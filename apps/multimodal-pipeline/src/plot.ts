/** The demo's plot: per mode, where the image path's time goes (stacked medians) and the CPU per request. Plain SVG. */
import type { ModeResult } from "./demo";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const STAGES: [string, string, string][] = [
  ["ingress", "ingress (HTTP + body to worker)", "#9e9e9e"],
  ["decodeMs", "decode + resize (sharp)", "#8fbc8f"],
  ["featuresMs", "normalise to CHW", "#2e8b57"],
  ["tensorHopMs", "tensor hop to the model (IPC)", "#d62728"],
  ["inferenceMs", "inference (PP-OCRv4 det)", "#1f77b4"],
  ["postprocessMs", "boxes", "#aec7e8"],
  ["replyHopMs", "reply hop", "#ff7f0e"],
];

export function barChart(rs: ModeResult[], w: { batch: number; size: number; clips: number; tensor: number }): string {
  const W = 960, left = 110, right = 30, barH = 26, gap = 12;
  const top1 = 90, h1 = rs.length * (barH + gap);
  const top2 = top1 + h1 + 90, h2 = rs.length * (barH + gap);
  const H = top2 + h2 + 60;
  const plotW = W - left - right;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  o.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">Multimodal pipeline: what the IPC mode costs (same requests, warm processes)</text>`);
  o.push(`<text x="${left}" y="44" fill="#555">${esc(`each request: ${w.batch} images → [${w.batch},3,${w.size},${w.size}] fp32 (${(w.tensor / 1e6).toFixed(1)} MB) + ${w.clips} WAV clip(s); medians; 2-core VM`)}</text>`);
  // panel 1: stacked stage medians of the image path
  const total = (r: ModeResult) => STAGES.reduce((a, [k]) => a + (k === "ingress" ? r.ingress || 0 : r.image?.[k] ?? 0), 0);
  const max1 = Math.max(...rs.map(total), 1);
  o.push(`<text x="${left}" y="${top1 - 14}" font-weight="bold">Image path, stage medians (ms)</text>`);
  rs.forEach((r, i) => {
    const y = top1 + i * (barH + gap);
    o.push(`<text x="${left - 8}" y="${y + barH / 2}" text-anchor="end" dominant-baseline="middle">${esc(r.mode)}</text>`);
    let x = left;
    for (const [k, label, color] of STAGES) {
      const v = k === "ingress" ? r.ingress || 0 : r.image?.[k] ?? 0;
      const bw = (v / max1) * plotW * 0.8;
      if (bw > 0) o.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${bw.toFixed(1)}" height="${barH}" fill="${color}"><title>${esc(`${r.mode}: ${label} ${v.toFixed(2)} ms`)}</title></rect>`);
      x += bw;
    }
    o.push(`<text x="${(x + 6).toFixed(1)}" y="${y + barH / 2}" dominant-baseline="middle" fill="#333">${total(r).toFixed(0)} ms (e2e p50 ${r.p50.toFixed(0)})</text>`);
  });
  let lx = left, ly = top1 + h1 + 4;
  for (const [, label, color] of STAGES) {
    const lw = 24 + label.length * 6.6;
    if (lx + lw > W - right) (lx = left), (ly += 20);
    o.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color}"/><text x="${lx + 16}" y="${ly + 10}">${esc(label)}</text>`);
    lx += lw;
  }
  // panel 2: CPU per request
  const max2 = Math.max(...rs.map((r) => r.cpuMsPerReq), 1);
  o.push(`<text x="${left}" y="${top2 - 14}" font-weight="bold">CPU time per request, all pipeline processes (ms)</text>`);
  rs.forEach((r, i) => {
    const y = top2 + i * (barH + gap);
    const bw = (r.cpuMsPerReq / max2) * plotW * 0.85;
    o.push(`<text x="${left - 8}" y="${y + barH / 2}" text-anchor="end" dominant-baseline="middle">${esc(r.mode)}</text>`);
    o.push(`<rect x="${left}" y="${y}" width="${bw.toFixed(1)}" height="${barH}" fill="${r.mode === "bun-ipc" ? "#7f7f7f" : "#1f77b4"}"/>`);
    o.push(`<text x="${(left + bw + 6).toFixed(1)}" y="${y + barH / 2}" dominant-baseline="middle">${r.cpuMsPerReq.toFixed(0)} ms · ${r.rps.toFixed(2)} req/s</text>`);
  });
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}
