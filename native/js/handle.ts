/**
 * NativeHandle: the life cycle every wrapper of a libferry handle shares
 * (Channel, Publisher, Subscriber, Engine): the pointer, a guard that throws
 * FERRY_E_CLOSED once closed, an idempotent close(), `using`, and a
 * FinalizationRegistry backstop that frees the native side of a handle the
 * program dropped without close() (call close() or use `using`; the backstop
 * only bounds leaks). Arena buffers a handle owns (own()) are detached before
 * its native close, by close() and by the backstop alike.
 */
import type { Pointer } from "bun:ffi";
import { detach } from "./arena";
import { Errno, FerryError } from "./errors";

type Free = (handle: Pointer) => unknown;
/** What the backstop needs: the pointer, its free function, the arena buffers to detach first. */
type Held = { free: Free; handle: Pointer; buffers: ArrayBuffer[] };

/** Held values name only the pointer, its free function and buffers, never the wrapper (or it would never be collected). */
const registry = new FinalizationRegistry<Held>(release);

function release({ free, handle, buffers }: Held) {
  for (const b of buffers.splice(0)) detach(b);
  free(handle);
}

export function closedError(what: string): FerryError {
  return new FerryError(Errno.CLOSED, `${what} is closed`);
}

export abstract class NativeHandle implements Disposable {
  readonly #ptr: Pointer;
  readonly #held: Held;
  #closed = false;

  /** `handle`: the open native handle; `free`: its close call (also run by the backstop). */
  protected constructor(handle: Pointer, free: Free) {
    this.#ptr = handle;
    this.#held = { free, handle, buffers: [] };
    registry.register(this, this.#held, this);
  }

  /**
   * Tie arena buffer `buf` (arena.ts) to this handle: close() and the
   * backstop detach it before the native close, so every view over it
   * becomes zero-length instead of reaching memory the handle gave up.
   */
  protected own(buf: ArrayBuffer): ArrayBuffer {
    const bs = this.#held.buffers;
    for (let i = bs.length; i--; ) if (bs[i]!.detached) bs.splice(i, 1); // detached by the program: nothing to do
    bs.push(buf);
    return buf;
  }

  /** What the handle is, for errors: `channel "frames"`, `publisher`, ... */
  protected abstract get what(): string;

  get closed(): boolean {
    return this.#closed;
  }

  /** @internal the native pointer; throws FERRY_E_CLOSED once closed. */
  get handle(): Pointer {
    if (this.#closed) throw closedError(this.what);
    return this.#ptr;
  }

  /** The pointer without the guard, for close paths and release-after-close checks. */
  protected get raw(): Pointer {
    return this.#ptr;
  }

  /** Runs once, before the native close: stop what depends on the handle. */
  protected beforeFree(): void {}
  /** Runs once, after the native close. */
  protected afterFree(): void {}

  /** Free the native handle. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    registry.unregister(this);
    this.beforeFree();
    release(this.#held);
    this.afterFree();
  }

  [Symbol.dispose]() {
    this.close();
  }
}
