/** The peer roles of what a Bun user has today: Bun IPC and a Unix domain socket. */
import type { Socket } from "bun";
import { ready } from "./ferry";

/** ipc-echo: Bun.spawn IPC ("advanced"): echo small messages, answer a large one with a small ack. */
export function ipcEcho() {
  const ack = new Uint8Array(8);
  process.on("message", (m: unknown) => {
    if (m === "exit") process.exit(0);
    if (m instanceof Uint8Array && m.length > 4096) process.send!(ack);
    else process.send!(m);
  });
  process.on("disconnect", () => process.exit(0));
  ready();
}

function connect(path: string, data: (s: Socket, d: Uint8Array) => void) {
  Bun.connect({
    unix: path,
    socket: {
      open() {
        ready();
      },
      data,
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

/** uds-echo <path>: Unix socket: echo every byte back. */
export function udsEcho(path: string) {
  // the echo of a 64-byte ping fits the socket buffer: a short write does not happen here
  connect(path, (s, d) => void s.write(d));
}

/** uds-sink <path> <bytes>: Unix socket: copy the stream into a preallocated buffer; after every <bytes> bytes send a 1-byte ack. */
export function udsSink(path: string, total: number) {
  const buf = new Uint8Array(total);
  let got = 0;
  const ack = new Uint8Array([1]);
  connect(path, (s, d) => {
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
  });
}
