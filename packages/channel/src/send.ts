/**
 * Engine sends ("offload", "pipelined") of one publisher: submit through
 * ferry_pub_send_engine, keep a FIFO of the jobs in flight (libferry collects
 * them oldest first), and settle their promises as they finish. Finished
 * sends are collected when the publisher's job socket (waker.ts jobWake)
 * becomes readable: the engine writes a byte to it itself when a send
 * finishes, and Bun's socket layer calls back from the event loop's poll.
 */
import { ptr, type Pointer } from "bun:ffi";
import { Errno, FerryError, SEND_COPY_MAX, SendMode, fail, lib, type Engine } from "@ferry/native";
import type { Info } from "./views";
import { jobWake, type SocketWaker } from "./waker";

const sym = lib.symbols;

type Job = {
  id: number; src: Uint8Array; hash?: bigint | number; polled: boolean; offload: boolean; resolve: (seq: number) => void; reject: (e: Error) => void;
  then: Settle | null;
};

/**
 * What a policy send does when its engine send settles (publisher.ts: telling the policy how it went),
 * run by the job's own settle instead of a promise chained after it: a `.then` per send cost the
 * sending thread ~10 µs per 16 MiB offload (a reaction and its microtask, run cold after the copy).
 * `ok` sees the sequence number; `fail` sees the error and returns the sequence number of a retry, or
 * throws. Whoever takes it first runs it: submit() (`taken` set: nothing to chain) or the caller's
 * chain (publisher.ts #settleWith: then a gated send submitted later leaves it alone).
 */
export interface Settle {
  ok(seq: number): void;
  fail(err: Error): number;
  taken: boolean;
}

/** `t.ok(seq)`; what a policy's bookkeeping throws is not the sender's error. */
export function settledOk(t: Settle, seq: number): void {
  try {
    t.ok(seq);
  } catch {
    // ignored
  }
}


export class EngineSends {
  readonly #handle: Pointer;
  /** the publisher's result record: submit and collect results land here */
  readonly #info: Info;
  /** engine sends in flight, oldest first (ferry_pub_collect returns them in this order) */
  #jobs: Job[] = [];
  /** jobs in flight on engines that may finish only when polled (no FERRY_CAP_SELF_FINISH) */
  #polled = 0;
  #closed = false;
  /** held (keeps the process alive, collects on every wake-up) while jobs are in flight */
  #waker: SocketWaker | null = null;
  /** offload jobs submitted and settled (published or failed) so far, oldest first; who waits for a count of settled ones (offloadsBefore) */
  #offloadsSent = 0;
  #offloadsDone = 0;
  #offloadWaiters: { target: number; resolve: () => void }[] = [];
  /** the 10 ms collect slice, only while #polled > 0 */
  #slice: ReturnType<typeof setInterval> | null = null;

  constructor(handle: Pointer, info: Info) {
    this.#handle = handle;
    this.#info = info;
  }

  /** Engine sends still in flight. */
  get pending(): number { return this.#jobs.length; }

  /** Offload sends still in flight (each published when its copy is done). */
  get offloads(): number { return this.#offloadsSent - this.#offloadsDone; }

  /**
   * null when every offload sent so far has settled (published or failed), else a promise that resolves
   * once they have: a message published at once (inline, pipelined) after them would otherwise overtake
   * them. Offloads sent after this call are not waited for (they settle in send order, oldest first).
   */
  offloadsBefore(): Promise<void> | null {
    const target = this.#offloadsSent;
    if (this.#offloadsDone >= target) return null;
    return new Promise<void>((resolve) => this.#offloadWaiters.push({ target, resolve }));
  }

  #settledOffload() {
    const done = ++this.#offloadsDone;
    const w = this.#offloadWaiters;
    while (w.length > 0 && w[0]!.target <= done) w.shift()!.resolve(); // (targets ascend: pushed in call order)
  }

  /**
   * Submit one send (the publisher validated every argument; `chunk` is the
   * per-message chunk hint, 0 for the engine's own); resolves with
   * the message's sequence number once the copy is done (and, for
   * "offload", published).
   */
  submit(
    bytes: Uint8Array, engine: Engine, hdr: Uint8Array | null, mode: keyof typeof SendMode, cache: number, chunk: number,
    verify: boolean, then: Settle | null = null,
  ): Promise<number> {
    // libferry copies payloads of up to SEND_COPY_MAX bytes into the job during
    // this call (a small typed array's storage may move later: JSC relocates it
    // when .buffer is first materialised). Larger ones are read by the engine
    // after send() returns: materialise the ArrayBuffer first, so the address
    // stays put while the job keeps `bytes` referenced until it settles.
    if (bytes.length > SEND_COPY_MAX) void bytes.buffer;
    const src = bytes.length ? ptr(bytes) : null;
    const rc = sym.ferry_pub_send_engine(this.#handle, engine.handle, src, bytes.length, hdr, hdr?.length ?? 0, SendMode[mode], cache, chunk, null);
    if (rc < 0) return Promise.reject(fail(rc, `send (${mode})`));
    const id = this.#info.token;
    const hash = verify ? Bun.hash(bytes) : undefined;
    // an engine without FERRY_CAP_SELF_FINISH may finish its records only when polled: keep the 10 ms slice for it
    const polled = !engine.selfFinish;
    if (polled) this.#polled++;
    const offload = mode === "offload";
    if (offload) this.#offloadsSent++;
    if (then !== null) {
      if (then.taken) then = null;
      else then.taken = true;
    }
    const p = new Promise<number>((resolve, reject) => this.#jobs.push({ id, src: bytes, hash, polled, offload, resolve, reject, then }));
    this.#collect(); // an engine may have finished it already (the cpu engine does, inside the call)
    this.#watch();
    return p;
  }

  /**
   * While jobs are in flight: hold the job socket (a finishing send writes a
   * byte to it; Bun's socket layer then calls #onWake from the event loop's
   * poll, no stream reader and no promise per wake-up), and run a 10 ms slice
   * only while an engine that may finish records only when polled (no
   * FERRY_CAP_SELF_FINISH) has a job in flight. Otherwise release both.
   */
  #watch() {
    if (this.#closed) return;
    const busy = this.#jobs.length > 0;
    if (busy) this.#waker ??= jobWake(this.#handle, () => this.#onWake());
    this.#waker?.hold(busy);
    if (this.#polled > 0) this.#slice ??= setInterval(() => this.#onWake(), 10);
    else if (this.#slice !== null) {
      clearInterval(this.#slice);
      this.#slice = null;
    }
  }

  #onWake() {
    if (this.#closed) return;
    this.#collect();
    this.#watch();
  }

  #collect() {
    const info = this.#info;
    while (this.#jobs.length && sym.ferry_pub_collect(this.#handle, null) === 1) {
      const job = this.#jobs.shift()!;
      if (job.polled) this.#polled--;
      if (job.offload) this.#settledOffload();
      let err: Error | null = null;
      if (job.id !== info.token) err = new FerryError(Errno.STATE, `engine send ${job.id} collected out of order (${info.token})`);
      else if (info.status !== 0) err = fail(info.status, `engine copy of message ${job.id}`);
      else if (job.hash !== undefined && Bun.hash(job.src) !== job.hash)
        err = new FerryError(Errno.STATE, `the source of message ${info.seq} changed while an engine copied it`);
      settle(job, err, info.seq);
    }
  }

  /**
   * Before the publisher's native close: the engines' threads stop publishing for it, what finished is
   * collected (published, and its send resolved; an offload published by an engine's thread is only
   * known once collected), then the pump's wake-ups stop. What is still copying is not published: the
   * close gives its space back and rejectAll() rejects its send.
   */
  stop(): void {
    if (!this.#closed && this.#jobs.length > 0) {
      sym.ferry_pub_quiesce(this.#handle);
      this.#collect();
    }
    this.#closed = true;
    this.#waker?.close();
    if (this.#slice !== null) clearInterval(this.#slice);
    this.#slice = null;
  }

  /** After the native close (which waited for copies in flight): finished offloads are not published. */
  rejectAll(): void {
    this.#polled = 0;
    for (const job of this.#jobs.splice(0)) {
      if (job.offload) this.#settledOffload();
      settle(job, new FerryError(Errno.CLOSED, `publisher closed before engine send ${job.id} was published`), -1);
    }
  }
}

/** Settle a job's promise, through its Settle hook if it has one (what `fail` throws rejects the send). */
function settle(job: Job, err: Error | null, seq: number) {
  const t = job.then;
  if (t === null) {
    if (err === null) job.resolve(seq);
    else job.reject(err);
    return;
  }
  if (err === null) {
    settledOk(t, seq);
    job.resolve(seq);
    return;
  }
  try {
    job.resolve(t.fail(err));
  } catch (e) {
    job.reject(e as Error);
  }
}
