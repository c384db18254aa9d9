/**
 * Sample inputs, made here and now (nothing is fetched):
 * - images: lines of text rendered by sharp (librsvg, DejaVu fonts) as PNG or JPEG;
 * - audio: samples/speech.wav (espeak-ng, shipped in the repo: scripts/make-speech.sh
 *   in this app regenerates it), and near-silence generated in code.
 */
import { readFileSync } from "node:fs";
import sharp from "sharp";
import { WaveFile } from "wavefile";

export const SPEECH_WAV = new URL("../samples/speech.wav", import.meta.url).pathname;
export const speechWav = () => new Uint8Array(readFileSync(SPEECH_WAV));

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export interface TextImage {
  bytes: Uint8Array;
  width: number;
  height: number;
  /** The vertical band of each line (pixels of this image). */
  lines: { text: string; top: number; bottom: number }[];
}

/** Black text lines on white, evenly spaced. */
export async function textImage(
  lines: string[],
  o: { width?: number; height?: number; fontSize?: number; format?: "png" | "jpeg" } = {},
): Promise<TextImage> {
  const width = o.width ?? 640, height = o.height ?? 480, fs = o.fontSize ?? 44;
  const gap = height / (lines.length + 1);
  const placed = lines.map((text, i) => {
    const base = Math.round(gap * (i + 1) + fs * 0.35);
    return { text, top: base - Math.round(fs * 0.8), bottom: base + Math.round(fs * 0.25), base };
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    placed.map((l) => `<text x="${Math.round(width * 0.06)}" y="${l.base}" font-family="DejaVu Sans" font-size="${fs}" fill="#111">${esc(l.text)}</text>`).join("") +
    `</svg>`;
  const img = sharp(Buffer.from(svg));
  const buf = o.format === "jpeg" ? await img.jpeg({ quality: 90 }).toBuffer() : await img.png().toBuffer();
  return { bytes: new Uint8Array(buf), width, height, lines: placed.map(({ text, top, bottom }) => ({ text, top, bottom })) };
}

/** A 16-bit mono WAV of near-silence (±2 LSB of noise, fixed seed). */
export function silenceWav(seconds = 1.5, rate = 22050): Uint8Array {
  const n = Math.round(seconds * rate);
  const s = new Int16Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s[i] = (x % 5) - 2;
  }
  const wav = new WaveFile();
  wav.fromScratch(1, rate, "16", s);
  return wav.toBuffer();
}

/** A 16-bit mono WAV of samples in [-1, 1] (e.g. a cut of the speech clip after decodeWav). */
export function wavOf(samples: Float32Array, rate = 16000): Uint8Array {
  const s = Int16Array.from(samples, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32767))));
  const wav = new WaveFile();
  wav.fromScratch(1, rate, "16", s);
  return wav.toBuffer();
}

const WORDS = ["ferry", "shared", "memory", "tensor", "pipeline", "latency", "offload", "bun", "process", "zero", "copy", "batch", "image", "audio", "model"];

/** `count` different text images (2-3 lines each, PNG and JPEG alternating). */
export async function sampleImages(count: number, seed = 1): Promise<TextImage[]> {
  let x = seed;
  const rnd = (k: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x % k);
  const out: TextImage[] = [];
  for (let i = 0; i < count; i++) {
    const lines = Array.from({ length: 2 + rnd(2) }, () => Array.from({ length: 2 + rnd(2) }, () => WORDS[rnd(WORDS.length)]).join(" "));
    out.push(await textImage(lines, { format: i % 2 ? "jpeg" : "png" }));
  }
  return out;
}

/** A multipart/form-data body of files (what `curl -F` sends). */
export function formData(files: { name: string; bytes: Uint8Array; type: string }[]): FormData {
  const fd = new FormData();
  for (const f of files) fd.append("file", new Blob([f.bytes], { type: f.type }), f.name);
  return fd;
}
