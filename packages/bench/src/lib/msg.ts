/**
 * What both processes of a measurement do with messages: take the next one
 * (spinning or awaiting), read it (touch) or process it (hashWork), and the
 * clock they share.
 */
import type { Message, Subscriber, WaitStrategy } from "@ferry/channel";
import { nowNs } from "@ferry/native";

/** CLOCK_MONOTONIC in ns, the same clock in every process (Bun.nanoseconds() counts from each process's start). */
export const monoNs = nowNs;

/** Spin (busy-wait) for the next message of a subscriber; throws at end of stream. */
export function spinReceive(sub: Pick<Subscriber, "tryReceive">): Message {
  let m = sub.tryReceive();
  while (m === null) m = sub.tryReceive();
  return m;
}

/**
 * The next message: "spin" = a tryReceive loop on this thread that returns
 * the message itself (no await, no event-loop turn); "block"/"hybrid" =
 * `await receive()`; "listen" = subscriber.listen() (no next(): the role's
 * handler runs from the wake-up). Use: `const x = next(); const m = x instanceof Promise ? await x : x;`
 */
export type ReceiveHow = "loop" | "await" | "listen";

/** How a side takes messages unless told: spin as a tryReceive loop, the other waits through await receive(). */
export const receiveOf = (x: { wait: string; receive?: ReceiveHow }): ReceiveHow => x.receive ?? (x.wait === "spin" ? "loop" : "await");

export function nextOf(sub: Subscriber, wait: WaitStrategy, how: ReceiveHow = receiveOf({ wait })): () => Message | Promise<Message> {
  return how === "loop" ? () => spinReceive(sub) : () => sub.receive();
}

/** Touch the payload: read one byte of every 64-byte cache line (and the last byte). */
export function touch(b: Uint8Array): number {
  let s = 0;
  const n = b.length;
  for (let i = 0; i < n; i += 64) s += b[i]!;
  if (n) s += b[n - 1]!;
  return s;
}

let sink = 0;
/** `passes` Bun.hash (wyhash) passes over v, in pieces of `piece` bytes. */
export function hashWork(v: Uint8Array, passes: number, piece: number): number {
  for (let at = 0; at < v.length; at += piece) {
    const p = v.subarray(at, Math.min(v.length, at + piece));
    for (let k = 0; k < passes; k++) sink = (sink + Number(BigInt.asUintN(8, BigInt(Bun.hash(p))))) | 0;
  }
  return sink;
}
