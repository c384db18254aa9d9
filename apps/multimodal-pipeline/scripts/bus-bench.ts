/**
 * What the hand-over costs over a bus (--bus), the model on the workers' host (references in
 * shared memory) and on another host (payloads through the broker): two hosts made of network +
 * mount namespaces on this machine (@ferry/testkit/hosts, a veth pair between them), the broker on
 * host A, the front and its worker on host A, the model on A or on B. The numbers of README
 * "Across hosts" and docs/benchmarks.md come from it. Needs root, nats-server, redis-server.
 *
 *   bun run scripts/bus-bench.ts [--batch 16] [--clips 2] [--requests 6] [--brokers nats,redis]
 */
import { parseArgs } from "node:util";
import { brokerTools, startNats, startRedis } from "@ferry/mq/brokers";
import { TwoHosts } from "@ferry/testkit/hosts";
import { post, startServer } from "../src/demo";
import { formData, sampleImages, silenceWav, speechWav } from "../src/samples";

const { values: v } = parseArgs({
  options: {
    batch: { type: "string", default: "16" },
    clips: { type: "string", default: "2" },
    requests: { type: "string", default: "6" },
    brokers: { type: "string", default: "nats,redis" },
  },
});
const batch = Number(v.batch), clips = Number(v.clips), requests = Number(v.requests);
const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

const missing = brokerTools();
if (missing) throw new Error(missing);
const hosts = TwoHosts.setup("mmb");
if (typeof hosts === "string") throw new Error(hosts);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const distinct = await sampleImages(Math.min(batch, 8));
const speech = speechWav(), quiet = silenceWav(1.5);
const files = [
  ...Array.from({ length: batch }, (_, i) => {
    const im = distinct[i % distinct.length]!;
    const png = im.bytes[0] === 0x89;
    return { name: `img${i}`, bytes: im.bytes, type: png ? "image/png" : "image/jpeg" };
  }),
  ...Array.from({ length: clips }, (_, i) => ({ name: `c${i}.wav`, bytes: i % 2 ? quiet : speech, type: "audio/wav" })),
];

const rows: string[] = [];
try {
  await hosts.start();
  for (const kind of v.brokers!.split(",")) {
    const broker = await (kind === "redis" ? startRedis : startNats)({ host: hosts.a });
    try {
      for (const where of ["A", "B"] as const) {
        const stream = `bench${process.pid}${kind}${where}`;
        const model = Bun.spawn([...(where === "A" ? hosts.hostA : hosts.hostB), process.execPath, MAIN, "--bus", broker.url, "--stream", stream, "--role", "model"], {
          stdout: "pipe", stderr: "inherit", env: { ...process.env, MM_PARENT: String(process.pid) },
        });
        const front = await startServer(["--bus", broker.url, "--stream", stream, "--port", "0", "--batch", String(batch)], hosts.hostA);
        try {
          for (const mode of ["auto", "loan"] as const) {
            for (let i = 0; i < 2; i++) await post(front.url, formData(files), mode); // warm up
            const e2e: number[] = [], hop: number[] = [], reply: number[] = [], paths = new Set<string>();
            const b0 = await broker.bytes();
            let tensor = 0;
            for (let i = 0; i < requests; i++) {
              const r = await post(front.url, formData(files), mode);
              if (r.status !== 200) throw new Error(`${kind} ${where} ${mode}: HTTP ${r.status} ${r.json.error}`);
              const t = r.json.timings.image!;
              e2e.push(r.ms), hop.push(t.tensorHopMs), reply.push(t.replyHopMs);
              paths.add(t.bus!.tensorLocal ? "reference" : "payload");
              tensor = t.tensorBytes;
            }
            const b1 = await broker.bytes();
            rows.push(
              `| ${kind} | ${where === "A" ? "A (same host)" : "B (other host)"} | ${mode} | ${[...paths].join("+")} | ${med(e2e).toFixed(1)} | ${med(hop).toFixed(2)} | ${med(reply).toFixed(2)} | ${((b1.in - b0.in) / requests / 1e6).toFixed(2)} |`,
            );
            console.error(rows.at(-1), `(image tensor ${(tensor / 1e6).toFixed(1)} MB)`);
          }
        } finally {
          await front.stop();
          model.kill("SIGTERM");
          await model.exited;
        }
      }
    } finally {
      await broker.stop();
    }
  }
} finally {
  hosts.close();
}
console.log(`${batch} images (${((batch * 3 * 224 * 224 * 4) / 1e6).toFixed(1)} MB image tensor) + ${clips} clips per request, ${requests} requests per row (medians)\n`);
console.log("| broker | model on | mode | tensor path | e2e p50 ms | image tensor hop ms | reply hop ms | broker in MB/req |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
