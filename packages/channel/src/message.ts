/**
 * Message: a received message, a view into the arena until release() or
 * until its subscriber closes (then every accessor throws FERRY_E_CLOSED and
 * views taken earlier become zero-length). A pipelined one is published
 * before its payload is copied: progress(), ready() and chunks() follow the
 * copy; copyTo() copies a payload out through an engine. verify() checks the
 * optional checksum (header.ts).
 */
import { ptr } from "bun:ffi";
import {
  Errno, FerryError, MSG_INLINE, MSG_PIPELINED, check, closedError, completionRecord, engineByName, fail, lib, pinArena,
} from "@ferry/native";
import { checksumOf, decodeHeader, splitHeader } from "./header";
import type { Subscriber } from "./subscriber";
import { readTensor, typedView, type Tensor, type TypedArrayConstructor, type ViewOptions } from "./tensor";
import {
  bytesOf, cacheHint, checkInt, checkTimeout, checkWait, optionsOf, type CachePlacement, type EngineLike, type Header,
  type ReadyOptions,
} from "./types";
import type { Info, Views } from "./views";

const sym = lib.symbols;

export class Message implements Disposable {
  readonly seq: number;
  /** Messages this subscriber (or its group) lost to drop-oldest so far. */
  readonly dropped: number;
  /** Published before its payload was copied ("pipelined"): see ready() and chunks(). */
  readonly pipelined: boolean;
  #bytes: Uint8Array | null;
  readonly #length: number;
  /** the header as stored: the user's bytes, possibly after a checksum envelope */
  #hdr: Uint8Array | null;
  #header: Header | undefined;
  #token: number;
  #sub: Subscriber;
  #complete: boolean;
  /** carried inline: a private copy, given back by the next receive (no call now) */
  readonly #inline: boolean;
  /** subscribe({ verify }): 0 no, 1 when it carries a checksum, 2 required; checked once the payload is complete */
  #verifyOnComplete = 0;

  /** @internal */
  constructor(sub: Subscriber, arena: Views, info: Info) {
    this.#sub = sub;
    this.seq = info.seq;
    this.dropped = info.dropped;
    this.#token = info.token;
    const flags = info.flags;
    this.pipelined = (flags & MSG_PIPELINED) !== 0;
    this.#inline = (flags & MSG_INLINE) !== 0;
    this.#complete = !this.pipelined;
    this.#length = info.length;
    this.#bytes = arena.get(info.offset, this.#length);
    const hl = info.hdrLength;
    this.#hdr = hl ? arena.get(info.hdrOffset, hl) : null;
  }

  #view(): Uint8Array {
    if (this.#sub.closed) throw closedError(`subscriber of message ${this.seq}`);
    const v = this.#bytes;
    if (!v) throw new FerryError(Errno.STATE, `message ${this.seq} was released`);
    return v;
  }

  /** The payload is complete: run the verification subscribe({ verify }) asked for. */
  #completed(): void {
    this.#complete = true;
    const mode = this.#verifyOnComplete;
    if (!mode) return;
    this.#verifyOnComplete = 0;
    try {
      if (!this.verify() && mode === 2) throw new FerryError(Errno.CORRUPT, `message ${this.seq} carries no checksum (subscribe({ verify: "required" }))`);
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** @internal subscribe({ verify }): check now if complete, else once the copy completes. */
  checkOnReceive(required: boolean): void {
    this.#verifyOnComplete = required ? 2 : 1;
    if (this.#complete) this.#completed();
  }

  /**
   * Read-only view of the payload in shared memory, valid until release(). Do not write to it.
   * A pipelined message hands it out only once complete: `await msg.ready()` first.
   */
  get bytes(): Uint8Array {
    const v = this.#view();
    if (!this.#complete && this.progress() < v.length)
      throw new FerryError(Errno.STATE, `message ${this.seq} is still being copied: await msg.ready() or use msg.chunks()`);
    return v;
  }

  /**
   * A `Ctor` view of the payload (Float32Array, BigInt64Array, ...), valid
   * like bytes (zero-length once the subscriber closes). Payloads start
   * 64-byte aligned. Length: the payload's bytes / the element size, which
   * must divide evenly unless `{ length }` is given (FERRY_E_INVAL). Read-only
   * shared memory like bytes: do not write to it (copy it: view.slice()).
   */
  view<T extends ArrayBufferView>(Ctor: TypedArrayConstructor<T>, options?: ViewOptions): T {
    return typedView(this.bytes, Ctor, options, `message ${this.seq} view()`);
  }

  /**
   * The payload as a tensor: `{ dtype, shape, data }` from the header
   * `{ dtype, shape }` (sendTensor / loanTensor), data a read-only typed view
   * of the payload. FERRY_E_CORRUPT when the header is no tensor header or
   * its shape does not match the payload's length.
   */
  tensor(): Tensor {
    const bytes = this.bytes;
    return readTensor(this.header, bytes, this.seq);
  }

  get length(): number {
    this.#view();
    return this.#length;
  }

  /**
   * Bytes of the payload, from its start, that are final. Throws the copy's
   * FerryError if the publisher's copy failed (FERRY_E_PEERDEAD if it died).
   */
  progress(): number {
    this.#view();
    if (this.#complete) return this.#length;
    const p = this.#sub.progressOf(this.#token);
    if (p === this.#length) this.#completed();
    return p;
  }

  /**
   * Resolve once `bytes` (default: all) of the payload are final. Waits as
   * the subscriber does, or as `wait` says for this call: "spin" on the JS
   * thread, "block" / "hybrid" without blocking the event loop. Rejects with
   * FERRY_E_TIMEOUT after `timeoutMs`, or with the copy's error
   * (FERRY_E_INVAL for an unknown wait).
   */
  async ready(bytes?: number, options?: ReadyOptions): Promise<void> {
    const opts = optionsOf(options, "ready");
    const wait = opts.wait === undefined ? undefined : checkWait(opts.wait);
    const want = Math.min(bytes === undefined ? this.length : checkInt(bytes, "ready() bytes"), this.length);
    const timeoutMs = checkTimeout(opts.timeoutMs, Infinity);
    const deadline = performance.now() + timeoutMs;
    while (this.progress() < want) {
      const left = deadline - performance.now();
      if (left <= 0) throw new FerryError(Errno.TIMEOUT, `${want} bytes of message ${this.seq} not ready within ${opts.timeoutMs} ms`);
      await this.#sub.waitProgress(this.#token, want, left, wait);
    }
  }

  /**
   * The payload as it lands: views of consecutive pieces, each final when
   * yielded, at least `minBytes` long except the last (default 1 MiB).
   */
  async *chunks(options?: { minBytes?: number }): AsyncGenerator<Uint8Array> {
    const opts = optionsOf(options, "chunks");
    const step = opts.minBytes === undefined ? 2 ** 20 : checkInt(opts.minBytes, "minBytes", 1);
    const v = this.#view();
    let at = 0;
    while (at < v.length) {
      let p = this.progress();
      if (p - at < step && p < v.length) {
        await this.ready(Math.min(at + step, v.length));
        p = this.progress();
      }
      yield v.subarray(at, p);
      at = p;
    }
  }

  /**
   * Copy the payload into `dst` (the receiver's own memory) through an engine
   * ("cpu", "sw", ...) with a cache hint; waits for a pipelined payload first.
   */
  async copyTo(destination: Uint8Array | ArrayBufferView | ArrayBuffer, options?: { engine?: EngineLike; cache?: CachePlacement }): Promise<void> {
    const dst = bytesOf(destination, "copyTo() destination");
    const opts = optionsOf(options, "copyTo");
    await this.ready();
    const src = this.bytes;
    if (dst.length < src.length) throw new FerryError(Errno.INVAL, `destination of ${dst.length} bytes is smaller than ${src.length}`);
    if (!src.length) return;
    const engine = engineByName(opts.engine ?? "cpu");
    const cache = cacheHint(opts.cache);
    const rec = completionRecord();
    void dst.buffer; // an async engine writes dst later: give it storage that does not move
    // the engine reads the arena by address, maybe after this subscriber or its
    // channel closed: the pin keeps zero pages there rather than a hole
    const unpin = pinArena(this.#sub.channel.handle);
    try {
      check(sym.ferry_engine_copy(engine.handle, ptr(dst), ptr(src), src.length, cache, rec.ptr), "copyTo");
      // cpu finishes inside the call; others: yield to the event loop until done
      let r: number;
      while ((r = sym.ferry_engine_poll(engine.handle, rec.ptr)) === 0) await new Promise((res) => setImmediate(res));
      void rec.keep; // the record stays alive until the engine is done with it
      void dst;
      if (r < 0) throw fail(r, "copyTo");
    } finally {
      unpin();
    }
    if (this.#sub.closed) throw new FerryError(Errno.CLOSED, `subscriber closed during copyTo() of message ${this.seq}: the copy is void`);
  }

  /** Raw header bytes (null when the message has none); without the checksum envelope, if any. */
  get headerBytes(): Uint8Array | null {
    this.#view(); // throws after release or close
    const h = this.#hdr;
    return h === null || h[0] !== 0 ? h : splitHeader(h).user;
  }

  /**
   * The header, parsed from JSON on first access (undefined when absent).
   * FERRY_E_CORRUPT when the bytes are not JSON (a raw header: read headerBytes).
   */
  get header(): Header {
    const raw = this.headerBytes;
    if (this.#header === undefined && raw) this.#header = decodeHeader(raw, this.seq);
    return this.#header;
  }

  /**
   * Check the message's checksum (send / publish `{ checksum: true }`): true
   * when it matches, false when the message carries none; FERRY_E_CORRUPT on
   * a mismatch. Reads the whole payload (CRC-32 at memory speed). A pipelined
   * message must be complete (FERRY_E_STATE otherwise: await ready() first).
   */
  verify(): boolean {
    const bytes = this.bytes;
    const { user, crc } = splitHeader(this.#hdr);
    if (crc === undefined) return false;
    const got = checksumOf(bytes, user);
    if (got !== crc)
      throw new FerryError(
        Errno.CORRUPT,
        `message ${this.seq}: checksum mismatch (CRC-32 ${got.toString(16).padStart(8, "0")}, sent ${crc.toString(16).padStart(8, "0")})`,
      );
    return true;
  }

  get released(): boolean { return this.#bytes === null; }

  /** Give the message's space back. Idempotent. */
  release(): void {
    if (!this.#bytes) return;
    this.#bytes = null;
    this.#hdr = null;
    if (this.#inline) this.#sub.releaseLater(this.#token);
    else this.#sub.releaseToken(this.#token);
  }

  [Symbol.dispose]() {
    this.release();
  }
}
