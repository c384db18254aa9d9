/**
 * The broker-independent part: producers decide per message whether the
 * payload goes by reference (pinned in this host's shared memory), through
 * the broker in chunks, or both; consumers resolve what they receive, and
 * dead-letter (loudly, counted) what does not resolve.
 *
 * Wire fields of one message (all text):
 *   v=1  id  len  dg (xxHash3-64 of the payload)  from (producer's host)
 *   hdr  (the user header, JSON; optional)
 *   ref  host:channel:generation:seq:offset:length   (a reference; optional)
 *   chunks, csz, loc                                  (the payload through the broker; optional)
 */
import type { Loan } from "@ferry/channel";
import { LocalReaders, LocalStore, RefError, digestOf, formatRef, hostId, parseRef, type RefFailure } from "./local";
import {
  GROUP_RE, MqError, STREAM_RE,
  type ConsumerOptions, type ConsumerStats, type Delivery, type Header, type Message, type MqErrorCode,
  type ProducerOptions, type ProducerStats, type Subscription, type Transport,
} from "./types";

const REF_CODES: Record<RefFailure, MqErrorCode> = {
  "foreign-host": "FOREIGN_HOST",
  "channel-gone": "CHANNEL_GONE",
  generation: "GENERATION",
  unpinned: "UNPINNED",
  "publisher-dead": "PUBLISHER_GONE",
  mismatch: "MISMATCH",
  digest: "DIGEST",
  malformed: "MALFORMED",
};

const randomId = () => {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
};

/** Presence of consumers per stream, cached for a second. */
class Presence {
  readonly #cache = new Map<string, { at: number; list: { group: string; host: string }[] }>();
  constructor(readonly t: Transport) {}
  async get(stream: string): Promise<{ group: string; host: string }[]> {
    const c = this.#cache.get(stream);
    const now = performance.now();
    if (c && now - c.at < 1000) return c.list;
    let list: { group: string; host: string }[];
    try {
      list = await this.t.present(stream);
    } catch {
      list = c?.list ?? [];
    }
    this.#cache.set(stream, { at: now, list });
    return list;
  }
}

export class Bus {
  readonly #t: Transport;
  readonly #presence: Presence;
  readonly #closers = new Set<{ close(): Promise<void> }>();
  #closed = false;

  constructor(t: Transport) {
    this.#t = t;
    this.#presence = new Presence(t);
  }

  get kind(): "nats" | "redis" {
    return this.#t.kind;
  }

  /** @internal the transport (tests, bench). */
  get transport(): Transport {
    return this.#t;
  }

  producer(stream: string, opts: ProducerOptions = {}): Producer {
    if (this.#closed) throw new MqError("CLOSED", "bus is closed");
    if (!STREAM_RE.test(stream)) throw new MqError("INVALID", `stream name "${stream}": use 1-48 of A-Z a-z 0-9 _ -`);
    const p = new Producer(this.#t, this.#presence, stream, opts, () => this.#closers.delete(p));
    this.#closers.add(p);
    return p;
  }

  consumer(stream: string, opts: ConsumerOptions = {}): Consumer {
    if (this.#closed) throw new MqError("CLOSED", "bus is closed");
    if (!STREAM_RE.test(stream)) throw new MqError("INVALID", `stream name "${stream}": use 1-48 of A-Z a-z 0-9 _ -`);
    const group = opts.group ?? "default";
    if (!GROUP_RE.test(group)) throw new MqError("INVALID", `group name "${group}": use 1-31 of A-Z a-z 0-9 _ -`);
    const c = new Consumer(this.#t, stream, group, opts, () => this.#closers.delete(c));
    this.#closers.add(c);
    return c;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of [...this.#closers]) await c.close().catch(() => {});
    await this.#t.close();
  }
}

/**
 * A block to build a payload in place (producer.loan(size)): in the producer's shared memory
 * when there was room, so a same-host send copies nothing; else private memory.
 */
export class MqLoan {
  /** @internal */ constructor(readonly bytes: Uint8Array, /** @internal */ readonly inner: Loan | null) {}
}

export class Producer {
  readonly #t: Transport;
  readonly #presence: Presence;
  readonly stream: string;
  readonly #opts: Required<ProducerOptions>;
  #store: LocalStore | null = null;
  #ready: Promise<void> | null = null;
  #closed = false;
  readonly #onClose: () => void;
  readonly #sweep: ReturnType<typeof setInterval>;
  readonly #stats: ProducerStats = { sent: 0, byReference: 0, byPayload: 0, both: 0, pinned: 0, loanFallbacks: 0 };

  constructor(t: Transport, presence: Presence, stream: string, opts: ProducerOptions, onClose: () => void) {
    this.#t = t;
    this.#presence = presence;
    this.stream = stream;
    this.#opts = {
      path: opts.path ?? "auto",
      capacity: opts.capacity ?? 512 * 2 ** 20,
      ttlMs: opts.ttlMs ?? 60_000,
      window: opts.window ?? 8,
      timeoutMs: opts.timeoutMs ?? 30_000,
      drainMs: opts.drainMs ?? 5_000,
      spaceWaitMs: opts.spaceWaitMs ?? 2_000,
    };
    if (!["auto", "reference", "payload"].includes(this.#opts.path)) throw new MqError("INVALID", `path "${this.#opts.path}"`);
    this.#onClose = onClose;
    // expired pins are reclaimed even when nothing is sent
    this.#sweep = setInterval(() => this.#store?.reap(), Math.max(50, Math.min(1000, this.#opts.ttlMs / 4)));
    this.#sweep.unref?.();
  }

  #local(): LocalStore {
    if (!this.#store) this.#store = new LocalStore({ capacity: this.#opts.capacity, ttlMs: this.#opts.ttlMs });
    return this.#store;
  }

  /**
   * A block of `size` bytes to build the next payload in place (write loan.bytes, then
   * send(loan)): on this host the payload then never moves. When the channel is full of
   * payloads not acked yet it waits up to spaceWaitMs for room (backpressure), then falls
   * back to private memory (counted in stats().loanFallbacks), as for path "payload".
   */
  async loan(size: number): Promise<MqLoan> {
    if (this.#closed) throw new MqError("CLOSED", "producer is closed");
    if (!Number.isSafeInteger(size) || size < 0) throw new MqError("INVALID", `loan(${size})`);
    let inner: Loan | null = null;
    if (this.#opts.path !== "payload" && size <= this.#opts.capacity) {
      const store = this.#local();
      inner = store.loan(size);
      // the channel is full of payloads not acked yet: wait for acks (backpressure), then fall back
      for (const until = performance.now() + this.#opts.spaceWaitMs; !inner && performance.now() < until; ) {
        await Bun.sleep(1);
        store.reap();
        inner = store.loan(size);
      }
      if (!inner) this.#stats.loanFallbacks++;
    }
    return new MqLoan(inner ? inner.bytes : new Uint8Array(size), inner);
  }

  /** Send one message (bytes, or a loan from loan()); resolves once the broker has it (and a reference's payload is pinned). */
  async send(data: Uint8Array | MqLoan, opts: { header?: Header } = {}): Promise<void> {
    if (this.#closed) throw new MqError("CLOSED", "producer is closed");
    const loan = data instanceof MqLoan ? data : null;
    if (loan && loan.inner && !loan.inner.active) throw new MqError("INVALID", "this loan was already sent");
    const bytes = loan ? loan.bytes : data;
    if (!(bytes instanceof Uint8Array)) throw new MqError("INVALID", "send(bytes): bytes must be a Uint8Array or a loan");
    try {
      await this.#send(bytes, loan?.inner ?? null, opts);
    } finally {
      if (loan?.inner) this.#store?.unloan(loan.inner); // not published (payload path, or an error)
    }
  }

  async #send(bytes: Uint8Array, inner: Loan | null, opts: { header?: Header }): Promise<void> {
    const deadline = performance.now() + this.#opts.timeoutMs;
    this.#ready ??= this.#t.ensureStream(this.stream).catch((e) => {
      this.#ready = null;
      throw e;
    });
    await this.#ready;
    const id = randomId();
    const fields: Record<string, string> = { v: "1", id, len: String(bytes.length), dg: digestOf(bytes), from: hostId };
    if (opts.header !== undefined) {
      const h = JSON.stringify(opts.header);
      if (h.length > 64 * 1024) throw new MqError("INVALID", "header larger than 64 KiB as JSON");
      fields.hdr = h;
    }
    let wantRef = false, wantPayload = false, acks = 1;
    if (this.#opts.path === "payload") wantPayload = true;
    else if (this.#opts.path === "reference") wantRef = true;
    else {
      const seen = await this.#presence.get(this.stream);
      const localGroups = new Set(seen.filter((s) => s.host === hostId).map((s) => s.group));
      const remote = seen.some((s) => s.host !== hostId);
      if (seen.length === 0) wantRef = wantPayload = true; // nobody seen yet: whoever comes can use it
      else {
        wantRef = localGroups.size > 0;
        wantPayload = remote;
      }
      acks = Math.max(1, localGroups.size);
    }
    if (wantRef && inner) {
      fields.ref = formatRef(this.#store!.publishLoan(inner, bytes.length, acks));
    } else if (wantRef) {
      let ref = bytes.length <= this.#opts.capacity ? this.#local().put(bytes, acks) : null;
      // the arena is full of payloads not acked yet: wait a little for acks (space), then send the payload
      for (const until = performance.now() + this.#opts.spaceWaitMs; !ref && bytes.length <= this.#opts.capacity && performance.now() < until; ) {
        await Bun.sleep(1);
        this.#store!.reap();
        ref = this.#store!.put(bytes, acks);
      }
      if (ref) fields.ref = formatRef(ref);
      else wantPayload = true; // no room for it here now: the payload goes instead
    }
    if (wantPayload) {
      const chunk = this.#t.maxChunk;
      const n = Math.ceil(bytes.length / chunk);
      fields.chunks = String(n);
      fields.csz = String(chunk);
      fields.loc = n ? await this.#t.putChunks(this.stream, id, bytes, chunk, this.#opts.window, deadline) : "";
    }
    await this.#t.publish(this.stream, fields, deadline);
    this.#stats.sent++;
    if (fields.ref && fields.chunks) this.#stats.both++;
    else if (fields.ref) this.#stats.byReference++;
    else this.#stats.byPayload++;
  }

  stats(): ProducerStats {
    return { ...this.#stats, pinned: this.#store?.pinned() ?? 0 };
  }

  /** Close: wait (up to drainMs) for pinned payloads to be acked, then remove the channel. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    const s = this.#store;
    if (s) {
      const until = performance.now() + this.#opts.drainMs;
      while (s.pinned() > 0 && performance.now() < until) {
        s.reap();
        await Bun.sleep(20);
      }
      s.close();
    }
    this.#onClose();
  }
}

export class Consumer implements AsyncIterable<Message> {
  readonly #t: Transport;
  readonly stream: string;
  readonly group: string;
  readonly #opts: ConsumerOptions;
  readonly #readers = new LocalReaders();
  #sub: Subscription | null = null;
  #closed = false;
  readonly #onClose: () => void;
  readonly #announce: ReturnType<typeof setInterval>;
  #announced: Promise<void>;
  readonly #stats: ConsumerStats = { received: 0, local: 0, remote: 0, fallbacks: 0, deadLettered: 0, errors: {} };

  constructor(t: Transport, stream: string, group: string, opts: ConsumerOptions, onClose: () => void) {
    this.#t = t;
    this.stream = stream;
    this.group = group;
    this.#opts = opts;
    this.#onClose = onClose;
    const announce = () => {
      try {
        this.#readers.sweep(); // producer channels that are gone
      } catch {}
      return t.announce(stream, group, hostId).catch(() => {});
    };
    this.#announced = t.ensureStream(stream).then(announce, () => {});
    this.#announce = setInterval(announce, 3000);
    this.#announce.unref?.();
  }

  stats(): ConsumerStats {
    return { ...this.#stats, errors: { ...this.#stats.errors } };
  }

  /** Resolves once this consumer is announced and subscribed (producers then see it within ~1 s). */
  async ready(): Promise<void> {
    await this.#announced;
    this.#subscription();
  }

  #subscription(): Subscription {
    this.#sub ??= this.#t.subscribe(this.stream, this.group, {
      ackWaitMs: this.#opts.ackWaitMs ?? 30_000,
      prefetch: this.#opts.prefetch ?? 16,
    });
    return this.#sub;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    await this.#announced;
    if (this.#closed) return;
    // one subscription for every loop over this consumer: leaving a for-await (break) ends
    // that loop, not the subscription, so a later loop goes on where it stopped
    const it = this.#subscription()[Symbol.asyncIterator]();
    while (!this.#closed) {
      const r = await it.next();
      if (r.done || this.#closed) break;
      const m = await this.#resolve(r.value);
      if (m) yield m;
    }
  }

  async #deadLetter(d: Delivery, code: MqErrorCode, why: string) {
    const id = d.fields.id ?? "?";
    const err = new MqError(code, `message ${id} on stream "${this.stream}" (group "${this.group}") dead-lettered: ${why}`, id);
    this.#stats.deadLettered++;
    this.#stats.errors[code] = (this.#stats.errors[code] ?? 0) + 1;
    try {
      await this.#t.deadLetter(this.stream, { ...d.fields, error: code, reason: why, group: this.group, at: hostId });
      await d.ack();
    } catch (e) {
      // the broker is away: leave it unacked, it comes back and is judged again
      await d.nak().catch(() => {});
    }
    (this.#opts.onError ?? ((e: MqError) => console.error(`@ferry/mq: ${e.message}`)))(err);
  }

  async #resolve(d: Delivery): Promise<Message | null> {
    const f = d.fields;
    const len = Number(f.len);
    if (f.v !== "1" || !f.id || !/^\d{1,15}$/.test(f.len ?? "") || !/^[0-9a-f]{16}$/.test(f.dg ?? "")) {
      await this.#deadLetter(d, "MALFORMED", "not a @ferry/mq message (missing or bad v/id/len/dg)");
      return null;
    }
    let header: Header = {};
    if (f.hdr) {
      try {
        header = JSON.parse(f.hdr);
      } catch {
        await this.#deadLetter(d, "MALFORMED", "header is not JSON");
        return null;
      }
    }
    const chunks = f.chunks !== undefined ? Number(f.chunks) : -1;
    const hasPayload = chunks >= 0;
    let refFail: RefError | null = null;
    if (f.ref) {
      const ref = parseRef(f.ref);
      if (!ref) refFail = new RefError("malformed", "malformed reference");
      else if (ref.host === hostId || !hasPayload) {
        try {
          const got = this.#readers.resolve(ref, this.#opts.verifyReferences === false ? null : f.dg!);
          this.#stats.received++;
          this.#stats.local++;
          return this.#message(d, got.bytes, header, true, got.ack, got.release);
        } catch (e) {
          if (!(e instanceof RefError)) throw e;
          refFail = e;
        }
      }
    }
    if (hasPayload) {
      const csz = Number(f.csz);
      if (!Number.isSafeInteger(chunks) || !Number.isSafeInteger(csz) || csz <= 0 || chunks !== Math.ceil(len / csz)) {
        await this.#deadLetter(d, "MALFORMED", `bad chunk count ${f.chunks} × ${f.csz} for ${len} bytes`);
        return null;
      }
      const into = new Uint8Array(len);
      try {
        if (chunks) await this.#t.getChunks(this.stream, f.id, f.loc ?? "", csz, into, this.#opts.window ?? 8);
      } catch (e) {
        if (e instanceof MqError) {
          await this.#deadLetter(d, e.code, e.message);
          return null;
        }
        await d.nak().catch(() => {}); // the broker is away: try again later
        return null;
      }
      if (digestOf(into) !== f.dg) {
        await this.#deadLetter(d, "DIGEST", "the payload's digest does not match (corrupted in transit or in the broker)");
        return null;
      }
      if (refFail) this.#stats.fallbacks++;
      this.#stats.received++;
      this.#stats.remote++;
      return this.#message(d, into, header, false, () => {}, () => {});
    }
    const e = refFail ?? new RefError("malformed", "neither a reference nor a payload");
    await this.#deadLetter(d, REF_CODES[e.reason], e.message);
    return null;
  }

  #message(d: Delivery, bytes: Uint8Array, header: Header, local: boolean, pinAck: () => void, release: () => void): Message {
    let settled = false;
    return {
      bytes, header, local, id: d.fields.id!, redelivered: d.redelivered,
      ack: async () => {
        if (settled) return;
        settled = true;
        try {
          await d.ack(); // the broker first: a crash between the two leaves the pin to its TTL, never a dangling redelivery
        } catch (e) {
          release(); // not acked: it comes back, and its pin must still be there
          throw e;
        }
        pinAck();
      },
      nak: async () => {
        if (settled) return;
        settled = true;
        release();
        await d.nak();
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#announce);
    await this.#sub?.stop().catch(() => {});
    this.#readers.close();
    this.#onClose();
  }
}
