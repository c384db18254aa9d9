/** Subscriber: receives messages of one channel handle (broadcast, or one member of a worker group). */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { ARM_NO_REAP, Errno, FerryError, MAX_HELD, MSG_INLINE, Wait, check, closedError, cstr, fail, lendLocal, lib } from "@ferry/native";
import type { Channel } from "./channel";
import { ChannelMember } from "./handle";
import { Message } from "./message";
import {
  checkGroup, checkTimeout, checkWait, optionsOf, timeoutNs, type ReceiveOptions, type SubscribeOptions, type WaitStrategy,
} from "./types";
import { Info, Views } from "./views";
import { directWake, progressWake, type SocketWaker, type Waker } from "./waker";

const sym = lib.symbols;
const RELEASE_LATER_BYTES = MAX_HELD / 8;

/** What listen() returns. */
export interface Listener {
  /**
   * Stop calling the handler; idempotent. `done` resolves. Messages not yet
   * handed over stay in the channel for a later receive() or listen().
   */
  stop(): void;
  /**
   * Settles when the listener ends: resolves on stop(), at end of stream (every
   * publisher closed) or when the subscriber closes; rejects with
   * FERRY_E_PEERDEAD (a publisher crashed), another receive error
   * (FERRY_E_CORRUPT from verify), or what the handler threw or its promise
   * rejected with.
   */
  readonly done: Promise<void>;
}

interface Listening extends Listener {
  readonly handler: (msg: Message) => unknown;
  end(err?: unknown): void;
}

interface Parked {
  resolve(m: Message): void;
  reject(e: unknown): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** A subscriber of one channel handle. close() releases every message it holds; idempotent. */
export class Subscriber extends ChannelMember implements AsyncIterable<Message> {
  readonly wait: WaitStrategy;
  readonly group: string | undefined;
  /** subscribe({ verify }): checksums checked at receive (see SubscribeOptions). */
  readonly verify: boolean | "required";
  #arena: Views;
  /** inline messages: this subscriber's private read-only copies (lent on first use) */
  #inline: Views | null = null;
  #info: Info;
  /** ferry_sub_release_later's bits, mapped on first use */
  #later: Uint32Array | null = null;
  /** receive(): publishers write to this socket (see waker.ts) */
  #directWaker: SocketWaker | null = null;
  /** pipelined progress: a native waiter thread signals this eventfd (see waker.ts) */
  #progressWaker: Waker | null = null;

  /** @internal use channel.subscribe() */
  constructor(channel: Channel, opts: SubscribeOptions) {
    const wait = checkWait(opts.wait ?? "hybrid");
    const group = checkGroup(opts.group);
    const verify = opts.verify ?? false;
    if (verify !== true && verify !== false && verify !== "required")
      throw new FerryError(Errno.INVAL, `verify must be true, false or "required", got ${String(verify)}`);
    const out = new BigUint64Array(1);
    check(sym.ferry_sub_open(channel.handle, cstr(group), out), `subscribe to "${channel.name}"`);
    const handle = Number(out[0]) as Pointer;
    super(channel, handle, sym.ferry_sub_close);
    this.wait = wait;
    this.group = opts.group;
    this.verify = verify;
    this.#info = new Info(sym.ferry_sub_info(handle) as Pointer | null);
    // this subscriber's own buffer over the read-only arena: detached when it closes
    this.#arena = new Views(() => this.own(channel.lendRO()));
  }

  protected get what() {
    return "subscriber";
  }

  #inlineViews(): Views {
    return (this.#inline ??= new Views(() => this.own(lendLocal((out) => sym.ferry_sub_inline_lend(this.handle, out), "receive"))));
  }

  /**
   * Take the next message if one is there; never blocks. Returns null when
   * none is; throws FerryError FERRY_E_EOF / FERRY_E_PEERDEAD at end of stream.
   */
  tryReceive(): Message | null {
    if (this.#listening !== null) throw listeningError();
    const rc = sym.ferry_sub_try_receive(this.handle, null);
    if (rc === 0) return this.#message();
    if (rc === Errno.AGAIN) return null;
    throw fail(rc, "receive");
  }

  #message(): Message {
    const info = this.#info;
    const views = (info.flags & MSG_INLINE) !== 0 ? this.#inlineViews() : this.#arena;
    const m = new Message(this, views, info);
    if (this.verify) m.checkOnReceive(this.verify === "required");
    return m;
  }

  /**
   * Take the next message on this thread, synchronously: the event loop does
   * not run until it returns. With wait "spin" it busy-waits in libferry (one
   * native call: its polls cost less than a tryReceive() loop's, a call each;
   * the latency of the two is about the same, the loop's often a little
   * lower: docs/benchmarks.md); "block" sleeps the thread on the channel's futex;
   * "hybrid" spins libferry's adaptive budget, then sleeps. For worker
   * threads and dedicated loops; a service that must stay responsive awaits
   * receive() instead. `wait` overrides the subscriber's strategy for this
   * call. Throws FERRY_E_TIMEOUT, FERRY_E_EOF or FERRY_E_PEERDEAD.
   */
  receiveSync(options?: ReceiveOptions): Message {
    let wait = this.wait;
    let timeoutMs = Infinity;
    if (options !== undefined) {
      const opts = optionsOf(options, "receiveSync");
      if (opts.wait !== undefined) wait = checkWait(opts.wait);
      timeoutMs = checkTimeout(opts.timeoutMs, Infinity);
    }
    if (this.#listening !== null) throw listeningError();
    const rc = sym.ferry_sub_receive(this.handle, null, Wait[wait], timeoutNs(timeoutMs));
    if (rc < 0) throw fail(rc, "receive");
    return this.#message();
  }

  /**
   * Wait for the next message. With wait "spin" this busy-waits on the JS
   * thread (as receiveSync, the message then handed over through a resolved
   * promise); "block" sleeps until a publisher wakes this event loop, leaving it
   * free; "hybrid" (the default) first spins an adaptive 2-100 µs on the JS
   * thread (the budget halves after each miss, so an idle subscriber spins
   * ~2 µs per receive()), then sleeps as "block". `wait` overrides the subscriber's strategy for this
   * call. Rejects with FERRY_E_TIMEOUT, FERRY_E_EOF or FERRY_E_PEERDEAD
   * (FERRY_E_INVAL for an unknown wait).
   */
  receive(options?: ReceiveOptions): Promise<Message> {
    let wait = this.wait;
    let timeoutMs = Infinity;
    try {
      if (options !== undefined) {
        const opts = optionsOf(options, "receive");
        if (opts.wait !== undefined) wait = checkWait(opts.wait);
        timeoutMs = checkTimeout(opts.timeoutMs, Infinity);
      }
      if (this.#listening !== null) throw listeningError();
      if (wait === "spin") return Promise.resolve(this.receiveSync({ wait, timeoutMs }));
      // block and hybrid: receive at once, or arm the direct wake and park
      // (one native call); the wake socket's callback serves parked receives
      const h = this.handle;
      const waker = this.#wake(h);
      if (waker.connecting === null && this.#parked.length === 0) {
        // hybrid: spin the adaptive budget here first (never on wake-ups below)
        const rc = sym.ferry_sub_receive_or_arm(h, null, Wait[wait] | ARM_NO_REAP);
        if (rc === 0) return Promise.resolve(this.#message());
        if (rc < 0 && rc !== Errno.AGAIN) throw fail(rc, "receive");
        if (rc === Errno.AGAIN) setImmediate(this.#serve);
      }
      return this.#park(waker, timeoutMs);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The direct-wake socket (made on first use): its callback serves, its tick reaps. */
  #wake(h: Pointer): SocketWaker {
    return (this.#directWaker ??= directWake(h, this.#serve, this.#reap));
  }

  /** Receives waiting for a message, oldest first (see #serve). */
  #parked: Parked[] = [];

  #park(waker: SocketWaker, timeoutMs: number): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      const p: Parked = { resolve, reject, timer: undefined };
      if (timeoutMs !== Infinity)
        p.timer = setTimeout(() => {
          const i = this.#parked.indexOf(p);
          if (i < 0) return;
          this.#parked.splice(i, 1);
          if (this.#parked.length === 0) waker.hold(false);
          reject(new FerryError(Errno.TIMEOUT, `no message within ${timeoutMs} ms`));
        }, Math.max(1, timeoutMs));
      this.#parked.push(p);
      waker.hold(true);
    });
  }

  /**
   * Call `handler` with every message as it arrives, in order, straight from
   * the wake-up: no promise per message, and the wake socket stays held (it
   * keeps the process alive, as a listening server does) until the listener
   * ends. This is the receive path with the least code per message, for
   * services that answer requests; `await receive()` / `for await` suit
   * consumers that pace themselves. The handler owns each message as after
   * receive(): release it (now, or later from async work). A handler that
   * returns a promise is not awaited: the next message is handed over when it
   * arrives (keep your own queue for back-pressure, or use `for await`).
   *
   * Between messages the listener sleeps as "block"; a "hybrid" subscriber
   * spins its adaptive budget once, when the listener starts. While it
   * listens, the subscriber's receive(), receiveSync() and tryReceive() throw
   * FERRY_E_STATE, and so does a second listen(); stop() it first. Errors end
   * the listener: see Listener.done.
   */
  listen(handler: (msg: Message) => unknown): Listener {
    if (typeof handler !== "function") throw new FerryError(Errno.INVAL, "listen() needs a handler function");
    const h = this.handle;
    if (this.#listening !== null) throw listeningError();
    if (this.#parked.length > 0) throw new FerryError(Errno.STATE, "subscriber has receive() calls waiting: listen() after they settle");
    let settle!: (err?: unknown) => void;
    const done = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
    const l: Listening = {
      handler,
      done,
      stop: () => l.end(),
      end: (err) => {
        if (this.#listening !== l) return;
        this.#listening = null;
        if (this.#parked.length === 0) this.#directWaker?.hold(false);
        settle(err);
      },
    };
    this.#listening = l;
    const waker = this.#wake(h);
    waker.hold(true);
    // served from a microtask (never inside listen(): the handler may use what listen returns),
    // or once the wake socket is adopted (its first fire)
    if (waker.connecting === null) queueMicrotask(() => this.#serve(this.wait === "block" ? Wait.block : Wait.hybrid));
    return l;
  }

  /** listen(): the handler that gets every message, or null. */
  #listening: Listening | null = null;

  /**
   * The wake socket's callback (and the 100 ms re-arm tick): hand messages to
   * the listener (#deliver), or to parked receives in order, until none is
   * left, or nothing is receivable (armed again), or end of stream / an error
   * (the listener ends, every parked receive rejects). `wait`: how the first
   * receive_or_arm waits (wake-ups never spin).
   */
  #serve = (wait: number = Wait.block) => {
    const parked = this.#parked;
    for (;;) {
      const l = this.#listening;
      if (l === null && parked.length === 0) break;
      const rc = this.#take(wait);
      wait = Wait.block;
      if (rc === 1) return; // armed: the next publish wakes us
      if (rc === Errno.AGAIN) {
        setImmediate(this.#serve); // group members kept taking what arrived: yield, then again
        return;
      }
      if (rc === 0) {
        if (l !== null) {
          this.#deliver(l);
          continue;
        }
        const p = parked.shift()!;
        if (p.timer !== undefined) clearTimeout(p.timer);
        try {
          p.resolve(this.#message());
        } catch (e) {
          p.reject(e);
        }
        continue;
      }
      this.#failAll(rc);
    }
    this.#directWaker?.hold(false);
  };

  /** One ferry_sub_receive_or_arm: 0 a message (in the result record), 1 armed, else an error code. */
  #take(wait: number): number {
    return this.closed || this.channel.closed ? Errno.CLOSED : sym.ferry_sub_receive_or_arm(this.raw, null, wait | ARM_NO_REAP);
  }

  /** The re-arm tick's reap of dead peers (the arm calls above leave it out); errors surface in the next #take. */
  #reap = () => {
    if (!this.closed && !this.channel.closed) sym.ferry_sub_reap(this.raw);
  };

  /**
   * Hand the message just taken to listener `l`. It arms (or takes the next)
   * only after the handler: a reply the handler publishes wakes the requester,
   * which on a shared CPU runs at once, before this side's arming (measured:
   * arming first put that call between request and reply).
   */
  #deliver(l: Listening): void {
    let r: unknown;
    try {
      r = l.handler(this.#message());
    } catch (e) {
      l.end(e); // the handler threw, or verify refused the message
      return;
    }
    if (r instanceof Promise) r.then(undefined, l.end);
  }

  /** End of stream or an error from a receive: the listener ends, every parked receive rejects. */
  #failAll(rc: number): void {
    const err = rc === Errno.CLOSED ? closedError("subscriber") : fail(rc, "receive");
    this.#listening?.end(rc === Errno.CLOSED || rc === Errno.EOF ? undefined : err);
    for (const p of this.#parked.splice(0)) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(err);
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

  /** @internal progress of held message `token` (throws the copy's error). */
  progressOf(token: number): number {
    const p = sym.ferry_sub_progress(this.handle, token) as number;
    if (p < 0) throw fail(p, "pipelined copy");
    return p;
  }

  /**
   * @internal wait until `bytes` of held message `token` are final: "spin" on
   * this thread, else through the waiter thread. That thread keeps the
   * strategy it starts with: the subscriber's, or, when the subscriber spins,
   * that of the first call that does not.
   */
  async waitProgress(token: number, bytes: number, timeoutMs = Infinity, wait: WaitStrategy = this.wait): Promise<void> {
    const h = this.handle;
    if (wait === "spin") {
      const ns = Number.isFinite(timeoutMs) ? Math.round(timeoutMs * 1e6) : -1;
      const p = sym.ferry_sub_wait_progress(h, token, bytes, Wait.spin, ns) as number;
      if (p < 0 && p !== Errno.TIMEOUT) throw fail(p, "pipelined copy");
      return;
    }
    const thread = this.wait === "spin" ? wait : this.wait;
    await (this.#progressWaker ??= progressWake(h, thread)).wait(timeoutMs, () => sym.ferry_sub_arm_progress(h, token, bytes));
  }

  /**
   * @internal give back inline message `token` without a call: a bit the next
   * receive applies (ferry_sub_release_later; an inline message is a private
   * copy, nothing shared waits for it).
   */
  releaseLater(token: number) {
    if (this.closed) return; // closing released everything
    const w = (this.#later ??= new Uint32Array(toArrayBuffer(sym.ferry_sub_release_later(this.raw) as Pointer, 0, RELEASE_LATER_BYTES)));
    w[token >>> 5]! |= 1 << (token & 31);
  }

  /** @internal */
  releaseToken(token: number) {
    if (this.closed) return; // closing released everything
    const rc = sym.ferry_sub_release(this.raw, token);
    if (rc < 0) throw fail(rc, "release");
  }

  protected override beforeFree(): void {
    this.#progressWaker?.close();
    this.#directWaker?.close();
    this.#listening?.end();
    const err = closedError("subscriber");
    for (const p of this.#parked.splice(0)) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(err);
    }
  }
}

const listeningError = () => new FerryError(Errno.STATE, "subscriber is listening (listen()): stop() the listener first");
