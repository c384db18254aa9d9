/**
 * NATS JetStream transport.
 *
 *   stream FERRY_<s>      subjects ferry.<s>.m (messages: headers only, empty body),
 *                         ferry.<s>.c.<id> (a payload's chunks), ferry.<s>.dlq (dead letters);
 *                         file storage, direct get allowed (chunks are read by sequence)
 *   stream FERRY_<s>_P    ferryp.<s>.<group>.<host>: one presence message per consumer
 *                         (group, host), kept 10 s (max_age) unless renewed
 *   consumer <group>      durable pull consumer on ferry.<s>.m, explicit ack, ack wait
 *
 * Chunks are plain JetStream messages published with bounded acks in flight
 * and read back by stream sequence with direct get (the object store's JS
 * get path is avoided, see nats.js #430). Every publish carries a Nats-Msg-Id,
 * so a retry after a lost PubAck (broker restart) is deduplicated.
 */
import { connect as natsConnect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager,
  type JetStreamClient, type JetStreamManager, type JsMsg,
} from "@nats-io/jetstream";
import { retry, sleep } from "./retry";
import { MqError, type Delivery, type Subscription, type Transport } from "./types";

const PRESENCE_MS = 10_000;


/** "1-5,9" ↔ [1,2,3,4,5,9] */
function encodeSeqs(seqs: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < seqs.length; ) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
    out.push(j > i ? `${seqs[i]}-${seqs[j]}` : `${seqs[i]}`);
    i = j + 1;
  }
  return out.join(",");
}
function decodeSeqs(s: string, max: number): number[] | null {
  const out: number[] = [];
  for (const part of s.split(",")) {
    const m = /^(\d{1,15})(?:-(\d{1,15}))?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]), b = m[2] ? Number(m[2]) : a;
    if (b < a || out.length + (b - a + 1) > max) return null;
    for (let x = a; x <= b; x++) out.push(x);
  }
  return out;
}

export class NatsTransport implements Transport {
  readonly kind = "nats" as const;
  readonly maxChunk: number;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #ensured = new Map<string, Promise<void>>();

  private constructor(nc: NatsConnection, jsm: JetStreamManager) {
    this.#nc = nc;
    this.#js = jetstream(nc, { timeout: 10_000 });
    this.#jsm = jsm;
    const max = nc.info?.max_payload ?? 1024 * 1024;
    this.maxChunk = Math.max(4096, max - 4096); // room for subject and headers
  }

  static async connect(url: URL): Promise<NatsTransport> {
    const nc = await natsConnect({
      servers: `${url.hostname}:${url.port || 4222}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 200,
      pingInterval: 5000,
      name: `ferry-mq-${process.pid}`,
    });
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    return new NatsTransport(nc, jsm);
  }

  ensureStream(s: string): Promise<void> {
    let p = this.#ensured.get(s);
    if (!p) {
      p = retry(`create stream FERRY_${s}`, performance.now() + 30_000, async () => {
        await this.#addStream({
          name: `FERRY_${s}`, subjects: [`ferry.${s}.>`], storage: StorageType.File, retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old, max_age: 3600 * 1e9, allow_direct: true, duplicate_window: 120 * 1e9,
        });
        await this.#addStream({
          name: `FERRY_${s}_P`, subjects: [`ferryp.${s}.>`], storage: StorageType.File, max_age: PRESENCE_MS * 1e6,
          max_msgs_per_subject: 1, discard: DiscardPolicy.Old,
        });
      });
      p.catch(() => this.#ensured.delete(s));
      this.#ensured.set(s, p);
    }
    return p;
  }

  async #addStream(cfg: Record<string, unknown>) {
    try {
      await this.#jsm.streams.info(cfg.name as string);
    } catch {
      try {
        await this.#jsm.streams.add(cfg as never);
      } catch (e) {
        if (!/already in use|exists/i.test((e as Error).message)) throw e;
      }
    }
  }

  async putChunks(s: string, id: string, payload: Uint8Array, chunk: number, window: number, deadline: number): Promise<string> {
    const n = Math.ceil(payload.length / chunk);
    const seqs = new Array<number>(n);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const part = payload.subarray(i * chunk, Math.min(payload.length, (i + 1) * chunk));
        const ack = await retry(`publish chunk ${i} of ${id}`, deadline, () =>
          this.#js.publish(`ferry.${s}.c.${id}`, part, { msgID: `${id}.${i}`, timeout: 10_000 }),
        );
        seqs[i] = ack.seq;
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
    return encodeSeqs(seqs);
  }

  async getChunks(s: string, id: string, locator: string, chunk: number, into: Uint8Array, window: number): Promise<void> {
    const n = Math.ceil(into.length / chunk);
    const seqs = decodeSeqs(locator, n);
    if (!seqs || seqs.length !== n) throw new MqError("MALFORMED", `bad chunk locator for ${n} chunks`, id);
    let next = 0;
    const subject = `ferry.${s}.c.${id}`;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        let m;
        try {
          m = await this.#jsm.direct.getMessage(`FERRY_${s}`, { seq: seqs[i]! });
        } catch (e) {
          if (/no message found|not found/i.test((e as Error).message)) m = null;
          else throw e;
        }
        const want = Math.min(chunk, into.length - i * chunk);
        if (!m) throw new MqError("CHUNK_MISSING", `chunk ${i} (stream seq ${seqs[i]}) is gone from the broker (expired or purged)`, id);
        if (m.subject !== subject || m.data.length !== want)
          throw new MqError("CHUNK_MISSING", `stream seq ${seqs[i]} is not chunk ${i} of message ${id}`, id);
        into.set(m.data, i * chunk);
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  }

  async publish(s: string, fields: Record<string, string>, deadline: number): Promise<void> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(fields)) h.set(`ferry-${k}`, v);
    await retry(`publish message ${fields.id}`, deadline, () =>
      this.#js.publish(`ferry.${s}.m`, new Uint8Array(0), { headers: h, msgID: fields.id, timeout: 10_000 }),
    );
  }

  async deadLetter(s: string, fields: Record<string, string>): Promise<void> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(fields)) h.set(`ferry-${k}`, v.replace(/[\r\n]/g, " "));
    await this.#js.publish(`ferry.${s}.dlq`, new Uint8Array(0), { headers: h, timeout: 10_000 });
  }

  async announce(s: string, group: string, host: string): Promise<void> {
    await this.#js.publish(`ferryp.${s}.${group}.${host}`, new Uint8Array(0), { timeout: 5000 });
  }

  async present(s: string): Promise<{ group: string; host: string }[]> {
    const info = await this.#jsm.streams.info(`FERRY_${s}_P`, { subjects_filter: ">" });
    const subjects = info.state.subjects ?? {};
    const out: { group: string; host: string }[] = [];
    for (const subj of Object.keys(subjects)) {
      const p = subj.split(".");
      if (p.length === 4 && p[0] === "ferryp" && p[1] === s) out.push({ group: p[2]!, host: p[3]! });
    }
    return out;
  }

  subscribe(s: string, group: string, opts: { ackWaitMs: number; prefetch: number }): Subscription {
    let stopped = false;
    let current: { stop(): void } | null = null;
    const jsm = this.#jsm, js = this.#js;
    const ensure = () => this.ensureStream(s);
    async function* run(): AsyncGenerator<Delivery> {
      while (!stopped) {
        let iter;
        try {
          await ensure();
          try {
            await jsm.consumers.info(`FERRY_${s}`, group);
          } catch {
            await jsm.consumers.add(`FERRY_${s}`, {
              durable_name: group, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
              filter_subject: `ferry.${s}.m`, ack_wait: opts.ackWaitMs * 1e6, max_ack_pending: 1024,
            }).catch((e) => {
              if (!/already in use|exists/i.test((e as Error).message)) throw e;
            });
          }
          const c = await js.consumers.get(`FERRY_${s}`, group);
          iter = await c.consume({ max_messages: opts.prefetch, idle_heartbeat: 2000, expires: 10_000 });
        } catch {
          await sleep(250); // the broker is away: try again
          continue;
        }
        current = { stop: () => iter.stop() };
        if (stopped) iter.stop();
        try {
          for await (const m of iter) {
            yield delivery(m);
            if (stopped) break;
          }
        } catch {
          // the consumer's iterator failed (broker restart, consumer deleted): start again
        }
        if (!stopped) await sleep(100);
      }
    }
    function delivery(m: JsMsg): Delivery {
      const fields: Record<string, string> = {};
      for (const [k, vs] of m.headers ?? []) {
        const key = k.toLowerCase();
        if (key.startsWith("ferry-") && vs.length) fields[key.slice(6)] = vs[0]!;
      }
      return {
        fields,
        redelivered: Math.max(0, (m.info?.deliveryCount ?? 1) - 1),
        ack: async () => {
          const ok = await m.ackAck({ timeout: 10_000 });
          if (!ok) throw new MqError("TIMEOUT", "the broker did not confirm the ack");
        },
        nak: async () => m.nak(),
      };
    }
    const gen = run();
    return {
      [Symbol.asyncIterator]: () => gen,
      stop: async () => {
        stopped = true;
        current?.stop();
      },
    };
  }

  /** Monitoring-free byte counter for tests: none (use the server's /varz). */
  async close(): Promise<void> {
    await this.#nc.drain().catch(() => this.#nc.close());
  }
}
