/**
 * What send() without a mode costs through the process default policy (the shared
 * coordinator, issue 9) against a publisher given a coordinator explicitly: in one process,
 * `await send(<size> bytes)` then `tryReceive()` + `release()`, blocks of <n> sends of each
 * in turn; prints the median block's ns per send of each. Both use the cached calibration
 * (Coordinator.calibrate() writes it if missing).
 *
 *   bun run packages/bench/src/tools/default-policy.ts [size=64] [n=20000] [blocks=7]
 */
import { Channel, type Publisher } from "@ferry/channel";
import { Coordinator, sharedCoordinator } from "@ferry/coordinator";
import { median } from "../lib/stats";

const size = Number(process.argv[2] ?? 64);
const n = Number(process.argv[3] ?? 20_000);
const blocks = Number(process.argv[4] ?? 7);
const co = await Coordinator.calibrate({ objective: "latency" });
if (sharedCoordinator().profileSource === "none") throw new Error("no cached calibration for the shared coordinator");
const ch = Channel.create(`default-policy-${process.pid}`, { capacity: Math.max(4 << 20, 2 * size + (1 << 20)), slots: 1024 });
try {
  const sub = ch.subscribe();
  const byDefault = ch.publisher(); // no policy: the process default, the shared coordinator
  const explicit = ch.publisher({ coordinator: co });
  const src = new Uint8Array(size).fill(3);
  const block = async (pub: Publisher) => {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < n; i++) {
      await pub.send(src);
      sub.tryReceive()!.release();
    }
    return (Bun.nanoseconds() - t0) / n;
  };
  const a: number[] = [], b: number[] = [];
  for (let r = 0; r < blocks; r++) {
    a.push(await block(byDefault));
    b.push(await block(explicit));
  }
  const fmt = (ns: number) => (ns >= 1e4 ? `${(ns / 1e3).toFixed(1)} µs` : `${ns.toFixed(0)} ns`);
  console.log(`${size} B send + receive: the default policy ${fmt(median(a))}, an explicit coordinator ${fmt(median(b))} (${blocks} blocks of ${n})`);
} finally {
  ch.close();
}
