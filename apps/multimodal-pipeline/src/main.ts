/**
 * Multimodal pipeline: HTTP ingress → image/audio preprocessing workers → an
 * ONNX model process, over Ferry shared memory or Bun IPC.
 *
 *   bun run src/main.ts                 the demo: start the pipeline, send the
 *                                       same requests in every IPC mode, print
 *                                       the table, write docs/multimodal-modes.svg
 *   bun run src/main.ts serve           only the server (curl it; see README)
 *
 * Options: --workers N (prep workers per stack, default 1), --size N (image
 * side, multiple of 32, default 224), --batch N (images per request, default
 * 16; 256 is the paper's 154 MB tensor), --clips N (WAVs per request, default
 * 2), --requests N (per mode, default 6), --concurrency N (default 1),
 * --port N (serve: default 8080; demo: any free), --threads N (onnxruntime
 * intra-op threads, default 1), --modes a,b,... (default all), --no-ipc,
 * --no-plot, --json FILE, --bus URL (stages across hosts: README).
 */
import { parseArgs } from "node:util";
import { MiB, runFront, runIpcModel, runIpcWorker, runModel, runWorker } from "./server";

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    role: { type: "string" },
    ns: { type: "string" },
    capacity: { type: "string" },
    size: { type: "string", default: "224" },
    threads: { type: "string", default: "1" },
    workers: { type: "string", default: "1" },
    batch: { type: "string", default: "16" },
    clips: { type: "string", default: "2" },
    requests: { type: "string", default: "6" },
    concurrency: { type: "string", default: "1" },
    port: { type: "string" },
    modes: { type: "string" },
    "no-ipc": { type: "boolean", default: false },
    "no-plot": { type: "boolean", default: false },
    json: { type: "string" },
    bus: { type: "string" },
  },
});

const int = (s: string | undefined, name: string, min = 0): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min} (got ${s})`);
    process.exit(2);
  }
  return n;
};

const size = int(v.size, "size", 32);
if (size % 32) {
  console.error("--size must be a multiple of 32 (the text detector's stride)");
  process.exit(2);
}
const threads = int(v.threads, "threads");
const batch = int(v.batch, "batch", 0);
const workers = int(v.workers, "workers", 1);

if (v.bus) {
  console.error(
    `--bus ${v.bus}: the stages talk over Ferry channels on one host in this version; the transport over a ` +
      "message bus between hosts comes with @ferry/mq (see README, \"Across hosts\").",
  );
  process.exit(2);
}

/** The tensor arena: two of the largest tensors (a batch of images) in flight, at least 64 MiB. */
const tensorCapacity = Math.max(64 * MiB, 2 * batch * 3 * size * size * 4 + 16 * MiB);
/** A request body: room for a batch of large JPEGs/PNGs. */
const maxBodyBytes = Math.max(64 * MiB, batch * 2 * MiB);

switch (v.role) {
  case "model":
    await runModel(v.ns!, int(v.capacity, "capacity", 1), threads);
    break;
  case "worker":
    await runWorker(v.ns!, size);
    break;
  case "ipc-worker":
    await runIpcWorker(size, threads);
    break;
  case "ipc-model":
    await runIpcModel(threads);
    break;
  case undefined:
    if (positionals[0] === "serve") {
      await runFront({ port: v.port ? int(v.port, "port") : 8080, workers, size, maxBodyBytes, tensorCapacity, threads, ipc: !v["no-ipc"] });
    } else {
      const { runDemo } = await import("./demo");
      await runDemo({
        size, threads, workers, batch,
        clips: int(v.clips, "clips"),
        requests: int(v.requests, "requests", 1),
        concurrency: int(v.concurrency, "concurrency", 1),
        modes: v.modes?.split(","),
        ipc: !v["no-ipc"],
        plot: !v["no-plot"],
        json: v.json,
        port: v.port ? int(v.port, "port") : 0,
      });
    }
    break;
  default:
    console.error(`unknown --role ${v.role}`);
    process.exit(2);
}
