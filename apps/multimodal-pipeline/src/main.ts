/**
 * Multimodal pipeline: HTTP ingress → image/audio preprocessing workers → an
 * ONNX model process, over Ferry shared memory or Bun IPC.
 *
 *   bun run src/main.ts                 the demo: start the pipeline, send the
 *                                       same requests in every IPC mode, print
 *                                       the table, write docs/multimodal-modes.svg
 *   bun run src/main.ts serve           only the server (curl it; see README)
 *
 * Across hosts (README, "Across hosts"): the stages talk through a broker
 * (@ferry/mq: NATS JetStream or Redis Streams), each role started on its host:
 *   bun run src/main.ts --bus nats://10.0.0.1:4222 --role model     a model process (any number, any host)
 *   bun run src/main.ts --bus nats://10.0.0.1:4222 --role gateway   the HTTP front and its --workers
 *                                                                   (alias: serve --bus URL)
 *   bun run src/main.ts --bus URL --role worker --ns NAME           one more worker for the gateway NAME
 *                                                                   (its host; the name is in its ready line)
 * --stream P names the streams (P-tensors, P-r<worker>; default mm): pipelines
 * sharing one broker use different ones.
 *
 * Options: --workers N (prep workers per stack, default 1), --size N (image
 * side, multiple of 32, default 224), --batch N (images per request, default
 * 16; 256 is the paper's 154 MB tensor), --clips N (WAVs per request, default
 * 2), --requests N (per mode, default 6), --concurrency N (default 1),
 * --port N (serve: default 8080; demo: any free), --threads N (onnxruntime
 * intra-op threads, default 1), --modes a,b,... (default all), --no-ipc,
 * --no-plot, --json FILE, --bus URL --stream P --inflight N (tensors a bus
 * model process works on at once, default 2) --reply-timeout S (a worker's
 * wait for a model's reply, default 120) --ns NAME (the gateway's name).
 */
import { parseArgs } from "node:util";
import { MiB, runBusModel, runFront, runIpcModel, runIpcWorker, runModel, runWorker, type BusOptions } from "./server";
import { BUS_PREFIX_RE } from "./transport";

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
    stream: { type: "string", default: "mm" },
    inflight: { type: "string", default: "2" },
    "reply-timeout": { type: "string" },
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

let bus: BusOptions | undefined;
if (v.bus) {
  if (!/^(nats|redis):\/\/[^/\s]+\/?$/.test(v.bus)) {
    console.error(`--bus ${v.bus}: nats://HOST:PORT or redis://HOST:PORT`);
    process.exit(2);
  }
  if (!BUS_PREFIX_RE.test(v.stream!)) {
    console.error(`--stream ${v.stream}: 1-32 of A-Z a-z 0-9 _ -`);
    process.exit(2);
  }
  bus = { url: v.bus, prefix: v.stream! };
  if (v["reply-timeout"] !== undefined) bus.replyTimeoutMs = int(v["reply-timeout"], "reply-timeout", 1) * 1000;
  if (v.role === undefined && positionals[0] !== "serve") {
    console.error(
      `--bus ${v.bus}: start each stage on its host with a role (README, "Across hosts"):\n` +
        `  --role model     a model process (onnxruntime), any number on any host\n` +
        `  --role gateway   the HTTP front and its --workers N prep workers (same as serve)\n` +
        `  --role worker --ns NAME   one more prep worker for the gateway NAME, on its host`,
    );
    process.exit(2);
  }
}
const needNs = () => {
  if (!v.ns) {
    console.error(`--role ${v.role} needs --ns NAME (the gateway's name${bus ? ", printed in its ready line" : ""})`);
    process.exit(2);
  }
  return v.ns;
};

/** The tensor arena: two of the largest tensors (a batch of images) in flight, at least 64 MiB. */
const tensorCapacity = Math.max(64 * MiB, 2 * batch * 3 * size * size * 4 + 16 * MiB);
/** A request body: room for a batch of large JPEGs/PNGs. */
const maxBodyBytes = Math.max(64 * MiB, batch * 2 * MiB);

const serve = () =>
  runFront({
    port: v.port ? int(v.port, "port") : 8080, workers, size, maxBodyBytes, tensorCapacity, threads, ipc: !v["no-ipc"], ns: v.ns, bus,
  });

switch (v.role) {
  case "model":
    if (bus) await runBusModel(bus, threads, int(v.inflight, "inflight", 1));
    else await runModel(needNs(), int(v.capacity, "capacity", 1), threads);
    break;
  case "worker":
    await runWorker(needNs(), size, bus && { ...bus, capacity: v.capacity ? int(v.capacity, "capacity", 1) : tensorCapacity });
    break;
  case "gateway":
    await serve();
    break;
  case "ipc-worker":
    await runIpcWorker(size, threads);
    break;
  case "ipc-model":
    await runIpcModel(threads);
    break;
  case undefined:
    if (positionals[0] === "serve") {
      await serve();
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
