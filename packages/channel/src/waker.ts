/**
 * Waker: lets an async wait sleep without blocking the event loop and without
 * burning CPU. A native waiter thread (ferry_sub_notify_fd / ferry_pub_notify_fd)
 * sleeps on a futex (after a bounded spin for "hybrid") and writes an eventfd
 * once there is something to do; the event loop reads that fd.
 */
import { check } from "@ferry/native";

export class Waker {
  #reader: { read(): Promise<{ done: boolean }>; cancel(): Promise<void> };
  #arm: () => number;
  #closed = false;
  /** At most one read is outstanding; a timed-out wait leaves it for the next. */
  #pending: Promise<unknown> | null = null;

  /** `fd`: the eventfd from a notify_fd call; `arm`: the matching arm call. */
  constructor(fd: number, arm: () => number) {
    this.#arm = arm;
    this.#reader = Bun.file(check(fd, "notify fd")).stream().getReader();
  }

  /** Arm (with `arm`, or the default) and resolve when signalled, or after timeoutMs. */
  async wait(timeoutMs = Infinity, arm: () => number = this.#arm): Promise<void> {
    if (this.#closed) return;
    check(arm(), "arm");
    const read = (this.#pending ??= this.#reader.read().then((r) => {
      this.#pending = null;
      return r;
    }));
    if (!Number.isFinite(timeoutMs)) {
      await read;
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([read, new Promise<void>((r) => (timer = setTimeout(r, Math.max(1, timeoutMs))))]);
    clearTimeout(timer);
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader.cancel().catch(() => {});
  }
}
