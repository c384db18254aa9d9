/**
 * What asking the coordinator costs per message (issue 9), end to end between
 * two Bun processes, in section 8's setting (each message after a 100 µs gap,
 * the receiver acks once it has the message): `auto` against a fixed inline
 * send and against the pieces of the auto path, interleaved in an order drawn
 * anew each round (lib/stats.ts roundOrder).
 *
 *   bun run packages/bench/src/tools/auto-cost.ts [size ...]   (default 64 16384 1048576)
 *   GAP_MS=20 ...: each message after a 20 ms idle gap instead; FRESH=1: a new source buffer per message; N: rounds (100)
 *
 * Variants: auto (the coordinator's publisher: fastInline below its threshold,
 * remembered decisions above), inline (a fixed inline send), decide (a policy
 * that calls the coordinator's decide() and nothing else: no fastInline, no
 * observe), trivial (a policy that returns one frozen inline decision: the
 * publisher's own auto path), inline-hot / inline-cold (a fixed inline send
 * with temporal / non-temporal stores; plain "inline" is libferry's cache
 * "auto": cold from LLC/2). First prints decide() warm in a tight loop. Each cell: end-to-end median µs / the sender's time
 * from the call until send() returned; "decide" also prints the median time
 * inside decide().
 */
import { Coordinator } from "@ferry/coordinator";
import type { Publisher, SendDecision } from "@ferry/channel";
import { MiB } from "../lib/format";
import { monoNs } from "../lib/msg";
import { Session } from "../lib/session";
import { median, roundOrder } from "../lib/stats";

const sizes = process.argv.slice(2).map(Number).filter((n) => n >= 0);
if (!sizes.length) sizes.push(64, 16384, MiB);
const N = Number(process.env.N ?? 100);
/** GAP_MS: each message after an idle gap of this many ms (a timer) instead of 100 µs (a spin) */
const GAP_MS = Number(process.env.GAP_MS ?? 0);
/** FRESH=1: a new source buffer per message, each page written (a worker filling a new tensor) */
const FRESH = process.env.FRESH === "1";
const co = await Coordinator.calibrate({ objective: "latency" });
await using s = new Session({
  role: "recv",
  data: { tag: "acost", capacity: Math.max(...sizes) * 4 + 4 * MiB, slots: 64 },
  ack: { tag: "acack", capacity: MiB, slots: 64 },
  ackWait: "block",
  args: [MiB, "hybrid"],
});
await s.peer.ready;
const opts = { backpressure: "block", timeoutMs: -1 } as const;
const auto: Publisher = s.data.publisher({ ...opts, coordinator: co });
const inDecide: number[] = [];
const decideOnly: Publisher = s.data.publisher({
  ...opts,
  policy: {
    decide: (n, c) => {
      const a = Bun.nanoseconds();
      const d = co.decide(n, c);
      inDecide.push(Bun.nanoseconds() - a);
      return d;
    },
  },
});
const FROZEN: SendDecision = Object.freeze({ mode: "inline", cache: "hot" });
const trivial: Publisher = s.data.publisher({ ...opts, policy: { decide: () => FROZEN } });
const header = new Uint8Array([0]); // the receiver does no work per byte
const variants: [string, (b: Uint8Array) => Promise<number>][] = [
  ["auto", (b) => auto.send(b, { header })],
  ["inline", (b) => s.pub.send(b, { mode: "inline", header })],
  ["decide", (b) => decideOnly.send(b, { header })],
  ["trivial", (b) => trivial.send(b, { header })],
  ["inline-hot", (b) => s.pub.send(b, { mode: "inline", cache: "hot", header })],
  ["inline-cold", (b) => s.pub.send(b, { mode: "inline", cache: "cold", header })],
];
// decide() warm, in a tight loop on this thread (the same sizes; the cost the end-to-end cells compare against)
const ctx = { channel: s.data, publisher: decideOnly, engine: decideOnly.engine, options: {} };
for (const size of sizes) {
  for (let i = 0; i < 20_000; i++) co.decide(size, ctx);
  const t = Bun.nanoseconds();
  for (let i = 0; i < 100_000; i++) co.decide(size, ctx);
  console.log(`${size} B: decide() in a tight loop ${((Bun.nanoseconds() - t) / 1e5).toFixed(0)} ns`);
}
try {
  for (const size of sizes) {
    let src = new Uint8Array(size).fill(5);
    const e2e = variants.map(() => [] as number[]);
    const sync = variants.map(() => [] as number[]);
    inDecide.length = 0;
    for (let i = -10; i < N; i++)
      for (const j of roundOrder(variants.length, i + 10)) {
        const g = Bun.nanoseconds();
        if (GAP_MS > 0) await Bun.sleep(GAP_MS);
        else while (Bun.nanoseconds() - g < 100_000);
        if (FRESH) {
          src = new Uint8Array(size);
          for (let q = 0; q < size; q += 4096) src[q] = 5;
        }
        const t0 = monoNs();
        const p = variants[j]![1](src);
        const ts = monoNs();
        await p;
        const [t1] = await s.recvAck();
        if (i >= 0) {
          e2e[j]!.push(t1 - t0);
          sync[j]!.push(ts - t0);
        }
      }
    const cells = variants.map(([name], j) => `${name} ${(median(e2e[j]!) / 1e3).toFixed(1)}/${(median(sync[j]!) / 1e3).toFixed(1)}`);
    console.log(`${size} B: ${cells.join("  ")}  (µs end to end / in send(); decide() itself ${(median(inDecide) / 1e3).toFixed(2)} µs)`);
  }
} finally {
  auto.close();
  decideOnly.close();
  trivial.close();
}
await s.end();
