/**
 * How a tensor gets from a preprocessing worker to the model process and the
 * answer back. The worker and the model code only see these two interfaces;
 * what is behind them is the thing the demo measures.
 *
 *   channelLink / channelServer  Ferry channels on this host: one tensor
 *       channel (created by the model process, workers publish into it, the
 *       model processes are one worker group) and one small reply channel per
 *       worker. The mode is per request: "loan" (the worker writes the tensor
 *       in place in shared memory), or a copy by send() in "inline",
 *       "offload", "pipelined" or "auto" (the publisher's SendPolicy decides).
 *   ipcLink / ipcServer  Bun's own IPC (Bun.spawn({ ipc }), structured clone):
 *       the baseline a Bun user has. The model is a child of the worker.
 *
 *   mqLink / mqServer (mqtransport.ts)  @ferry/mq over NATS JetStream or
 *       Redis Streams (--bus): the stages on different hosts, references in
 *       shared memory where they share one (see README, "Across hosts").
 */
import { Channel, loanTensor, sendTensor, type Message, type Publisher, type SendDecision, type SendPolicy, type Subscriber } from "@ferry/channel";
import type { TensorMeta } from "./models";

/** A --stream prefix over a bus: names @ferry/mq takes (A-Z a-z 0-9 _ -), short enough for "-tensors" and "-r" + 12 hex digits. */
export const BUS_PREFIX_RE = /^[A-Za-z0-9_-]{1,32}$/;

export type Mode = "bun-ipc" | "loan" | "inline" | "offload" | "pipelined" | "auto";
export const MODES: Mode[] = ["bun-ipc", "inline", "offload", "pipelined", "auto", "loan"];
export const FERRY_MODES = new Set<Mode>(["loan", "inline", "offload", "pipelined", "auto"]);

/** Wall-clock milliseconds with sub-ms precision, comparable between processes on one host. */
export const now = () => performance.timeOrigin + performance.now();

/** What the model process sends back for one tensor. */
export interface ModelReply {
  id: number;
  ok: boolean;
  error?: string;
  results?: unknown;
  /** Wall clock: tensor received (handed over), complete (pipelined: copy finished), reply sent. */
  receivedAt: number;
  readyAt: number;
  sentAt: number;
  inferenceMs: number;
  postMs: number;
  /** Over a bus (@ferry/mq): whether the tensor came by reference (shared memory on this host) or as the payload. */
  local?: boolean;
}

export interface TensorJob {
  meta: TensorMeta;
  shape: number[];
  /** Element count (the product of shape). */
  elements: number;
  /** Writes the tensor into dst (a private array, or a loan in shared memory). */
  fill(dst: Float32Array): void;
}

/** Fill `dst` with the job's tensor: how long that took, and the wall clock right after (the hand-over begins). */
export function fillTimed(job: TensorJob, dst: Float32Array): { featuresMs: number; sendAt: number } {
  const f0 = performance.now();
  job.fill(dst);
  const featuresMs = performance.now() - f0;
  return { featuresMs, sendAt: now() };
}

export interface Sent {
  reply: ModelReply;
  /** Wall clock when the tensor was complete on the worker side and the hand-over began. */
  sendAt: number;
  /** Wall clock when the reply was back in the worker. */
  backAt: number;
  /** Time spent filling the tensor (normalise / log-mel), wherever it was written. */
  featuresMs: number;
  /** What the policy chose for mode "auto". */
  decision?: { mode: string; reasons?: string[] };
  /** Over a bus: the broker, and which path the tensor and the reply took (msg.local). */
  bus?: { broker: "nats" | "redis"; tensorLocal: boolean; replyLocal: boolean };
}

/** The worker side. */
export interface ModelLink {
  infer(job: TensorJob, mode: Mode): Promise<Sent>;
  /** A link over a bus closes asynchronously (pinned payloads are drained first). */
  close(): void | Promise<void>;
}

/** What the model side hands its handler. */
export interface Incoming {
  meta: TensorMeta;
  shape: number[];
  /** The tensor; with Ferry a read-only view into shared memory, valid until the handler settles. */
  data: Float32Array;
}
export type ModelHandler = (t: Incoming) => Promise<Omit<ModelReply, "id" | "receivedAt" | "readyAt" | "sentAt">>;

/** The model side. */
export interface ModelServer {
  closed: Promise<void>;
  close(): void | Promise<void>;
}

// ---------------------------------------------------------------- Ferry

export const tensorChannel = (ns: string) => `${ns}.t`;
const MiB = 2 ** 20;

/** Records what a policy decided for the last send (the policy's other methods pass through). */
function recording(inner: SendPolicy, onDecide: (d: SendDecision) => void): SendPolicy {
  // a proxy over a plain object (the inner policy may be frozen, as the default one is)
  const decide = (size: number, ctx: Parameters<SendPolicy["decide"]>[1]) => {
    const d = inner.decide(size, ctx);
    onDecide(d);
    return d;
  };
  return new Proxy({} as SendPolicy, {
    get(_, prop) {
      if (prop === "decide") return decide;
      // no fast tier (SendPolicy.fastInline): every request's decision is shown, so decide() is asked each time
      // (a fraction of a µs against a tensor copy)
      if (prop === "fastInline") return undefined;
      const v = Reflect.get(inner, prop, inner);
      return typeof v === "function" ? v.bind(inner) : v;
    },
    has: (_, prop) => prop in inner,
  });
}

/**
 * Worker side over Ferry channels. `policy` is what mode "auto" asks
 * (publisher({ policy })): see policy.ts.
 */
export async function channelLink(ns: string, policy: SendPolicy, signal?: AbortSignal): Promise<ModelLink> {
  const tensors = await Channel.waitFor(tensorChannel(ns), { timeoutMs: -1, signal });
  const replyName = `${ns}.r${process.pid}`;
  const replies = Channel.create(replyName, { capacity: 8 * MiB, slots: 256 });
  const sub: Subscriber = replies.subscribe({ wait: "hybrid" });
  let lastDecision: SendDecision | undefined;
  const pub: Publisher = tensors.publisher({ backpressure: "block", timeoutMs: 60_000, policy: recording(policy, (d) => (lastDecision = d)) });
  const closeAll = () => {
    pub.close();
    sub.close();
    replies.close(); // the creator's close removes the reply channel's name
    tensors.close();
  };
  // stopped while still waiting for the model: nothing is left behind either
  signal?.addEventListener("abort", closeAll, { once: true });
  await pub.waitForSubscribers(1, { group: "model", timeoutMs: -1 });
  const pending = new Map<number, (r: ModelReply, at: number) => void>();
  let nextId = 1;
  const pump = (async () => {
    try {
      for await (const msg of sub) {
        const at = now();
        const r = JSON.parse(new TextDecoder().decode(msg.bytes)) as ModelReply;
        msg.release();
        pending.get(r.id)?.(r, at);
        pending.delete(r.id);
      }
    } catch {
      /* closed */
    }
  })();
  return {
    async infer(job, mode) {
      const id = nextId++;
      const back = new Promise<[ModelReply, number]>((res) => pending.set(id, (r, at) => res([r, at])));
      const extra = { id, reply: replyName, meta: job.meta };
      let sendAt: number, featuresMs: number;
      let decision: Sent["decision"];
      if (mode === "loan") {
        const t = loanTensor(pub, "float32", job.shape, extra);
        ({ featuresMs, sendAt } = fillTimed(job, t.data)); // straight into shared memory
        t.publish();
      } else {
        const data = new Float32Array(job.elements);
        ({ featuresMs, sendAt } = fillTimed(job, data));
        lastDecision = undefined;
        const sent = sendTensor(pub, data, { shape: job.shape, header: extra, mode: mode as "inline" | "offload" | "pipelined" | "auto" });
        if (mode === "auto" && lastDecision) decision = { mode: (lastDecision as SendDecision).mode, reasons: (lastDecision as SendDecision).reasons };
        await sent; // data must stay untouched until the copy is done
      }
      const [reply, backAt] = await back;
      return { reply, sendAt, backAt, featuresMs, decision };
    },
    close() {
      closeAll();
      void pump;
    },
  };
}

/** Model side over Ferry channels: creates the tensor channel, serves its "model" group. */
export async function channelServer(ns: string, capacity: number, handler: ModelHandler): Promise<ModelServer> {
  const ch = await Channel.createAsync(tensorChannel(ns), { capacity, slots: 256 });
  const sub = ch.subscribe({ wait: "hybrid", group: "model" });
  const outs = new Map<string, { ch: Channel; pub: Publisher }>();
  const replyTo = (name: string) => {
    let o = outs.get(name);
    if (!o) {
      const c = Channel.open(name);
      o = { ch: c, pub: c.publisher({ backpressure: "block", timeoutMs: 10_000 }) };
      outs.set(name, o);
    }
    return o.pub;
  };
  const serve = async (msg: Message) => {
    const receivedAt = now();
    const h = msg.header as { id: number; reply: string; meta: TensorMeta };
    let reply: ModelReply;
    try {
      if (msg.pipelined) await msg.ready();
      const readyAt = now();
      const t = msg.tensor();
      const r = await handler({ meta: h.meta, shape: t.shape, data: t.data as Float32Array });
      reply = { ...r, id: h.id, receivedAt, readyAt, sentAt: 0 };
    } catch (e) {
      reply = { id: h.id, ok: false, error: String((e as Error).message ?? e), receivedAt, readyAt: now(), sentAt: 0, inferenceMs: 0, postMs: 0 };
    }
    msg.release(); // the model is done reading the tensor
    reply.sentAt = now();
    try {
      replyTo(h.reply).sendSync(new TextEncoder().encode(JSON.stringify(reply)));
    } catch (e) {
      // the worker went away: forget its channel
      outs.get(h.reply)?.ch.close();
      outs.delete(h.reply);
      console.error(`model: reply to ${h.reply} failed: ${(e as Error).message}`);
    }
  };
  const closed = (async () => {
    try {
      // each message is served as it arrives: an image batch and an audio batch of one
      // request run side by side, and the arrival time is not a queueing time
      for await (const msg of sub) void serve(msg);
    } catch {
      /* closed */
    }
  })();
  return {
    closed,
    close() {
      for (const o of outs.values()) o.ch.close();
      sub.close();
      ch.close();
    },
  };
}

// ---------------------------------------------------------------- Bun IPC

type IpcMsg = { id: number; meta: TensorMeta; shape: number[]; data: Float32Array };

/** Worker side over Bun IPC: spawns its own model process (a child, so that Bun.spawn's IPC can reach it). */
export async function ipcLink(cmd: string[]): Promise<ModelLink & { pid: number }> {
  const pending = new Map<number, (r: ModelReply, at: number) => void>();
  let ready: () => void;
  const up = new Promise<void>((r) => (ready = r));
  const child = Bun.spawn(cmd, {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, MM_PARENT: String(process.pid) }, // it ends with this process (exitWithParent)
    serialization: "advanced",
    ipc(m: ModelReply | { ready: true }) {
      const at = now();
      if ("ready" in m) return ready();
      pending.get(m.id)?.(m, at);
      pending.delete(m.id);
    },
  });
  await Promise.race([up, child.exited.then((c) => Promise.reject(new Error(`model process exited (${c})`)))]);
  let nextId = 1;
  return {
    pid: child.pid,
    async infer(job) {
      const id = nextId++;
      const back = new Promise<[ModelReply, number]>((res) => pending.set(id, (r, at) => res([r, at])));
      const data = new Float32Array(job.elements);
      const f0 = performance.now();
      job.fill(data);
      const featuresMs = performance.now() - f0;
      const sendAt = now();
      child.send({ id, meta: job.meta, shape: job.shape, data } satisfies IpcMsg); // structured clone
      const [reply, backAt] = await back;
      return { reply, sendAt, backAt, featuresMs };
    },
    close() {
      child.kill();
    },
  };
}

/** Model side over Bun IPC (this process is the worker's child). */
export function ipcServer(handler: ModelHandler): ModelServer {
  let done: () => void;
  const closed = new Promise<void>((r) => (done = r));
  process.on("message", (m: IpcMsg) => {
    const receivedAt = now();
    // served as it arrives, like the Ferry model process
    void (async () => {
      let reply: ModelReply;
      try {
        const r = await handler({ meta: m.meta, shape: m.shape, data: m.data });
        reply = { ...r, id: m.id, receivedAt, readyAt: receivedAt, sentAt: 0 };
      } catch (e) {
        reply = { id: m.id, ok: false, error: String((e as Error).message ?? e), receivedAt, readyAt: receivedAt, sentAt: 0, inferenceMs: 0, postMs: 0 };
      }
      reply.sentAt = now();
      process.send!(reply);
    })();
  });
  process.on("disconnect", () => done());
  process.send!({ ready: true });
  return { closed, close: () => process.disconnect?.() };
}
