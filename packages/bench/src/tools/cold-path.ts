/**
 * What Ferry's JS API costs when its code is cold (issue 7, docs/benchmarks.md
 * section 6): one process, a channel, and after every idle gap one
 * loan + publish + tryReceive + release, each timed; beside them two bare
 * allocations (a Uint8Array over a buffer, a Map insert) timed the same way.
 *
 *   bun run packages/bench/src/tools/cold-path.ts [gapMs=10] [rounds=300]
 *
 * Medians in µs. With gap 0 the same code is warm. WARM=n: n back-to-back
 * rounds first, so that the JIT has compiled the path (as in a service).
 */
import { Channel } from "@ferry/channel";
import { nowNs } from "@ferry/native";

const gap = Number(process.argv[2] ?? 10);
const rounds = Number(process.argv[3] ?? 300);
using ch = Channel.create(`cold-path-${process.pid}`, { capacity: 1 << 22 });
const pub = ch.publisher();
const sub = ch.subscribe({ wait: "block" });
const buf = new ArrayBuffer(1 << 20);
const rows: number[][] = [];
for (let i = 0, warm = Number(process.env.WARM ?? 0); i < warm; i++) {
  const loan = pub.loan(64);
  loan.bytes[0] = i & 255;
  pub.publish(loan);
  sub.tryReceive()!.release();
}
for (let i = 0; i < rounds + 20; i++) {
  await Bun.sleep(gap);
  const a = nowNs();
  const loan = pub.loan(64);
  const b = nowNs();
  loan.bytes[0] = i & 255;
  pub.publish(loan);
  const c = nowNs();
  const m = sub.tryReceive()!;
  const d = nowNs();
  m.release();
  const e = nowNs();
  const v = new Uint8Array(buf, (i & 255) * 64, 64);
  const f = nowNs();
  new Map().set(i, v);
  const g = nowNs();
  if (i >= 20) rows.push([b - a, c - b, d - c, e - d, f - e, g - f]);
}
const med = (k: number) => (rows.map((r) => r[k]!).sort((x, y) => x - y)[rows.length >> 1]! / 1000).toFixed(2);
console.log(
  `gap ${gap} ms, ${rows.length} rounds (medians, µs): loan ${med(0)}, publish ${med(1)}, tryReceive ${med(2)}, release ${med(3)}; ` +
    `new Uint8Array(buf, off, 64) ${med(4)}, new Map().set ${med(5)}`,
);
