/**
 * A CPU + engine split against inline and offload at one size, in section 8's
 * setting (two Bun processes, the receiver acks once it has the message, each
 * message after a 100 µs gap, variants in an order drawn anew each round),
 * with a fixed CPU share (the coordinator is not asked): end-to-end median
 * and every sample in µs, then the last splits' CPU part / wait for the
 * engine's part / polls (SendReport.split).
 *
 *   bun run packages/bench/src/tools/split-cost.ts [sizeMiB=16] [share=0.45]
 */
import type { Publisher } from "@ferry/channel";
import { MiB } from "../lib/format";
import { monoNs } from "../lib/msg";
import { Session } from "../lib/session";
import { median, roundOrder } from "../lib/stats";
const size = Number(process.argv[2] ?? 16) * MiB;
const share = Number(process.argv[3] ?? 0.45);
await using s = new Session({ role: "recv", data: { tag: "zsplit", capacity: size * 4 + 4 * MiB, slots: 64 }, ack: { tag: "zsack", capacity: MiB, slots: 64 }, ackWait: "block", args: [MiB, "hybrid"] });
await s.peer.ready;
const reps: any[] = [];
const splitPub: Publisher = s.data.publisher({ backpressure: "block", timeoutMs: -1, policy: { decide: () => ({ mode: "offload", engine: "sw", cpuShare: share, cache: "cold", spinNs: 50_000 }), observe: (r) => { reps.push(r.split); } } });
const header = new Uint8Array([0]);
const src = new Uint8Array(size).fill(3);
const variants: [string, () => Promise<number>][] = [
  ["inline", () => s.pub.send(src, { mode: "inline", header })],
  ["split", () => splitPub.send(src, { header })],
  ["offload", () => s.pub.send(src, { mode: "offload", engine: "sw", header })],
];
const r = new Map(variants.map(([n]) => [n, [] as number[]]));
for (let i = -2; i < 15; i++) for (const j of roundOrder(variants.length, i + 2)) {
  const [name, f] = variants[j]!;
  const g = Bun.nanoseconds(); while (Bun.nanoseconds() - g < 100_000);
  const t0 = monoNs();
  await f();
  const [t1] = await s.recvAck();
  if (i >= 0) r.get(name)!.push(t1 - t0);
}
for (const [n] of variants) console.log(n, (median(r.get(n)!) / 1e3).toFixed(0), "µs", r.get(n)!.map((x) => (x / 1e3).toFixed(0)).join(" "));
console.log("splits:", reps.slice(-8).map((x) => x && `cpu ${(x.cpuNs / 1e3).toFixed(0)} wait ${(x.waitNs / 1e3).toFixed(0)} polls ${x.polls}${x.engineFirst ? " engineFirst" : ""}`).join(" | "));
splitPub.close();
await s.end();
