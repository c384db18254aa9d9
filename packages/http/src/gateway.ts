/**
 * The front: gateway({ name, maxBodyBytes, timeoutMs }) gives a Bun.serve
 * fetch handler that streams each request body into a loan of the request
 * channel (a worker group consumes it), and answers with the reply a worker
 * publishes on this gateway's own reply channel (correlated by id).
 */
import { Channel, FerryError, type Loan, type Message, type Publisher, type Subscriber } from "@ferry/channel";
import { DEFAULT_GROUP, alive, checkShmSpace, errorResponse, procStart, publishOrReturn, requestChannel } from "./common";
import { REF_HEADER, REGISTER_PATH, RefError, RefRegistry } from "./refs";
import { decodeMeta, encodeMeta, headerPairs, pairsToHeaders, type AckMeta, type ReplyMeta, type RequestMeta } from "./meta";

const MiB = 2 ** 20;

export interface GatewayOptions {
  /** The gateway's name (workers call serveWorker(name, ...)): a channel name of at most 40 bytes. */
  name: string;
  /** Largest request body accepted (413 above it). Default 64 MiB. */
  maxBodyBytes?: number;
  /** How long a request may wait for its reply, upload excluded (504 after). Default 30 s. */
  timeoutMs?: number;
  /** Request arena bytes: bodies in flight at once. Default max(2 × maxBodyBytes, 64 MiB) (+ 1 MiB for metadata). */
  capacity?: number;
  /** Reply arena bytes: response bodies in flight at once; a larger response is a 502. Default max(maxBodyBytes, 64 MiB) + 1 MiB. */
  replyCapacity?: number;
  /** The worker group on the request channel. Default "http". */
  group?: string;
  /** Replies up to this size are copied out and released at once (with a Content-Length); larger ones are streamed
   * from shared memory (chunked) and released once written. Default 256 KiB. */
  copyReplyBelow?: number;
  /** A chunked upload starts with a loan of this size and doubles it (re-loan + copy) up to maxBodyBytes. Default 1 MiB. */
  initialChunkBytes?: number;
  /** Request ring slots (most requests in flight). Default 1024. */
  slots?: number;
  /**
   * Accept the same-host reference form (refClient(): a body already in a Ferry channel of a
   * client on this host, named by host, channel, sequence and length). Default false: such
   * requests get a 4xx saying that references are not enabled.
   */
  references?: boolean;
}

export interface GatewayStats {
  /** Requests waiting for a reply. */
  pending: number;
  /** Replies that arrived after their request had timed out (discarded). */
  late: number;
  /** Live members of the worker group (as last counted). */
  workers: number;
  /** Request and reply arena bytes in use. */
  requestArenaUsed: number;
  replyArenaUsed: number;
}

export interface Gateway {
  readonly name: string;
  readonly maxBodyBytes: number;
  readonly timeoutMs: number;
  /** The Bun.serve / Hono handler: `Bun.serve({ fetch: gw.fetch, maxRequestBodySize: gw.maxBodyBytes })`. */
  readonly fetch: (req: Request, server?: { timeout?(req: Request, seconds: number): void } | null) => Promise<Response>;
  /** Resolves with the count once at least n workers are serving (FerryError FERRY_E_TIMEOUT after timeoutMs). */
  waitForWorkers(n?: number, opts?: { timeoutMs?: number }): Promise<number>;
  /** Live workers now. */
  workers(): number;
  stats(): GatewayStats;
  /** Answers every pending request 503, closes and removes both channels. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
}

interface Pending {
  resolve(r: Response): void;
  timer: ReturnType<typeof setTimeout>;
  /** the worker that claimed it (its ack) */
  pid: number;
  start: string;
}

/** A reply that does not come as a Response: an HTTP error to send. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);
let gatewaysInProcess = 0;

function checkPositiveInt(v: unknown, what: string, min = 0): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) throw new TypeError(`gateway: ${what} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

export function gateway(opts: GatewayOptions): Gateway {
  if (typeof opts !== "object" || opts === null) throw new TypeError("gateway(options): options must be an object");
  const name = opts.name;
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/.test(name))
    throw new TypeError(`gateway: name must be 1-40 of A-Z a-z 0-9 - _ . (starting with a letter or digit), got ${JSON.stringify(name)}`);
  const maxBodyBytes = checkPositiveInt(opts.maxBodyBytes ?? 64 * MiB, "maxBodyBytes");
  const timeoutMs = checkPositiveInt(opts.timeoutMs ?? 30_000, "timeoutMs", 1);
  const capacity = checkPositiveInt(opts.capacity ?? Math.max(2 * maxBodyBytes, 64 * MiB) + MiB, "capacity", 1);
  const replyCapacity = checkPositiveInt(opts.replyCapacity ?? Math.max(maxBodyBytes, 64 * MiB) + MiB, "replyCapacity", 1);
  const copyReplyBelow = checkPositiveInt(opts.copyReplyBelow ?? 256 * 1024, "copyReplyBelow");
  const initialChunk = Math.max(1, Math.min(checkPositiveInt(opts.initialChunkBytes ?? MiB, "initialChunkBytes", 1), maxBodyBytes || 1));
  const group = opts.group ?? DEFAULT_GROUP;
  const slots = opts.slots ?? 1024;
  if (capacity < maxBodyBytes + 64 * 1024)
    throw new TypeError(`gateway: capacity (${capacity}) must exceed maxBodyBytes (${maxBodyBytes}) by at least 64 KiB (request metadata)`);

  checkShmSpace(capacity + replyCapacity, `gateway "${name}" (request arena ${capacity} + reply arena ${replyCapacity} bytes)`);

  const replyName = `${name}.rp${process.pid}x${++gatewaysInProcess}`;
  const onCreateError = (e: unknown, what: string): never => {
    if (e instanceof FerryError && /space|ENOSPC|memory|ENOMEM/i.test(e.message))
      checkShmSpace(Number.MAX_SAFE_INTEGER, what); // throws the advice
    throw e;
  };
  let reqCh: Channel;
  let repCh: Channel;
  try {
    reqCh = Channel.create(requestChannel(name), { capacity, slots });
  } catch (e) {
    onCreateError(e, `gateway "${name}"`);
    throw e;
  }
  try {
    repCh = Channel.create(replyName, { capacity: replyCapacity, slots: 4096 });
  } catch (e) {
    reqCh.close();
    onCreateError(e, `gateway "${name}"`);
    throw e;
  }
  // "error": a full arena never blocks the event loop; loans wait asynchronously (loanAsync)
  const pub: Publisher = reqCh.publisher({ backpressure: "error" });
  const sub: Subscriber = repCh.subscribe({ wait: "hybrid" });
  // our own (idle) publisher on the reply channel: its publishers never all leave, so the
  // reply loop never sees end of stream while workers come and go
  const keep: Publisher = repCh.publisher({ backpressure: "error" });

  const refs = opts.references === true ? new RefRegistry(maxBodyBytes) : null;
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let late = 0;
  let closed = false;
  let watch: ReturnType<typeof setInterval> | null = null;

  const countWorkers = (): number => (closed ? 0 : reqCh.stats().subscribers);

  /* ------------------------------------------------ replies */

  const settle = (id: number, r: Response) => {
    const p = pending.get(id);
    if (!p) return false;
    pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(r);
    if (pending.size === 0 && watch) {
      clearInterval(watch);
      watch = null;
    }
    return true;
  };

  const toResponse = (msg: Message, meta: ReplyMeta, offset: number): Response => {
    const headers = pairsToHeaders(meta.h);
    const status = typeof meta.s === "number" && meta.s >= 200 && meta.s <= 599 ? meta.s : 502;
    const len = msg.length - offset;
    if (len === 0 || NULL_BODY.has(status)) {
      msg.release();
      return new Response(null, { status, headers });
    }
    if (len <= copyReplyBelow) {
      const body = msg.bytes.slice(offset); // Bun copies a Uint8Array body anyway: copy once, release now
      msg.release();
      return new Response(body, { status, headers });
    }
    // large: stream straight from shared memory, release once the last piece was taken by the socket
    // (a pull stream: Bun asks for the next piece only after the previous one was written or buffered)
    const view = msg.bytes;
    let off = offset;
    const CH = MiB;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        msg.release();
      }
    };
    headers.delete("content-length"); // Bun sends a stream chunked
    const body = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (off >= view.length) {
            release();
            c.close();
            return;
          }
          const end = Math.min(off + CH, view.length);
          if (end < view.length) c.enqueue(view.subarray(off, end));
          else {
            // the last piece: a copy (at most 1 MiB), so the message goes back now, not on a
            // pull that only comes once the socket took it (and never if nobody asks again)
            c.enqueue(view.slice(off, end));
            release();
            c.close();
          }
          off = end;
        },
        cancel() {
          release();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status, headers });
  };

  const onMessage = (msg: Message) => {
    wakeSpaceWaiters();
    let meta: ReplyMeta | AckMeta;
    let offset: number;
    try {
      ({ meta, offset } = decodeMeta<ReplyMeta | AckMeta>(msg.header, msg.length ? msg.bytes : new Uint8Array(0)));
    } catch {
      msg.release(); // not ours to understand: drop it
      return;
    }
    const p = pending.get(meta.id);
    if (!p) {
      // its request timed out (504 sent) or was answered otherwise: discard cleanly
      if (!("ack" in meta)) late++;
      msg.release();
      return;
    }
    if ("ack" in meta) {
      msg.release();
      const pid = meta.ack;
      const ps = typeof pid === "number" ? procStart(pid) : null;
      if (ps) {
        p.pid = pid;
        p.start = ps.start;
      }
      return;
    }
    let r: Response;
    try {
      r = toResponse(msg, meta, offset);
    } catch {
      if (!msg.released) msg.release();
      r = errorResponse(502, "bad gateway: the worker's reply could not be read");
    }
    settle(meta.id, r);
  };

  // replies straight from the wake-up (subscriber.listen): no promise per reply
  const listenReplies = (): void => {
    sub.listen(onMessage).done.catch(async () => {
      if (closed) return;
      // not expected (our own publisher keeps the stream open): keep serving after a pause
      await Bun.sleep(10);
      if (!closed) try { listenReplies(); } catch {}
    });
  };
  listenReplies();

  /* ------------------------------------------------ liveness of the workers holding requests */

  const tick = () => {
    if (closed || pending.size === 0) return;
    let unclaimed = 0;
    for (const [id, p] of pending) {
      if (p.pid === 0) unclaimed++;
      else if (!alive(p.pid, p.start)) {
        settle(id, errorResponse(502, `bad gateway: the worker process handling this request (pid ${p.pid}) exited before it answered`));
        // give back what it held: its claim on the request, any reply loan it had open
        try { reqCh.reap(); repCh.reap(); } catch {}
      }
    }
    if (unclaimed > 0) {
      try { reqCh.reap(); } catch {}
      if (countWorkers() === 0)
        for (const [id, p] of pending)
          if (p.pid === 0) settle(id, errorResponse(503, "service unavailable: no live worker is serving this gateway"));
    }
  };
  const startWatch = () => {
    watch ??= setInterval(tick, 50);
  };

  /* ------------------------------------------------ requests */

  /** loans waiting for room: woken by every reply (a worker releases its request before it replies) */
  const spaceWaiters = new Set<() => void>();
  const wakeSpaceWaiters = () => {
    if (spaceWaiters.size) for (const w of [...spaceWaiters]) w();
  };

  /** loan `size` bytes, waiting (asynchronously) while the arena is full or 128 loans are out. */
  const loanAsync = async (size: number, deadline: number): Promise<Loan> => {
    for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
      if (closed) throw new HttpError(503, "service unavailable: the gateway is closing");
      try {
        return pub.loan(size);
      } catch (e) {
        if (!(e instanceof FerryError) || (e.code !== "FERRY_E_FULL" && e.code !== "FERRY_E_LIMIT")) throw e;
      }
      if (performance.now() > deadline)
        throw new HttpError(503, "service unavailable: no room for the request body (too many requests in flight)");
      // retry when a reply arrives (its worker has given the request's space back) or after `delay`
      await new Promise<void>((resolve) => {
        const t = setTimeout(wake, delay);
        function wake() {
          clearTimeout(t);
          spaceWaiters.delete(wake);
          resolve();
        }
        spaceWaiters.add(wake);
      });
    }
  };

  const tooLarge = () => errorResponse(413, `payload too large: the limit is ${maxBodyBytes} bytes`);

  /** Read the body into loans; resolves with the loan holding [prefix][body] and the body length. */
  const readBody = async (req: Request, prefixLen: number, declared: number | null, deadline: number) => {
    let cap = declared ?? Math.min(initialChunk, maxBodyBytes);
    let loan: Loan | null = await loanAsync(prefixLen + cap, deadline);
    let view = loan.bytes;
    let n = 0;
    const reader = req.body?.getReader();
    try {
      if (reader)
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (n + value.length > cap) {
            if (declared !== null) throw new HttpError(400, "bad request: body longer than its Content-Length");
            if (n + value.length > maxBodyBytes) {
              void reader.cancel().catch(() => {});
              throw new HttpError(413, `payload too large: the limit is ${maxBodyBytes} bytes`);
            }
            // grow: a new loan of twice the size (up to the limit), copy what we have, give the old one back
            const ncap = Math.min(maxBodyBytes, Math.max(2 * cap, n + value.length));
            const bigger = await loanAsync(prefixLen + ncap, deadline);
            bigger.bytes.set(view.subarray(prefixLen, prefixLen + n), prefixLen);
            pub.unloan(loan);
            loan = bigger;
            view = bigger.bytes;
            cap = ncap;
          }
          view.set(value, prefixLen + n);
          n += value.length;
        }
      if (req.signal.aborted) throw new HttpError(499, "client closed the request");
      if (declared !== null && n !== declared) throw new HttpError(400, "bad request: body shorter than its Content-Length");
      const l = loan;
      loan = null;
      return { loan: l, view, n };
    } finally {
      if (loan !== null) {
        try { pub.unloan(loan); } catch {}
      }
    }
  };

  /** The referenced payload copied into a loan of the request channel (the reference form). */
  const fromRef = async (t: { bytes: Uint8Array; release(): void }, prefixLen: number, deadline: number) => {
    try {
      const loan = await loanAsync(prefixLen + t.bytes.length, deadline);
      const view = loan.bytes;
      view.set(t.bytes, prefixLen);
      return { loan, view, n: t.bytes.length };
    } finally {
      t.release();
    }
  };

  const fetch = async (req: Request, server?: { timeout?(req: Request, seconds: number): void } | null): Promise<Response> => {
    if (closed) return errorResponse(503, "service unavailable: the gateway is closed");
    const refHeader = req.headers.get(REF_HEADER);
    let ref: { bytes: Uint8Array; release(): void } | null = null;
    if (refHeader !== null || (req.method === "POST" && req.url.endsWith(REGISTER_PATH))) {
      if (!refs) return errorResponse(refHeader !== null ? 400 : 404, "the reference form is not enabled on this gateway: send the body itself");
      try {
        if (refHeader === null) return refs.register(await req.json().catch(() => null));
        if (req.body !== null && req.headers.get("content-length") !== "0" && req.headers.get("content-length") !== null)
          return errorResponse(400, "bad request: a reference request has no body");
        ref = refs.take(refHeader);
      } catch (e) {
        if (e instanceof RefError) return errorResponse(e.status, e.message);
        throw e;
      }
    }
    if (ref) {
      if (countWorkers() === 0) {
        ref.release();
        return errorResponse(503, "service unavailable: no live worker is serving this gateway");
      }
      return forward(req, server, ref.bytes.length, ref);
    }
    const cl = req.headers.get("content-length");
    let declared: number | null = null;
    if (cl !== null) {
      declared = Number(cl);
      if (!/^\d+$/.test(cl.trim()) || !Number.isSafeInteger(declared)) return errorResponse(400, "bad request: invalid Content-Length");
      if (declared > maxBodyBytes) return tooLarge(); // before reading a byte
    } else if (req.body === null) declared = 0;
    if (countWorkers() === 0) {
      reqCh.reap();
      if (countWorkers() === 0) return errorResponse(503, "service unavailable: no live worker is serving this gateway");
    }
    return forward(req, server, declared, null);
  };

  const forward = async (
    req: Request,
    server: { timeout?(req: Request, seconds: number): void } | null | undefined,
    declared: number | null,
    ref: { bytes: Uint8Array; release(): void } | null,
  ): Promise<Response> => {
    // the socket must not go idle-timeout while a worker runs (Bun's default idle timeout is 10 s)
    if (server?.timeout && timeoutMs > 8_000) {
      try { server.timeout(req, Math.min(255, Math.ceil(timeoutMs / 1000) + 2)); } catch {}
    }
    const id = nextId++;
    const deadlineEpoch = Date.now() + timeoutMs;
    const meta: RequestMeta = {
      id, m: req.method, u: req.url, h: headerPairs(req.headers), r: replyName, d: deadlineEpoch, n: declared ?? -1,
    };
    if (ref) meta.h = meta.h.filter(([k]) => k !== REF_HEADER);
    const { header, prefix, prefixLen } = encodeMeta(meta);
    let body: Awaited<ReturnType<typeof readBody>>;
    try {
      body = ref
        ? await fromRef(ref, prefixLen, performance.now() + timeoutMs)
        : await readBody(req, prefixLen, declared, performance.now() + timeoutMs);
    } catch (e) {
      if (e instanceof HttpError) return errorResponse(e.status, e.message);
      if ((e as Error)?.name === "AbortError") return errorResponse(499, "client closed the request");
      console.error("@ferry/http gateway: reading a request body failed:", e);
      return errorResponse(500, "internal error while reading the request body");
    }
    if (prefix) body.view.set(prefix, 0);
    if (closed) {
      try { pub.unloan(body.loan); } catch {}
      return errorResponse(503, "service unavailable: the gateway is closed");
    }
    return new Promise<Response>((resolve) => {
      const p: Pending = {
        resolve,
        pid: 0,
        start: "",
        timer: setTimeout(() => {
          settle(id, errorResponse(504, `gateway timeout: no reply from a worker within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      pending.set(id, p);
      try {
        publishOrReturn(pub, body.loan, { header, length: prefixLen + body.n });
      } catch (e) {
        const code = (e as FerryError)?.code;
        settle(id, code === "FERRY_E_FULL"
          ? errorResponse(503, "service unavailable: too many requests in flight")
          : errorResponse(500, "internal error while handing the request to a worker"));
        if (code !== "FERRY_E_FULL") console.error("@ferry/http gateway: publish failed:", e);
        return;
      }
      startWatch();
    });
  };

  const close = () => {
    if (closed) return;
    closed = true;
    if (watch) clearInterval(watch);
    watch = null;
    for (const [id] of [...pending]) settle(id, errorResponse(503, "service unavailable: the gateway closed"));
    refs?.close();
    try { sub.close(); } catch {}
    try { keep.close(); } catch {}
    try { pub.close(); } catch {}
    reqCh.close();
    repCh.close();
  };

  return {
    name,
    maxBodyBytes,
    timeoutMs,
    fetch,
    workers: countWorkers,
    async waitForWorkers(n = 1, o?: { timeoutMs?: number }) {
      const r = await pub.waitForSubscribers(n, { timeoutMs: o?.timeoutMs ?? 30_000, group });
      countWorkers();
      return r;
    },
    stats() {
      const a = closed ? null : reqCh.stats();
      const b = closed ? null : repCh.stats();
      return {
        pending: pending.size,
        late,
        workers: a?.subscribers ?? 0,
        requestArenaUsed: a?.arenaUsed ?? 0,
        replyArenaUsed: b?.arenaUsed ?? 0,
      };
    },
    close,
    [Symbol.dispose]: close,
  };
}
