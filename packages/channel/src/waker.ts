/**
 * Waker: lets an async receive sleep without blocking the event loop and
 * without burning CPU. A native waiter thread (ferry_sub_notify_fd) sleeps on
 * the channel's futex (after a bounded spin for "hybrid") and writes to an
 * eventfd once a message can be claimed; the event loop reads that fd.
 */
import type { Pointer } from "bun:ffi";
import { check, lib } from "@ferry/native";

const sym = lib.symbols;

export class Waker {
  #sub: Pointer;
  #reader: { read(): Promise<{ done: boolean }>; cancel(): Promise<void> };
  #closed = false;
  /** At most one read is outstanding; a timed-out wait leaves it for the next. */
  #pending: Promise<unknown> | null = null;

  constructor(sub: Pointer, wait: number) {
    this.#sub = sub;
    const fd = check(sym.ferry_sub_notify_fd(sub, wait), "notify fd");
    this.#reader = Bun.file(fd).stream().getReader();
  }

  /** Resolve when a message may be receivable (or end of stream), or after timeoutMs. */
  async wait(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    check(sym.ferry_sub_arm(this.#sub), "arm");
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
