/**
 * NativeHandle: the life cycle every wrapper of a libferry handle shares
 * (Channel, Publisher, Subscriber, Engine): the pointer, a guard that throws
 * FERRY_E_CLOSED once closed, an idempotent close(), `using`, and a
 * FinalizationRegistry backstop that frees the native side of a handle the
 * program dropped without close() (call close() or use `using`; the backstop
 * only bounds leaks).
 */
import type { Pointer } from "bun:ffi";
import { Errno, FerryError } from "./errors";

type Free = (handle: Pointer) => unknown;

/** Held values name only the pointer and its free function, never the wrapper (or it would never be collected). */
const registry = new FinalizationRegistry<{ free: Free; handle: Pointer }>(({ free, handle }) => free(handle));

export function closedError(what: string): FerryError {
  return new FerryError(Errno.CLOSED, `${what} is closed`);
}

export abstract class NativeHandle implements Disposable {
  readonly #ptr: Pointer;
  readonly #free: Free;
  #closed = false;

  /** `handle`: the open native handle; `free`: its close call (also run by the backstop). */
  protected constructor(handle: Pointer, free: Free) {
    this.#ptr = handle;
    this.#free = free;
    registry.register(this, { free, handle }, this);
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
    this.#free(this.#ptr);
    this.afterFree();
  }

  [Symbol.dispose]() {
    this.close();
  }
}
