/**
 * Where the sending thread's CPU goes in an engine send (issue 9, section 8b):
 * a stream of <size> messages (<= 2 sends in flight) to a sink process, the
 * sending thread's CPU per send (/proc/self/task/<pid>/schedstat) and the
 * whole process's (process.cpuUsage: every thread, the engine's copy
 * threads included), next to inline sendSync, in one run.
 *
 *   bun run packages/bench/src/tools/send-cpu.ts [sizeMiB=16] [sends=64] [rounds=3]
 *
 * Variants: inline (sendSync), offload/sw and pipelined/sw (send({ mode }) on the
 * shared sw engine), trivial (mode auto with a policy that returns one frozen
 * offload/sw decision: the publisher's auto path without the coordinator),
 * observed (trivial plus an observe() that does nothing: the report path),
 * auto-cpu (a coordinator calibrated for objective cpu).
 * Rounds interleave the variants (rotated each round); each cell prints the median round. The
 * sending thread's numbers also count the event-loop wake-ups it took
 * (voluntary context switches of the thread, /proc/self/task/<pid>/status).
 * ROUNDS=1 also prints every round's thread CPU per send (µs), in order: how
 * far the JIT's warm-up reaches.
 */
import { readFileSync } from "node:fs";
import type { Publisher } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";
import { MiB } from "../lib/format";
import { sendStream } from "../measure/coordinator";
import { median } from "../lib/stats";

const size = Number(process.argv[2] ?? 16) * MiB;
const sends = Number(process.argv[3] ?? 64);
const rounds = Number(process.argv[4] ?? 3);

const task = `/proc/self/task/${process.pid}`;
const threadCpuNs = () => Number(readFileSync(`${task}/schedstat`, "utf8").split(" ")[0]);
const switches = () => Number(/voluntary_ctxt_switches:\s*(\d+)/.exec(readFileSync(`${task}/status`, "utf8"))![1]);
const processCpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

const co = await Coordinator.calibrate({ objective: "cpu" });
const { session, stream: toSink } = await sendStream("scpu", size);
await using s = session;
const auto: Publisher = s.data.publisher({ backpressure: "block", timeoutMs: -1, coordinator: co });
const bufs = [0, 1, 2].map((i) => new Uint8Array(size).fill(i + 1));

// the publisher's own auto path with a policy that decides nothing (one frozen offload decision, no observe)
const FROZEN = Object.freeze({ mode: "offload", engine: "sw", cache: co.explain(size).cache } as const);
const trivial: Publisher = s.data.publisher({ backpressure: "block", timeoutMs: -1, policy: { decide: () => FROZEN } });
// the same with an observe() that does nothing: what the publisher's report path costs
const observed: Publisher = s.data.publisher({ backpressure: "block", timeoutMs: -1, policy: { decide: () => FROZEN, observe: () => {} } });
const variants: [string, ((b: Uint8Array) => Promise<number>) | null][] = [
  ["inline", null],
  ["offload/sw", (b) => s.pub.send(b, { mode: "offload", engine: "sw" })],
  ["pipelined/sw", (b) => s.pub.send(b, { mode: "pipelined", engine: "sw" })],
  ["trivial", (b) => trivial.send(b)],
  ["observed", (b) => observed.send(b)],
  ["auto-cpu", (b) => auto.send(b)],
];

const stream = (send: ((b: Uint8Array) => Promise<number>) | null, k: number) => toSink(send, k, bufs);

const res = new Map(variants.map(([n]) => [n, { thread: [] as number[], proc: [] as number[], wall: [] as number[], wakes: [] as number[] }]));
for (const [, f] of variants) await stream(f, 64); // JIT warm-up
for (let r = 0; r < rounds; r++)
  for (let j = 0; j < variants.length; j++) {
    const [name, f] = variants[(j + r) % variants.length]!; // rotated: no variant always follows the same one
    const c0 = threadCpuNs(), p0 = processCpuNs(), w0 = Bun.nanoseconds(), v0 = switches();
    await stream(f, sends);
    const o = res.get(name)!;
    o.thread.push((threadCpuNs() - c0) / sends);
    o.proc.push((processCpuNs() - p0) / sends);
    o.wall.push((Bun.nanoseconds() - w0) / sends);
    o.wakes.push((switches() - v0) / sends);
  }
auto.close();
trivial.close();
observed.close();
await s.end();
const us = (ns: number) => `${(ns / 1e3).toFixed(1)} µs`;
const inl = median(res.get("inline")!.thread);
console.log(`${size / MiB} MiB x ${sends} sends, ${rounds} rounds (median round); auto-cpu chose ${JSON.stringify(co.explain(size).mode)}/${co.explain(size).engine}`);
for (const [name] of variants) {
  const o = res.get(name)!;
  const t = median(o.thread);
  console.log(
    `${name.padEnd(12)} thread ${us(t).padStart(10)}/send (${((t / inl) * 100).toFixed(1)}% of inline)  process ${us(median(o.proc)).padStart(10)}  wall ${us(median(o.wall)).padStart(10)}  thread sleeps/send ${median(o.wakes).toFixed(2)}` +
      (process.env.ROUNDS ? `  rounds: ${o.thread.map((x) => (x / 1e3).toFixed(0)).join(" ")}` : ""),
  );
}
const st = co.stats();
console.log(`auto-cpu choices: ${Object.entries(st.choices).map(([k, c]) => `${k} ${c.messages}`).join(", ")}; fallbacks ${st.fallbacks.count}; sw ${JSON.stringify(st.engines.sw)}`);
