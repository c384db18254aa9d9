/**
 * What auto's own work costs around a large inline copy (issue 9): in one process, `send()` of
 * <size> bytes through a coordinator with no engines (so every decision is inline, remembered after
 * the first: take() before the copy, settled() after it) against explicit `mode: "inline"` sends with
 * the coordinator's placement and with libferry's own ("auto"), in an order drawn anew each round
 * (lib/stats.ts roundOrder), each message taken and released by a subscriber of the same process.
 * After a copy of this size the caches and the TLB hold little of the JS code and data that runs
 * next, so the coordinator's part costs what its memory misses cost. Prints each variant's median
 * time inside send() and auto's extra over the inline copy with its placement.
 *
 *   bun run packages/bench/src/tools/big-inline.ts [size=16777216] [rounds=200]
 */
import { Channel, defaultPolicy, setDefaultPolicy, type SendOptions } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";
import { median, roundOrder } from "../lib/stats";
setDefaultPolicy(defaultPolicy);

const size = Number(process.argv[2] ?? 16 << 20);
const rounds = Number(process.argv[3] ?? 200);
const co = await Coordinator.calibrate({ objective: "latency", engines: [] });
const placement = co.explain(size).cache;
const ch = Channel.create(`big-inline-${process.pid}`, { capacity: 4 * size + (8 << 20), slots: 64 });
try {
  const sub = ch.subscribe();
  const pub = ch.publisher({ coordinator: co });
  const src = new Uint8Array(size).fill(3);
  const variants: [string, SendOptions | undefined][] = [
    ["auto", undefined],
    [`inline ${placement}`, { mode: "inline", cache: placement }],
    ["inline (libferry's cache auto)", { mode: "inline" }],
  ];
  const times = variants.map(() => [] as number[]);
  for (let r = -20; r < rounds; r++)
    for (const j of roundOrder(variants.length, r + 20)) {
      const t0 = Bun.nanoseconds();
      await pub.send(src, variants[j]![1]);
      const t = Bun.nanoseconds() - t0;
      sub.tryReceive()!.release();
      if (r >= 0) times[j]!.push(t);
    }
  const us = (ns: number) => `${(ns / 1e3).toFixed(1)} µs`;
  for (const [k, [name]] of variants.entries()) console.log(`${name.padEnd(32)} ${us(median(times[k]!))}`);
  const st = co.stats();
  console.log(`auto's extra: ${us(median(times[0]!) - median(times[1]!))} per send (${st.decisions} decisions, ${st.decidedAfresh} afresh; inline correction ${JSON.stringify(st.inlineCorrections)})`);
} finally {
  ch.close();
}
