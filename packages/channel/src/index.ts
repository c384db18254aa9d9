/**
 * @ferry/channel — zero-copy shared-memory channels between Bun processes.
 *
 *   const ch = Channel.create("frames", { capacity: 512 * 2 ** 20 });
 *   const pub = ch.publisher({ backpressure: "block" });
 *   const loan = pub.loan(size); loan.bytes.set(data); pub.publish(loan, { header: { shape } });
 *   const sub = Channel.open("frames").subscribe({ wait: "hybrid" });
 *   for await (const msg of sub) { use(msg.bytes, msg.header); msg.release(); }
 *
 * One FFI call per loan / publish / receive / release; results come back in a
 * preallocated struct; the arena is mapped once as an ArrayBuffer and every
 * message view is a Uint8Array over it (no FFI per view).
 */
import { ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import {
  Backpressure,
  CacheHint,
  Errno,
  FerryError,
  HEADER_MAX,
  MSG_PIPELINED,
  SEND_COPY_MAX,
  SendMode,
  Wait,
  check,
  cstr,
  fail,
  lib,
} from "@ferry/native";
import { Waker } from "./waker";
import { Engine, completionRecord, engineByName } from "@ferry/native";

export { Engine, type EngineCaps, type EngineConfig, type EngineStats } from "@ferry/native";

export { FerryError, Errno } from "@ferry/native";
export type { FerryErrorCode } from "@ferry/native";

const sym = lib.symbols;

export type Mode = "zero-copy" | "inline" | "offload" | "pipelined" | "auto";
export type CachePlacement = "hot" | "cold" | "auto";
export type WaitStrategy = "spin" | "block" | "hybrid";
export type BackpressurePolicy = "block" | "error" | "drop-oldest";
export type Header = unknown;

export interface CreateOptions {
  /** Arena bytes: the most payload that can be in flight at once. Default 64 MiB. */
  capacity?: number;
  /** Descriptor ring slots (power of two): the most messages in flight. Default 4096. */
  slots?: number;
  /** Segment permission bits, e.g. 0o660 to share with a group. Default 0o600. */
  permissions?: number;
}

/** An engine instance, or the name of a registered engine ("cpu", "sw", a plugin's). */
export type EngineLike = Engine | string;

export interface PublisherOptions {
  backpressure?: BackpressurePolicy;
  /** Default copy engine for send() in "offload" / "pipelined" mode (default: a shared "sw" engine). */
  engine?: EngineLike;
  /** For "block": give up with FERRY_E_TIMEOUT after this long. Default 30 s; -1 waits forever. */
  timeoutMs?: number;
}

export interface SubscribeOptions {
  /** How to wait for messages. Default "hybrid". "spin" busy-waits on the JS thread. */
  wait?: WaitStrategy;
  /** Join a worker group: each message goes to exactly one member. Omit for broadcast. */
  group?: string;
}

export interface PublishOptions {
  /** JSON-serialisable metadata (dtype, shape, content type), at most 4 KiB encoded. */
  header?: Header;
  /** Publish only the first `length` bytes of the loan. */
  length?: number;
}

export interface SendOptions {
  /** "inline" (CPU copy now), "offload" (engine copies; published when done), "pipelined"
   * (published at once; receivers follow the copy), "auto" (inline until the coordinator lands). */
  mode?: Mode;
  /** Destination cache placement: "hot" (reader comes soon), "cold" (bulk), "auto". */
  cache?: CachePlacement;
  header?: Header;
  /** Engine for this send (overrides the publisher's). */
  engine?: EngineLike;
  /** Debug: hash `bytes` before and after an engine send; reject if they changed meanwhile. */
  verify?: boolean;
}

export interface ChannelStats {
  published: number;
  tail: number;
  head: number;
  dropped: number;
  unheard: number;
  arenaUsed: number;
  publishers: number;
  subscribers: number;
  reclaimed: number;
}

/* ------------------------------------------------------------------ helpers */

const TWO32 = 4294967296;
/** Little-endian u64 pair -> number (exact below 2^53). */
const u64 = (a: Uint32Array, i: number) => a[i]! + a[i + 1]! * TWO32;

/** The 56-byte ferry_msg_info that lives inside each native handle (mapped once). */
class Info {
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  constructor(addr: Pointer | null) {
    if (!addr) throw new FerryError(Errno.INVAL, "native handle has no result record");
    const ab = toArrayBuffer(addr, 0, 56);
    this.u32 = new Uint32Array(ab);
    this.i32 = new Int32Array(ab);
  }
  get status() { return this.i32[12]!; }
  get flags() { return this.u32[13]!; }
  get seq() { return u64(this.u32, 0); }
  get offset() { return u64(this.u32, 2); }
  get length() { return u64(this.u32, 4); }
  get hdrOffset() { return u64(this.u32, 6); }
  get hdrLength() { return this.u32[8]!; }
  get token() { return this.u32[9]!; }
  get dropped() { return u64(this.u32, 10); }
}

/**
 * Views over an arena, cached by (offset, length) for small messages: making
 * a Uint8Array costs ~50-70 ns here, a Map hit ~10-25 ns. Two views with the
 * same buffer, offset and length are interchangeable, so handing the same
 * object to a later message at the same place is safe. Bounded.
 */
class Views {
  readonly buffer: ArrayBuffer;
  #cache = new Map<number, Uint8Array>();
  constructor(buffer: ArrayBuffer) {
    this.buffer = buffer;
  }
  get(offset: number, length: number): Uint8Array {
    if (length >= 65536) return new Uint8Array(this.buffer, offset, length);
    let v = this.#cache.get(offset);
    if (v === undefined || v.length !== length) {
      if (this.#cache.size >= 8192) this.#cache.clear();
      v = new Uint8Array(this.buffer, offset, length);
      this.#cache.set(offset, v);
    }
    return v;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeHeader(h: Header): Uint8Array | null {
  if (h === undefined) return null;
  const bytes = h instanceof Uint8Array ? h : encoder.encode(JSON.stringify(h));
  if (bytes.length > HEADER_MAX)
    throw new FerryError(Errno.TOOBIG, `header of ${bytes.length} bytes exceeds ${HEADER_MAX}`);
  return bytes.length ? bytes : null;
}

function closedError(what: string) {
  return new FerryError(Errno.CLOSED, `${what} is closed`);
}

/**
 * Backstop for handles the program dropped without close(): the native side
 * is closed when the JS object is collected (the creator's close also removes
 * the channel's name). Call close() or use `using`; this only bounds leaks.
 */
const registry = new FinalizationRegistry<() => void>((close) => close());

/* ------------------------------------------------------------------ Channel */

export class Channel implements Disposable {
  readonly name: string;
  /** Arena size in bytes. */
  readonly capacity: number;
  readonly slots: number;
  readonly granule: number;
  #handle: Pointer;
  #arenaRO: Views;
  #arenaRW: Views | null = null;
  #children = new Set<Publisher | Subscriber>();
  #closed = false;

  private constructor(name: string, handle: Pointer) {
    this.name = name;
    this.#handle = handle;
    const info = new Uint32Array(new ArrayBuffer(48));
    check(sym.ferry_channel_info_get(handle, info), `channel "${name}"`);
    this.capacity = u64(info, 0);
    this.granule = u64(info, 2);
    this.slots = u64(info, 4);
    this.#arenaRO = new Views(toArrayBuffer(u64(info, 6) as Pointer, 0, this.capacity));
    registry.register(this, () => sym.ferry_channel_close(handle), this);
  }

  /** Create channel `name`; this process owns it and its name goes away on close(). */
  static create(name: string, opts: CreateOptions = {}): Channel {
    const out = new BigUint64Array(1);
    const capacity = opts.capacity ?? 64 * 2 ** 20;
    if (!Number.isSafeInteger(capacity) || capacity <= 0)
      throw new FerryError(Errno.INVAL, `capacity must be a positive integer, got ${capacity}`);
    check(
      sym.ferry_channel_create(cstr(name), capacity, opts.slots ?? 0, opts.permissions ?? 0o600, out),
      `create channel "${name}"`,
    );
    return new Channel(name, Number(out[0]) as Pointer);
  }

  /** Open an existing channel by name. */
  static open(name: string): Channel {
    const out = new BigUint64Array(1);
    check(sym.ferry_channel_open(cstr(name), out), `open channel "${name}"`);
    return new Channel(name, Number(out[0]) as Pointer);
  }

  /** Remove every ferry segment in /dev/shm that no live process uses. */
  static gc(): number {
    return check(sym.ferry_gc(), "gc");
  }

  /** Remove a channel's name (its users keep their mappings). */
  static unlink(name: string): void {
    check(sym.ferry_unlink(cstr(name)), `unlink "${name}"`);
  }

  get closed() { return this.#closed; }

  /** @internal */
  get handle(): Pointer {
    if (this.#closed) throw closedError(`channel "${this.name}"`);
    return this.#handle;
  }
  /** @internal read-only view of the arena, shared by every subscriber of this handle. */
  get arenaRO() { return this.#arenaRO; }
  /** @internal read-write arena view, mapped by the first publisher. */
  arenaRW(pubHandle: Pointer): Views {
    return (this.#arenaRW ??= new Views(toArrayBuffer(sym.ferry_pub_arena(pubHandle)!, 0, this.capacity)));
  }
  /** @internal */
  adopt<T extends Publisher | Subscriber>(c: T): T {
    this.#children.add(c);
    return c;
  }
  /** @internal */
  disown(c: Publisher | Subscriber) {
    this.#children.delete(c);
  }

  publisher(opts: PublisherOptions = {}): Publisher {
    return this.adopt(new Publisher(this, opts));
  }

  subscribe(opts: SubscribeOptions = {}): Subscriber {
    return this.adopt(new Subscriber(this, opts));
  }

  stats(): ChannelStats {
    const s = new Uint32Array(new ArrayBuffer(72));
    check(sym.ferry_channel_stats(this.handle, s), "stats");
    return {
      published: u64(s, 0), tail: u64(s, 2), head: u64(s, 4), dropped: u64(s, 6), unheard: u64(s, 8),
      arenaUsed: u64(s, 10), publishers: u64(s, 12), subscribers: u64(s, 14), reclaimed: u64(s, 16),
    };
  }

  /** Reclaim space held by dead participants now (it also happens on its own while waiting). */
  reap(): number {
    return check(sym.ferry_channel_reap(this.handle), "reap");
  }

  /** Close publishers and subscribers of this handle, then detach; the creator also removes the name. */
  close(): void {
    if (this.#closed) return;
    for (const c of [...this.#children]) c.close();
    this.#closed = true;
    registry.unregister(this);
    sym.ferry_channel_close(this.#handle);
  }

  [Symbol.dispose]() {
    this.close();
  }
}

/* ------------------------------------------------------------------ Publisher */

/** A writable block of the arena; `bytes` is valid until published or returned. */
export class Loan {
  #bytes: Uint8Array | null;
  /** @internal */ readonly token: number;
  /** @internal */ readonly owner: Publisher;
  constructor(owner: Publisher, token: number, bytes: Uint8Array) {
    this.owner = owner;
    this.token = token;
    this.#bytes = bytes;
  }
  /** Writable view into shared memory. */
  get bytes(): Uint8Array {
    if (!this.#bytes) throw new FerryError(Errno.STATE, "loan was already published or returned");
    return this.#bytes;
  }
  get size(): number { return this.#bytes?.length ?? 0; }
  get active(): boolean { return this.#bytes !== null; }
  /** @internal */
  consume(): void {
    if (!this.#bytes) throw new FerryError(Errno.STATE, "loan was already published or returned");
    this.#bytes = null;
  }
}

export class Publisher implements Disposable {
  readonly channel: Channel;
  readonly backpressure: BackpressurePolicy;
  readonly engine: EngineLike;
  #handle: Pointer;
  #arena: Views;
  #info: Info;
  #closed = false;
  /** engine sends in flight, oldest first (ferry_pub_collect returns them in this order) */
  #jobs: { id: number; src: Uint8Array; hash?: bigint | number; resolve: (seq: number) => void; reject: (e: Error) => void }[] = [];
  #pumping = false;
  #waker: Waker | null = null;

  /** @internal use channel.publisher() */
  constructor(channel: Channel, opts: PublisherOptions) {
    this.channel = channel;
    this.engine = opts.engine ?? "sw";
    this.backpressure = opts.backpressure ?? "block";
    const bp = Backpressure[this.backpressure];
    if (bp === undefined) throw new FerryError(Errno.INVAL, `unknown backpressure "${opts.backpressure}"`);
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const out = new BigUint64Array(1);
    check(
      sym.ferry_pub_open(channel.handle, bp, timeoutMs < 0 ? -1 : Math.round(timeoutMs * 1e6), out),
      `publisher on "${channel.name}"`,
    );
    const handle = (this.#handle = Number(out[0]) as Pointer);
    this.#info = new Info(sym.ferry_pub_info(handle) as Pointer | null);
    this.#arena = channel.arenaRW(handle);
    registry.register(this, () => sym.ferry_pub_close(handle), this);
  }

  get closed() { return this.#closed; }

  #h(): Pointer {
    if (this.#closed || this.channel.closed) throw closedError("publisher");
    return this.#handle;
  }

  /** Borrow `size` bytes of shared memory to build a message in place (zero-copy). */
  loan(size: number): Loan {
    const h = this.#h();
    const info = this.#info;
    const rc = sym.ferry_pub_loan(h, size, null);
    if (rc < 0) throw fail(rc, "loan");
    return new Loan(this, info.token, this.#arena.get(info.offset, size));
  }

  /** Publish a loan; returns the message's sequence number. */
  publish(loan: Loan, opts?: PublishOptions): number {
    const h = this.#h();
    if (loan.owner !== this) throw new FerryError(Errno.STATE, "loan belongs to another publisher");
    const size = loan.size;
    const length = opts?.length ?? size;
    if (length > size || length < 0)
      throw new FerryError(Errno.INVAL, `length ${length} outside the loan of ${size} bytes`);
    const hdr = opts?.header === undefined ? null : encodeHeader(opts.header);
    loan.consume();
    const rc = sym.ferry_pub_publish(h, loan.token, length, hdr, hdr === null ? 0 : hdr.length, null);
    if (rc < 0) {
      sym.ferry_pub_unloan(h, loan.token);
      throw fail(rc, "publish");
    }
    return this.#info.seq;
  }

  /** Give a loan back unpublished. */
  unloan(loan: Loan): void {
    const h = this.#h();
    loan.consume();
    check(sym.ferry_pub_unloan(h, loan.token), "unloan");
  }

  /**
   * Copy `bytes` into the channel and publish them; resolves with the
   * message's sequence number once the copy is done (and, for "offload",
   * published). With "offload" / "pipelined" an engine copies while this
   * thread goes on: leave `bytes` untouched until the promise settles.
   * "auto" is "inline" until the coordinator lands.
   */
  send(bytes: Uint8Array, opts: SendOptions = {}): Promise<number> {
    const mode = opts.mode ?? "auto";
    if (mode !== "offload" && mode !== "pipelined") {
      try {
        return Promise.resolve(this.sendSync(bytes, opts));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const h = this.#h();
    const cache = CacheHint[opts.cache ?? "auto"];
    if (cache === undefined) return Promise.reject(new FerryError(Errno.INVAL, `unknown cache placement "${opts.cache}"`));
    const engine = engineByName(opts.engine ?? this.engine);
    const hdr = encodeHeader(opts.header);
    // libferry copies payloads of up to SEND_COPY_MAX bytes into the job during
    // this call (a small typed array's storage may move later: JSC relocates it
    // when .buffer is first materialised). Larger ones are read by the engine
    // after send() returns: materialise the ArrayBuffer first, so the address
    // stays put while the job keeps `bytes` referenced until it settles.
    if (bytes.length > SEND_COPY_MAX) void bytes.buffer;
    const src = bytes.length ? ptr(bytes) : null;
    const rc = sym.ferry_pub_send_engine(h, engine.handle, src, bytes.length, hdr, hdr?.length ?? 0, SendMode[mode], cache, 0, null);
    if (rc < 0) return Promise.reject(fail(rc, `send (${mode})`));
    const id = this.#info.token;
    const hash = opts.verify ? Bun.hash(bytes) : undefined;
    const p = new Promise<number>((resolve, reject) => this.#jobs.push({ id, src: bytes, hash, resolve, reject }));
    if (!this.#pumping) void this.#pump();
    return p;
  }

  /** Engine sends still in flight. */
  get pending(): number { return this.#jobs.length; }

  /** Settle engine sends as they finish, oldest first; sleeps on the eventfd in between. */
  async #pump() {
    this.#pumping = true;
    try {
      while (this.#jobs.length && !this.#closed) {
        this.#collect();
        if (!this.#jobs.length) break;
        // the engine signals this eventfd itself when a send finishes; the 10 ms
        // slice only matters for engines that finish records when polled
        this.#waker ??= new Waker(sym.ferry_pub_notify_fd(this.#handle), () => sym.ferry_pub_arm(this.#handle));
        await this.#waker.wait(10);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #collect() {
    const info = this.#info;
    while (this.#jobs.length && sym.ferry_pub_collect(this.#handle, null) === 1) {
      const job = this.#jobs.shift()!;
      if (job.id !== info.token) {
        job.reject(new FerryError(Errno.STATE, `engine send ${job.id} collected out of order (${info.token})`));
        continue;
      }
      if (info.status !== 0) job.reject(fail(info.status, `engine copy of message ${job.id}`));
      else if (job.hash !== undefined && Bun.hash(job.src) !== job.hash)
        job.reject(new FerryError(Errno.STATE, `the source of message ${info.seq} changed while an engine copied it`));
      else job.resolve(info.seq);
    }
  }

  /** Synchronous inline copy + publish. */
  sendSync(bytes: Uint8Array, opts: SendOptions = {}): number {
    const h = this.#h();
    const mode = opts.mode ?? "auto";
    if (mode === "offload" || mode === "pipelined")
      throw new FerryError(Errno.INVAL, `mode "${mode}" is asynchronous: use send()`);
    if (mode === "zero-copy")
      throw new FerryError(Errno.INVAL, `mode "zero-copy" means loan() + publish(); send() copies`);
    if (mode !== "inline" && mode !== "auto") throw new FerryError(Errno.INVAL, `unknown mode "${mode}"`);
    const cache = CacheHint[opts.cache ?? "auto"];
    if (cache === undefined) throw new FerryError(Errno.INVAL, `unknown cache placement "${opts.cache}"`);
    const hdr = encodeHeader(opts.header);
    const rc = sym.ferry_pub_send_hint(h, bytes.length ? bytes : null, bytes.length, hdr, hdr?.length ?? 0, cache, null);
    if (rc < 0) throw fail(rc, "send");
    return this.#info.seq;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    registry.unregister(this);
    this.#waker?.close();
    sym.ferry_pub_close(this.#handle); // waits for engine copies in flight; finished offloads are not published
    for (const job of this.#jobs.splice(0))
      job.reject(new FerryError(Errno.CLOSED, `publisher closed before engine send ${job.id} was published`));
    this.channel.disown(this);
  }

  [Symbol.dispose]() {
    this.close();
  }
}

/* ------------------------------------------------------------------ Subscriber */

export class Message implements Disposable {
  readonly seq: number;
  /** Messages this subscriber (or its group) lost to drop-oldest so far. */
  readonly dropped: number;
  /** Published before its payload was copied ("pipelined"): see ready() and chunks(). */
  readonly pipelined: boolean;
  #bytes: Uint8Array | null;
  #hdr: Uint8Array | null;
  #header: Header | undefined;
  #token: number;
  #sub: Subscriber;
  #complete: boolean;

  /** @internal */
  constructor(sub: Subscriber, arena: Views, info: Info) {
    this.#sub = sub;
    this.seq = info.seq;
    this.dropped = info.dropped;
    this.#token = info.token;
    this.pipelined = (info.flags & MSG_PIPELINED) !== 0;
    this.#complete = !this.pipelined;
    this.#bytes = arena.get(info.offset, info.length);
    const hl = info.hdrLength;
    this.#hdr = hl ? arena.get(info.hdrOffset, hl) : null;
  }

  #view(): Uint8Array {
    if (!this.#bytes) throw new FerryError(Errno.STATE, `message ${this.seq} was released`);
    return this.#bytes;
  }

  /**
   * Read-only view of the payload in shared memory, valid until release(). Do not write to it.
   * A pipelined message hands it out only once complete: `await msg.ready()` first.
   */
  get bytes(): Uint8Array {
    const v = this.#view();
    if (!this.#complete && this.progress() < v.length)
      throw new FerryError(Errno.STATE, `message ${this.seq} is still being copied: await msg.ready() or use msg.chunks()`);
    this.#complete = true;
    return v;
  }

  get length(): number { return this.#view().length; }

  /**
   * Bytes of the payload, from its start, that are final. Throws the copy's
   * FerryError if the publisher's copy failed (FERRY_E_PEERDEAD if it died).
   */
  progress(): number {
    const v = this.#view();
    if (this.#complete) return v.length;
    const p = this.#sub.progressOf(this.#token);
    if (p === v.length) this.#complete = true;
    return p;
  }

  /**
   * Resolve once `bytes` (default: all) of the payload are final; never blocks
   * the event loop. Rejects with FERRY_E_TIMEOUT after `timeoutMs`, or with the
   * copy's error.
   */
  async ready(bytes?: number, opts: { timeoutMs?: number } = {}): Promise<void> {
    const want = Math.min(bytes ?? this.length, this.length);
    const deadline = opts.timeoutMs === undefined || opts.timeoutMs < 0 ? Infinity : performance.now() + opts.timeoutMs;
    while (this.progress() < want) {
      const left = deadline - performance.now();
      if (left <= 0) throw new FerryError(Errno.TIMEOUT, `${want} bytes of message ${this.seq} not ready within ${opts.timeoutMs} ms`);
      await this.#sub.waitProgress(this.#token, want, left);
    }
  }

  /**
   * The payload as it lands: views of consecutive pieces, each final when
   * yielded, at least `minBytes` long except the last (default 1 MiB).
   */
  async *chunks(opts: { minBytes?: number } = {}): AsyncGenerator<Uint8Array> {
    const v = this.#view();
    const step = Math.max(1, opts.minBytes ?? 2 ** 20);
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
  async copyTo(dst: Uint8Array, opts: { engine?: EngineLike; cache?: CachePlacement } = {}): Promise<void> {
    await this.ready();
    const src = this.bytes;
    if (dst.length < src.length) throw new FerryError(Errno.INVAL, `destination of ${dst.length} bytes is smaller than ${src.length}`);
    if (!src.length) return;
    const engine = engineByName(opts.engine ?? "cpu");
    const cache = CacheHint[opts.cache ?? "auto"];
    if (cache === undefined) throw new FerryError(Errno.INVAL, `unknown cache placement "${opts.cache}"`);
    const rec = completionRecord();
    void dst.buffer; // an async engine writes dst later: give it storage that does not move
    check(sym.ferry_engine_copy(engine.handle, ptr(dst), ptr(src), src.length, cache, rec.ptr), "copyTo");
    // cpu finishes inside the call; others: yield to the event loop until done
    let r: number;
    while ((r = sym.ferry_engine_poll(engine.handle, rec.ptr)) === 0) await new Promise((res) => setImmediate(res));
    void rec.keep; // the record stays alive until the engine is done with it
    void dst;
    if (r < 0) throw fail(r, "copyTo");
  }

  /** Raw header bytes (null when the message has none). */
  get headerBytes(): Uint8Array | null {
    this.#view(); // throws after release
    return this.#hdr;
  }

  /** The header, parsed from JSON on first access (undefined when absent). */
  get header(): Header {
    const raw = this.headerBytes;
    if (this.#header === undefined && raw) this.#header = JSON.parse(decoder.decode(raw));
    return this.#header;
  }

  get released(): boolean { return this.#bytes === null; }

  /** Give the message's space back. Idempotent. */
  release(): void {
    if (!this.#bytes) return;
    this.#bytes = null;
    this.#hdr = null;
    this.#sub.releaseToken(this.#token);
  }

  [Symbol.dispose]() {
    this.release();
  }
}

export class Subscriber implements Disposable, AsyncIterable<Message> {
  readonly channel: Channel;
  readonly wait: WaitStrategy;
  readonly group: string | undefined;
  #handle: Pointer;
  #arena: Views;
  #info: Info;
  #closed = false;
  #waker: Waker | null = null;

  /** @internal use channel.subscribe() */
  constructor(channel: Channel, opts: SubscribeOptions) {
    this.channel = channel;
    this.wait = opts.wait ?? "hybrid";
    if (Wait[this.wait] === undefined) throw new FerryError(Errno.INVAL, `unknown wait strategy "${opts.wait}"`);
    this.group = opts.group;
    const out = new BigUint64Array(1);
    check(sym.ferry_sub_open(channel.handle, cstr(opts.group ?? ""), out), `subscribe to "${channel.name}"`);
    const handle = (this.#handle = Number(out[0]) as Pointer);
    this.#info = new Info(sym.ferry_sub_info(handle) as Pointer | null);
    this.#arena = channel.arenaRO;
    registry.register(this, () => sym.ferry_sub_close(handle), this);
  }

  get closed() { return this.#closed; }

  #h(): Pointer {
    if (this.#closed || this.channel.closed) throw closedError("subscriber");
    return this.#handle;
  }

  /**
   * Take the next message if one is there; never blocks. Returns null when
   * none is; throws FerryError FERRY_E_EOF / FERRY_E_PEERDEAD at end of stream.
   */
  tryReceive(): Message | null {
    const rc = sym.ferry_sub_try_receive(this.#h(), null);
    if (rc === 0) return new Message(this, this.#arena, this.#info);
    if (rc === Errno.AGAIN) return null;
    throw fail(rc, "receive");
  }

  /**
   * Wait for the next message. With wait "spin" this busy-waits on the JS
   * thread; "block" and "hybrid" wait in a native thread and leave the event
   * loop free. Rejects with FERRY_E_TIMEOUT, FERRY_E_EOF or FERRY_E_PEERDEAD.
   */
  async receive(opts: { timeoutMs?: number } = {}): Promise<Message> {
    const timeoutMs = opts.timeoutMs ?? -1;
    if (this.wait === "spin") {
      const rc = sym.ferry_sub_receive(this.#h(), null, Wait.spin, timeoutMs < 0 ? -1 : Math.round(timeoutMs * 1e6));
      if (rc < 0) throw fail(rc, "receive");
      return new Message(this, this.#arena, this.#info);
    }
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      const m = this.tryReceive();
      if (m) return m;
      const left = deadline - performance.now();
      if (left <= 0) throw new FerryError(Errno.TIMEOUT, `no message within ${timeoutMs} ms`);
      // block and hybrid: direct wake — publishers write one byte to a socket this
      // event loop reads, so a wake-up costs one sleeping thread (the event loop),
      // not two (a helper thread, then the loop). Hybrid's spin would have to run on
      // the JS thread (blocking the event loop) or in a helper thread (a second
      // wake-up, measured slower), so in JS it sleeps like block. Re-armed every
      // 100 ms at most, which also reaps dead peers.
      await this.#direct().wait(Math.min(left, 100));
      if (this.#closed) throw closedError("subscriber");
    }
  }

  /** Messages until every publisher has closed; throws FERRY_E_PEERDEAD if one crashed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    for (;;) {
      let m: Message;
      try {
        m = await this.receive();
      } catch (e) {
        if (e instanceof FerryError && (e.code === "FERRY_E_EOF" || e.code === "FERRY_E_CLOSED")) return;
        throw e;
      }
      yield m;
    }
  }

  #directWaker: Waker | null = null;
  #direct(): Waker {
    const h = this.#h();
    return (this.#directWaker ??= new Waker(sym.ferry_sub_wake_fd(h), () => sym.ferry_sub_arm_wake(h)));
  }

  #wake(): Waker {
    const h = this.#h();
    return (this.#waker ??= new Waker(sym.ferry_sub_notify_fd(h, Wait[this.wait]), () => sym.ferry_sub_arm(h)));
  }

  /** @internal progress of held message `token` (throws the copy's error). */
  progressOf(token: number): number {
    const p = sym.ferry_sub_progress(this.#h(), token) as number;
    if (p < 0) throw fail(p, "pipelined copy");
    return p;
  }

  /** @internal wait (spin: on this thread; else in the waiter thread) until `bytes` are final. */
  async waitProgress(token: number, bytes: number, timeoutMs = Infinity): Promise<void> {
    const h = this.#h();
    if (this.wait === "spin") {
      const ns = Number.isFinite(timeoutMs) ? Math.round(timeoutMs * 1e6) : -1;
      const p = sym.ferry_sub_wait_progress(h, token, bytes, Wait.spin, ns) as number;
      if (p < 0 && p !== Errno.TIMEOUT) throw fail(p, "pipelined copy");
      return;
    }
    await this.#wake().wait(timeoutMs, () => sym.ferry_sub_arm_progress(h, token, bytes));
  }

  /** @internal */
  releaseToken(token: number) {
    if (this.#closed) return; // closing released everything
    const rc = sym.ferry_sub_release(this.#handle, token);
    if (rc < 0) throw fail(rc, "release");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    registry.unregister(this);
    this.#waker?.close();
    this.#directWaker?.close();
    sym.ferry_sub_close(this.#handle);
    this.channel.disown(this);
  }

  [Symbol.dispose]() {
    this.close();
  }
}
