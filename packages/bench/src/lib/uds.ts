/**
 * A Unix-socket server for the socket peers (one connection at a time): its
 * callbacks are swapped per measurement through `on`, and writeAll() writes a
 * whole buffer, waiting for the socket to drain when the kernel buffer is full.
 */
import type { Socket } from "bun";
import { existsSync, unlinkSync } from "node:fs";

export interface UdsServer {
  readonly path: string;
  /** The current callbacks (replace them per measurement). */
  readonly on: { open(s: Socket): void; data(d: Uint8Array): void; drain(): void };
  /** The next connection. */
  accept(): Promise<Socket>;
  /** Write all of `buf` to `s` (a large buffer in several writes, after drains). */
  writeAll(s: Socket, buf: Uint8Array): Promise<void>;
  /** Stop listening and remove the socket file. */
  stop(): void;
}

export function udsServer(path: string): UdsServer {
  if (existsSync(path)) unlinkSync(path);
  const on: UdsServer["on"] = { open: () => {}, data: () => {}, drain: () => {} };
  const server = Bun.listen({
    unix: path,
    socket: {
      open: (s) => on.open(s),
      data: (_s, d) => on.data(d),
      drain: () => on.drain(),
      error: (_s, e) => console.error("unix socket:", e),
    },
  });
  return {
    path,
    on,
    accept: () => new Promise<Socket>((r) => (on.open = r)),
    writeAll: (s, buf) =>
      new Promise<void>((resolve, reject) => {
        let off = 0;
        const pump = () => {
          while (off < buf.length) {
            const n = s.write(buf.subarray(off));
            if (n < 0) return reject(new Error("unix socket closed"));
            if (n === 0) {
              on.drain = pump; // wait for the kernel buffer to drain
              return;
            }
            off += n;
          }
          on.drain = () => {};
          resolve();
        };
        pump();
      }),
    stop() {
      server.stop(true);
      if (existsSync(path)) unlinkSync(path);
    },
  };
}
