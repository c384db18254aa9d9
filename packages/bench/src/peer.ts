/**
 * The other process of every two-process measurement. run.ts spawns it as
 * `bun peer.ts <role> ...args`; it prints READY once it has opened and
 * subscribed everything, optionally `RESULT <json>`, and exits 0 at end of
 * stream. Roles:
 *
 *   echo <in> <out> <wait> <replySize> <touch>
 *                                         ferry: receive on <in> (spin: tryReceive loop;
 *                                         block/hybrid: await receive()), read every cache
 *                                         line (touch=1) or only the stamp byte (touch=0),
 *                                         release, reply with a loan of replySize bytes on
 *                                         <out> carrying the same stamp byte
 *   sink <in> <ack>                       ferry: receive+release as fast as possible (spin);
 *                                         a 0-byte message is a batch marker, acked on <ack>
 *   ipc-echo                              Bun.spawn IPC ("advanced"): echo small messages,
 *                                         answer a large one with a small ack
 *   uds-echo <path>                       Unix socket: echo every byte back
 *   uds-sink <path> <bytes>               Unix socket: copy the stream into a preallocated
 *                                         buffer; after every <bytes> bytes send a 1-byte ack
 *   modes-recv <in> <ack> <piece> <wait>       copy engines and modes: see modes-peer.ts
 *   modes-sink <in> <ack>                 copy engines and modes: see modes-peer.ts
 */
import { Channel, FerryError, type Message, type WaitStrategy } from "@ferry/channel";
import { modesRecv, modesSink } from "./modes-peer";

const [role, ...args] = process.argv.slice(2);
const ready = () => process.stdout.write("READY\n");

function isEnd(e: unknown) {
  return e instanceof FerryError && (e.code === "FERRY_E_EOF" || e.code === "FERRY_E_PEERDEAD" || e.code === "FERRY_E_CLOSED");
}

function touch(b: Uint8Array): number {
  let s = 0;
  const n = b.length;
  for (let i = 0; i < n; i += 64) s += b[i]!;
  if (n) s += b[n - 1]!;
  return s;
}

async function echo(inName: string, outName: string, wait: WaitStrategy, replySize: number, doTouch: boolean) {
  const chIn = Channel.open(inName);
  const chOut = Channel.open(outName);
  const sub = chIn.subscribe({ wait });
  const pub = chOut.publisher({ backpressure: "block", timeoutMs: -1 });
  ready();
  let n = 0;
  let sink = 0;
  try {
    if (wait === "spin") {
      for (;;) {
        let m: Message | null = sub.tryReceive();
        while (m === null) m = sub.tryReceive();
        const b = m.bytes;
        const stamp = b.length ? b[0]! : 0;
        if (doTouch) sink += touch(b);
        m.release();
        const loan = pub.loan(replySize);
        if (replySize) loan.bytes[0] = stamp;
        pub.publish(loan);
        n++;
      }
    } else {
      for (;;) {
        const m = await sub.receive();
        const b = m.bytes;
        const stamp = b.length ? b[0]! : 0;
        if (doTouch) sink += touch(b);
        m.release();
        const loan = pub.loan(replySize);
        if (replySize) loan.bytes[0] = stamp;
        pub.publish(loan);
        n++;
      }
    }
  } catch (e) {
    if (!isEnd(e)) throw e;
  }
  chIn.close();
  chOut.close();
  await Bun.write(Bun.stdout, `RESULT ${JSON.stringify({ messages: n, sink: sink & 1 })}\n`);
}

async function sinkRole(inName: string, ackName: string) {
  const chIn = Channel.open(inName);
  const chAck = Channel.open(ackName);
  const sub = chIn.subscribe({ wait: "spin" });
  const ack = chAck.publisher({ backpressure: "block", timeoutMs: -1 });
  const empty = new Uint8Array(0);
  ready();
  let n = 0;
  let bytes = 0;
  try {
    for (;;) {
      let m: Message | null = sub.tryReceive();
      while (m === null) m = sub.tryReceive();
      const len = m.length;
      m.release();
      if (len === 0) ack.sendSync(empty);
      else {
        n++;
        bytes += len;
      }
    }
  } catch (e) {
    if (!isEnd(e)) throw e;
  }
  chIn.close();
  chAck.close();
  await Bun.write(Bun.stdout, `RESULT ${JSON.stringify({ messages: n, bytes })}\n`);
}

function ipcEcho() {
  const ack = new Uint8Array(8);
  process.on("message", (m: unknown) => {
    if (m === "exit") process.exit(0);
    if (m instanceof Uint8Array && m.length > 4096) process.send!(ack);
    else process.send!(m);
  });
  process.on("disconnect", () => process.exit(0));
  ready();
}

function udsEcho(path: string) {
  Bun.connect({
    unix: path,
    socket: {
      open() {
        ready();
      },
      data(s, d) {
        // the echo of a 64-byte ping fits the socket buffer: a short write does not happen here
        s.write(d);
      },
      close() {
        process.exit(0);
      },
      error(_s, e) {
        console.error(e);
        process.exit(1);
      },
    },
  });
}

function udsSink(path: string, total: number) {
  const buf = new Uint8Array(total);
  let got = 0;
  const ack = new Uint8Array([1]);
  Bun.connect({
    unix: path,
    socket: {
      open() {
        ready();
      },
      data(s, d) {
        // a user needs the message contiguous: copy each chunk into place
        let off = 0;
        while (off < d.length) {
          const n = Math.min(d.length - off, total - got);
          buf.set(d.subarray(off, off + n), got);
          got += n;
          off += n;
          if (got === total) {
            got = 0;
            s.write(ack);
          }
        }
      },
      close() {
        process.exit(0);
      },
      error(_s, e) {
        console.error(e);
        process.exit(1);
      },
    },
  });
}

switch (role) {
  case "echo":
    await echo(args[0]!, args[1]!, args[2] as WaitStrategy, Number(args[3]), args[4] !== "0");
    process.exit(0);
  case "sink":
    await sinkRole(args[0]!, args[1]!);
    process.exit(0);
  case "modes-recv":
    await modesRecv(args[0]!, args[1]!, Number(args[2]), (args[3] ?? "spin") as WaitStrategy, ready);
    process.exit(0);
  case "modes-sink":
    await modesSink(args[0]!, args[1]!, ready);
    process.exit(0);
  case "ipc-echo":
    ipcEcho();
    break;
  case "uds-echo":
    udsEcho(args[0]!);
    break;
  case "uds-sink":
    udsSink(args[0]!, Number(args[1]));
    break;
  default:
    console.error(`unknown role ${role}`);
    process.exit(2);
}
