/**
 * What the coordinator's remembered path costs warm and cold (section 8): in
 * one process, a remembered decision for <size> MiB is taken and settled 200
 * times; every other time a 48 MiB copy runs first (it evicts the caches and
 * the TLB, as the other variants' 16 MiB copies do between auto's sends in
 * section 8). Prints medians (µs) of the publisher's fastInline getter,
 * remembered.take() and remembered.settled(), warm and cold.
 *
 *   bun run packages/bench/src/tools/policy-cold.ts [sizeMiB=16]
 */
import { Channel, defaultPolicy, setDefaultPolicy } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";
import { median } from "../lib/stats";
setDefaultPolicy(defaultPolicy);
const MiB = 1 << 20;
const co = await Coordinator.calibrate({ objective: "latency" });
using ch = Channel.create(`zzcold-${process.pid}`, { capacity: 4 * MiB });
const pub = ch.publisher({ coordinator: co });
const size = Number(process.argv[2] ?? 16) * MiB;
const ctx = { channel: ch, publisher: pub, engine: pub.engine, options: {} };
const d0 = co.decide(size, ctx); co.remembered.settled(d0, size, 700_000, 700_000);
const a = new Uint8Array(48 * MiB).fill(1), b = new Uint8Array(48 * MiB);
let misses = 0;
console.log(co.explain(size).mode);
const r: Record<string, number[]> = { warmTake: [], coldTake: [], warmSettled: [], coldSettled: [], coldGetter: [], coldNanos: [] };
for (let i = 0; i < 200; i++) {
  const cold = i % 2 === 0;
  if (cold) b.set(a); // evict caches and TLB as a 16+ MiB copy does
  const t0 = Bun.nanoseconds();
  const t1 = Bun.nanoseconds();
  const f = pub.policy.fastInline;
  const t2 = Bun.nanoseconds();
  let d = co.remembered.take(size, pub)!;
  const miss = !d; if (miss) d = co.decide(size, ctx);
  const t3 = Bun.nanoseconds();
  co.remembered.settled(d, size, 700_000, 700_000);
  const t4 = Bun.nanoseconds();
  if (miss) { misses++; continue; }
  void f;
  if (i < 20) continue;
  if (cold) { r.coldNanos!.push(t1 - t0); r.coldGetter!.push(t2 - t1); r.coldTake!.push(t3 - t2); r.coldSettled!.push(t4 - t3); }
  else { r.warmTake!.push(t3 - t2); r.warmSettled!.push(t4 - t3); }
}
console.log('misses', misses, Object.entries(r).map(([k, v]) => `${k} ${(median(v) / 1e3).toFixed(2)} µs`).join(", "));
pub.close();
