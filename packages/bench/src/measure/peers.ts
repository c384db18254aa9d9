/**
 * What a Bun user has today, measured in the same run as Ferry:
 *   - Bun.spawn IPC with serialization "advanced" (structured clone over a socketpair);
 *   - a Unix domain socket (Bun.listen / Bun.connect with `unix:`).
 * Each: a 64 MiB round trip (payload one way, small ack back) and 64 B ping-pong
 * latency (RTT/2, same payload echoed back).
 */
import { MiB } from "../lib/format";
import { finish, spawnPeer, tick } from "../lib/procs";
import { median, pct, sorted } from "../lib/stats";
import { udsServer } from "../lib/uds";
import type { LatStats, PeerResult, RttStats } from "../schema";

/** The large message of the peers section. */
export const BIG = 64 * MiB;

export interface PeerOptions {
  /** Bytes of the large message; 0: measure only the 64 B ping-pong. */
  bigSize: number;
  bigReps: number;
  latIterations: number;
  latWarmup: number;
  maxMs: number;
  /** Idle this long (await a timer) before each 64 B ping, outside the timed part. */
  gapMs?: number;
}

function rttStats(xs: number[]): RttStats {
  const s = sorted(xs);
  return { n: s.length, median_ns: median(s), min_ns: s[0]!, max_ns: s[s.length - 1]! };
}

function latStats(rtts: number[]): LatStats {
  const s = sorted(rtts);
  return { n: s.length, p50_ns: pct(s, 50) / 2, p99_ns: pct(s, 99) / 2 };
}

/* ------------------------------------------------------------------ Bun IPC */

export async function bunIpc(o: PeerOptions): Promise<PeerResult> {
  let waiter: ((m: unknown) => void) | null = null;
  const peer = spawnPeer("ipc-echo", [], {
    serialization: "advanced",
    ipc: (m) => {
      const w = waiter;
      waiter = null;
      w?.(m);
    },
  });
  const proc = peer.proc as unknown as { send(m: unknown): void; disconnect(): void };
  /** ns from sending `msg` until the reply (a Uint8Array of `len` bytes) is here. */
  const roundTrip = async (msg: Uint8Array, len: number, what: string) => {
    const p = new Promise<unknown>((r) => (waiter = r));
    const t0 = Bun.nanoseconds();
    proc.send(msg);
    const m = await p;
    const t1 = Bun.nanoseconds();
    if (!(m instanceof Uint8Array) || m.length !== len) throw new Error(`bun ipc: bad ${what}`);
    return t1 - t0;
  };
  try {
    await peer.ready;
    // 64 B ping-pong
    const ping = new Uint8Array(64).fill(9);
    const lat: number[] = [];
    const deadline = performance.now() + o.maxMs;
    for (let i = 0; i < o.latWarmup + o.latIterations; i++) {
      const dt = await roundTrip(ping, 64, "echo");
      if (i >= o.latWarmup) {
        lat.push(dt);
        if (performance.now() > deadline) break;
      }
    }
    // 64 MiB round trip
    const big = new Uint8Array(o.bigSize).fill(7);
    const rtt: number[] = [];
    for (let r = -1; r < o.bigReps; r++) {
      const dt = await roundTrip(big, 8, "ack");
      if (r >= 0) rtt.push(dt);
    }
    proc.send("exit");
    await finish(peer, 10_000);
    return { impl: "bun-ipc", rtt: rttStats(rtt), lat64: latStats(lat) };
  } finally {
    peer.proc.kill(9);
    await tick();
  }
}

/* ------------------------------------------------------------------ Unix socket */

let sockCounter = 0;

export async function unixSocket(o: PeerOptions): Promise<PeerResult> {
  const u = udsServer(`/tmp/ferry-bench-${process.pid}-${sockCounter++}.sock`);
  try {
    // 64 B ping-pong against an echo peer
    let conn = u.accept();
    const echo = spawnPeer("uds-echo", [u.path]);
    let s = await conn;
    await echo.ready;
    const ping = new Uint8Array(64).fill(9);
    const lat: number[] = [];
    const deadline = performance.now() + o.maxMs;
    for (let i = 0; i < o.latWarmup + o.latIterations; i++) {
      if (o.gapMs) await Bun.sleep(o.gapMs);
      let got = 0;
      const p = new Promise<void>((r) => {
        u.on.data = (d) => {
          got += d.length;
          if (got >= 64) r();
        };
      });
      const t0 = Bun.nanoseconds();
      s.write(ping);
      await p;
      const t1 = Bun.nanoseconds();
      if (i >= o.latWarmup) {
        lat.push(t1 - t0);
        if (performance.now() > deadline) break;
      }
    }
    s.end();
    await finish(echo, 10_000);
    if (!o.bigSize) return { impl: "unix-socket", rtt: rttStats([0]), lat64: latStats(lat) };

    // 64 MiB one way + 1-byte ack, against a sink that assembles the message
    conn = u.accept();
    const sink = spawnPeer("uds-sink", [u.path, o.bigSize]);
    s = await conn;
    await sink.ready;
    const big = new Uint8Array(o.bigSize).fill(7);
    const rtt: number[] = [];
    for (let r = -1; r < o.bigReps; r++) {
      const p = new Promise<void>((res) => (u.on.data = () => res()));
      const t0 = Bun.nanoseconds();
      await u.writeAll(s, big);
      await p;
      const t1 = Bun.nanoseconds();
      if (r >= 0) rtt.push(t1 - t0);
    }
    s.end();
    await finish(sink, 10_000);
    return { impl: "unix-socket", rtt: rttStats(rtt), lat64: latStats(lat) };
  } finally {
    u.stop();
    await tick();
  }
}
