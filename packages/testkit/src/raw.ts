/**
 * Raw C-API sends for tests that must reach below @ferry/channel, e.g. an
 * engine send the publisher does not collect (a copy left half-done). This is
 * a wrapper module: it is allowed to read `lib.symbols` (tests/ffi-boundary).
 *
 * ptr() discipline: a small typed array's storage lives in the GC heap and
 * moves the first time its ArrayBuffer is materialised, so every array handed
 * to native code by address gets `void arr.buffer` before ptr(), and stays
 * referenced here for as long as native code may read it: the result record
 * for the publisher's life, a send's payload and header until the send is
 * collected (engines read the payload after the call returns).
 */
import { ptr, type Pointer } from "bun:ffi";
import { check, lib, SendMode } from "@ferry/native";

const sym = lib.symbols;

/** Anything with a native handle: a Channel, an Engine. */
export type HandleLike = { readonly handle: Pointer };

/** ptr() of `a` after materialising its ArrayBuffer; null for no bytes. */
function stablePtr(a: Uint8Array | BigUint64Array): Pointer | null {
  if (a.byteLength === 0) return null;
  void a.buffer;
  return ptr(a);
}

const enc = new TextEncoder();

/** A publisher opened through the C API, with engine sends that the caller collects (or not). */
export class RawPublisher implements Disposable {
  readonly #pub: Pointer;
  /** ferry_msg_info (56 bytes): seq u64 [0], token u32 [9], status i32 [12]. */
  readonly #info = new BigUint64Array(7);
  readonly #infoPtr: Pointer;
  /** Payload and header of each send not collected yet, oldest first. */
  readonly #inFlight: Uint8Array[][] = [];
  #closed = false;

  /** `backpressure`: 0 block, 1 error, 2 drop-oldest; `timeoutNs` -1 waits forever. */
  constructor(channel: HandleLike, opts: { backpressure?: number; timeoutNs?: number } = {}) {
    const out = new BigUint64Array(1);
    check(sym.ferry_pub_open(channel.handle, opts.backpressure ?? 0, opts.timeoutNs ?? -1, out), "raw pub open");
    this.#pub = Number(out[0]) as Pointer;
    this.#infoPtr = stablePtr(this.#info)!;
  }

  /**
   * ferry_pub_send_engine: start an offload or pipelined send of `payload`
   * (with `header`: bytes, a string, or an object sent as JSON) on `engine`.
   * Returns the message's seq (pipelined: published now) and the job token.
   */
  sendEngine(
    engine: HandleLike,
    payload: Uint8Array,
    opts: { mode: keyof typeof SendMode; header?: Uint8Array | string | object; flags?: number; chunk?: number },
  ): { seq: number; token: number } {
    const h = opts.header;
    const hdr = h === undefined ? new Uint8Array(0) : h instanceof Uint8Array ? h : enc.encode(typeof h === "string" ? h : JSON.stringify(h));
    const held = [payload, hdr];
    const rc = sym.ferry_pub_send_engine(
      this.#h(), engine.handle, stablePtr(payload), payload.length, stablePtr(hdr), hdr.length,
      SendMode[opts.mode], opts.flags ?? 0, opts.chunk ?? 0, this.#infoPtr,
    );
    check(rc, "raw send_engine");
    this.#inFlight.push(held); // read by the engine until collected
    return { seq: Number(this.#info[0]), token: new Uint32Array(this.#info.buffer)[9]! };
  }

  /** Engine sends in flight (ferry_pub_jobs_pending). */
  get pending(): number {
    return check(sym.ferry_pub_jobs_pending(this.#h()), "raw jobs_pending");
  }

  /** Collect the oldest engine send if it has finished: its seq and status (0 or an error), else null. */
  collect(): { seq: number; status: number } | null {
    if (check(sym.ferry_pub_collect(this.#h(), this.#infoPtr), "raw collect") === 0) return null;
    this.#inFlight.shift(); // finished: native code no longer reads its bytes
    return { seq: Number(this.#info[0]), status: new Int32Array(this.#info.buffer)[12]! };
  }

  /** Poll collect() until the oldest engine send finishes. */
  async collectNext(pollMs = 1): Promise<{ seq: number; status: number }> {
    if (this.pending === 0) throw new Error("RawPublisher.collectNext: no engine send in flight");
    for (;;) {
      const r = this.collect();
      if (r) return r;
      await Bun.sleep(pollMs);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    sym.ferry_pub_close(this.#pub);
    this.#inFlight.length = 0; // closed: the publisher's jobs are finished or cancelled
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #h(): Pointer {
    if (this.#closed) throw new Error("RawPublisher is closed");
    return this.#pub;
  }
}
