/**
 * The pipeline split across two hosts through @ferry/mq (--bus), against a real broker: host A
 * (this network namespace) runs the HTTP front and its prep worker, host B (a network namespace of
 * its own, joined by a veth pair) runs the model process; each host has a private mount namespace
 * with its own tmpfs on /dev/shm, so each is a host of its own to Ferry (@ferry/testkit/hosts).
 * Real requests (rendered text images, the spoken WAV, near-silence) get real model answers, and
 * path: with the model on host A too, tensors and replies go by reference in shared memory
 * (msg.local true; the broker carries only the references), with the model on host B as payloads
 * through the broker (msg.local false; the tensors' bytes cross it), chosen by @ferry/mq.
 * Needs root and nats-server / redis-server; skipped with the reason otherwise.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { brokerTools, startNats, startRedis, type Broker } from "@ferry/mq/brokers";
import { TwoHosts } from "@ferry/testkit/hosts";
import { post, startServer } from "../src/demo";
import { formData, silenceWav, speechWav, textImage, type TextImage } from "../src/samples";
import type { PipelineResponse, StageTimings } from "../src/worker";
import { privateCalibrationCache } from "@ferry/testkit";

privateCalibrationCache(); // the app calibrates for mode "auto": not into the machine's cache, under the suite's load

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const tools = brokerTools();
const hosts = tools ?? TwoHosts.setup("mm");
const why = typeof hosts === "string" ? hosts : null;
if (why) console.error(`multimodal-pipeline two-host test skipped: ${why}`);
const h = hosts as TwoHosts;

type Box = { x: number; y: number; w: number; h: number; score: number };
type Clip = { name: string; speech: boolean; speechRatio: number; segments: { startMs: number; endMs: number }[] };

/** A model process on a host: resolves once it is on the bus. */
async function startModel(prefix: string[], url: string, stream: string) {
  const proc = Bun.spawn([...prefix, process.execPath, MAIN, "--bus", url, "--stream", stream, "--role", "model"], {
    stdout: "pipe", stderr: "inherit", stdin: "ignore",
    env: { ...process.env, MM_PARENT: String(process.pid) }, // it ends with this test process, whatever happens (nsenter execs it)
  });
  const reader = proc.stdout.getReader();
  let buf = "";
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the model process exited (${await proc.exited}) before it was ready`);
    buf += new TextDecoder().decode(value);
    if (buf.includes('"ready":"model"')) break;
  }
  clearTimeout(timer);
  reader.releaseLock();
  return {
    proc,
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

/** ferry* entries in a host's own /dev/shm. */
function shmOf(prefix: string[]): string[] {
  const r = spawnSync([...prefix, "ls", "/dev/shm"], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`ls /dev/shm on a host: ${r.stderr.toString()}`);
  return r.stdout.toString().split("\n").filter((f) => f.startsWith("ferry"));
}

/** Each line of the image has exactly one box, and that box covers the line's band (as pipeline.test.ts). */
function expectLines(boxes: Box[], im: TextImage) {
  expect(boxes.length).toBe(im.lines.length);
  boxes.forEach((b, i) => {
    const mid = b.y + b.h / 2;
    expect(mid).toBeGreaterThan(im.lines[i]!.top);
    expect(mid).toBeLessThan(im.lines[i]!.bottom);
    expect(b.score).toBeGreaterThan(0.5);
  });
}

let img2: TextImage, img3: TextImage;
const speech = speechWav(), quiet = silenceWav(1.2);
const files = () => [
  { name: "a.png", bytes: img2.bytes, type: "image/png" },
  { name: "b.jpg", bytes: img3.bytes, type: "image/jpeg" },
  { name: "speech.wav", bytes: speech, type: "audio/wav" },
  { name: "quiet.wav", bytes: quiet, type: "audio/wav" },
];

/** The model's answers for files(), and which path the tensors and replies took. */
function expectAnswers(r: PipelineResponse, broker: "nats" | "redis", local: boolean) {
  const [a, b] = r.images as { name: string; boxes: Box[] }[];
  expect([a!.name, b!.name]).toEqual(["a.png", "b.jpg"]);
  expectLines(a!.boxes, img2);
  expectLines(b!.boxes, img3);
  const clips = r.audio as Clip[];
  expect(clips.map((c) => c.speech)).toEqual([true, false]); // VAD: speech in speech, none in near-silence
  expect(clips[0]!.speechRatio).toBeGreaterThan(0.5);
  expect(clips[1]!.segments).toEqual([]);
  for (const k of ["image", "audio"] as const) {
    const t = r.timings[k] as StageTimings;
    expect(t.bus).toEqual({ broker, tensorLocal: local, replyLocal: local });
    expect(t.inferenceMs).toBeGreaterThan(0);
  }
  expect(r.timings.image!.tensorShape).toEqual([2, 3, 224, 224]);
}

describe.skipIf(why !== null).each([
  ["nats", startNats],
  ["redis", startRedis],
] as const)("two hosts over %s", (kind, start) => {
  test("front + worker on A: model on A gets references, model on B payloads through the broker; real answers both ways", async () => {
    const t0 = performance.now();
    await h.start();
    [img2, img3] = await Promise.all([
      textImage(["hello ferry world", "shared memory"], { format: "png" }),
      textImage(["three lines of", "text in a", "jpeg image"], { format: "jpeg", width: 560, height: 420, fontSize: 40 }),
    ]);
    const broker: Broker = await start({ host: h.a }); // on A's veth address: B reaches it over the veth pair
    const timings: string[] = [];
    try {
      // one pipeline per placement of the model (streams of their own: no consumer of the other is seen)
      for (const [where, local] of [["A", true], ["B", false]] as const) {
        const stream = `mm${process.pid}${kind}${where}`;
        let model: Awaited<ReturnType<typeof startModel>> | null = null;
        let front: Awaited<ReturnType<typeof startServer>> | null = null;
        try {
          [model, front] = await Promise.all([
            startModel(where === "A" ? h.hostA : h.hostB, broker.url, stream),
            startServer(["--bus", broker.url, "--stream", stream, "--port", "0", "--batch", "4", "--workers", "1"], h.hostA),
          ]);
          expect(front.ready).toMatchObject({ bus: broker.url, stream, ipc: false });
          const b0 = await broker.bytes();
          let tensorBytes = 0;
          for (const mode of ["auto", "loan"] as const) {
            const r = await post(front.url, formData(files()), mode);
            expect(r.status).toBe(200);
            expect(r.json.mode).toBe(mode);
            expectAnswers(r.json, kind, local);
            const { image, audio } = r.json.timings;
            tensorBytes += image!.tensorBytes + audio!.tensorBytes;
            timings.push(`model on ${where}, ${mode}: ${image!.tensorHopMs}/${image!.replyHopMs}`);
          }
          const b1 = await broker.bytes();
          // while it runs, host A's /dev/shm holds the gateway's and the producers' channels (the check at the end means something)
          expect(shmOf(h.hostA).length).toBeGreaterThan(0);
          if (local) {
            // references only: the broker carried a few hundred bytes per message, not the tensors
            expect(b1.in - b0.in).toBeLessThan(tensorBytes / 10);
            expect(b1.out - b0.out).toBeLessThan(tensorBytes / 10);
          } else {
            // every tensor went into the broker and out of it to host B
            expect(b1.in - b0.in).toBeGreaterThan(tensorBytes);
            expect(b1.out - b0.out).toBeGreaterThan(tensorBytes);
          }
          // over a bus only auto and loan make sense: the others are a 400 that says so
          const bad = await post(front.url, speech, "pipelined", "audio/wav");
          expect(bad.status).toBe(400);
          expect(bad.json.error).toContain("auto, loan");
        } finally {
          await front?.stop();
          await model?.stop();
        }
      }
      console.log(`${kind}: image tensor hop / reply hop ms: ${timings.join(", ")} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    } finally {
      await broker.stop();
    }
    // every process of the pipeline removed its shared memory, on both hosts
    expect(shmOf(h.hostA)).toEqual([]);
    expect(shmOf(h.hostB)).toEqual([]);
  }, 90_000);
});

describe.skipIf(why !== null)("no model on the bus", () => {
  test("a worker answers 504 after --reply-timeout, saying that no model process answered", async () => {
    await h.start();
    const broker = await startNats({ host: h.a });
    const front = await startServer(["--bus", broker.url, "--stream", `none${process.pid}`, "--port", "0", "--reply-timeout", "1"], h.hostA).catch(
      async (e) => {
        await broker.stop();
        throw e;
      },
    );
    try {
      const t0 = performance.now();
      const r = await post(front.url, speech, "auto", "audio/wav");
      expect(r.status).toBe(504);
      expect(r.json.error).toContain("no reply from a model process");
      expect(performance.now() - t0).toBeGreaterThanOrEqual(1000);
    } finally {
      await front.stop();
      await broker.stop();
    }
    expect(shmOf(h.hostA)).toEqual([]);
  }, 30_000);
});

afterAll(() => {
  // holders by pid (their tmpfs goes with them), the veth pair, the namespace; every process of
  // the pipeline ran in one of the hosts' private /dev/shm (checked empty above), none in this one
  if (!why) h.close();
});
