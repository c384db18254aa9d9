/**
 * How many sends a stream needs before the sending thread's CPU per send is
 * steady (section 8b's warm-up): a fresh process sends <blocks> x <per>
 * messages of <size> MiB (<= 2 in flight) to a sink, through auto under
 * objective cpu or a fixed offload/sw, and prints each block's thread CPU
 * per send (/proc/self/task/<pid>/schedstat), in order.
 *
 *   bun run packages/bench/src/tools/send-warmup.ts [sizeMiB=16] [blocks=40] [per=16] [auto|offload]
 */
import { readFileSync } from "node:fs";
import type { Publisher } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";
import { MiB } from "../lib/format";
import { Session } from "../lib/session";
const size = Number(process.argv[2] ?? 16) * MiB;
const blocks = Number(process.argv[3] ?? 40);
const per = Number(process.argv[4] ?? 16);
const which = process.argv[5] ?? "auto";
const task = `/proc/self/task/${process.pid}`;
const tcpu = () => Number(readFileSync(`${task}/schedstat`, "utf8").split(" ")[0]);
const co = await Coordinator.calibrate({ objective: "cpu" });
await using s = new Session({ role: "sink", data: { tag: "zzw", capacity: 4 * size + 4 * MiB, slots: 256 }, ack: { tag: "zzwa", capacity: MiB, slots: 64 }, ackWait: "block", args: ["block", 1] });
await s.peer.ready;
const auto: Publisher = s.data.publisher({ backpressure: "block", timeoutMs: -1, coordinator: co });
const bufs = [0, 1, 2].map((i) => new Uint8Array(size).fill(i + 1));
const empty = new Uint8Array(0);
const send = which === "auto" ? (b: Uint8Array) => auto.send(b) : (b: Uint8Array) => s.pub.send(b, { mode: "offload", engine: "sw" });
const out: number[] = [];
for (let k = 0; k < blocks; k++) {
  const c0 = tcpu();
  const inflight: Promise<number>[] = [];
  for (let i = 0; i < per; i++) { if (inflight.length >= 2) await inflight.shift(); inflight.push(send(bufs[i % 3]!)); }
  await Promise.all(inflight);
  s.pub.sendSync(empty);
  (await s.ackSub.receive()).release();
  out.push((tcpu() - c0) / per / 1e3);
}
console.log(`${which} ${size / MiB} MiB, blocks of ${per} sends, thread µs/send:`, out.map((x) => x.toFixed(0)).join(" "));
auto.close();
await s.end();
