/**
 * Waker: lets an async wait sleep without blocking the event loop and without
 * burning CPU. A native waiter thread (ferry_sub_notify_fd / ferry_pub_notify_fd)
 * sleeps on a futex (after a bounded spin for "hybrid") and writes an eventfd
 * once there is something to do; the event loop reads that fd.
 */
import { check } from "@ferry/native";

type Reader = { read(): Promise<{ done: boolean }>; cancel(): Promise<void> };

export class Waker {
  #fd: number;
  #reader: Reader | null = null;
  #arm: () => number;
  #closed = false;
  /** At most one read is outstanding; a timed-out wait leaves it for the next. */
  #pending: Promise<unknown> | null = null;

  /** `fd`: the eventfd from a notify_fd call; `arm`: the matching arm call. */
  constructor(fd: number, arm: () => number) {
    this.#arm = arm;
    this.#fd = check(fd, "notify fd");
  }

  /* A pending read keeps the event loop (and so the process) alive: readers
   * exist only while someone waits, and a timed-out wait cancels its reader. */
  #read(): Promise<unknown> {
    const reader = (this.#reader ??= Bun.file(this.#fd).stream().getReader() as unknown as Reader);
    return (this.#pending ??= reader.read().then((r) => {
      this.#pending = null;
      return r;
    }));
  }

  /** Arm (with `arm`, or the default) and resolve when signalled, or after timeoutMs. */
  async wait(timeoutMs = Infinity, arm: () => number = this.#arm): Promise<void> {
    if (this.#closed) return;
    if (check(arm(), "arm") === 1) return; // already there: nothing armed, no need to sleep
    const read = this.#read();
    if (!Number.isFinite(timeoutMs)) {
      await read;
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    await Promise.race([read, new Promise<void>((r) => (timer = setTimeout(() => ((timedOut = true), r()), Math.max(1, timeoutMs))))]);
    clearTimeout(timer);
    if (timedOut && this.#pending) this.#drop();
  }

  #drop() {
    this.#reader?.cancel().catch(() => {});
    this.#reader = null;
    this.#pending = null;
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#drop();
  }
}
