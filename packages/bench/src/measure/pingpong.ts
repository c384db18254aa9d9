/**
 * Ferry ping-pong between this process and a spawned peer (role echo) over
 * two channels. Used for the one-way latency (RTT/2, same size both ways) and
 * for the 64 MiB round trip compared with the peers (payload one way, 1 byte back).
 */
import type { WaitStrategy } from "@ferry/channel";
import { MiB } from "../lib/format";
import { nextOf, receiveOf, touch } from "../lib/msg";
import { tick } from "../lib/procs";
import { Session } from "../lib/session";
import { pct, sorted } from "../lib/stats";
import type { PingPong } from "../schema";

export interface PingPongOptions {
  wait: WaitStrategy;
  /** Payload bytes of the ping. */
  size: number;
  /** Payload bytes of the reply (size for latency, 1 for a round trip with an ack). */
  replySize: number;
  /** "loan": loan + stamp + publish (zero-copy); "copy": sendSync(privateBuffer) (inline). */
  send: "loan" | "copy";
  iterations: number;
  warmup: number;
  /**
   * Also warm up at least this long (ms, default 0): two processes that a wake-up put on one
   * CPU stay there until the scheduler spreads them, ~50-100 ms of back-to-back traffic here
   * (docs/benchmarks.md, "Issue 7 targets"); the steady state is what is measured.
   */
  warmupMs?: number;
  /** Stop early once this much time was spent measuring. */
  maxMs: number;
  /** Both sides read every cache line of each received payload (default true); false: only the stamp byte. */
  touch?: boolean;
  /** Idle this long (await a timer) before each ping, outside the timed part: the wake-up after idle. */
  gapMs?: number;
  /** How both sides take messages (lib/msg.ts nextOf): default a tryReceive loop for spin, await receive() otherwise. */
  receive?: "loop" | "await";
}


export async function pingPong(o: PingPongOptions): Promise<PingPong> {
  return summarize(o, await pingPongRtts(o));
}

/** The round trips (ns) of one ping-pong session, in the order measured. */
export async function pingPongRtts(o: PingPongOptions): Promise<Float64Array> {
  const cap = (n: number) => Math.max(4 * MiB, 2 * n + MiB);
  const doTouch = o.touch ?? true;
  const rtt = new Float64Array(o.iterations);
  let n = 0;
  {
    await using s = new Session({
      role: "echo",
      data: { tag: "ping", capacity: cap(o.size), slots: 1024 },
      ack: { tag: "pong", capacity: cap(o.replySize), slots: 1024 },
      ackWait: o.wait,
      args: [o.wait, o.replySize, doTouch ? 1 : 0, receiveOf(o)],
    });
    const { pub } = s;
    // no timeout on the reply (as user code would): a dead peer ends the stream instead
    const next = nextOf(s.ackSub, o.wait, receiveOf(o));
    await s.peer.ready;
    const src = o.send === "copy" ? new Uint8Array(o.size).fill(1) : null;
    let sink = 0;
    // warm-up: o.warmup round trips and at least o.warmupMs (the loop extends itself until both)
    const warmEnd = Bun.nanoseconds() + (o.warmupMs ?? 0) * 1e6;
    let warm = o.warmup;
    let deadline = Infinity;
    for (let i = 0; i < warm + o.iterations; i++) {
      const stamp = (i * 7 + 1) & 255;
      if (o.gapMs) await Bun.sleep(o.gapMs);
      const t0 = Bun.nanoseconds();
      if (src) {
        src[0] = stamp;
        pub.sendSync(src);
      } else {
        const loan = pub.loan(o.size);
        loan.bytes[0] = stamp;
        pub.publish(loan);
      }
      const x = next();
      const m = x instanceof Promise ? await x : x;
      const b = m.bytes;
      if (b[0] !== stamp) throw new Error(`ping-pong: reply carries stamp ${b[0]}, expected ${stamp}`);
      if (doTouch) sink += touch(b);
      m.release();
      const t1 = Bun.nanoseconds();
      if (i === warm - 1 && t1 < warmEnd) warm++;
      else if (i >= warm) {
        if (n === 0) deadline = t1 + o.maxMs * 1e6;
        rtt[n++] = t1 - t0;
        if ((n & 255) === 0 && t1 > deadline) break;
      }
    }
    if (sink < 0) console.log(sink); // keep the reads alive
    await s.end(); // end of stream: the peer drains and exits at once
  }
  await tick();
  return rtt.subarray(0, n);
}

/** One row from round trips (several sessions' samples may be joined: latency.ts rounds). */
export function summarize(o: PingPongOptions, rtts: ArrayLike<number>): PingPong {
  const r = sorted(rtts);
  const n = r.length;
  return {
    wait: o.wait,
    gap_ms: o.gapMs ?? 0,
    size: o.size,
    replySize: o.replySize,
    send: o.send,
    touch: o.touch ?? true,
    receive: receiveOf(o),
    n,
    rtt_p50_ns: pct(r, 50),
    rtt_p99_ns: pct(r, 99),
    p50_ns: pct(r, 50) / 2,
    p99_ns: pct(r, 99) / 2,
    min_ns: r[0]! / 2,
  };
}
