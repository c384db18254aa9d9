/**
 * Where the time of a wake-up after idle goes (issue 7): a 64 B request every
 * <gap> ms, answered with 64 B, both sides awaiting in their event loops, with
 * CLOCK_MONOTONIC stamps at each hop in both processes, next to a Unix-socket
 * echo stamped at the same points.
 *
 *   bun run packages/bench/src/tools/wake-hops.ts [gapMs=3] [n=200]
 *
 * Hops: A = request sent → responder's code runs; B = responder's reply sent;
 * C = reply sent → requester's code runs. Medians in µs. Both Ferry sides
 * use `await receive()` with wait "block"; "send" splits into loan + publish
 * (publish includes the wake-up's sendto). ARMFIRST=1: the requester calls receive()
 * (arming the reply's wake) before it publishes, so nothing of its own runs between its
 * sendto and its sleep (the experiment docs/benchmarks.md section 6 cites).
 */
import { Channel } from "@ferry/channel";
import { nowNs } from "@ferry/native";
import { udsServer } from "../lib/uds";

const [role, a1, a2] = process.argv.slice(2);
const gap = Number(role === "peer" || role === "speer" ? 3 : (process.argv[2] ?? 3));
const N = Number(role === "peer" || role === "speer" ? 0 : (process.argv[3] ?? 200));

if (role === "peer") {
  // Ferry responder: await receive(), stamp, reply with [t1, t2]
  const sub = Channel.open(a1!).subscribe({ wait: "block" });
  const pub = Channel.open(a2!).publisher({ backpressure: "block", timeoutMs: -1 });
  process.stdout.write("READY\n");
  for (;;) {
    let m;
    try {
      m = await sub.receive();
    } catch {
      break;
    }
    const t1 = nowNs();
    m.release();
    const loan = pub.loan(64);
    const v = new Float64Array(loan.bytes.buffer, loan.bytes.byteOffset, 3);
    v[0] = t1;
    v[1] = nowNs();

    pub.publish(loan);
  }
  process.exit(0);
} else if (role === "speer") {
  const out = new Float64Array(8);
  Bun.connect({
    unix: a1!,
    socket: {
      open() {
        process.stdout.write("READY\n");
      },
      data(s, _d) {
        out[0] = nowNs();
        out[1] = nowNs();
        s.write(new Uint8Array(out.buffer));
      },
      close() {
        process.exit(0);
      },
    },
  });
} else {
  const med = (xs: number[]) => xs.slice().sort((x, y) => x - y)[xs.length >> 1]! / 1000;
  const report = (name: string, rows: number[][]) => {
    const col = (i: number) => med(rows.map((r) => r[i]!));
    console.log(
      `${name.padEnd(12)} send ${col(0).toFixed(1).padStart(6)}  A(wake+resume) ${col(1).toFixed(1).padStart(6)}  B(reply) ${col(2).toFixed(1).padStart(6)}  C(wake+resume) ${col(3).toFixed(1).padStart(6)}  RTT ${col(4).toFixed(1).padStart(6)} µs`,
    );
  };
  const ready = async (p: ReturnType<typeof Bun.spawn>) => {
    const r = (p.stdout as ReadableStream<Uint8Array>).getReader();
    let s = "";
    while (!s.includes("READY")) s += new TextDecoder().decode((await r.read()).value);
    r.releaseLock();
  };

  for (const kind of ["peer"]) {
    const tag = `hops-${process.pid}`;
    const ping = Channel.create(`${tag}-ping`, { capacity: 1 << 22 });
    const pong = Channel.create(`${tag}-pong`, { capacity: 1 << 22 });
    const sub = pong.subscribe({ wait: "block" });
    const pub = ping.publisher({ backpressure: "block", timeoutMs: -1 });
    const peer = Bun.spawn(["bun", import.meta.path, kind, `${tag}-ping`, `${tag}-pong`], { stdout: "pipe", stderr: "inherit" });
    await ready(peer);
    const rows: number[][] = [];
    const split: number[][] = [];
    for (let i = 0; i < N + 20; i++) {
      await Bun.sleep(gap);
      const pre = process.env.ARMFIRST ? sub.receive() : null;
      const t0 = nowNs();
      const loan = pub.loan(64);
      const tl = nowNs();
      loan.bytes[0] = i & 255;
      pub.publish(loan);
      const t0b = nowNs();
      if (i >= 20) split.push([tl - t0, t0b - tl]);
      const m = await (pre ?? sub.receive());
      const t3 = nowNs();
      const v = new Float64Array(m.bytes.buffer, m.bytes.byteOffset, 3).slice();
      m.release();
      if (i >= 20) rows.push([t0b - t0, v[0]! - t0, v[1]! - v[0]!, t3 - v[1]!, t3 - t0, v[2]! - t0]);
    }
    report("receive()", rows);
    console.log(`   send = loan ${med(split.map((r) => r[0]!)).toFixed(1)} + publish ${med(split.map((r) => r[1]!)).toFixed(1)} µs`);
    pub.close();
    ping.close();
    pong.close();
    peer.kill();
    await peer.exited;
  }
  // Unix socket
  {
    const u = udsServer(`/tmp/hops-${process.pid}.sock`);
    const conn = u.accept();
    const peer = Bun.spawn(["bun", import.meta.path, "speer", u.path], { stdout: "pipe", stderr: "inherit" });
    const s = await conn;
    await ready(peer);
    const ping = new Uint8Array(64);
    const rows: number[][] = [];
    for (let i = 0; i < N + 20; i++) {
      await Bun.sleep(gap);
      const p = new Promise<Uint8Array>((r) => (u.on.data = r));
      const t0 = nowNs();
      s.write(ping);
      const t0b = nowNs();
      const d = await p;
      const t3 = nowNs();
      const v = new Float64Array(d.slice(0, 16).buffer);
      if (i >= 20) rows.push([t0b - t0, v[0]! - t0, v[1]! - v[0]!, t3 - v[1]!, t3 - t0]);
    }
    report("unix socket", rows);
    s.end();
    u.stop();
    await peer.exited;
  }
}
