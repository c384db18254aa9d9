/**
 * The pipeline end to end on small inputs: real decoding, real models, every
 * IPC mode; the answers are checked against what the inputs contain.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { answers, post, startServer } from "../src/demo";
import { textBoxes, speechSegments } from "../src/postprocess";
import { decodeWav, logMelInto, melFrames, resample } from "../src/prep";
import { formData, silenceWav, speechWav, textImage, wavOf, type TextImage } from "../src/samples";
import { MODES } from "../src/transport";
import type { PipelineResponse } from "../src/worker";
import { privateCalibrationCache } from "@ferry/testkit";

privateCalibrationCache(); // the app calibrates for mode "auto": not into the machine's cache, under the suite's load

type Box = { x: number; y: number; w: number; h: number; score: number };
type Clip = { speech: boolean; speechRatio: number; segments: { startMs: number; endMs: number }[]; durationMs: number; mel: { frames: number; bins: number } };

let server: Awaited<ReturnType<typeof startServer>>;
let ns = "";
let img2: TextImage, img3: TextImage;
const speech = speechWav(), quiet = silenceWav(1.2);

beforeAll(async () => {
  [img2, img3] = await Promise.all([
    textImage(["hello ferry world", "shared memory"], { format: "png" }),
    textImage(["three lines of", "text in a", "jpeg image"], { format: "jpeg", width: 560, height: 420, fontSize: 40 }),
  ]);
  server = await startServer(["--port", "0", "--batch", "4", "--workers", "1"]);
  ns = `mm${server.proc.pid}`;
}, 60_000);

afterAll(async () => {
  await server?.stop();
  // the front, the workers and the model processes removed every channel they made
  expect(readdirSync("/dev/shm").filter((f) => f.startsWith(`ferry.${ns}.`))).toEqual([]);
});

/** Each line of the image has exactly one box, and that box covers the line's band. */
function expectLines(boxes: Box[], im: TextImage) {
  expect(boxes.length).toBe(im.lines.length);
  boxes.forEach((b, i) => {
    const line = im.lines[i]!;
    const mid = b.y + b.h / 2;
    expect(mid).toBeGreaterThan(line.top);
    expect(mid).toBeLessThan(line.bottom);
    expect(b.x).toBeLessThan(im.width * 0.15);
    expect(b.w).toBeGreaterThan(im.width * 0.25);
    expect(b.score).toBeGreaterThan(0.5);
  });
}

function expectTimings(r: PipelineResponse, kind: "image" | "audio", shape: number[]) {
  const t = r.timings[kind]!;
  expect(t.tensorShape).toEqual(shape);
  for (const k of ["decodeMs", "featuresMs", "tensorHopMs", "handoverMs", "inferenceMs", "postprocessMs", "replyHopMs"] as const) {
    expect(Number.isFinite(t[k])).toBe(true);
    expect(t[k]).toBeGreaterThanOrEqual(-1); // clocks of two processes: allow rounding
  }
  expect(t.inferenceMs).toBeGreaterThan(0);
  expect(r.timings.workerMs).toBeGreaterThan(0);
  expect(r.timings.ingressMs).not.toBeNull();
}

/** The server's own stamps lie between the client's send and receive (one host, one clock) and span the worker's time. */
function expectStamps(p: { t0: number; t1: number; json: PipelineResponse }) {
  const { receivedAt, sentAt, workerMs } = p.json.timings;
  expect(receivedAt).not.toBeNull();
  expect(receivedAt!).toBeGreaterThanOrEqual(p.t0 - 1);
  expect(sentAt).toBeGreaterThanOrEqual(receivedAt! + workerMs - 1);
  expect(sentAt).toBeLessThanOrEqual(p.t1 + 1);
}

describe("multimodal pipeline", () => {
  test("text detection finds each line of a rendered image (PNG)", async () => {
    const r = await post(server.url, img2.bytes, "auto", "image/png");
    expect(r.status).toBe(200);
    const im = r.json.images[0] as { width: number; height: number; boxes: Box[] };
    expect([im.width, im.height]).toEqual([640, 480]);
    expectLines(im.boxes, img2);
    expectTimings(r.json, "image", [1, 3, 224, 224]);
    expectStamps(r);
    expect(r.json.decisions?.image?.mode).toBe("inline"); // the default SendPolicy
  });

  test("VAD finds speech in spoken audio and none in near-silence", async () => {
    const s = await post(server.url, speech, "loan", "audio/wav");
    expect(s.status).toBe(200);
    const clip = s.json.audio[0] as Clip;
    expect(clip.speech).toBe(true);
    expect(clip.speechRatio).toBeGreaterThan(0.5);
    expect(clip.segments.length).toBeGreaterThan(0);
    expect(clip.segments[0]!.startMs).toBeLessThan(500);
    expect(clip.segments.at(-1)!.endMs).toBeGreaterThan(2500);
    expect(clip.durationMs).toBeGreaterThan(3500);
    expect(clip.mel.bins).toBe(80);
    expectTimings(s.json, "audio", s.json.timings.audio!.tensorShape);

    const q = await post(server.url, quiet, "loan", "audio/wav");
    const none = q.json.audio[0] as Clip;
    expect(none.speech).toBe(false);
    expect(none.segments).toEqual([]);
    expect(none.speechRatio).toBe(0);
  });

  test("a batch gives the same answers in every mode, Bun IPC included", async () => {
    const files = [
      { name: "a.png", bytes: img2.bytes, type: "image/png" },
      { name: "b.jpg", bytes: img3.bytes, type: "image/jpeg" },
      { name: "speech.wav", bytes: speech, type: "audio/wav" },
      { name: "quiet.wav", bytes: quiet, type: "audio/wav" },
    ];
    const seen = new Map<string, string>();
    for (const mode of MODES) {
      const r = await post(server.url, formData(files), mode);
      expect(r.status).toBe(200);
      expect(r.json.mode).toBe(mode);
      const [a, b] = r.json.images as { name: string; boxes: Box[] }[];
      expect([a!.name, b!.name]).toEqual(["a.png", "b.jpg"]);
      expectLines(a!.boxes, img2);
      expectLines(b!.boxes, img3);
      expect((r.json.audio as Clip[]).map((c) => c.speech)).toEqual([true, false]);
      expectTimings(r.json, "image", [2, 3, 224, 224]);
      expectTimings(r.json, "audio", r.json.timings.audio!.tensorShape);
      expectStamps(r);
      seen.set(mode, answers(r.json));
    }
    expect(new Set(seen.values()).size).toBe(1);
  }, 60_000);

  test("a batch of 256 clips: the per-clip lengths travel in the tensor (not the 4 KiB header); speech and silence told apart in each", async () => {
    const talk = wavOf(decodeWav(speech).samples.subarray(0, 19_200)); // the first 1.2 s of speech, at 16 kHz
    const hush = silenceWav(1, 16_000);
    const files = Array.from({ length: 256 }, (_, i) =>
      i % 2 ? { name: `q${i}.wav`, bytes: hush, type: "audio/wav" } : { name: `s${i}.wav`, bytes: talk, type: "audio/wav" },
    );
    for (const mode of ["loan", "bun-ipc"] as const) {
      const r = await post(server.url, formData(files), mode);
      expect(r.status).toBe(200);
      const clips = r.json.audio as (Clip & { name: string })[];
      expect(clips.map((c) => c.name)).toEqual(files.map((f) => f.name));
      expect(clips.map((c) => c.speech)).toEqual(files.map((_, i) => i % 2 === 0));
      // each clip's own length, read from the tensor's index (the rows are padded to the longest)
      expect(new Set(clips.map((c, i) => `${i % 2}:${c.durationMs}:${c.mel.frames}`))).toEqual(new Set(["0:1200:118", "1:1000:98"]));
      const N = 256, S = 19_200, F = 118;
      expect(r.json.timings.audio!.tensorShape).toEqual([2 * N + N * S + N * F * 80]);
    }
  }, 60_000);

  test("what is not an image or a WAV is a 400 that says so", async () => {
    const r = await post(server.url, new TextEncoder().encode("hello"), "inline", "text/plain");
    expect(r.status).toBe(400);
    expect(r.json.error).toContain("not a JPEG, PNG or WAV");
    const ipc = await post(server.url, new TextEncoder().encode("hello"), "bun-ipc", "text/plain");
    expect(ipc.status).toBe(400);
    const bad = await post(server.url, speech, "warp" as never, "audio/wav");
    expect(bad.status).toBe(400);
  });
});

describe("preprocessing and post-processing", () => {
  test("resampling keeps a tone's frequency; the log-mel has 10 ms frames", () => {
    const from = 22050, f = 1000;
    const x = Float32Array.from({ length: from }, (_, i) => Math.sin((2 * Math.PI * f * i) / from));
    const y = resample(x, from, 16000);
    expect(y.length).toBe(16000);
    let crossings = 0;
    for (let i = 1; i < y.length; i++) if (y[i - 1]! < 0 && y[i]! >= 0) crossings++;
    expect(Math.abs(crossings - f)).toBeLessThanOrEqual(1);
    const mel = new Float32Array(melFrames(y.length) * 80);
    expect(logMelInto(y, mel, 0)).toBe(98);
    // the 1 kHz tone's energy is in one band, far above the rest
    const row = mel.subarray(40 * 80, 41 * 80);
    const top = row.indexOf(Math.max(...row));
    expect(top).toBeGreaterThan(10);
    expect(top).toBeLessThan(30);
  });

  test("the WAV decoder reads 16-bit PCM and resamples to 16 kHz", () => {
    const w = decodeWav(speech);
    expect(w.sourceRate).toBe(22050);
    expect(w.channels).toBe(1);
    expect(Math.abs(w.samples.length - Math.floor((speech.length - 44) / 2 / 22050 * 16000))).toBeLessThan(16);
    expect(Math.max(...w.samples.map(Math.abs))).toBeLessThanOrEqual(1.01);
  });

  test("boxes from a probability map; speech segments from frame probabilities", () => {
    const size = 32, p = new Float32Array(size * size);
    for (let y = 4; y < 8; y++) for (let x = 2; x < 20; x++) p[y * size + x] = 0.9;
    for (let y = 20; y < 23; y++) for (let x = 5; x < 25; x++) p[y * size + x] = 0.8;
    p[30 * size + 30] = 0.99; // a lone pixel is noise
    const boxes = textBoxes(p, size, 64, 64);
    expect(boxes.length).toBe(2);
    expect(boxes[0]!.y).toBeLessThan(8);
    expect(boxes[1]!.y).toBeGreaterThan(30);
    // 0.1 at 96 ms is bridged; the lone frame at 384 ms is 224 ms later (not bridged) and too short
    expect(speechSegments([0, 0.9, 0.9, 0.1, 0.9, 0, 0, 0, 0, 0, 0, 0, 0.9], 32)).toEqual([{ startMs: 32, endMs: 160 }]);
  });
});

describe("the demo", () => {
  test("prints a row per mode and agrees across modes (tiny run)", async () => {
    const out = `/tmp/mm-demo-${process.pid}.json`;
    const p = Bun.spawn([process.execPath, new URL("../src/main.ts", import.meta.url).pathname, "--batch", "2", "--clips", "1", "--requests", "2", "--no-plot", "--json", out], {
      stdout: "pipe", stderr: "pipe",
    });
    const [text, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(text).toContain("identical in every mode: yes");
    for (const m of MODES) expect(text).toMatch(new RegExp(`^${m} `, "m"));
    const { results } = (await Bun.file(out).json()) as { results: { mode: string; p50: number; cpuMsPerReq: number; image: { tensorHopMs: number } }[] };
    expect(results.map((r) => r.mode)).toEqual(MODES);
    for (const r of results) {
      expect(r.p50).toBeGreaterThan(0);
      expect(Number.isFinite(r.cpuMsPerReq)).toBe(true);
      expect(Number.isFinite(r.image.tensorHopMs)).toBe(true);
    }
    rmSync(out, { force: true });
  }, 60_000);
});
