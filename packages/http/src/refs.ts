/**
 * The same-host reference path (Triton's shared-memory form, off by default):
 * a client on this host publishes a body into a Ferry channel of its own and
 * sends the HTTP request with a reference to it (host, channel, sequence,
 * length) instead of the body. The gateway copies the referenced payload into
 * its request channel (a memcpy instead of an upload over a socket).
 *
 * Protocol:
 *   POST /.ferry/register  {"host","channel"}   the gateway subscribes to the client's channel
 *                                               (before the client publishes anything)
 *   any request with header x-ferry-ref: {"host","channel","seq","length"} and no body
 *
 * The gateway holds what it received from a registered channel until a
 * request takes it (or it is evicted, oldest first, past 64 held); a client
 * that dies is let go (its messages released, the registration dropped).
 */
import { hostname } from "node:os";
import { Channel, FerryError, type Message, type Publisher, type Subscriber } from "@ferry/channel";

export const REGISTER_PATH = "/.ferry/register";
export const REF_HEADER = "x-ferry-ref";
const MAX_CHANNELS = 16;
const MAX_HELD = 64;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** An answer other than a body: status + message (never naming a segment). */
export class RefError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

interface Registered {
  ch: Channel;
  sub: Subscriber;
  held: Map<number, Message>;
}

/** The gateway's side: registrations and reference lookups. */
export class RefRegistry {
  readonly #map = new Map<string, Registered>();
  readonly #host = hostname();

  /** a client that closed or died is noticed within a second even if no request names it again */
  readonly #sweep = setInterval(() => {
    for (const name of [...this.#map.keys()]) this.#pull(name, -1);
  }, 1000);

  constructor(readonly maxBodyBytes: number) {
    this.#sweep.unref?.();
  }

  /** Move what arrived from client `name` into its held map (until `seq` shows up); false: the client is gone. */
  #pull(name: string, seq: number): Message | undefined | false {
    const r = this.#map.get(name);
    if (!r) return false;
    let found: Message | undefined;
    try {
      for (let x = r.sub.tryReceive(); x; x = r.sub.tryReceive()) {
        r.held.set(x.seq, x);
        if (x.seq === seq) {
          found = x;
          break;
        }
      }
    } catch {
      // the client closed (EOF) or died (PEERDEAD): let its registration and messages go
      this.#drop(name);
      return false;
    }
    while (r.held.size > MAX_HELD) {
      const [oldest, om] = r.held.entries().next().value as [number, Message];
      r.held.delete(oldest);
      om.release();
    }
    return found;
  }

  /** clients whose channel went away (their references are dangling, not unknown) */
  readonly #gone = new Set<string>();

  #drop(name: string) {
    const r = this.#map.get(name);
    if (!r) return;
    this.#map.delete(name);
    this.#gone.add(name);
    if (this.#gone.size > 256) this.#gone.delete(this.#gone.values().next().value as string);
    for (const m of r.held.values()) try { m.release(); } catch {}
    try { r.ch.close(); } catch {}
  }

  /** POST /.ferry/register */
  register(body: unknown): Response {
    const b = body as { host?: unknown; channel?: unknown };
    if (typeof b !== "object" || b === null || typeof b.host !== "string" || typeof b.channel !== "string")
      throw new RefError(400, 'bad registration: expected {"host", "channel"}');
    if (b.host !== this.#host) throw new RefError(400, "foreign registration: the client is not on this host");
    if (!NAME_RE.test(b.channel)) throw new RefError(400, "bad registration: invalid channel name");
    if (!this.#map.has(b.channel)) {
      if (this.#map.size >= MAX_CHANNELS) throw new RefError(503, "too many registered clients");
      let ch: Channel;
      try {
        ch = Channel.open(b.channel); // same uid, no group/world write bits: libferry checks
      } catch (e) {
        const code = (e as FerryError)?.code;
        throw new RefError(code === "FERRY_E_PERM" ? 403 : 404, code === "FERRY_E_PERM"
          ? "registration refused: the client's channel is not owned by this gateway's user"
          : "registration refused: no such channel on this host");
      }
      this.#map.set(b.channel, { ch, sub: ch.subscribe({ wait: "hybrid" }), held: new Map() });
      this.#gone.delete(b.channel);
    }
    return Response.json({ ok: true });
  }

  /**
   * The payload a reference names, validated (host, channel, sequence, length). The caller
   * copies it and calls release().
   */
  take(header: string): { bytes: Uint8Array; release(): void } {
    let ref: { host?: unknown; channel?: unknown; seq?: unknown; length?: unknown };
    try {
      ref = JSON.parse(header);
    } catch {
      throw new RefError(400, "bad reference: not JSON");
    }
    const { host, channel, seq, length } = ref ?? {};
    if (typeof host !== "string" || typeof channel !== "string" || !Number.isSafeInteger(seq) || !Number.isSafeInteger(length) || (length as number) < 0)
      throw new RefError(400, 'bad reference: expected {"host", "channel", "seq", "length"}');
    if (host !== this.#host) throw new RefError(400, "foreign reference: it names another host");
    if ((length as number) > this.maxBodyBytes) throw new RefError(413, `payload too large: the limit is ${this.maxBodyBytes} bytes`);
    const r = this.#map.get(channel);
    if (!r) {
      if (this.#gone.has(channel)) throw new RefError(410, "dangling reference: the client's channel is gone");
      throw new RefError(400, "unknown reference: its channel was not registered with this gateway");
    }
    let m = r.held.get(seq as number);
    if (!m) {
      const got = this.#pull(channel, seq as number);
      if (got === false) throw new RefError(410, "dangling reference: the client's channel is gone");
      m = got;
    }
    if (!m) throw new RefError(410, "dangling reference: no such message (never published, or already used)");
    r.held.delete(seq as number);
    if (m.length !== length) {
      m.release();
      throw new RefError(400, "bad reference: its length does not match the message");
    }
    const msg = m;
    return { bytes: msg.length ? msg.bytes : new Uint8Array(0), release: () => msg.release() };
  }

  close() {
    clearInterval(this.#sweep);
    for (const name of [...this.#map.keys()]) this.#drop(name);
  }
}

export interface RefClientOptions {
  /** The client's channel capacity (its bodies in flight). Default 256 MiB. */
  capacity?: number;
  /** Bodies smaller than this go as plain HTTP. Default 64 KiB. */
  minBytes?: number;
}

export interface RefClient {
  /**
   * fetch(), but a body (Uint8Array) of at least minBytes goes by reference when the target
   * is a gateway on this host with references enabled (found out once per origin by
   * registering), and as plain HTTP otherwise.
   */
  fetch(url: string, init?: { method?: string; headers?: Record<string, string>; body?: Uint8Array | null }): Promise<Response>;
  /** Origins that accepted the reference form. */
  readonly local: ReadonlySet<string>;
  close(): void;
}

let clients = 0;

/** A same-host client: owns one channel of its own (removed on close()). */
export function refClient(opts: RefClientOptions = {}): RefClient {
  const name = `fc${process.pid}x${++clients}`;
  const ch = Channel.create(name, { capacity: opts.capacity ?? 256 * 2 ** 20 });
  const pub: Publisher = ch.publisher({ backpressure: "block" });
  const minBytes = opts.minBytes ?? 64 * 1024;
  const host = hostname();
  const verdict = new Map<string, Promise<boolean>>();
  const local = new Set<string>();
  const isLocal = (origin: string) => {
    let v = verdict.get(origin);
    if (!v) {
      v = fetch(`${origin}${REGISTER_PATH}`, { method: "POST", body: JSON.stringify({ host, channel: name }), headers: { "content-type": "application/json" } })
        .then(async (r) => {
          await r.arrayBuffer().catch(() => {});
          if (r.status === 200) local.add(origin);
          return r.status === 200;
        })
        .catch(() => false);
      verdict.set(origin, v);
    }
    return v;
  };
  return {
    local,
    async fetch(url, init = {}) {
      const body = init.body ?? null;
      if (body && body.length >= minBytes && (await isLocal(new URL(url).origin))) {
        const seq = pub.sendSync(body);
        return fetch(url, {
          method: init.method ?? "POST",
          headers: { ...init.headers, [REF_HEADER]: JSON.stringify({ host, channel: name, seq, length: body.length }) },
        });
      }
      return fetch(url, { method: init.method ?? (body ? "POST" : "GET"), headers: init.headers, body });
    },
    close() {
      ch.close();
    },
  };
}
