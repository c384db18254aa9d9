/**
 * Peer roles of the "modes" section (copy engines and send modes), called from
 * peer.ts, plus the clock both processes share.
 *
 *   modes-recv <in> <ack> <pieceBytes> <wait>
 *       wait for the message (spin: tryReceive loop; block/hybrid: await
 *       receive(), and chunks() waits the same way); then process every byte: `passes` (the first header
 *       byte) Bun.hash passes over each piece of <pieceBytes>; a pipelined
 *       message is processed chunk by chunk as it lands (msg.chunks()); then
 *       release and ack with 16 bytes: [monotonic ns at the end, ns of work]
 *   modes-sink <in> <ack>
 *       await receive() (wait "block": sleeps, leaves the CPUs to the sender),
 *       touch the first byte (a pipelined message after ready()), release; a
 *       0-byte message is a batch marker, acked on <ack>
 */
import { dlopen } from "bun:ffi";
import { Channel, FerryError, type Message, type WaitStrategy } from "@ferry/channel";

/* ------------------------------------------------------------------ clock */

// CLOCK_MONOTONIC through libc: the same clock in every process (Bun.nanoseconds()
// and process.hrtime count from each process's start, so they cannot be compared).
const libc = dlopen("libc.so.6", { clock_gettime: { args: ["i32", "ptr"], returns: "i32" } });
const ts = new Uint32Array(4);
/** CLOCK_MONOTONIC in ns (a double; exact to the ns for ~100 days of uptime). */
export function monoNs(): number {
  libc.symbols.clock_gettime(1, ts);
  return (ts[0]! + ts[1]! * 4294967296) * 1e9 + ts[2]!;
}

/* ------------------------------------------------------------------ work */

let sink = 0;
/** `passes` Bun.hash (wyhash) passes over v, in pieces of `piece` bytes. */
export function hashWork(v: Uint8Array, passes: number, piece: number): number {
  for (let at = 0; at < v.length; at += piece) {
    const p = v.subarray(at, Math.min(v.length, at + piece));
    for (let k = 0; k < passes; k++) sink = (sink + Number(BigInt.asUintN(8, BigInt(Bun.hash(p))))) | 0;
  }
  return sink;
}

function isEnd(e: unknown) {
  return e instanceof FerryError && (e.code === "FERRY_E_EOF" || e.code === "FERRY_E_PEERDEAD" || e.code === "FERRY_E_CLOSED");
}

export async function modesRecv(inName: string, ackName: string, piece: number, wait: WaitStrategy, ready: () => void) {
  const chIn = Channel.open(inName);
  const chAck = Channel.open(ackName);
  const sub = chIn.subscribe({ wait });
  const ack = chAck.publisher({ backpressure: "block", timeoutMs: -1 });
  const out = new Float64Array(2);
  const outBytes = new Uint8Array(out.buffer);
  ready();
  let n = 0;
  try {
    for (;;) {
      let m: Message | null = sub.tryReceive();
      if (wait === "spin") while (m === null) m = sub.tryReceive();
      else if (m === null) m = await sub.receive();
      const t0 = monoNs();
      const passes = m.headerBytes?.[0] ?? 1;
      if (m.pipelined) {
        for await (const c of m.chunks({ minBytes: piece })) hashWork(c, passes, piece);
      } else hashWork(m.bytes, passes, piece);
      const t1 = monoNs();
      m.release();
      out[0] = t1;
      out[1] = t1 - t0;
      ack.sendSync(outBytes);
      n++;
    }
  } catch (e) {
    if (!isEnd(e)) throw e;
  }
  chIn.close();
  chAck.close();
  await Bun.write(Bun.stdout, `RESULT ${JSON.stringify({ messages: n, sink: sink & 1 })}\n`);
}

export async function modesSink(inName: string, ackName: string, ready: () => void) {
  const chIn = Channel.open(inName);
  const chAck = Channel.open(ackName);
  const sub = chIn.subscribe({ wait: "block" });
  const ack = chAck.publisher({ backpressure: "block", timeoutMs: -1 });
  const empty = new Uint8Array(0);
  ready();
  let n = 0;
  let s = 0;
  try {
    for (;;) {
      const m = await sub.receive();
      if (m.length === 0) {
        m.release();
        ack.sendSync(empty);
        continue;
      }
      if (m.pipelined) await m.ready();
      s += m.bytes[0]!;
      m.release();
      n++;
    }
  } catch (e) {
    if (!isEnd(e)) throw e;
  }
  chIn.close();
  chAck.close();
  await Bun.write(Bun.stdout, `RESULT ${JSON.stringify({ messages: n, sink: s & 1 })}\n`);
}
