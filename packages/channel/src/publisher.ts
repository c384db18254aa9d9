/**
 * Publisher: zero-copy loans (loan / publish / unloan) and inline copies
 * (sendSync, send in mode "inline"), one FFI call each, results read from
 * the handle's own record; send() in mode "auto" asks the policy (policy.ts).
 * Engine sends are in send.ts.
 */
import { ptr, type Pointer } from "bun:ffi";
import {
  Backpressure, Errno, FerryError, INLINE_MAX, MAX_HELD, MSG_INLINE, check, closedError, completionRecord, cstr, engineByName, fail, lendLocal,
  lib, pinArena, Wait, type Engine,
} from "@ferry/native";
import type { Channel } from "./channel";
import { ChannelMember } from "./handle";
import { encodeHeader } from "./header";
import { decide, defaultPolicy, getDefaultPolicy, type FastInline, type Remembered, type SendDecision, type SendPolicy, type SendReport } from "./policy";
import { POLL_MAX_MS, POLL_MIN_MS, sleep } from "./poll";
import { EngineSends, settledOk, type Settle } from "./send";
import { typedView, writeRaw, type TypedArrayConstructor, type ViewOptions } from "./tensor";
import {
  bytesOf, cacheHint, checkChunkBytes, checkFlag, checkGroup, checkInt, checkTimeout, names, optionsOf, timeoutNs,
  type BackpressurePolicy, type CachePlacement, type EngineLike, type Header, type Mode, type PublishOptions,
  type PublisherOptions, type SendOptions, type WaitForSubscribersOptions,
} from "./types";
import { Info, Views } from "./views";

const sym = lib.symbols;
const noop = () => {};
/** Smallest payload a decision's cpuShare splits (below, a plain offload). */
const SPLIT_MIN = 64 * 1024;
const BACKPRESSURE = names(Backpressure);
/** The staging slots of small loans, the lowest on top (reused first, warm in cache). */
const stageSlots = () => Array.from({ length: MAX_HELD }, (_, i) => MAX_HELD - 1 - i);

/**
 * A writable block of the arena; `bytes` is valid until published or
 * returned, or until its publisher closes (bytes then throws
 * FERRY_E_CLOSED, and views taken earlier become zero-length).
 */
export class Loan {
  #bytes: Uint8Array | null;
  readonly #size: number;
  /** @internal */ readonly token: number;
  /** @internal */ readonly owner: Publisher;
  /** @internal a small loan: its slot in the publisher's staging memory (no native record), else -1 */
  readonly stage: number;
  constructor(owner: Publisher, token: number, bytes: Uint8Array, stage = -1) {
    this.owner = owner;
    this.token = token;
    this.stage = stage;
    this.#bytes = bytes;
    this.#size = bytes.length;
  }
  /**
   * Writable view into shared memory. Its set() converts element by element:
   * `bytes.set(new Float32Array([1.5]))` stores the byte 1, not a float. Copy
   * typed data with write() or through view(Float32Array).
   */
  get bytes(): Uint8Array {
    if (this.owner.closed) throw closedError("publisher of this loan");
    if (!this.#bytes) throw new FerryError(Errno.STATE, "loan was already published or returned");
    return this.#bytes;
  }
  /**
   * Copy the raw bytes of `src` (any TypedArray, DataView, Buffer or
   * ArrayBuffer: its byteLength bytes, never converted) into the loan at byte
   * `offset` (default 0); returns the offset after them. FERRY_E_INVAL when
   * they do not fit.
   */
  write(src: ArrayBufferView | ArrayBuffer, offset = 0): number {
    return writeRaw(this.bytes, src, offset, "loan.write()");
  }
  /**
   * A writable `Ctor` view of the loan (Float32Array, BigInt64Array, ...):
   * the payload starts 64-byte aligned, so any element type fits from byte 0.
   * Length: the loan's bytes / the element size, which must divide evenly
   * unless `{ length }` (elements) is given (FERRY_E_INVAL otherwise). Like
   * bytes, it becomes zero-length once the publisher closes.
   */
  view<T extends ArrayBufferView>(Ctor: TypedArrayConstructor<T>, options?: ViewOptions): T {
    return typedView(this.bytes, Ctor, options, "loan.view()");
  }
  /** Bytes loaned. */
  get size(): number { return this.#bytes ? this.#size : 0; }
  /** Neither published nor returned, and its publisher is open. */
  get active(): boolean { return this.#bytes !== null && !this.owner.closed; }
  /** @internal */
  consume(): void {
    if (!this.#bytes) throw new FerryError(Errno.STATE, "loan was already published or returned");
    this.#bytes = null;
  }
}

function checkLoan(loan: unknown, pub: Publisher): Loan {
  if (!(loan instanceof Loan)) throw new FerryError(Errno.INVAL, "expected a Loan from publisher.loan()");
  if (loan.owner !== pub) throw new FerryError(Errno.STATE, "loan belongs to another publisher");
  return loan;
}

/** A publisher of one channel handle. close() waits for its engine copies in flight; idempotent. */
export class Publisher extends ChannelMember {
  readonly backpressure: BackpressurePolicy;
  readonly engine: EngineLike;
  /** publisher({ policy }) or publisher({ coordinator }); null: the process's default (getDefaultPolicy()). */
  readonly #policy: SendPolicy | null;
  #splitting = false;
  #arena: Views;
  /** inline loans (payloads of at most INLINE_MAX bytes): this publisher's private staging memory */
  #stage: Views | null = null;
  /** free staging slots for small loans (made on first use) */
  #stageFree: number[] | null = null;
  #info: Info;
  #sends: EngineSends;

  /** @internal use channel.publisher() */
  constructor(channel: Channel, opts: PublisherOptions) {
    const backpressure = opts.backpressure ?? "block";
    const bp = BACKPRESSURE.get(backpressure);
    if (bp === undefined) throw new FerryError(Errno.INVAL, `unknown backpressure ${JSON.stringify(String(opts.backpressure))}`);
    const timeoutMs = checkTimeout(opts.timeoutMs, 30_000);
    if (opts.policy !== undefined && opts.coordinator !== undefined)
      throw new FerryError(Errno.INVAL, "publisher options: give either policy or coordinator, not both");
    const policy = opts.policy ?? opts.coordinator ?? null;
    if (policy !== null && typeof policy?.decide !== "function")
      throw new FerryError(Errno.INVAL, `${opts.policy !== undefined ? "policy" : "coordinator"} must be an object with a decide(size, ctx) method`);
    const out = new BigUint64Array(1);
    check(sym.ferry_pub_open(channel.handle, bp, timeoutNs(timeoutMs), out), `publisher on "${channel.name}"`);
    const handle = Number(out[0]) as Pointer;
    super(channel, handle, sym.ferry_pub_close);
    this.backpressure = backpressure;
    this.engine = opts.engine ?? "sw";
    this.#policy = policy;
    this.#info = new Info(sym.ferry_pub_info(handle) as Pointer | null);
    // small messages travel inside the descriptor (docs/channel.md "Small messages")
    check(sym.ferry_pub_inline(handle, INLINE_MAX), `publisher on "${channel.name}"`);
    // this publisher's own buffer over the read-write arena: detached when it closes
    this.#arena = new Views(() => this.own(channel.lendRW(handle)));
    this.#sends = new EngineSends(handle, this.#info);
  }

  protected get what() {
    return "publisher";
  }

  /**
   * Decides mode "auto" per message: publisher({ policy }) or
   * publisher({ coordinator }), else the process's default policy at the
   * time of each send (defaultPolicy unless setDefaultPolicy() replaced it,
   * as importing @ferry/coordinator does).
   */
  get policy(): SendPolicy {
    return this.#policy ?? getDefaultPolicy();
  }

  /**
   * Borrow `size` bytes of shared memory to build a message in place (zero-copy); an integer, 0 or more.
   * A loan of at most INLINE_MAX bytes is this publisher's private staging memory, copied into the
   * descriptor at publish (no call and no shared state until then).
   */
  loan(size: number): Loan {
    const h = this.handle;
    checkInt(size, "loan size");
    if (size <= INLINE_MAX) {
      const slot = (this.#stageFree ??= stageSlots()).pop();
      if (slot === undefined) throw new FerryError(Errno.LIMIT, `more than ${MAX_HELD} small loans outstanding`);
      return new Loan(this, 0, this.#stageViews().get(slot * INLINE_MAX, size), slot);
    }
    const info = this.#info;
    const rc = sym.ferry_pub_loan(h, size, null);
    if (rc < 0) throw fail(rc, "loan");
    const views = (info.flags & MSG_INLINE) !== 0 ? this.#stageViews() : this.#arena;
    return new Loan(this, info.token, views.get(info.offset, size));
  }

  /** A small loan is over (published or returned): its staging slot is free again. */
  #unstage(loan: Loan): void {
    loan.consume();
    this.#stageFree!.push(loan.stage);
  }

  /** The staging area's views, lent on first use and detached when this publisher closes. */
  #stageViews(): Views {
    return (this.#stage ??= new Views(() => this.own(lendLocal((out) => sym.ferry_pub_stage_lend(this.handle, out), "loan"))));
  }

  /**
   * Publish a loan; returns the message's sequence number. When it fails
   * because of the channel's state (FERRY_E_FULL, FERRY_E_TIMEOUT,
   * FERRY_E_BUSY, FERRY_E_TOOBIG, FERRY_E_INVAL for the length...), the loan
   * and what was written into it stay yours: publish it again or unloan it.
   * Only when the publisher or its channel is unusable (FERRY_E_CLOSED,
   * FERRY_E_CORRUPT) is the loan gone with the error.
   */
  publish(loan: Loan, opts?: PublishOptions): number {
    const h = this.handle;
    // the common small message: no options to read (loan.bytes: FERRY_E_STATE once published or returned)
    if (opts === undefined && loan instanceof Loan && loan.owner === this && loan.stage >= 0) return this.#publishStaged(h, loan, loan.bytes.length, null);
    checkLoan(loan, this);
    const o = optionsOf(opts, "publish");
    const size = loan.size;
    if (!loan.active) throw new FerryError(Errno.STATE, "loan was already published or returned");
    const length = o.length === undefined ? size : checkInt(o.length, `length (loan of ${size} bytes)`, 0, size);
    const hdr = checkFlag(o.checksum, "checksum")
      ? encodeHeader(o.header, loan.bytes.subarray(0, length))
      : o.header === undefined ? null : encodeHeader(o.header);
    if (loan.stage >= 0) return this.#publishStaged(h, loan, length, hdr);
    const rc = sym.ferry_pub_publish(h, loan.token, length, hdr, hdr === null ? 0 : hdr.length, null);
    if (rc < 0) {
      const err = fail(rc, "publish");
      if (rc === Errno.CLOSED || rc === Errno.CORRUPT) {
        loan.consume();
        sym.ferry_pub_unloan(h, loan.token);
      }
      throw err;
    }
    loan.consume();
    return this.#info.seq;
  }

  /** A small loan: one inline send of its staging bytes (stable native memory, read within the call). */
  #publishStaged(h: Pointer, loan: Loan, length: number, hdr: Uint8Array | null): number {
    const rc = sym.ferry_pub_send_hint(h, length ? loan.bytes : null, length, hdr, hdr === null ? 0 : hdr.length, 0, null);
    if (rc < 0) {
      if (rc === Errno.CLOSED || rc === Errno.CORRUPT) this.#unstage(loan);
      throw fail(rc, "publish");
    }
    this.#unstage(loan);
    return this.#info.seq;
  }

  /** Give a loan back unpublished. */
  unloan(loan: Loan): void {
    const h = this.handle;
    if (checkLoan(loan, this).stage >= 0) return this.#unstage(loan);
    loan.consume();
    check(sym.ferry_pub_unloan(h, loan.token), "unloan");
  }

  /**
   * Copy `bytes` into the channel and publish them; resolves with the
   * message's sequence number once the copy is done (and, for "offload",
   * published). With "offload" / "pipelined" an engine copies while this
   * thread goes on: leave `bytes` untouched until the promise settles.
   * Mode "auto" (the default) asks the publisher's policy, once, for this
   * message and follows its decision; explicit engine, cache and chunkBytes
   * options win over the decision's. Every error rejects the promise.
   */
  send(data: Uint8Array | ArrayBufferView | ArrayBuffer, options?: SendOptions): Promise<number> {
    try {
      void this.handle; // throws FERRY_E_CLOSED once closed (before the policy is asked)
      const bytes = bytesOf(data, "send() data");
      const opts = optionsOf(options, "send");
      const mode = opts.mode ?? "auto";
      if (mode === "auto") {
        const policy = this.#policy ?? getDefaultPolicy();
        if (policy !== defaultPolicy) {
          if (this.#gate !== null) return this.#gated(() => this.#auto(policy, bytes, opts), false);
          // the fast tier's inline copy, checked here rather than in #auto: the path of every small message, where
          // each call and object touched costs when the code runs cold (bench tools/auto-small.ts, three alternating
          // pairs: auto's 64 B and 1 KiB messages end to end 1.080x inline's per round with the check in #auto, 1.053x
          // with it here, in the first repetition; 1.039x and 1.010x in the second; docs/benchmarks.md)
          const f = this.#fastTier(policy, bytes.length, opts);
          if (f !== null && bytes.length < f.below && this.#sends.offloads === 0) return this.#fastInline(f, bytes, opts);
          return this.#auto(policy, bytes, opts, f);
        }
      }
      return this.#send(bytes, mode, opts.engine, opts.cache, opts.chunkBytes, opts, null);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The policy whose fast tier was read last, and that tier's ceiling (FastInline.ceiling). */
  #tierPolicy: SendPolicy | null = null;
  #tierCeiling = Infinity;

  /**
   * The policy's fast tier for a send of `size` bytes in mode "auto", or null: none, explicit engine, cache
   * or chunkBytes options, or a size at or above the ceiling of the tier read last (not read again: the
   * getter may rebuild it).
   */
  #fastTier(policy: SendPolicy, size: number, opts: SendOptions): FastInline | null {
    if (opts.engine !== undefined || opts.cache !== undefined || opts.chunkBytes !== undefined) return null;
    if (this.#tierPolicy === policy && size >= this.#tierCeiling) return null;
    const f = policy.fastInline ?? null;
    if (f !== null) {
      this.#tierPolicy = policy; // (two fields, no object per send: this is the path of every small message)
      this.#tierCeiling = f.ceiling ?? Infinity;
    }
    return f;
  }

  /**
   * send() in mode "auto" with a policy: the fast tier (`f`: read by send() already; undefined: read it
   * here), a remembered decision, or decide().
   */
  #auto(policy: SendPolicy, bytes: Uint8Array, opts: SendOptions, f: FastInline | null = this.#fastTier(policy, bytes.length, opts)): Promise<number> {
    // (an inline copy is published at once: with offloads in flight it waits for them, or it would overtake them)
    if (f !== null && bytes.length < f.below) return this.#sends.offloads === 0 ? this.#fastInline(f, bytes, opts) : this.#afterOffloads(() => this.#fastInline(f, bytes, opts));
    if (opts.engine === undefined && opts.cache === undefined && opts.chunkBytes === undefined) {
      const r = policy.remembered;
      if (r) {
        const d = r.take(bytes.length, this);
        if (d !== null) return this.#remembered(policy, r, d, bytes, opts);
      }
    }
    return this.#decided(policy, bytes, opts);
  }

  /**
   * Policy sends keep their order (#gated): while one waits, the policy sends after it wait their turn
   * (null: none waits). Resolves once the waiting send was submitted (and so, for pipelined, published).
   */
  #gate: Promise<void> | null = null;

  /** One send as `mode` (after the policy, if any); `d`: the decision, for a split. */
  #send(
    bytes: Uint8Array, mode: Mode, engine: EngineLike | undefined, cache: CachePlacement | undefined, chunkBytes: number | undefined,
    opts: SendOptions, d: SendDecision | null, rep?: Partial<SendReport>, then: Settle | null = null,
  ): Promise<number> {
    const chunk = checkChunkBytes(chunkBytes);
    const sum = checkFlag(opts.checksum, "checksum");
    if (mode !== "offload" && mode !== "pipelined") return Promise.resolve(this.#inline(bytes, mode, cache, opts.header, sum));
    const hint = cacheHint(cache);
    const e = engineByName(engine ?? this.engine);
    if (rep) rep.engine = e.name;
    const hdr = encodeHeader(opts.header, sum ? bytes : undefined);
    const verify = checkFlag(opts.verify, "verify");
    const share = d?.cpuShare ?? 0;
    if (mode === "offload" && share > 0 && !verify && bytes.length >= SPLIT_MIN && this.#sends.pending === 0 && !this.#splitting)
      return this.#split(bytes, e, share, hint, hdr, d?.spinNs ?? 50_000, rep);
    if (d) d.cpuShare = 0; // not split after all
    return this.#sends.submit(bytes, e, hdr, mode, hint, chunk, verify, then);
  }

  /**
   * `p` (a policy send) with `then` run when it settles: by the engine send itself when submit() took
   * the hook (no promise in between), else chained here (an inline, split or gated send).
   */
  #settleWith(p: Promise<number>, then: Settle): Promise<number> {
    if (then.taken) return p;
    then.taken = true; // (a gated send submitted later must not take it as well)
    return p.then((seq) => (settledOk(then, seq), seq), (err: Error) => then.fail(err));
  }

  /** send() in mode "auto" below the policy's fastInline size: an inline copy, counted by the policy (policy.ts FastInline). */
  #fastInline(f: FastInline, bytes: Uint8Array, opts: SendOptions): Promise<number> {
    const t0 = Bun.nanoseconds();
    let seq: number;
    try {
      const cache = f.coldFrom !== undefined && bytes.length >= f.coldFrom ? "cold" : f.cache;
      seq = this.#inline(bytes, "inline", cache, opts.header, checkFlag(opts.checksum, "checksum"));
    } catch (e) {
      try {
        f.record(bytes.length, Bun.nanoseconds() - t0, e as Error);
      } catch {
        // ignored
      }
      return Promise.reject(e);
    }
    try {
      f.record(bytes.length, Bun.nanoseconds() - t0, null);
    } catch {
      // ignored
    }
    return Promise.resolve(seq);
  }

  /**
   * send() in mode "auto" with a decision the policy had at hand (policy.ts Remembered): followed like
   * decide()'s, without a copy of the decision or a report when it is published (settled()); a failure
   * goes the full way (#failed: retryInline, then observe() with the report).
   */
  #remembered(policy: SendPolicy, r: Remembered, d: SendDecision, bytes: Uint8Array, opts: SendOptions): Promise<number> {
    const t0 = Bun.nanoseconds();
    const n = bytes.length;
    if (d.mode === "inline" && this.#sends.offloads === 0) {
      let seq: number;
      try {
        seq = this.#inline(bytes, "inline", d.cache, opts.header, checkFlag(opts.checksum, "checksum"));
      } catch (e) {
        if (policy.observe) this.#report(policy, n, d, "cpu", e as Error, t0, Bun.nanoseconds() - t0);
        return Promise.reject(e);
      }
      const ns = Bun.nanoseconds() - t0;
      try {
        r.settled(d, n, ns, ns);
      } catch {
        // ignored
      }
      return Promise.resolve(seq);
    }
    const rep: Partial<SendReport> = { engine: "cpu" };
    let syncNs = -1; // (a hook run inside submit, by an engine that finished there: the send is still synchronous)
    const sync = () => (syncNs >= 0 ? syncNs : Bun.nanoseconds() - t0);
    const then: Settle = {
      ok: () => r.settled(d, n, Bun.nanoseconds() - t0, sync()),
      fail: (err) => this.#failed(policy, d, bytes, opts, err, t0, sync(), rep),
      taken: false,
    };
    let p: Promise<number>;
    try {
      if (d.mode !== "offload" && d.mode !== "pipelined" && d.mode !== "inline")
        throw new FerryError(Errno.INVAL, `send policy chose mode "${d.mode}": it must be "inline", "offload" or "pipelined"`);
      p = this.#inOrder(d, () => this.#send(bytes, d.mode, d.engine, d.cache, d.chunkBytes, opts, null, rep, then)); // (never split: no decision to adjust)
    } catch (e) {
      p = Promise.reject(e);
    }
    syncNs = Bun.nanoseconds() - t0;
    return this.#settleWith(p, then);
  }

  /** send() in mode "auto" with a policy: decide, send, tell the policy how it went (and retry inline if it asks). */
  #decided(policy: SendPolicy, bytes: Uint8Array, opts: SendOptions): Promise<number> {
    const observe = policy.observe !== undefined;
    const t0 = observe ? Bun.nanoseconds() : 0;
    const d0 = decide(policy, bytes.length, { channel: this.channel, publisher: this, engine: this.engine, options: opts });
    // (the send's own time, without decide(): what large inline copies teach a policy is their copy's cost)
    const t1 = observe ? Bun.nanoseconds() : 0;
    if (d0.mode === "inline" && this.#sends.offloads === 0) {
      // settled here and now: no promise chain and no copy of the decision on the path of small messages
      const d = opts.engine === undefined && opts.cache === undefined && opts.chunkBytes === undefined
        ? d0
        : { ...d0, engine: opts.engine ?? d0.engine, cache: opts.cache ?? d0.cache, chunkBytes: opts.chunkBytes ?? d0.chunkBytes };
      let seq: number;
      try {
        if (d.chunkBytes !== undefined) checkChunkBytes(d.chunkBytes);
        seq = this.#inline(bytes, "inline", d.cache, opts.header, checkFlag(opts.checksum, "checksum"));
      } catch (e) {
        if (observe) this.#report(policy, bytes.length, d, "cpu", e as Error, t0, Bun.nanoseconds() - t1);
        return Promise.reject(e);
      }
      if (observe) this.#report(policy, bytes.length, d, "cpu", null, t0, Bun.nanoseconds() - t1);
      return Promise.resolve(seq);
    }
    const d: SendDecision = { ...d0, engine: opts.engine ?? d0.engine, cache: opts.cache ?? d0.cache, chunkBytes: opts.chunkBytes ?? d0.chunkBytes };
    const rep: Partial<SendReport> = { engine: "cpu" };
    let syncNs = -1; // (see #remembered)
    const sync = () => (syncNs >= 0 ? syncNs : Bun.nanoseconds() - t1);
    const then: Settle | null = !observe && !policy.retryInline ? null : {
      ok: () => {
        if (observe) this.#report(policy, bytes.length, d, rep.engine ?? "cpu", null, t0, sync(), rep.split ? { split: rep.split } : undefined);
      },
      fail: (err) => this.#failed(policy, d, bytes, opts, err, t0, sync(), rep),
      taken: false,
    };
    let p: Promise<number>;
    try {
      p = this.#inOrder(d, () => this.#send(bytes, d.mode, d.engine, d.cache, d.chunkBytes, opts, d, rep, then));
    } catch (e) {
      p = Promise.reject(e);
    }
    syncNs = Bun.nanoseconds() - t1;
    return then === null ? p : this.#settleWith(p, then);
  }

  /**
   * A policy's send as decided: a pipelined or inline one while offloads are in flight on this
   * publisher is submitted once they have settled, and the policy sends after it wait behind it
   * (#gated). An offload is published when its copy is done, a pipelined send and an inline one when
   * submitted: a policy that switches modes within a stream (by size, by load, from what it learnt)
   * would otherwise publish them before the offloads sent earlier (the fast tier and remembered
   * inline decisions check the same before their synchronous path). Explicit modes keep their
   * documented order (among offload sends only).
   */
  #inOrder(d: SendDecision, submit: () => Promise<number>): Promise<number> {
    return d.mode === "offload" || this.#sends.offloads === 0 ? submit() : this.#afterOffloads(submit);
  }

  /**
   * A policy send published at once (inline, pipelined) while offloads are in flight: submitted once the
   * offloads sent before it have settled. Inside a turn of the gate (a send queued behind another) that
   * turn holds until then, so the sends queued after it keep waiting (#gated); otherwise it opens a gate.
   */
  #afterOffloads(submit: () => Promise<number>): Promise<number> {
    if (!this.#inTurn) return this.#gated(submit, true);
    const w = this.#sends.offloadsBefore();
    if (w === null) return submit();
    const p = w.then(submit);
    this.#hold = p.then(noop, noop);
    return p;
  }

  /** #gated: a turn's start() is running (synchronously), and what that turn must hold for (#afterOffloads). */
  #inTurn = false;
  #hold: Promise<void> | null = null;

  #gated(start: () => Promise<number>, drain: boolean): Promise<number> {
    const prev = this.#gate;
    let done!: () => void;
    const g = new Promise<void>((r) => (done = r));
    this.#gate = g;
    const run = async () => {
      try {
        if (prev !== null) await prev;
        if (drain) {
          // the offloads sent before this one (those sent after it wait behind its gate)
          const w = this.#sends.offloadsBefore();
          if (w !== null) await w;
        }
        void this.handle;
        this.#inTurn = true;
        this.#hold = null;
        let p: Promise<number>;
        try {
          p = start();
        } finally {
          this.#inTurn = false;
        }
        const h = this.#hold;
        this.#hold = null;
        if (h !== null) await h; // (the turn's send waits for offloads: the ones queued after it wait with it)
        return p;
      } finally {
        done();
        if (this.#gate === g) this.#gate = null;
      }
    };
    return run();
  }

  /** A decided engine send failed: copy it inline if the policy asks (retryInline), and tell it how it went (observe). */
  #failed(
    policy: SendPolicy, d: SendDecision, bytes: Uint8Array, opts: SendOptions, err: Error, t0: number, syncNs: number, rep: Partial<SendReport>,
  ): number {
    const report = (error: Error | null, extra?: Partial<SendReport>) => {
      if (policy.observe) this.#report(policy, bytes.length, d, rep.engine ?? "cpu", error, t0, syncNs, rep.split ? { split: rep.split, ...extra } : extra);
    };
    let retry = false;
    try {
      retry = d.mode === "offload" && !this.closed && policy.retryInline?.(err, bytes.length) === true;
    } catch {
      retry = false;
    }
    if (!retry) {
      report(err);
      throw err;
    }
    const why = err instanceof Error ? err.message : String(err);
    let seq: number;
    try {
      seq = this.#inline(bytes, "inline", d.cache, opts.header, checkFlag(opts.checksum, "checksum"));
    } catch (e2) {
      report(e2 as Error, { retriedInline: why });
      throw e2;
    }
    report(null, { retriedInline: why });
    return seq;
  }

  /** Tell the policy how a decided send went (what observe() throws is ignored: an observer's error is not the sender's). */
  #report(
    policy: SendPolicy, size: number, decision: SendDecision, engine: string, error: Error | null, t0: number, syncNs: number,
    extra?: Partial<SendReport>,
  ): void {
    try {
      policy.observe!({ size, decision, engine, error, ns: Bun.nanoseconds() - t0, syncNs, ...extra });
    } catch {
      // ignored
    }
  }

  /**
   * The CPU + engine split of one offload send: loan the slot, hand the tail
   * to the engine, copy the head on this thread (the cpu engine, with the
   * cache hint), wait for the engine's part (poll for up to spinNs, then yield
   * to the event loop), publish. Nothing is published when the engine fails.
   * The waits are reported (rep.split) for the policy's tuning.
   */
  async #split(
    bytes: Uint8Array, e: Engine, share: number, hint: number, hdr: Uint8Array | null, spinNs: number, rep?: Partial<SendReport>,
  ): Promise<number> {
    const h = this.handle;
    const n = bytes.length;
    const k = Math.min(n - 4096, Math.max(4096, Math.floor((n * share) / 4096) * 4096)); // CPU part [0, k), engine [k, n)
    const rl = sym.ferry_pub_loan(h, n, null);
    if (rl < 0) throw fail(rl, "send (offload split): loan");
    const token = this.#info.token;
    const dst = this.#arena.get(this.#info.offset, n);
    void bytes.buffer; // storage that stays put while the engine reads it
    const rec = completionRecord();
    const cpu = completionRecord();
    const unpin = pinArena(this.channel.handle);
    this.#splitting = true;
    let engineRunning = false;
    try {
      const rc = sym.ferry_engine_copy(e.handle, ptr(dst, k), ptr(bytes, k), n - k, hint, rec.ptr);
      if (rc < 0) throw fail(rc, `send (offload split): engine "${e.name}"`);
      engineRunning = true;
      const t0 = Bun.nanoseconds();
      check(sym.ferry_engine_copy(engineByName("cpu").handle, ptr(dst), ptr(bytes), k, hint, cpu.ptr), "send (offload split): cpu part");
      const t1 = Bun.nanoseconds();
      let polls = 0;
      let r = sym.ferry_engine_poll(e.handle, rec.ptr);
      const engineFirst = r !== 0;
      if (r === 0) {
        // wait in libferry, spinning briefly then asleep on the record's futex, for at most as long as the
        // CPU part took (the event loop was blocked that long already): polling here kept this CPU busy, and
        // when the kernel had woken the engine's thread onto this CPU (the other one busy), the engine's
        // part ran only in this thread's time slices (section 8: splits waited 1.5-3 ms for a 0.5 ms part)
        polls++;
        const w = sym.ferry_engine_wait(e.handle, rec.ptr, Wait.hybrid, Math.max(spinNs, t1 - t0));
        r = w === Errno.TIMEOUT ? 0 : w === 0 ? 1 : w;
      }
      // then yield to the event loop between polls: setImmediate turns (fine-grained) for as long
      // as the CPU part took (at least 2 ms), then 1 ms sleeps (an engine far slower than expected)
      const fine = Math.max(2e6, t1 - t0);
      while (r === 0) {
        polls++;
        if (Bun.nanoseconds() - t1 < fine) await new Promise((res) => setImmediate(res));
        else await Bun.sleep(1);
        r = sym.ferry_engine_poll(e.handle, rec.ptr);
      }
      engineRunning = false;
      const waitNs = engineFirst ? 0 : Bun.nanoseconds() - t1;
      if (rep) rep.split = { cpuBytes: k, engineBytes: n - k, cpuNs: t1 - t0, waitNs, polls, engineFirst };
      if (r < 0) throw fail(r, `send (offload split): engine "${e.name}" copy`);
      const rp = sym.ferry_pub_publish(this.handle, token, n, hdr, hdr?.length ?? 0, null);
      if (rp < 0) throw fail(rp, "send (offload split): publish");
      return this.#info.seq;
    } catch (err) {
      // the engine's part is over (or never started) before the slot goes back
      while (engineRunning && sym.ferry_engine_poll(e.handle, rec.ptr) === 0) await new Promise((res) => setImmediate(res));
      if (!this.closed) sym.ferry_pub_unloan(h, token);
      throw err;
    } finally {
      this.#splitting = false;
      unpin();
      void rec.keep;
      void cpu.keep;
      void bytes;
    }
  }

  /**
   * Resolves (with the count) once at least `n` subscribers are present: any
   * subscribers (broadcast ones and group members alike), or with opts.group
   * the members of that worker group (the group must exist with n members).
   * A subscriber counts from its subscribe() on: messages published after
   * this resolves reach it. Asynchronous: the event loop runs while it polls
   * (1 ms, doubling up to 25 ms); crashed subscribers are reaped, not counted.
   * Rejects FERRY_E_TIMEOUT after opts.timeoutMs (default 30 s; negative or
   * Infinity: forever) and FERRY_E_CLOSED when this publisher closes meanwhile.
   */
  async waitForSubscribers(n: number, opts?: WaitForSubscribersOptions): Promise<number> {
    void this.handle; // FERRY_E_CLOSED first
    checkInt(n, "waitForSubscribers count", 0, 2 ** 32 - 1);
    const o = optionsOf(opts, "waitForSubscribers");
    const timeoutMs = checkTimeout(o.timeoutMs, 30_000);
    const group = cstr(checkGroup(o.group)); // "": every subscriber
    const what = o.group === undefined ? "subscriber(s)" : `member(s) of group ${JSON.stringify(o.group)}`;
    const out = new Uint32Array(1);
    const deadline = performance.now() + timeoutMs;
    for (let delay = POLL_MIN_MS; ; delay = Math.min(delay * 2, POLL_MAX_MS)) {
      void this.handle; // FERRY_E_CLOSED once this publisher or its channel closed
      check(sym.ferry_channel_subscribers(this.channel.handle, group, out), "waitForSubscribers");
      if (out[0]! >= n) return out[0]!;
      const left = deadline - performance.now();
      if (left <= 0)
        throw new FerryError(Errno.TIMEOUT, `channel "${this.channel.name}" has ${out[0]} of ${n} ${what} after ${timeoutMs} ms`);
      await sleep(Math.min(delay, left));
    }
  }

  /** Engine sends still in flight. */
  get pending(): number { return this.#sends.pending; }

  /**
   * Synchronous inline copy + publish. Always inline: it does not ask the
   * policy ("auto" means inline here); use send() for the policy's choice.
   */
  sendSync(data: Uint8Array | ArrayBufferView | ArrayBuffer, options?: SendOptions): number {
    if (this.closed) void this.handle; // FERRY_E_CLOSED before complaining about arguments
    const bytes = bytesOf(data, "sendSync() data");
    const opts = optionsOf(options, "sendSync");
    if (opts.chunkBytes !== undefined) checkChunkBytes(opts.chunkBytes);
    return this.#inline(bytes, opts.mode ?? "auto", opts.cache, opts.header, checkFlag(opts.checksum, "checksum"));
  }

  #inline(bytes: Uint8Array, mode: Mode, cache: CachePlacement | undefined, header: Header, sum: boolean): number {
    const h = this.handle;
    if (mode === "offload" || mode === "pipelined")
      throw new FerryError(Errno.INVAL, `mode "${mode}" is asynchronous: use send()`);
    if (mode === "zero-copy")
      throw new FerryError(Errno.INVAL, `mode "zero-copy" means loan() + publish(); send() copies`);
    if (mode !== "inline" && mode !== "auto") throw new FerryError(Errno.INVAL, `unknown mode "${mode}"`);
    const hint = cacheHint(cache);
    const hdr = encodeHeader(header, sum ? bytes : undefined);
    const rc = sym.ferry_pub_send_hint(h, bytes.length ? bytes : null, bytes.length, hdr, hdr?.length ?? 0, hint, null);
    if (rc < 0) throw fail(rc, "send");
    return this.#info.seq;
  }

  protected override beforeFree(): void {
    this.#sends.stop();
  }

  /** ferry_pub_close waited for engine copies in flight; finished offloads are not published. */
  protected override afterFree(): void {
    this.#sends.rejectAll();
    super.afterFree();
  }
}
