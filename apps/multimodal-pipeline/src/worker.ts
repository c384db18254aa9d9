/**
 * A preprocessing worker: turns one request (an image, a WAV, or a
 * multipart batch of both) into at most two tensors (all images in one, all
 * audio clips in one), hands them to the model process through its
 * ModelLink, and answers with the model's results and per-stage timings.
 *
 * The same code runs behind both front ends: @ferry/http's serveWorker
 * (the body is a view into shared memory) and Bun IPC (the body arrived as a
 * structured clone).
 */
import { MEL_BINS, decodeImage, decodeWav, logMelInto, melFrames, normalizeInto, sniff } from "./prep";
import { audioElements, audioIndex, type AudioMeta, type AudioResult, type ImageMeta, type ImageResult } from "./models";
import { scaleBoxes } from "./postprocess";
import { now, type Mode, type ModelLink, type Sent, type TensorJob } from "./transport";

export interface Item {
  name: string;
  bytes: Uint8Array;
}

export class BadRequest extends Error {}

/**
 * A bound on the work of one request (the VAD runs all clips of a request as one batch). The
 * per-clip lengths travel inside the tensor (its index), not in the 4 KiB message header, so
 * this is not a header limit; the tensor must still fit the tensor channel's arena.
 */
export const MAX_CLIPS = 1024;

/** The items of a request body: one file, or the parts of a multipart/form-data batch. */
export async function parseItems(body: Uint8Array, contentType: string | null): Promise<Item[]> {
  if (contentType?.toLowerCase().startsWith("multipart/form-data")) {
    const form = await new Response(body, { headers: { "content-type": contentType } }).formData();
    const items: Item[] = [];
    for (const [field, v] of form.entries())
      if (typeof v !== "string") items.push({ name: v.name || field, bytes: new Uint8Array(await v.arrayBuffer()) });
    return items;
  }
  return [{ name: "body", bytes: body }];
}

export interface StageTimings {
  items: number;
  tensorShape: number[];
  tensorBytes: number;
  /** Decode (+ resize / resample) of every item of this kind. */
  decodeMs: number;
  /** Normalise to CHW / waveform + log-mel, written where the mode writes the tensor. */
  featuresMs: number;
  /** From "tensor complete in the worker" to "model has it": the IPC hop (for pipelined: until the copy finished). */
  tensorHopMs: number;
  /** From "tensor complete in the worker" to "model got the message" (pipelined: before the copy finished). */
  handoverMs: number;
  inferenceMs: number;
  postprocessMs: number;
  /** Model reply back to the worker. */
  replyHopMs: number;
  /**
   * With --bus: the broker, and whether the tensor reached the model and the reply came back by
   * reference (@ferry/mq's msg.local: shared memory, the model on this host) or as the payload
   * through the broker (another host).
   */
  bus?: { broker: "nats" | "redis"; tensorLocal: boolean; replyLocal: boolean };
}

export interface PipelineResponse {
  mode: Mode;
  /** What "auto" chose (the publisher's SendPolicy), per kind. */
  decisions?: Record<string, { mode: string; reasons?: string[] }>;
  images: unknown[];
  audio: unknown[];
  timings: {
    /** Client send → worker start (HTTP, body upload, hand-over to the worker); needs the client's x-mm-t0 header. */
    ingressMs: number | null;
    /** Worker start → answer ready. */
    workerMs: number;
    /**
     * Wall clock of the server's host (ms since the epoch): the front got the request (its
     * headers; the body may still be on its way), and the answer was ready to go back. A client
     * gets the time spent outside the server without comparing clocks:
     * (its receive − its send) − (sentAt − receivedAt). null: the request did not come through the front.
     */
    receivedAt: number | null;
    sentAt: number;
    image?: StageTimings;
    audio?: StageTimings;
  };
  worker: number;
}

const r3 = (v: number) => Math.round(v * 1000) / 1000;

export async function handle(
  link: ModelLink,
  items: Item[],
  mode: Mode,
  opts: { size: number; t0?: number; startedAt: number; receivedAt?: number },
): Promise<PipelineResponse> {
  if (!items.length) throw new BadRequest("no items: send an image (JPEG/PNG), a WAV, or a multipart/form-data batch of them");
  const images: Item[] = [], clips: Item[] = [];
  for (const it of items) {
    const k = sniff(it.bytes);
    if (k === "png" || k === "jpeg") images.push(it);
    else if (k === "wav") clips.push(it);
    else throw new BadRequest(`${it.name}: not a JPEG, PNG or WAV file`);
  }
  if (clips.length > MAX_CLIPS) throw new BadRequest(`at most ${MAX_CLIPS} WAV clips per request (got ${clips.length})`);
  const out: PipelineResponse = { mode, images: [], audio: [], timings: { ingressMs: opts.t0 ? r3(opts.startedAt - opts.t0) : null, workerMs: 0, receivedAt: opts.receivedAt ?? null, sentAt: 0 }, worker: process.pid };
  const decisions: Record<string, { mode: string; reasons?: string[] }> = {};

  const run = async (kind: "image" | "audio", decodeMs: number, job: TensorJob) => {
    const s: Sent = await link.infer(job, mode);
    const r = s.reply;
    if (!r.ok) throw new Error(`model: ${r.error}`);
    if (s.decision) decisions[kind] = s.decision;
    const t: StageTimings = {
      items: kind === "image" ? images.length : clips.length,
      tensorShape: job.shape,
      tensorBytes: job.elements * 4,
      decodeMs: r3(decodeMs),
      featuresMs: r3(s.featuresMs),
      tensorHopMs: r3(r.readyAt - s.sendAt),
      handoverMs: r3(r.receivedAt - s.sendAt),
      inferenceMs: r3(r.inferenceMs),
      postprocessMs: r3(r.postMs),
      replyHopMs: r3(s.backAt - r.sentAt),
    };
    if (s.bus) t.bus = s.bus;
    out.timings[kind] = t;
    return r.results;
  };

  const tasks: Promise<void>[] = [];
  if (images.length) {
    tasks.push(
      (async () => {
        const d0 = performance.now();
        const decoded = await Promise.all(
          images.map((it) =>
            decodeImage(it.bytes, opts.size).catch((e) => {
              throw new BadRequest(`${it.name}: ${(e as Error).message}`);
            }),
          ),
        );
        const decodeMs = performance.now() - d0;
        const plane = 3 * opts.size * opts.size;
        const meta: ImageMeta = { kind: "image", size: opts.size };
        const res = (await run("image", decodeMs, {
          meta,
          shape: [images.length, 3, opts.size, opts.size],
          elements: images.length * plane,
          fill: (dst) => decoded.forEach((d, i) => normalizeInto(d.rgb, opts.size, dst, i * plane)),
        })) as ImageResult[];
        out.images = res.map((r, i) => {
          const { width, height } = decoded[i]!;
          return { name: images[i]!.name, width, height, boxes: scaleBoxes(r.boxes, opts.size, width, height) };
        });
      })(),
    );
  }
  if (clips.length) {
    tasks.push(
      (async () => {
        const d0 = performance.now();
        const waves = clips.map((it) => {
          try {
            return decodeWav(it.bytes);
          } catch (e) {
            throw new BadRequest(`${it.name}: ${(e as Error).message}`);
          }
        });
        const decodeMs = performance.now() - d0;
        const S = Math.max(...waves.map((w) => w.samples.length));
        const F = melFrames(S);
        const N = clips.length;
        const meta: AudioMeta = { kind: "audio", N, S, F };
        const elements = audioElements(meta);
        const base = 2 * N; // after the index
        const melBase = base + N * S;
        const res = (await run("audio", decodeMs, {
          meta,
          shape: [elements],
          elements,
          fill: (dst) => {
            // a loan is not zeroed: every element is written, padding included
            const index = audioIndex(dst, N);
            waves.forEach((w, n) => {
              index.samples[n] = w.samples.length;
              index.frames[n] = melFrames(w.samples.length);
              dst.set(w.samples, base + n * S);
              dst.fill(0, base + n * S + w.samples.length, base + (n + 1) * S);
              const frames = logMelInto(w.samples, dst, melBase + n * F * MEL_BINS);
              dst.fill(0, melBase + (n * F + frames) * MEL_BINS, melBase + (n + 1) * F * MEL_BINS);
            });
          },
        })) as AudioResult[];
        out.audio = res.map((r, i) => ({ name: clips[i]!.name, sourceRate: waves[i]!.sourceRate, channels: waves[i]!.channels, ...r }));
      })(),
    );
  }
  await Promise.all(tasks);
  if (Object.keys(decisions).length) out.decisions = decisions;
  out.timings.sentAt = now();
  out.timings.workerMs = r3(out.timings.sentAt - opts.startedAt);
  return out;
}
