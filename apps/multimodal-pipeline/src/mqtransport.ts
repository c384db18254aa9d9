/**
 * The hand-over worker → model over a message bus (@ferry/mq: NATS JetStream
 * or Redis Streams), so that the prep workers and the model processes can run
 * on different hosts. The same ModelLink / ModelServer as transport.ts: the
 * worker and the model code do not change.
 *
 *   stream <prefix>-tensors     every worker produces its tensors here; the model
 *                               processes consume it as one consumer group
 *                               ("model": each tensor to one of them)
 *   stream <prefix>-r<random>   one reply stream per worker (its group "worker");
 *                               the model answers there (JSON)
 *
 * @ferry/mq picks the path per message: a reference (claim check) into the
 * producer's shared memory when the consumers are on the producer's host, the
 * payload itself through the broker (in chunks) when they are elsewhere. The
 * model reports what it got (msg.local) in its reply, the worker what the
 * reply took; the answer's timings carry both (StageTimings.bus).
 *
 * Modes: "loan" builds the tensor in place in the producer's shared memory
 * (producer.loan(): nothing is copied on this host; the broker gets the bytes
 * from there when the model is elsewhere); "auto" (and the copy modes) fill a
 * private array and send() it (one copy into shared memory, or the chunks).
 */
import { connect, type Bus, type Consumer, type Message, type Producer } from "@ferry/mq";
import type { TensorMeta } from "./models";
import { BUS_PREFIX_RE, fillTimed, now, type ModelHandler, type ModelLink, type ModelReply, type ModelServer, type Sent } from "./transport";

export const MODEL_GROUP = "model";
export const tensorStream = (prefix: string) => `${prefix}-tensors`;
const PREFIX_RE = BUS_PREFIX_RE;
const REPLY_RE = /^[A-Za-z0-9_-]{1,48}$/;

/** What travels in the tensor message's header. */
interface TensorHeader {
  id: number;
  reply: string;
  meta: TensorMeta;
  shape: number[];
}

const enc = new TextEncoder(), dec = new TextDecoder();
const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");

/** A float32 view of a payload (a copy only if it is not 4-byte aligned: the reference path is 64-byte aligned, the payload path offset 0). */
function f32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4) throw new Error(`tensor of ${bytes.byteLength} bytes is not float32`);
  if (bytes.byteOffset % 4) return new Float32Array(bytes.slice().buffer);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

export { connect };

/** No model answered in time (the worker answers with its status, 504). */
export class NoModel extends Error {
  override name = "NoModel";
  readonly status = 504;
}

/**
 * Worker side: produce tensors to <prefix>-tensors, await the replies on a stream of its own.
 * `capacity`: bytes of the producer's shared-memory channel (the tensors pinned at once).
 * A request whose reply does not come within `timeoutMs` fails (no model process on the bus).
 */
export async function mqLink(bus: Bus, o: { prefix: string; capacity: number; timeoutMs?: number }): Promise<ModelLink & { replyStream: string }> {
  if (!PREFIX_RE.test(o.prefix)) throw new Error(`stream prefix "${o.prefix}": use 1-32 of A-Z a-z 0-9 _ -`);
  const broker = bus.kind;
  const replyStream = `${o.prefix}-r${hex(6)}`;
  const replies: Consumer = bus.consumer(replyStream, { group: "worker", prefetch: 64 });
  await replies.ready();
  const pub: Producer = bus.producer(tensorStream(o.prefix), { capacity: o.capacity, drainMs: 2_000 });
  const timeoutMs = o.timeoutMs ?? 120_000;
  const pending = new Map<number, (r: ModelReply, at: number, local: boolean) => void>();
  let nextId = 1;
  let closed = false;
  const pump = (async () => {
    try {
      for await (const msg of replies) {
        const at = now();
        let r: ModelReply | null = null;
        try {
          r = JSON.parse(dec.decode(msg.bytes)) as ModelReply;
        } catch {
          console.error(`worker ${process.pid}: a reply on ${replyStream} is not JSON; dropped`);
        }
        const local = msg.local;
        await msg.ack().catch(() => {});
        if (r) {
          pending.get(r.id)?.(r, at, local);
          pending.delete(r.id);
        }
      }
    } catch (e) {
      if (!closed) console.error(`worker ${process.pid}: reply stream ${replyStream}: ${(e as Error).message}`);
    }
  })();
  return {
    replyStream,
    async infer(job, mode): Promise<Sent> {
      const id = nextId++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const back = new Promise<[ModelReply, number, boolean]>((res, rej) => {
        pending.set(id, (r, at, local) => res([r, at, local]));
        timer = setTimeout(() => {
          pending.delete(id);
          rej(new NoModel(`no reply from a model process on ${broker} stream ${tensorStream(o.prefix)} within ${timeoutMs / 1000} s (is one running: --role model?)`));
        }, timeoutMs);
      });
      back.catch(() => {}); // a send that throws leaves it unawaited
      const header: TensorHeader = { id, reply: replyStream, meta: job.meta, shape: job.shape };
      let sendAt: number, featuresMs: number;
      try {
        if (mode === "loan") {
          const loan = await pub.loan(job.elements * 4);
          ({ featuresMs, sendAt } = fillTimed(job, f32(loan.bytes))); // in the producer's shared memory (private memory if its channel was full)
          await pub.send(loan, { header: header as unknown as Record<string, unknown> });
        } else {
          const data = new Float32Array(job.elements);
          ({ featuresMs, sendAt } = fillTimed(job, data));
          await pub.send(new Uint8Array(data.buffer), { header: header as unknown as Record<string, unknown> });
        }
        const [reply, backAt, replyLocal] = await back;
        return { reply, sendAt, backAt, featuresMs, bus: { broker, tensorLocal: reply.local ?? false, replyLocal } };
      } finally {
        clearTimeout(timer);
        pending.delete(id);
      }
    },
    async close() {
      closed = true;
      await bus.close();
      await pump;
    },
  };
}

/**
 * Model side: one member of the group "model" on <prefix>-tensors. At most `inflight` tensors
 * at once (prefetch too), so that several model processes share the load; each tensor is
 * acked after inference (a model that dies mid-way leaves it to be redelivered to another).
 */
export async function mqServer(bus: Bus, o: { prefix: string; inflight?: number; ackWaitMs?: number }, handler: ModelHandler): Promise<ModelServer> {
  if (!PREFIX_RE.test(o.prefix)) throw new Error(`stream prefix "${o.prefix}": use 1-32 of A-Z a-z 0-9 _ -`);
  const inflight = Math.max(1, o.inflight ?? 2);
  const sub = bus.consumer(tensorStream(o.prefix), { group: MODEL_GROUP, prefetch: inflight, ackWaitMs: o.ackWaitMs ?? 300_000 });
  await sub.ready();
  const outs = new Map<string, { p: Producer; used: number }>();
  const replyTo = (stream: string) => {
    let o = outs.get(stream);
    // replies are small: a channel of 8 MiB for the ones to workers on this host
    if (!o) outs.set(stream, (o = { p: bus.producer(stream, { capacity: 8 * 2 ** 20, drainMs: 1_000 }), used: 0 }));
    o.used = performance.now();
    return o.p;
  };
  // workers come and go: a reply producer idle for a minute is closed (its channel removed)
  const sweep = setInterval(() => {
    for (const [stream, o] of outs)
      if (performance.now() - o.used > 60_000) {
        outs.delete(stream);
        void o.p.close();
      }
  }, 15_000);
  sweep.unref?.();
  let busy = 0;
  let freed: (() => void) | null = null;
  const serve = async (msg: Message) => {
    const receivedAt = now();
    const h = msg.header as Partial<TensorHeader>;
    if (typeof h.id !== "number" || typeof h.reply !== "string" || !REPLY_RE.test(h.reply) || !h.meta || !Array.isArray(h.shape)) {
      console.error(`model: message ${msg.id} on ${tensorStream(o.prefix)} has no pipeline header; acked and dropped`);
      await msg.ack().catch(() => {});
      return;
    }
    let reply: ModelReply;
    try {
      const r = await handler({ meta: h.meta, shape: h.shape, data: f32(msg.bytes) });
      reply = { ...r, id: h.id, receivedAt, readyAt: receivedAt, sentAt: 0, local: msg.local };
    } catch (e) {
      reply = { id: h.id, ok: false, error: String((e as Error).message ?? e), receivedAt, readyAt: receivedAt, sentAt: 0, inferenceMs: 0, postMs: 0, local: msg.local };
    }
    // done reading the tensor: ack (a reference's pin is released by it)
    await msg.ack().catch((e) => console.error(`model: ack of ${msg.id}: ${(e as Error).message}`));
    reply.sentAt = now();
    try {
      await replyTo(h.reply).send(enc.encode(JSON.stringify(reply)));
    } catch (e) {
      console.error(`model: reply to ${h.reply} failed: ${(e as Error).message}`);
    }
  };
  const closed = (async () => {
    try {
      for await (const msg of sub) {
        busy++;
        void serve(msg).finally(() => {
          busy--;
          freed?.();
        });
        while (busy >= inflight) await new Promise<void>((r) => (freed = r));
      }
    } catch (e) {
      console.error(`model: ${(e as Error).message}`);
    }
  })();
  return {
    closed,
    async close() {
      clearInterval(sweep);
      await bus.close();
      await closed;
    },
  };
}
