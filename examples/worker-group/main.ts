// A worker pool: `bun main.ts` starts 3 worker processes that subscribe as one
// group ("workers"); each job goes to exactly one of them.
import { Channel } from "@ferry/channel";

const name = process.env.FERRY_EXAMPLE_CHANNEL ?? `example.jobs.${process.pid}`;

if (process.argv[2] === "worker") {
  using ch = Channel.open(name);
  const sub = ch.subscribe({ group: "workers", wait: "block" });
  let n = 0;
  for await (const msg of sub) {
    n++;
    msg.release();
    await Bun.sleep(2); // the work: meanwhile the other workers take the next jobs
  }
  console.log(`worker ${process.pid}: ${n} jobs`);
  process.exit(0);
}

const JOBS = 60, WORKERS = 3;
using ch = Channel.create(name, { capacity: 16 * 2 ** 20 });
const pub = ch.publisher({ backpressure: "block" });
const workers = Array.from({ length: WORKERS }, () =>
  Bun.spawn([process.execPath, import.meta.path, "worker"], { env: { ...process.env, FERRY_EXAMPLE_CHANNEL: name }, stdout: "pipe" }),
);
await pub.waitForSubscribers(WORKERS, { group: "workers", timeoutMs: 30_000 });
for (let i = 0; i < JOBS; i++) pub.sendSync(new TextEncoder().encode(`job ${i}`));
pub.close();
const lines = await Promise.all(workers.map(async (w) => (await new Response(w.stdout).text()).trim()));
const total = lines.reduce((s, l) => s + Number(l.match(/(\d+) jobs/)![1]), 0);
console.log(lines.join("\n"));
console.log(`main: ${total} of ${JOBS} jobs done, each by one worker`);
