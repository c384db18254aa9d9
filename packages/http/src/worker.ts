/**
 * The worker side: serveWorker(name, handler) joins gateway `name`'s worker
 * group, hands each request to `handler` with its body as a read-only view of
 * shared memory, and publishes the Response on the gateway's reply channel.
 * A handler may fill the response body in place: req.loanBody(size).
 */
import { Channel, FerryError, type Loan, type Message, type Publisher, type Subscriber, type TrustOptions } from "@ferry/channel";
import { DEFAULT_GROUP, publishOrReturn, requestChannel } from "./common";
import { decodeMeta, encodeMeta, headerPairs, pairsToHeaders, type RequestMeta } from "./meta";

const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** A response body written in place into the reply channel (zero-copy egress). */
export interface BodyLoan {
  /** Writable shared memory of the size asked for. */
  readonly bytes: Uint8Array;
  /**
   * The Response to return from the handler: status and headers from `init`, body = the first
   * `length` bytes of `bytes` (default all of them). The loan is published with it; no copy.
   */
  response(init?: ResponseInit, length?: number): Response;
}

/** What a handler receives. */
export interface WorkerRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  /**
   * The body: a read-only view of shared memory (no copy), valid until the handler's promise
   * settles. Writing to it faults (the arena is mapped read-only); copy with .slice() what you keep.
   */
  readonly bytes: Uint8Array;
  /** The body parsed as JSON (synchronous; `await req.json()` works too). */
  json<T = unknown>(): T;
  /** The body decoded as UTF-8 (synchronous). */
  text(): string;
  /** A private copy of the body. */
  arrayBuffer(): ArrayBuffer;
  /** Borrow `size` bytes of the reply channel to build the response body in place; see BodyLoan. */
  loanBody(size: number): BodyLoan;
}

export type Handler = (req: WorkerRequest) => Response | Promise<Response>;

export interface WorkerOptions {
  /** Worker group (must match the gateway's `group`). Default "http". */
  group?: string;
  /** Requests this process handles at once. Default 1 (a busy worker leaves the next request to an idle one). */
  concurrency?: number;
  /** Trust options for opening the gateway's channels (another uid, group-writable). */
  trust?: TrustOptions;
  /** How long a reply may wait for room in the reply channel (then the gateway's own timeout answers). Default 30 s. */
  replyTimeoutMs?: number;
}

export interface WorkerHandle {
  /** Resolves once this process has joined the group of a running gateway (the first time). */
  readonly ready: Promise<void>;
  /** Requests handled so far. */
  readonly handled: number;
  /** Leave the group: requests in progress finish first. Idempotent. */
  close(): Promise<void>;
}

/** Responses a loaned body was attached to (BodyLoan.response). */
const loaned = new WeakMap<Response, { loan: Loan; length: number; pub: Publisher }>();

interface ReplyTarget {
  ch: Channel;
  pub: Publisher;
}

export function serveWorker(name: string, handler: Handler, opts: WorkerOptions = {}): WorkerHandle {
  if (typeof handler !== "function") throw new TypeError("serveWorker(name, handler): handler must be a function");
  const group = opts.group ?? DEFAULT_GROUP;
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 64)
    throw new TypeError(`serveWorker: concurrency must be an integer from 1 to 64, got ${String(concurrency)}`);
  const replyTimeoutMs = opts.replyTimeoutMs ?? 30_000;
  const trust = opts.trust;
  const replyPrefix = `${name}.rp`;

  let closed = false;
  let handled = 0;
  let inFlight = 0;
  const waiters = new Set<() => void>();
  const slotFreed = () => new Promise<void>((r) => waiters.add(r));
  let sub: Subscriber | null = null;
  let ch: Channel | null = null;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const replies = new Map<string, ReplyTarget>();

  const replyTo = (r: string): ReplyTarget => {
    let t = replies.get(r);
    if (!t) {
      if (!r.startsWith(replyPrefix)) throw new Error("request names a reply channel of another gateway");
      const c = Channel.open(r, trust ? { trust } : {});
      t = { ch: c, pub: c.publisher({ backpressure: "block", timeoutMs: replyTimeoutMs }) };
      replies.set(r, t);
    }
    return t;
  };
  // a gateway that went away leaves its reply channel mapped here: let go of it
  const sweep = setInterval(() => {
    for (const [r, t] of replies) {
      let gone = true;
      try { gone = t.ch.stats().subscribers === 0; } catch {}
      if (gone) {
        replies.delete(r);
        try { t.ch.close(); } catch {}
      }
    }
  }, 2_000);
  sweep.unref?.();

  const sendError = (t: ReplyTarget, id: number, status: number, text: string) => {
    const { header, prefix } = encodeMeta({ id, s: status, h: [["content-type", "text/plain; charset=utf-8"]] });
    void prefix; // an error's meta is always small
    t.pub.sendSync(new TextEncoder().encode(`${text}\n`), { header });
  };

  /**
   * Publish `res` on the reply channel. `done` (the request message's release) runs as soon as the
   * body no longer needs the request's memory, before the reply is published: the gateway's next
   * upload may then loan that space the moment this reply wakes it.
   */
  const reply = async (t: ReplyTarget, id: number, res: Response, done: () => void) => {
    const meta = { id, s: res.status, h: headerPairs(res.headers) };
    const { header, prefix, prefixLen } = encodeMeta(meta);
    const l = loaned.get(res);
    if (l) {
      if (l.pub !== t.pub) throw new Error("loanBody() of another request");
      done();
      if (prefix === null) {
        publishOrReturn(t.pub, l.loan, { header, length: l.length });
        return;
      }
      // response headers too long for the message header: they go in front of the body (one copy)
      const withMeta = t.pub.loan(prefixLen + l.length);
      withMeta.bytes.set(prefix, 0);
      withMeta.bytes.set(l.loan.bytes.subarray(0, l.length), prefixLen);
      t.pub.unloan(l.loan);
      publishOrReturn(t.pub, withMeta, { header });
      return;
    }
    const body = res.body === null ? EMPTY : await res.bytes();
    done();
    if (prefix === null) {
      t.pub.sendSync(body, { header });
      return;
    }
    const loan = t.pub.loan(prefixLen + body.length);
    const v = loan.bytes;
    v.set(prefix, 0);
    v.set(body, prefixLen);
    publishOrReturn(t.pub, loan, { header });
  };

  const handle = async (msg: Message) => {
    let t: ReplyTarget | null = null;
    let id = 0;
    const ownLoans: Loan[] = [];
    try {
      const payload = msg.length ? msg.bytes : EMPTY;
      const { meta, offset } = decodeMeta<RequestMeta>(msg.header, payload);
      id = meta.id;
      try {
        t = replyTo(meta.r);
      } catch {
        return; // its gateway is gone: nobody to answer
      }
      if (Date.now() > meta.d) return; // the gateway answered 504 already
      t.pub.sendSync(EMPTY, { header: { id, ack: process.pid } });
      const bytes = offset ? payload.subarray(offset) : payload;
      const target = t;
      const req: WorkerRequest = {
        method: meta.m,
        url: meta.u,
        headers: pairsToHeaders(meta.h),
        bytes,
        json: <T>() => JSON.parse(dec.decode(bytes)) as T,
        text: () => dec.decode(bytes),
        arrayBuffer: () => bytes.slice().buffer,
        loanBody(size: number): BodyLoan {
          const loan = target.pub.loan(size);
          ownLoans.push(loan);
          const lb: BodyLoan = {
            bytes: loan.bytes,
            response(init?: ResponseInit, length = size) {
              if (!Number.isSafeInteger(length) || length < 0 || length > size)
                throw new RangeError(`BodyLoan.response: length must be an integer from 0 to ${size}`);
              const r = new Response(null, init);
              loaned.set(r, { loan, length, pub: target.pub });
              return r;
            },
          };
          return lb;
        },
      };
      let res: Response;
      try {
        res = await handler(req);
        if (!(res instanceof Response)) throw new TypeError("the handler did not return a Response");
      } catch (e) {
        console.error(`@ferry/http worker (pid ${process.pid}): handler failed:`, e);
        sendError(t, id, 500, "internal server error: the worker's handler failed");
        return;
      }
      try {
        await reply(t, id, res, () => {
          if (!msg.released) msg.release();
        });
      } catch (e) {
        const code = (e as FerryError)?.code;
        if (code === "FERRY_E_TOOBIG")
          sendError(t, id, 502, "bad gateway: the worker's response is larger than the gateway's reply capacity");
        else {
          console.error(`@ferry/http worker (pid ${process.pid}): reply failed:`, e);
          try { sendError(t, id, 502, "bad gateway: the worker could not send its response"); } catch {}
        }
      }
    } catch (e) {
      console.error(`@ferry/http worker (pid ${process.pid}): bad request message:`, e);
    } finally {
      for (const l of ownLoans) if (l.active) try { t?.pub.unloan(l); } catch {}
      if (!msg.released) msg.release();
      handled++;
    }
  };

  /** The request channel once it exists (Channel.waitFor, called off by close()), or null once closed. */
  const stop = new AbortController();
  const openWhenThere = async (): Promise<Channel | null> => {
    try {
      return await Channel.waitFor(requestChannel(name), { timeoutMs: -1, signal: stop.signal, ...(trust ? { trust } : {}) });
    } catch (e) {
      if (closed && e instanceof FerryError && e.code === "FERRY_E_CLOSED") return null;
      throw e;
    }
  };

  const run = async () => {
    while (!closed) {
      ch = await openWhenThere();
      if (ch === null) break;
      sub = ch.subscribe({ group, wait: "hybrid" });
      markReady();
      try {
        for (;;) {
          while (inFlight >= concurrency) await slotFreed();
          if (closed) break;
          const msg = await sub.receive();
          inFlight++;
          void handle(msg).finally(() => {
            inFlight--;
            const w = [...waiters];
            waiters.clear();
            for (const f of w) f();
          });
        }
      } catch (e) {
        const code = (e as FerryError)?.code;
        if (!closed && code !== "FERRY_E_EOF" && code !== "FERRY_E_PEERDEAD" && code !== "FERRY_E_CLOSED")
          console.error(`@ferry/http worker (pid ${process.pid}):`, e);
        // the gateway closed or died: wait for the next one under this name
        while (inFlight > 0) await slotFreed();
        try { ch.close(); } catch {}
        ch = null;
        sub = null;
        if (!closed) await Bun.sleep(code === "FERRY_E_PEERDEAD" ? 500 : 20);
      }
    }
  };
  const done = run();

  return {
    ready,
    get handled() {
      return handled;
    },
    async close() {
      if (closed) return done;
      closed = true;
      stop.abort();
      clearInterval(sweep);
      while (inFlight > 0) await slotFreed();
      try { sub?.close(); } catch {}
      try { ch?.close(); } catch {}
      for (const t of replies.values()) try { t.ch.close(); } catch {}
      replies.clear();
      await done.catch(() => {});
    },
  };
}
