/**
 * The Ferry peer roles. Each subscribes to <in> with its wait strategy,
 * publishes on <out>, prints READY, handles messages until end of stream (the
 * other side closed), then prints RESULT and exits 0.
 */
import { Channel, FerryError, type Message, type Publisher, type WaitStrategy } from "@ferry/channel";
import { hashWork, monoNs, nextOf, touch, type ReceiveHow } from "../lib/msg";

export const ready = () => process.stdout.write("READY\n");

function isEnd(e: unknown) {
  return e instanceof FerryError && (e.code === "FERRY_E_EOF" || e.code === "FERRY_E_PEERDEAD" || e.code === "FERRY_E_CLOSED");
}

/**
 * The one receive loop of every role: take the next message (nextOf: a spin
 * returns it without an await) and hand it to `handle`, awaiting only when
 * `handle` returns a promise, so a spinning role never yields to the event loop;
 * or (how "listen") a listener that calls `handle` from the wake-up.
 */
async function ferryRole(inName: string, outName: string, wait: WaitStrategy, handle: (m: Message, pub: Publisher) => void | Promise<void>, result: () => object, how?: ReceiveHow) {
  const chIn = Channel.open(inName);
  const chOut = Channel.open(outName);
  const sub = chIn.subscribe({ wait });
  const pub = chOut.publisher({ backpressure: "block", timeoutMs: -1 });
  try {
    if (how === "listen") {
      // the handler runs from the wake-up; a promise it returns is not awaited (echo's never is)
      const l = sub.listen((m) => handle(m, pub));
      ready();
      await l.done;
    } else {
      const next = nextOf(sub, wait, how);
      ready();
      for (;;) {
        const x = next();
        const r = handle(x instanceof Promise ? await x : x, pub);
        if (r) await r;
      }
    }
  } catch (e) {
    if (!isEnd(e)) throw e;
  }
  chIn.close();
  chOut.close();
  await Bun.write(Bun.stdout, `RESULT ${JSON.stringify(result())}\n`);
}

/**
 * echo <in> <out> <wait> <replySize> <touch> [loop|await|listen]: read every cache line
 * (touch=1) or only the stamp byte (touch=0), release, reply with a loan of
 * replySize bytes on <out> carrying the same stamp byte.
 */
export function echo(inName: string, outName: string, wait: WaitStrategy, replySize: number, doTouch: boolean, how?: ReceiveHow) {
  let n = 0;
  let sink = 0;
  return ferryRole(inName, outName, wait, (m, pub) => {
    const b = m.bytes;
    const stamp = b.length ? b[0]! : 0;
    if (doTouch) sink += touch(b);
    m.release();
    const loan = pub.loan(replySize);
    if (replySize) loan.bytes[0] = stamp;
    pub.publish(loan);
    n++;
  }, () => ({ messages: n, sink: sink & 1 }), how);
}

/**
 * sink <in> <ack> <wait> <first>: release every message as fast as <wait>
 * allows; first=1 also reads the first byte (of a pipelined message after
 * ready()). A 0-byte message is a batch marker, acked on <ack>.
 */
export function sink(inName: string, ackName: string, wait: WaitStrategy, first: boolean) {
  let n = 0;
  let bytes = 0;
  let s = 0;
  const empty = new Uint8Array(0);
  const take = (m: Message, len: number) => {
    if (first) s += m.bytes[0]!;
    m.release();
    n++;
    bytes += len;
  };
  return ferryRole(inName, ackName, wait, (m, ack) => {
    const len = m.length;
    if (len === 0) {
      m.release();
      ack.sendSync(empty);
    } else if (first && m.pipelined) return m.ready().then(() => take(m, len));
    else take(m, len);
  }, () => ({ messages: n, bytes, sink: s & 1 }));
}

/**
 * recv <in> <ack> <piece> <wait>: process every byte: `passes` (the first
 * header byte) Bun.hash passes over each piece of <piece> bytes; a pipelined
 * message chunk by chunk as it lands (msg.chunks(), which waits the same way);
 * then release and ack with 16 bytes: [monotonic ns at the end, ns of work].
 */
export function recv(inName: string, ackName: string, piece: number, wait: WaitStrategy) {
  let n = 0;
  let s = 0;
  const out = new Float64Array(2);
  const outBytes = new Uint8Array(out.buffer);
  const done = (m: Message, ack: Publisher, t0: number) => {
    const t1 = monoNs();
    m.release();
    out[0] = t1;
    out[1] = t1 - t0;
    ack.sendSync(outBytes);
    n++;
  };
  return ferryRole(inName, ackName, wait, (m, ack) => {
    const t0 = monoNs();
    const passes = m.headerBytes?.[0] ?? 1;
    if (!m.pipelined) {
      s = hashWork(m.bytes, passes, piece);
      return done(m, ack, t0);
    }
    return (async () => {
      for await (const c of m.chunks({ minBytes: piece })) s = hashWork(c, passes, piece);
      done(m, ack, t0);
    })();
  }, () => ({ messages: n, sink: s & 1 }));
}
