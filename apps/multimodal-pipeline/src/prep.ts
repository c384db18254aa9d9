/**
 * Preprocessing, the work of the image and audio workers. Pure functions:
 * bytes in, numbers out, no I/O and no IPC.
 *
 * Images: sharp decodes JPEG/PNG and resizes to size × size RGB (stretching:
 * boxes map back to the original by a plain scale); normalizeInto writes the
 * fp32 CHW tensor with ImageNet mean/std (what PP-OCR's detector expects)
 * straight into a destination: a private array, or a loan in shared memory.
 *
 * Audio: wavefile decodes a WAV (any PCM or float format), mixes to mono and
 * resamples to 16 kHz; logMel computes the 80-bin log-mel spectrogram that
 * speech models such as Whisper take (25 ms window, 10 ms hop, fft.js).
 */
import FFT from "fft.js";
import sharp from "sharp";
import { WaveFile } from "wavefile";

export const SAMPLE_RATE = 16_000;
export const MEL_BINS = 80;
export const WIN = 400; // 25 ms at 16 kHz
export const HOP = 160; // 10 ms
const NFFT = 512;

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

export interface DecodedImage {
  /** size × size × 3 RGB bytes. */
  rgb: Uint8Array;
  /** The original image's size (boxes are reported in it). */
  width: number;
  height: number;
}

const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength); // a view, no copy

/** What the bytes are, by their magic numbers. */
export function sniff(b: Uint8Array): "png" | "jpeg" | "wav" | null {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 12 && String.fromCharCode(...b.subarray(0, 4)) === "RIFF" && String.fromCharCode(...b.subarray(8, 12)) === "WAVE")
    return "wav";
  return null;
}

/** Decode a JPEG or PNG and resize it to size × size RGB. */
export async function decodeImage(bytes: Uint8Array, size: number): Promise<DecodedImage> {
  const input = asBuffer(bytes);
  const meta = await sharp(input).metadata();
  const { data } = await sharp(input)
    .removeAlpha()
    .toColourspace("srgb")
    .resize(size, size, { fit: "fill", kernel: "linear" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: meta.width ?? size, height: meta.height ?? size };
}

/** Write one image as normalised fp32 CHW into dst at element offset `at` (3 × size × size elements). */
export function normalizeInto(rgb: Uint8Array, size: number, dst: Float32Array, at: number): void {
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * STD[c]!);
    const bias = MEAN[c]! / STD[c]!;
    const base = at + c * plane;
    for (let i = 0, j = c; i < plane; i++, j += 3) dst[base + i] = rgb[j]! * scale - bias;
  }
}

/**
 * Decode a WAV (wavefile parses the container), convert to fp32, mix to mono
 * and resample to 16 kHz in [-1, 1]. The conversion and the resampler are
 * ours: wavefile's toBitDepth / toSampleRate take ~120 ms each for 4 s of
 * 22 kHz audio here, these ~5 ms.
 */
export function decodeWav(bytes: Uint8Array): { samples: Float32Array; sourceRate: number; channels: number } {
  const wav = new WaveFile();
  wav.fromBuffer(bytes);
  const fmt = wav.fmt as { audioFormat: number; sampleRate: number; numChannels: number; bitsPerSample: number; subformat?: number[] };
  const raw = (wav.data as { samples: Uint8Array }).samples;
  const format = fmt.audioFormat === 0xfffe ? (fmt.subformat?.[0] ?? 1) : fmt.audioFormat;
  const bits = fmt.bitsPerSample, ch = fmt.numChannels, rate = fmt.sampleRate;
  if (!ch || !rate) throw new Error("WAV without channels or sample rate");
  const width = bits / 8;
  const frames = Math.floor(raw.length / (width * ch));
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let read: (at: number) => number;
  if (format === 3 && bits === 32) read = (at) => dv.getFloat32(at, true);
  else if (format === 3 && bits === 64) read = (at) => dv.getFloat64(at, true);
  else if (format === 1 && bits === 8) read = (at) => (dv.getUint8(at) - 128) / 128;
  else if (format === 1 && bits === 16) read = (at) => dv.getInt16(at, true) / 32768;
  else if (format === 1 && bits === 24) read = (at) => ((dv.getUint8(at) | (dv.getUint8(at + 1) << 8) | (dv.getInt8(at + 2) << 16)) / 8388608);
  else if (format === 1 && bits === 32) read = (at) => dv.getInt32(at, true) / 2147483648;
  else throw new Error(`unsupported WAV encoding (format ${format}, ${bits} bits)`);
  const mono = new Float32Array(frames);
  for (let i = 0, at = 0; i < frames; i++) {
    let acc = 0;
    for (let c = 0; c < ch; c++, at += width) acc += read(at);
    mono[i] = acc / ch;
  }
  return { samples: resample(mono, rate, SAMPLE_RATE), sourceRate: rate, channels: ch };
}

/** Band-limited resampling: windowed-sinc interpolation (Hann, 16 zero crossings each side), cut-off at the lower Nyquist. */
export function resample(x: Float32Array, from: number, to: number): Float32Array {
  if (from === to) return x;
  const n = Math.floor((x.length * to) / from);
  const y = new Float32Array(n);
  const cut = Math.min(1, to / from); // of the input's Nyquist
  const half = Math.ceil(16 / cut);
  // the kernel, tabulated at 1/RES of an input sample (linear interpolation between entries)
  const RES = 512;
  const table = new Float32Array((half + 1) * RES + 2);
  for (let j = 0; j < table.length; j++) {
    const d = j / RES;
    const a = Math.PI * d * cut;
    table[j] = d > half ? 0 : (d === 0 ? 1 : Math.sin(a) / a) * (0.5 + 0.5 * Math.cos((Math.PI * d) / (half + 1)));
  }
  for (let i = 0; i < n; i++) {
    const t = (i * from) / to;
    const c = Math.floor(t);
    let acc = 0, wsum = 0;
    const lo = Math.max(0, c - half + 1), hi = Math.min(x.length - 1, c + half);
    for (let k = lo; k <= hi; k++) {
      const p = Math.abs(t - k) * RES;
      const j = p | 0;
      const h = table[j]! + (table[j + 1]! - table[j]!) * (p - j);
      acc += x[k]! * h;
      wsum += h;
    }
    y[i] = wsum ? acc / wsum : 0;
  }
  return y;
}

/** Frames of logMel for n samples. */
export const melFrames = (n: number) => (n < WIN ? 0 : Math.floor((n - WIN) / HOP) + 1);

let filters: Float32Array[] | null = null;
/** 80 triangular mel filters over NFFT/2+1 bins (HTK mel scale, 0..8 kHz). */
function melFilters(): Float32Array[] {
  if (filters) return filters;
  const mel = (f: number) => 2595 * Math.log10(1 + f / 700);
  const hz = (m: number) => 700 * (10 ** (m / 2595) - 1);
  const bins = NFFT / 2 + 1;
  const top = mel(SAMPLE_RATE / 2);
  const pts = Array.from({ length: MEL_BINS + 2 }, (_, i) => (hz((top * i) / (MEL_BINS + 1)) * NFFT) / SAMPLE_RATE);
  filters = [];
  for (let m = 1; m <= MEL_BINS; m++) {
    const f = new Float32Array(bins);
    const [a, b, c] = [pts[m - 1]!, pts[m]!, pts[m + 1]!];
    for (let k = 0; k < bins; k++) f[k] = k < a || k > c ? 0 : k <= b ? (k - a) / Math.max(1e-9, b - a) : (c - k) / Math.max(1e-9, c - b);
    filters.push(f);
  }
  return filters;
}

/** log10 mel power spectrogram, frames × 80, written into dst at element offset `at` (frames = melFrames(n)). */
export function logMelInto(samples: Float32Array, dst: Float32Array, at: number): number {
  const frames = melFrames(samples.length);
  const fb = melFilters();
  const fft = new FFT(NFFT);
  const input = new Array<number>(NFFT).fill(0);
  const out = fft.createComplexArray() as number[];
  const power = new Float32Array(NFFT / 2 + 1);
  const hann = Float32Array.from({ length: WIN }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / WIN));
  for (let f = 0; f < frames; f++) {
    const s = f * HOP;
    for (let i = 0; i < WIN; i++) input[i] = samples[s + i]! * hann[i]!;
    fft.realTransform(out, input);
    for (let k = 0; k <= NFFT / 2; k++) power[k] = out[2 * k]! ** 2 + out[2 * k + 1]! ** 2;
    const row = at + f * MEL_BINS;
    for (let m = 0; m < MEL_BINS; m++) {
      const w = fb[m]!;
      let acc = 0;
      for (let k = 0; k < power.length; k++) if (w[k]) acc += w[k]! * power[k]!;
      dst[row + m] = Math.log10(Math.max(acc, 1e-10));
    }
  }
  return frames;
}
