/**
 * Where two hybrid processes run during a back-to-back ping-pong (issue 7): blocks of
 * 64 B round trips through `await receive()` with a given wait on both sides, each block's
 * one-way p50 next to the CPU each process last ran on (/proc/<pid>/stat field 39). Shows
 * a pair that a wake-up put on one CPU, and when the scheduler spreads it.
 *
 *   bun run packages/bench/src/tools/hybrid-placement.ts [wait=hybrid] [blocks=8] [hops=20000] [size=64]
 */
import { readFileSync } from "node:fs";
import { Channel, type WaitStrategy } from "@ferry/channel";

const [role, a, b] = process.argv.slice(2);
const cpu = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[36];

if (role === "echo") {
  const sub = Channel.open(a!).subscribe({ wait: process.argv[5] as WaitStrategy });
  const pub = Channel.open(b!).publisher();
  const size = Number(process.argv[6]);
  console.log("READY");
  for (;;) {
    let m;
    try {
      m = await sub.receive();
    } catch {
      break;
    }
    const x = m.bytes[0]!;
    m.release();
    const l = pub.loan(size);
    l.bytes[0] = x;
    pub.publish(l);
  }
  process.exit(0);
} else {
  const wait = (process.argv[2] ?? "hybrid") as WaitStrategy;
  const blocks = Number(process.argv[3] ?? 8);
  const hops = Number(process.argv[4] ?? 20_000);
  const size = Number(process.argv[5] ?? 64);
  const ping = Channel.create(`place-${process.pid}-a`, { capacity: 1 << 22, slots: 1024 });
  const pong = Channel.create(`place-${process.pid}-b`, { capacity: 1 << 22, slots: 1024 });
  try {
    const pub = ping.publisher();
    const sub = pong.subscribe({ wait });
    const peer = Bun.spawn(["bun", import.meta.path, "echo", ping.name, pong.name, wait, String(size)], { stdout: "pipe", stderr: "inherit" });
    await peer.stdout.getReader().read();
    const rtt = new Float64Array(hops);
    for (let k = 0; k < blocks; k++) {
      for (let i = 0; i < hops; i++) {
        const t0 = Bun.nanoseconds();
        const l = pub.loan(size);
        l.bytes[0] = i & 255;
        pub.publish(l);
        const m = await sub.receive();
        if (m.bytes[0] !== (i & 255)) throw new Error("reply out of order");
        m.release();
        rtt[i] = Bun.nanoseconds() - t0;
      }
      rtt.sort();
      console.log(`${wait} ${size} B block ${k}: one-way p50 ${(rtt[hops >> 1]! / 2).toFixed(0)} ns; CPU of this process ${cpu(process.pid)}, of the echo ${cpu(peer.pid)}`);
    }
    pub.close();
    await peer.exited;
  } finally {
    ping.close();
    pong.close();
  }
}
