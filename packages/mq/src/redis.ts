/**
 * Redis Streams transport (Bun's built-in RedisClient).
 *
 *   ferry:<s>                 the stream: one entry per message, text fields only
 *   ferry:<s>:c:<id>:<i>      a payload's chunks as plain keys (binary, read with getBuffer:
 *                             Bun's client decodes stream fields as UTF-8 and would corrupt them),
 *                             expiring after an hour
 *   ferry:<s>:dlq             dead letters (a stream)
 *   ferry:<s>:presence        hash "<group> <host>" → expiry (ms since the epoch)
 *
 * Consumer groups: XREADGROUP for new entries, XAUTOCLAIM (Redis 7.0 has no
 * XREADGROUP CLAIM) for entries another consumer left unacked past the ack
 * wait; nak() makes an entry claimable at once (XCLAIM … IDLE). A blocking
 * read uses its own connection per consumer.
 */
import { retry, sleep } from "./retry";
import { MqError, type Delivery, type Subscription, type Transport } from "./types";

const CHUNK = 1024 * 1024;
const CHUNK_TTL_MS = 3600_000;
const PRESENCE_MS = 10_000;

type Client = InstanceType<typeof Bun.RedisClient>;

let consumers = 0;

export class RedisTransport implements Transport {
  readonly kind = "redis" as const;
  readonly maxChunk = CHUNK;
  readonly #url: string;
  readonly #c: Client;
  readonly #clients = new Set<Client>();

  private constructor(url: string, c: Client) {
    this.#url = url;
    this.#c = c;
    this.#clients.add(c);
  }

  static #client(url: string): Client {
    return new Bun.RedisClient(url, { autoReconnect: true, enableOfflineQueue: true, maxRetries: 1_000_000, connectionTimeout: 5000 });
  }

  static async connect(url: URL): Promise<RedisTransport> {
    const u = `redis://${url.host}`;
    const c = RedisTransport.#client(u);
    await c.connect();
    return new RedisTransport(u, c);
  }

  async ensureStream(_s: string): Promise<void> {
    // streams and groups are made on first use (XADD, XGROUP CREATE … MKSTREAM)
  }

  async putChunks(s: string, id: string, payload: Uint8Array, chunk: number, window: number, deadline: number): Promise<string> {
    const n = Math.ceil(payload.length / chunk);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const part = payload.subarray(i * chunk, Math.min(payload.length, (i + 1) * chunk));
        await retry(`store chunk ${i} of ${id}`, deadline, () =>
          this.#c.send("SET", [`ferry:${s}:c:${id}:${i}`, Buffer.from(part.buffer, part.byteOffset, part.length) as never, "PX", String(CHUNK_TTL_MS)]),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
    return "keys";
  }

  async getChunks(s: string, id: string, locator: string, chunk: number, into: Uint8Array, window: number): Promise<void> {
    if (locator !== "keys" || !/^[0-9a-f]{1,64}$/.test(id)) throw new MqError("MALFORMED", "bad chunk locator", id);
    const n = Math.ceil(into.length / chunk);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const b = await this.#c.getBuffer(`ferry:${s}:c:${id}:${i}`);
        const want = Math.min(chunk, into.length - i * chunk);
        if (!b) throw new MqError("CHUNK_MISSING", `chunk ${i} of message ${id} is gone from Redis (expired or evicted)`, id);
        if (b.length !== want) throw new MqError("CHUNK_MISSING", `chunk ${i} of message ${id} has ${b.length} bytes, not ${want}`, id);
        into.set(b, i * chunk);
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  }

  async publish(s: string, fields: Record<string, string>, deadline: number): Promise<void> {
    const args = [`ferry:${s}`, "MAXLEN", "~", "1000000", "*"];
    for (const [k, v] of Object.entries(fields)) args.push(k, v);
    await retry(`publish message ${fields.id}`, deadline, () => this.#c.send("XADD", args));
  }

  async deadLetter(s: string, fields: Record<string, string>): Promise<void> {
    const args = [`ferry:${s}:dlq`, "MAXLEN", "~", "100000", "*"];
    for (const [k, v] of Object.entries(fields)) args.push(k, v);
    await this.#c.send("XADD", args);
  }

  async announce(s: string, group: string, host: string): Promise<void> {
    await this.#c.send("HSET", [`ferry:${s}:presence`, `${group} ${host}`, String(Date.now() + PRESENCE_MS)]);
  }

  async present(s: string): Promise<{ group: string; host: string }[]> {
    const h = (await this.#c.send("HGETALL", [`ferry:${s}:presence`])) as Record<string, string> | null;
    const now = Date.now(), out: { group: string; host: string }[] = [];
    for (const [k, v] of Object.entries(h ?? {})) {
      const [group, host] = k.split(" ");
      if (group && host && Number(v) > now) out.push({ group, host });
    }
    return out;
  }

  subscribe(s: string, group: string, opts: { ackWaitMs: number; prefetch: number }): Subscription {
    const key = `ferry:${s}`;
    const name = `c${process.pid}x${++consumers}`;
    const reader = RedisTransport.#client(this.#url); // XREADGROUP BLOCK holds its connection
    this.#clients.add(reader);
    const c = this.#c;
    let stopped = false;
    let lastClaim = 0;
    let claimNow = false;
    const deliveries = (entries: unknown, redelivered: number): Delivery[] => {
      const out: Delivery[] = [];
      for (const e of (entries as [string, string[] | null][]) ?? []) {
        if (!Array.isArray(e) || typeof e[0] !== "string") continue;
        const [id, flat] = e;
        if (!flat) continue; // deleted meanwhile (XAUTOCLAIM reports it separately)
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
        out.push({
          fields,
          redelivered,
          ack: async () => {
            await c.send("XACK", [key, group, id]);
          },
          nak: async () => {
            // claimable by anyone's next XAUTOCLAIM at once
            await c.send("XCLAIM", [key, group, name, "0", id, "IDLE", String(opts.ackWaitMs * 2), "JUSTID"]);
            claimNow = true;
          },
        });
      }
      return out;
    };
    async function* run(): AsyncGenerator<Delivery> {
      let made = false;
      while (!stopped) {
        try {
          if (!made) {
            try {
              await c.send("XGROUP", ["CREATE", key, group, "0", "MKSTREAM"]);
            } catch (e) {
              if (!/BUSYGROUP/.test((e as Error).message)) throw e;
            }
            made = true;
          }
          const now = performance.now();
          if (claimNow || now - lastClaim > Math.max(100, opts.ackWaitMs / 2)) {
            claimNow = false;
            lastClaim = now;
            const r = (await c.send("XAUTOCLAIM", [key, group, name, String(opts.ackWaitMs), "0-0", "COUNT", String(opts.prefetch)])) as unknown[];
            for (const d of deliveries(r?.[1], 1)) yield d;
          }
          const r = (await reader.send("XREADGROUP", [
            "GROUP", group, name, "COUNT", String(opts.prefetch), "BLOCK", String(Math.min(1000, Math.max(50, opts.ackWaitMs / 2))), "STREAMS", key, ">",
          ])) as Record<string, unknown> | unknown[] | null;
          if (!r) continue;
          const entries = Array.isArray(r) ? (r[0] as [string, unknown])?.[1] : r[key];
          for (const d of deliveries(entries, 0)) yield d;
        } catch (e) {
          if (/NOGROUP/.test((e as Error).message)) made = false; // the stream was deleted or the server lost it
          if (!stopped) await sleep(200); // the broker is away: try again
        }
      }
    }
    const gen = run();
    return {
      [Symbol.asyncIterator]: () => gen,
      stop: async () => {
        stopped = true;
        reader.close();
        this.#clients.delete(reader);
      },
    };
  }

  async close(): Promise<void> {
    for (const c of this.#clients) c.close();
    this.#clients.clear();
  }
}
