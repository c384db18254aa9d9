/**
 * Ferry ping-pong between this process and a spawned peer over two channels.
 * Used for the one-way latency (RTT/2, same size both ways) and for the
 * 64 MiB round trip compared with the peers (payload one way, 1 byte back).
 */
import type { WaitStrategy } from "@ferry/channel";
import { MiB, createChannel, finish, pct, sorted, spawnPeer, tick, touch } from "./util";

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
  /** Stop early once this much time was spent measuring. */
  maxMs: number;
  /** Both sides read every cache line of each received payload (default true); false: only the stamp byte. */
  touch?: boolean;
}

export interface PingPongResult {
  wait: WaitStrategy;
  size: number;
  replySize: number;
  send: "loan" | "copy";
  touch: boolean;
  n: number;
  /** Round-trip times in ns, ascending. */
  rtt: Float64Array;
  rtt_p50_ns: number;
  rtt_p99_ns: number;
  /** One-way latency = RTT/2. */
  p50_ns: number;
  p99_ns: number;
  min_ns: number;
}

export async function pingPong(o: PingPongOptions): Promise<PingPongResult> {
  const cap = (n: number) => Math.max(4 * MiB, 2 * n + MiB);
  const ping = createChannel("ping", { capacity: cap(o.size), slots: 1024 });
  const pong = createChannel("pong", { capacity: cap(o.replySize), slots: 1024 });
  const pub = ping.publisher({ backpressure: "block", timeoutMs: -1 });
  const sub = pong.subscribe({ wait: o.wait });
  const doTouch = o.touch ?? true;
  const peer = spawnPeer("echo", [ping.name, pong.name, o.wait, o.replySize, doTouch ? 1 : 0]);
  const rtt = new Float64Array(o.iterations);
  let n = 0;
  try {
    await peer.ready;
    const src = o.send === "copy" ? new Uint8Array(o.size).fill(1) : null;
    const deadline = Bun.nanoseconds() + o.maxMs * 1e6;
    let sink = 0;
    const total = o.warmup + o.iterations;
    for (let i = 0; i < total; i++) {
      const stamp = (i * 7 + 1) & 255;
      const t0 = Bun.nanoseconds();
      if (src) {
        src[0] = stamp;
        pub.sendSync(src);
      } else {
        const loan = pub.loan(o.size);
        loan.bytes[0] = stamp;
        pub.publish(loan);
      }
      let m;
      if (o.wait === "spin") {
        m = sub.tryReceive();
        while (m === null) m = sub.tryReceive();
      } else {
        m = await sub.receive(); // no timeout (as user code would): a dead peer ends the stream instead
      }
      const b = m.bytes;
      if (b[0] !== stamp) throw new Error(`ping-pong: reply carries stamp ${b[0]}, expected ${stamp}`);
      if (doTouch) sink += touch(b);
      m.release();
      const t1 = Bun.nanoseconds();
      if (i >= o.warmup) {
        rtt[n++] = t1 - t0;
        if ((n & 255) === 0 && t1 > deadline) break;
      }
    }
    if (sink < 0) console.log(sink); // keep the reads alive
    pub.close(); // end of stream: the peer drains and exits
    await finish(peer, 10_000); // it exits at once on end of stream
  } finally {
    pub.close();
    sub.close();
    ping.close();
    pong.close();
    peer.proc.kill(9);
  }
  await tick();
  const s = sorted(rtt.subarray(0, n));
  return {
    wait: o.wait,
    size: o.size,
    replySize: o.replySize,
    send: o.send,
    touch: doTouch,
    n,
    rtt: s,
    rtt_p50_ns: pct(s, 50),
    rtt_p99_ns: pct(s, 99),
    p50_ns: pct(s, 50) / 2,
    p99_ns: pct(s, 99) / 2,
    min_ns: s[0]! / 2,
  };
}
