/**
 * Round trips after an idle gap, interleaved: every transport under test has
 * its own echo peer, and each round sends one request through each of them
 * (in an order drawn anew each round: lib/stats.ts roundOrder), each after its own idle gap. On a
 * shared VM whose speed drifts over seconds, this puts Ferry and the socket
 * under the same conditions, so their ratio is fair even when the absolute
 * numbers move between runs.
 */
import { writeFileSync } from "node:fs";
import type { WaitStrategy } from "@ferry/channel";
import { MiB } from "../lib/format";
import { finish, spawnPeer, tick } from "../lib/procs";
import { Session } from "../lib/session";
import { pct, roundOrder, sorted } from "../lib/stats";
import { udsServer } from "../lib/uds";

/** One transport: a request/reply of 64 B through its own echo peer. */
interface Pinger {
  readonly key: string;
  /** the echo peer's process id (tools/idle-trace.ts labels its trace with it) */
  readonly pid: number;
  ping(stamp: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Ferry with `wait` on both sides. listen: both sides take messages with
 * subscriber.listen() (the peer answers from its handler; here the handler
 * settles the ping's promise, as the socket's data callback does below);
 * otherwise both `await receive()`. size: the request's bytes; above 64 the
 * requester writes the whole payload into its loan (as a socket's write copies
 * it) and the peer answers with 1 byte (an upload and its ack).
 */
async function ferryPinger(wait: WaitStrategy, listen = false, size = 64): Promise<Pinger> {
  const upload = size > 64;
  const tag = `idle-${wait}${listen ? "-listen" : ""}${upload ? `-${size}` : ""}`;
  const s = new Session({
    role: "echo",
    data: { tag, capacity: 4 * MiB, slots: 1024 }, // (room for the largest upload, 1 MiB, several times)
    ack: { tag: `${tag}-r`, capacity: 4 * MiB, slots: 1024 },
    ackWait: wait,
    args: [wait, upload ? 1 : 64, 0, listen ? "listen" : "await"],
  });
  await s.peer.ready;
  const close = async () => {
    await s.end();
    await s[Symbol.asyncDispose]();
  };
  const payload = upload ? new Uint8Array(size).fill(7) : null;
  const request = (stamp: number) => {
    const loan = s.pub.loan(size);
    if (payload) loan.bytes.set(payload);
    loan.bytes[0] = stamp;
    s.pub.publish(loan);
  };
  const key = `ferry:${wait}${listen ? ":listen" : ""}`;
  if (listen) {
    let onReply: (stamp: number) => void = () => {};
    s.ackSub.listen((m) => {
      const got = m.bytes[0]!;
      m.release();
      onReply(got);
    });
    return {
      key,
      pid: s.peer.proc.pid,
      async ping(stamp) {
        const p = new Promise<number>((r) => (onReply = r));
        request(stamp);
        const got = await p;
        if (got !== stamp) throw new Error(`idle listen ping-pong: reply carries stamp ${got}, expected ${stamp}`);
      },
      close,
    };
  }
  return {
    key,
    pid: s.peer.proc.pid,
    async ping(stamp) {
      request(stamp);
      const m = await s.ackSub.receive();
      const got = m.bytes[0];
      m.release();
      if (got !== stamp) throw new Error(`idle ping-pong: reply carries stamp ${got}, expected ${stamp}`);
    },
    close,
  };
}

let counter = 0;
/**
 * A Unix-socket echo of 64 B requests; size above 64: a sink that assembles
 * each request in its buffer (a user needs the message contiguous) and acks it
 * with 1 byte.
 */
async function socketPinger(size = 64): Promise<Pinger> {
  const upload = size > 64;
  const u = udsServer(`/tmp/ferry-bench-idle-${process.pid}-${counter++}.sock`);
  const conn = u.accept();
  const peer = upload ? spawnPeer("uds-sink", [u.path, size]) : spawnPeer("uds-echo", [u.path]);
  const sock = await conn;
  await peer.ready;
  const buf = new Uint8Array(size).fill(7);
  const want = upload ? 1 : 64;
  return {
    key: "unix-socket",
    pid: peer.proc.pid,
    async ping(stamp) {
      let got = 0;
      let first = -1;
      const p = new Promise<void>((r) => {
        u.on.data = (d) => {
          if (first < 0 && d.length) first = d[0]!;
          got += d.length;
          if (got >= want) r();
        };
      });
      buf[0] = stamp;
      if (upload) await u.writeAll(sock, buf);
      else sock.write(buf); // 64 B fit the socket buffer: no short write here
      await p;
      // (the sink's ack is always 1)
      if (first !== (upload ? 1 : stamp)) throw new Error(`idle socket echo: got ${first}, expected ${upload ? 1 : stamp}`);
    },
    async close() {
      sock.end();
      await finish(peer, 10_000);
      u.stop();
    },
  };
}

export interface IdleOptions {
  gapMs: number;
  waits: WaitStrategy[];
  /** Also Ferry with subscriber.listen() on both sides, with this wait (key `ferry:<wait>:listen`). */
  listen?: WaitStrategy;
  iterations: number;
  warmup: number;
  maxMs: number;
  /**
   * After the fresh gapped rounds: this many back-to-back round trips through every transport
   * (the socket's too), then the gapped rounds again ("steady"). 0: fresh only. In new processes the
   * first few hundred requests run Ferry's JS (and the socket's callback) in the JIT's first tiers.
   */
  jitWarm: number;
  /** Request bytes (default 64, answered with 64 B); above 64, an upload answered with 1 byte. */
  size?: number;
}

export interface IdleMeasure {
  key: string;
  phase: "fresh" | "steady";
  n: number;
  rtt_p50_ns: number;
  rtt_p99_ns: number;
}

/** Interleaved round trips through Ferry (one peer per wait strategy) and a Unix socket echo: fresh, then (jitWarm) steady. */
export async function idleRoundTrips(o: IdleOptions): Promise<IdleMeasure[]> {
  const pingers: Pinger[] = [];
  try {
    for (const w of o.waits) pingers.push(await ferryPinger(w, false, o.size));
    if (o.listen) pingers.push(await ferryPinger(o.listen, true, o.size));
    pingers.push(await socketPinger(o.size));
    const out = await gappedRounds(pingers, o, "fresh");
    if (o.jitWarm > 0) {
      for (let i = 0; i < o.jitWarm; i++) for (let j = 0; j < pingers.length; j++) await pingers[j]!.ping((i + j + 1) & 255);
      const trace = o.gapMs === Number(process.env.FERRY_IDLE_TRACE) && (o.size ?? 64) === 64 ? traceOn(pingers) : null;
      out.push(...(await gappedRounds(pingers, o, "steady")));
      trace?.();
    }
    return out;
  } finally {
    for (const p of pingers) await p.close().catch(() => {});
    await tick();
  }
}

/**
 * FERRY_IDLE_TRACE=<gap>: kernel tracing (tracefs, set up by tools/idle-trace.ts) on during
 * that gap's steady rounds, with a marker naming each transport's peer process; returns "off".
 */
function traceOn(pingers: Pinger[]): () => void {
  const T = "/sys/kernel/tracing";
  writeFileSync(`${T}/tracing_on`, "1");
  for (const p of pingers) writeFileSync(`${T}/trace_marker`, `idle-peer ${p.key} ${p.pid}`);
  return () => writeFileSync(`${T}/tracing_on`, "0");
}

async function gappedRounds(pingers: Pinger[], o: IdleOptions, phase: IdleMeasure["phase"]): Promise<IdleMeasure[]> {
  const rtt = pingers.map(() => new Float64Array(o.iterations));
  let n = 0;
  const deadline = performance.now() + o.maxMs;
  for (let i = 0; i < o.warmup + o.iterations; i++) {
    const order = roundOrder(pingers.length, i);
    for (let k = 0; k < pingers.length; k++) {
      const j = order[k]!;
      await Bun.sleep(o.gapMs);
      const t0 = Bun.nanoseconds();
      await pingers[j]!.ping((i * 7 + k + 1) & 255);
      const t1 = Bun.nanoseconds();
      if (i >= o.warmup) rtt[j]![n] = t1 - t0;
    }
    if (i >= o.warmup && ++n === o.iterations) break;
    if (i >= o.warmup && performance.now() > deadline) break;
  }
  return pingers.map((p, j) => {
    const r = sorted(rtt[j]!.subarray(0, n));
    return { key: p.key, phase, n, rtt_p50_ns: pct(r, 50), rtt_p99_ns: pct(r, 99) };
  });
}

function ticks(pid: number): number {
  const s = require("node:fs").readFileSync(`/proc/${pid}/stat`, "utf8") as string;
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/**
 * CPU of a subscriber that awaits receive() with `wait` while nothing is
 * published, over `ms` of wall time, in % of one core (an echo peer whose
 * ping channel stays silent).
 */
export async function idleCpu(wait: WaitStrategy, ms: number): Promise<number> {
  const s = new Session({
    role: "echo",
    data: { tag: `idlecpu-${wait}`, capacity: MiB, slots: 64 },
    ack: { tag: `idlecpu-${wait}-r`, capacity: MiB, slots: 64 },
    ackWait: wait,
    args: [wait, 64, 0],
  });
  try {
    await s.peer.ready;
    await Bun.sleep(300); // start-up work settles; the peer now waits in receive()
    const pid = s.peer.proc.pid;
    const t0 = performance.now();
    const c0 = ticks(pid);
    await Bun.sleep(ms);
    const c1 = ticks(pid);
    return ((c1 - c0) / 100 / ((performance.now() - t0) / 1000)) * 100;
  } finally {
    await s.end();
    await s[Symbol.asyncDispose]();
  }
}
