/**
 * Where two hybrid processes run during a back-to-back ping-pong (issue 7): blocks of
 * round trips through `await receive()` with a given wait on both sides (the bench's echo
 * role, roles/ferry.ts), each block's one-way p50 next to the CPU each process last ran on
 * (/proc/<pid>/stat field 39). Shows a pair that a wake-up put on one CPU, and when the
 * scheduler spreads it.
 *
 *   bun run packages/bench/src/tools/hybrid-placement.ts [wait=hybrid] [blocks=8] [hops=20000] [size=64]
 */
import { readFileSync } from "node:fs";
import type { WaitStrategy } from "@ferry/channel";
import { MiB } from "../lib/format";
import { Session } from "../lib/session";

const wait = (process.argv[2] ?? "hybrid") as WaitStrategy;
const blocks = Number(process.argv[3] ?? 8);
const hops = Number(process.argv[4] ?? 20_000);
const size = Number(process.argv[5] ?? 64);
const cpu = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[36];

await using s = new Session({
  role: "echo",
  data: { tag: "place", capacity: 4 * MiB + 2 * size, slots: 1024 },
  ack: { tag: "place-r", capacity: 4 * MiB + 2 * size, slots: 1024 },
  ackWait: wait,
  args: [wait, size, 0, "await"],
});
await s.peer.ready;
const rtt = new Float64Array(hops);
for (let k = 0; k < blocks; k++) {
  for (let i = 0; i < hops; i++) {
    const stamp = (i * 7 + 1) & 255;
    const t0 = Bun.nanoseconds();
    const l = s.pub.loan(size);
    l.bytes[0] = stamp;
    s.pub.publish(l);
    const m = await s.ackSub.receive();
    if (m.bytes[0] !== stamp) throw new Error(`reply carries stamp ${m.bytes[0]}, expected ${stamp}`);
    m.release();
    rtt[i] = Bun.nanoseconds() - t0;
  }
  rtt.sort();
  console.log(`${wait} ${size} B block ${k}: one-way p50 ${(rtt[hops >> 1]! / 2).toFixed(0)} ns; CPU of this process ${cpu(process.pid)}, of the echo ${cpu(s.peer.proc.pid)}`);
}
await s.end();
