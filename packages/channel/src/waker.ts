/**
 * Waking the event loop. An async wait must neither block the event loop nor
 * burn CPU, so every wait below sleeps on a file descriptor the event loop
 * reads, after an arm call that says what to wait for (and returns 1 when it
 * is already there). Three wake sources:
 *
 *  - directWake (subscriber, receive()): a datagram socket in the abstract
 *    namespace. A publisher that publishes while this subscriber is armed
 *    writes one byte to it: one sleeping thread (the event loop) per wake-up.
 *    Read by Bun's socket layer (SocketWaker below), not a stream reader.
 *  - progressWake (subscriber, pipelined ready()/chunks()): an eventfd (Waker) fed by
 *    a native waiter thread (ferry_sub_notify_fd) that sleeps on the
 *    message's progress futex, after a bounded spin for "hybrid". Progress is
 *    written by the publisher's copy engine, which only does a futex wake, so
 *    nothing can write the direct-wake socket for it: that is why a
 *    Subscriber keeps two wakers (created on first use; most have one).
 *  - jobWake (publisher, engine sends): a socketpair end the engine itself
 *    writes a byte to when a send finishes (no helper thread), read by Bun's
 *    socket layer like directWake (a SocketWaker); send.ts also collects at
 *    least every 10 ms for engines that only finish records when polled.
 *
 * A fourth way is not a Waker: Message.copyTo polls its engine's completion
 * record between setImmediate turns (the receiver's own copy, usually "cpu",
 * which finishes inside the call).
 *
 * What the fixed wait names mean here: "spin" never reaches a Waker (the
 * caller spins in libferry on the JS thread); "block" and "hybrid" both sleep
 * on the event loop. For receive(), hybrid first spins libferry's adaptive
 * budget (2-100 µs, halved after every miss) on the JS thread, in the same
 * native call that arms the wake (ferry_sub_receive_or_arm); for progress,
 * hybrid is the waiter thread's spin-then-sleep.
 */
import type { Socket } from "bun";

type WakeSocket = Socket<unknown>;
import type { Pointer } from "bun:ffi";
import { Wait, check, lib } from "@ferry/native";

const sym = lib.symbols;

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

/* Held SocketWakers get a call at least every REARM_MS from one shared timer,
 * so their owner re-arms (which reaps dead publishers); a timer per wait
 * would cost a timer insert and removal on every wake-up. The ticker stops
 * once nobody holds. */
const REARM_MS = 100;
const held = new Set<SocketWaker>();
let ticker: ReturnType<typeof setInterval> | null = null;
function tick() {
  if (held.size === 0) {
    clearInterval(ticker!);
    ticker = null;
    return;
  }
  for (const w of [...held]) w.tick();
}

/**
 * The direct wake read by Bun's socket layer: the subscriber's datagram
 * socket adopted with Bun.connect({ fd }) (a duplicate this object owns), so
 * a wake-up runs `onWake` straight from the event loop's poll: one recv per
 * wake, no stream reader, no promise in between (Bun.file(fd).stream()
 * measured 10-20 µs slower per wake-up after idle: tools/wake-hops.ts).
 * `hold(true)` while someone waits: the socket keeps the process alive and
 * the re-arm tick calls onWake; `hold(false)` otherwise, so an idle
 * subscriber does not keep its process alive. Spurious calls are fine: the
 * owner re-checks and re-arms (ferry_sub_receive_or_arm).
 *
 * Letting go is lazy: hold(false) only records it, and the next re-arm tick
 * (≤ 100 ms) unrefs the socket if nobody held it again meanwhile, so a
 * request / reply loop does not pay the socket's unref + ref (two native
 * calls, µs each after an idle gap) on every receive.
 */
export class SocketWaker {
  #connecting: Promise<void> | null;
  #sock: WakeSocket | null = null;
  /** someone waits (the owner's view) */
  #held = false;
  /** the socket is ref'd and in the tick's set (lags #held by up to a tick when letting go) */
  #refd = false;
  #closed = false;
  readonly #onWake: () => void;
  readonly #onTick: (() => void) | undefined;

  /** `onTick`: run first on each re-arm tick (the subscriber's reap of dead peers: ferry_sub_reap). */
  constructor(fd: number, onWake: () => void, onTick?: () => void) {
    check(fd, "wake socket");
    this.#onWake = onWake;
    this.#onTick = onTick;
    const self = this;
    this.#connecting = Bun.connect({
      fd,
      socket: {
        data() {
          self.fire();
        },
        error() {},
      },
    } as unknown as Parameters<typeof Bun.connect>[0]).then((s: WakeSocket) => {
      this.#sock = s;
      this.#connecting = null;
      if (this.#closed) s.terminate();
      else if (!this.#refd) s.unref();
      this.fire(); // anything that arrived before the socket was adopted
    });
  }

  /** Non-null until the socket is adopted; the owner's first waits are served when it is. */
  get connecting(): Promise<void> | null {
    return this.#connecting;
  }

  /** @internal a wake-up: call the owner while it holds. */
  fire() {
    if (this.#held && !this.#closed) this.#onWake();
  }

  /** @internal the re-arm tick: the owner's periodic work, then a wake-up; or let go of the socket. */
  tick() {
    if (this.#closed) return;
    if (!this.#held) return this.#unref();
    this.#onTick?.();
    this.fire();
  }

  hold(on: boolean) {
    if (on === this.#held || this.#closed) return;
    this.#held = on;
    if (on && !this.#refd) {
      this.#refd = true;
      this.#sock?.ref();
      held.add(this);
      ticker ??= setInterval(tick, REARM_MS);
    }
  }

  #unref() {
    if (!this.#refd) return;
    this.#refd = false;
    this.#sock?.unref();
    held.delete(this);
  }

  close() {
    if (this.#closed) return;
    this.hold(false);
    this.#unref();
    this.#closed = true;
    this.#sock?.terminate();
  }
}

/**
 * Subscriber `h`'s direct-wake socket: signalled by publishers when something is receivable.
 * Its arm calls pass ARM_NO_REAP: the re-arm tick reaps dead peers instead (`reap`, at most
 * every 100 ms while someone waits), so no liveness check runs between a request the process
 * just published and its sleep (on a shared CPU the peer that answers waits for that sleep).
 */
export function directWake(h: Pointer, onWake: () => void, reap: () => void): SocketWaker {
  return new SocketWaker(sym.ferry_sub_wake_socket(h), onWake, reap);
}

/**
 * Subscriber `h`'s waiter thread: signalled once held message progress (armed per wait) is reached.
 * The thread keeps the strategy it was started with ("block" or "hybrid") for the subscriber's life.
 */
export function progressWake(h: Pointer, wait: "block" | "hybrid"): Waker {
  return new Waker(sym.ferry_sub_notify_fd(h, Wait[wait]), () => sym.ferry_sub_arm(h));
}

/**
 * Publisher `h`'s job socket (ferry_pub_wake_socket): the engine writes a
 * byte to it when an engine send finishes; `onWake` collects. Sends that
 * finished before it was adopted are collected by the first call (the
 * adoption fires once).
 */
export function jobWake(h: Pointer, onWake: () => void): SocketWaker {
  return new SocketWaker(sym.ferry_pub_wake_socket(h), onWake);
}
