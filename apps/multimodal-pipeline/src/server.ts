/**
 * The processes of the pipeline and how they start.
 *
 *   front (Bun.serve)
 *     ├─ @ferry/http gateway ──shm──► W prep workers (serveWorker) ──Ferry channel──► model process
 *     └─ Bun IPC ──────────────────► W prep workers (ipc) ──Bun IPC──► one model child each
 *
 * One HTTP endpoint, POST /v1/infer; the x-ferry-mode header picks the path
 * and the tensor hand-over: bun-ipc | inline | offload | pipelined | auto
 * (default) | loan. Both stacks run side by side so that the demo can
 * interleave modes on warm processes.
 *
 * With --bus (mqtransport.ts) the front starts no model process and no Bun
 * IPC stack: its workers send their tensors to a broker, and model processes
 * started on any host (--role model --bus URL) answer; modes auto | loan.
 */
import { gateway } from "@ferry/http";
import { readdirSync, readFileSync } from "node:fs";
import { autoPolicy } from "./policy";
import { channelLink, channelServer, ipcLink, ipcServer, now, FERRY_MODES, type Mode, type ModelLink, type ModelServer } from "./transport";
// ./mqtransport (and @ferry/mq with its broker clients) is imported only with --bus
const busTransport = () => import("./mqtransport");
import { BadRequest, handle, parseItems } from "./worker";
import { Models } from "./models";

const MiB = 2 ** 20;
const MAIN = new URL("./main.ts", import.meta.url).pathname;
const bun = process.execPath;

export interface FrontOptions {
  port: number;
  workers: number;
  size: number;
  /** Largest request body. */
  maxBodyBytes: number;
  /** Tensor channel arena (the tensors in flight at once). */
  tensorCapacity: number;
  /** ORT intra-op threads (0: onnxruntime's default). */
  threads: number;
  /** Also start the Bun IPC stack (the baseline). */
  ipc: boolean;
  /** The gateway's name (the workers' shared-memory rendezvous); default mm<pid>. */
  ns?: string;
  /** Tensors to model processes through a broker instead of a local model process (then no Bun IPC stack). */
  bus?: BusOptions;
}

export interface BusOptions {
  /** nats://host:port or redis://host:port */
  url: string;
  /** Stream names start with it: <prefix>-tensors, <prefix>-r<worker>. */
  prefix: string;
  /** How long a worker waits for a model's reply (no model process on the bus: the request fails then). Default 120 000. */
  replyTimeoutMs?: number;
}

/** The modes a front over a bus takes: the bus picks reference or payload itself. */
export const BUS_MODES = new Set<Mode>(["auto", "loan"]);

/** The front stamps the request's arrival (wall clock) in this header for the worker. */
const RECV_HEADER = "x-mm-recv";

/** Set in the environment of the processes the pipeline starts itself: the parent's pid. */
export const PARENT_ENV = "MM_PARENT";
/** The environment for a child that should end with this process (exitWithParent). */
export const childEnv = () => ({ ...process.env, [PARENT_ENV]: String(process.pid) });

/**
 * Child processes end when their parent does (a front killed with -9 leaves no workers behind),
 * and every role on SIGTERM / SIGINT; an async cleanup (closing a bus: its shared-memory channel
 * is removed once its pins are acked) gets up to 3 s. Only a process started by the pipeline
 * (MM_PARENT is its parent's pid) watches its parent: a role started by hand (--role model in
 * the background of a shell that then exits) keeps running.
 */
export function exitWithParent(cleanup: () => void | Promise<void>) {
  const parent = process.ppid;
  const watch = process.env[PARENT_ENV] === String(parent);
  let done = false;
  const stop = async () => {
    if (done) return;
    done = true;
    try {
      await Promise.race([cleanup(), Bun.sleep(3000)]);
    } catch (e) {
      console.error(`${process.pid}: cleanup: ${(e as Error).message}`);
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  if (watch) setInterval(() => process.ppid !== parent && void stop(), 250).unref();
}

/** CPU time (user + system, ms) of this process and all its descendants, from /proc. */
export function treeCpuMs(root = process.pid): number {
  const hz = 100; // USER_HZ on Linux
  const kids = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(f[1]);
      cpu.set(Number(d), ((Number(f[11]) + Number(f[12])) * 1000) / hz);
      (kids.get(ppid) ?? kids.set(ppid, []).get(ppid)!).push(Number(d));
    } catch {
      /* gone */
    }
  }
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    total += cpu.get(p) ?? 0;
    stack.push(...(kids.get(p) ?? []));
  }
  return total;
}

const json = (status: number, body: unknown) => Response.json(body, { status });

export async function runFront(o: FrontOptions): Promise<void> {
  const ns = o.ns ?? `mm${process.pid}`;
  if (o.bus) o = { ...o, ipc: false };
  const gw = gateway({ name: ns, maxBodyBytes: o.maxBodyBytes, timeoutMs: 300_000 });
  const children: ReturnType<typeof Bun.spawn>[] = [];
  const spawn = (args: string[], extra: Partial<Parameters<typeof Bun.spawn>[1]> = {}) => {
    const c = Bun.spawn([bun, MAIN, ...args], { stdio: ["ignore", "inherit", "inherit"], env: childEnv(), ...extra } as Parameters<typeof Bun.spawn>[1]);
    children.push(c);
    return c;
  };
  const common = ["--size", String(o.size), "--threads", String(o.threads)];
  if (o.bus) {
    // the model processes run elsewhere (--role model --bus URL); the workers' tensor producers get the arena
    const bus = ["--bus", o.bus.url, "--stream", o.bus.prefix, "--capacity", String(o.tensorCapacity)];
    if (o.bus.replyTimeoutMs) bus.push("--reply-timeout", String(o.bus.replyTimeoutMs / 1000));
    for (let i = 0; i < o.workers; i++) spawn(["--role", "worker", "--ns", ns, ...bus, ...common]);
  } else {
    spawn(["--role", "model", "--ns", ns, "--capacity", String(o.tensorCapacity), ...common]);
    for (let i = 0; i < o.workers; i++) spawn(["--role", "worker", "--ns", ns, ...common]);
  }

  // the Bun IPC stack: workers are children of the front, each with its own model child
  type IpcReply = { id: number; status: number; body: unknown } | { ready: true };
  const ipcWorkers: { proc: ReturnType<typeof Bun.spawn>; busy: number }[] = [];
  const ipcPending = new Map<number, (r: { status: number; body: unknown }) => void>();
  let ipcReady = 0;
  let ipcId = 0;
  if (o.ipc)
    for (let i = 0; i < o.workers; i++) {
      const proc = spawn(["--role", "ipc-worker", ...common], {
        serialization: "advanced",
        ipc(m: IpcReply) {
          if ("ready" in m) return void ipcReady++;
          ipcPending.get(m.id)?.(m);
          ipcPending.delete(m.id);
        },
      });
      ipcWorkers.push({ proc, busy: 0 });
    }

  const viaIpc = async (req: Request, receivedAt: number): Promise<Response> => {
    const body = new Uint8Array(await req.arrayBuffer());
    const w = ipcWorkers.reduce((a, b) => (b.busy < a.busy ? b : a)); // least busy
    const id = ++ipcId;
    w.busy++;
    try {
      const r = await new Promise<{ status: number; body: unknown }>((resolve) => {
        ipcPending.set(id, resolve);
        w.proc.send({ id, body, contentType: req.headers.get("content-type"), t0: Number(req.headers.get("x-mm-t0")) || undefined, receivedAt });
      });
      return json(r.status, r.body);
    } finally {
      w.busy--;
    }
  };

  const server = Bun.serve({
    port: o.port,
    hostname: "127.0.0.1",
    maxRequestBodySize: o.maxBodyBytes,
    idleTimeout: 0,
    async fetch(req, srv) {
      const receivedAt = now();
      const url = new URL(req.url);
      if (url.pathname === "/.mm/stats") return json(200, { cpuMs: treeCpuMs(), pid: process.pid, gateway: gw.stats() });
      if (url.pathname === "/health") return json(200, { ok: true });
      if (url.pathname !== "/v1/infer" || req.method !== "POST") return json(404, { error: "POST /v1/infer (an image, a WAV, or multipart/form-data)" });
      const mode = (req.headers.get("x-ferry-mode") ?? "auto") as Mode;
      if (o.bus && !BUS_MODES.has(mode))
        return json(400, { error: `x-ferry-mode: over a bus (--bus) one of auto, loan (@ferry/mq picks reference or payload per message)` });
      if (mode === "bun-ipc") {
        if (!o.ipc) return json(400, { error: "the Bun IPC stack is not running (--no-ipc)" });
        return viaIpc(req, receivedAt);
      }
      if (!FERRY_MODES.has(mode)) return json(400, { error: `x-ferry-mode: one of bun-ipc, inline, offload, pipelined, auto, loan` });
      req.headers.set(RECV_HEADER, String(receivedAt)); // the worker puts it in the answer
      return gw.fetch(req, srv);
    },
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.stop(true);
    for (const c of children) c.kill("SIGTERM");
    await Promise.race([Promise.all(children.map((c) => c.exited)), Bun.sleep(5000)]);
    for (const c of children) c.kill("SIGKILL");
    gw.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  for (const c of children)
    void c.exited.then((code) => {
      if (!stopping) {
        console.error(`front: child ${c.pid} exited (${code}); stopping`);
        void stop();
      }
    });

  await gw.waitForWorkers(o.workers, { timeoutMs: 120_000 });
  while (o.ipc && ipcReady < o.workers) await Bun.sleep(20);
  // one line on stdout that the demo and the tests wait for
  console.log(JSON.stringify({ ready: `http://127.0.0.1:${server.port}`, pid: process.pid, workers: o.workers, ipc: o.ipc, ns, ...(o.bus ? { bus: o.bus.url, stream: o.bus.prefix } : {}) }));
}

/**
 * A prep worker behind the gateway `ns` (on the gateway's host); its tensors go to the model
 * over Ferry channels, or with `bus` through a broker to model processes anywhere.
 */
export async function runWorker(ns: string, size: number, bus?: BusOptions & { capacity: number; replyTimeoutMs?: number }) {
  const abort = new AbortController();
  let link: ModelLink | null = null;
  let w: ReturnType<typeof import("@ferry/http").serveWorker> | null = null;
  exitWithParent(async () => {
    abort.abort();
    w?.close();
    await link?.close();
  });
  if (bus) {
    const { connect, mqLink } = await busTransport();
    link = await mqLink(await connect(bus.url), { prefix: bus.prefix, capacity: bus.capacity, timeoutMs: bus.replyTimeoutMs });
  } else link = await channelLink(ns, await autoPolicy(), abort.signal);
  const { serveWorker } = await import("@ferry/http");
  const l = link;
  w = serveWorker(ns, async (req) => {
    const startedAt = now();
    const mode = (req.headers.get("x-ferry-mode") ?? "auto") as Mode;
    try {
      const items = await parseItems(req.bytes, req.headers.get("content-type"));
      const out = await handle(l, items, mode, {
        size, startedAt, t0: Number(req.headers.get("x-mm-t0")) || undefined, receivedAt: Number(req.headers.get(RECV_HEADER)) || undefined,
      });
      return Response.json(out);
    } catch (e) {
      if (e instanceof BadRequest) return json(400, { error: e.message });
      if ((e as Error).name === "NoModel") {
        // no model process answered in time (mqtransport.ts): one line, no stack
        console.error(`worker ${process.pid}: ${(e as Error).message}`);
        return json(504, { error: (e as Error).message });
      }
      console.error(`worker ${process.pid}:`, e);
      return json(500, { error: String((e as Error).message ?? e) });
    }
  });
}

/** The model process for the Ferry stack. */
export async function runModel(ns: string, capacity: number, threads: number) {
  const models = await Models.load(threads);
  let srv: Awaited<ReturnType<typeof channelServer>> | null = null;
  exitWithParent(() => srv?.close());
  srv = await channelServer(ns, capacity, async (t) => ({ ok: true, ...(await models.infer(t.meta, t.shape, t.data)) }));
  await srv.closed;
}

/**
 * A model process on a bus: one member of the group "model" on <prefix>-tensors, on any host
 * that reaches the broker. It runs until SIGTERM / SIGINT (or, when started by a parent that
 * exits, with it).
 */
export async function runBusModel(bus: BusOptions, threads: number, inflight: number) {
  const models = await Models.load(threads);
  const { connect, mqServer } = await busTransport();
  const mq = await connect(bus.url);
  let srv: ModelServer | null = null;
  exitWithParent(async () => srv?.close());
  srv = await mqServer(mq, { prefix: bus.prefix, inflight }, async (t) => ({ ok: true, ...(await models.infer(t.meta, t.shape, t.data)) }));
  // one line on stdout for whoever waits for it (tests, scripts)
  console.log(JSON.stringify({ ready: "model", pid: process.pid, bus: bus.url, stream: bus.prefix }));
  await srv.closed;
}

/** A prep worker of the Bun IPC stack: the body comes from the front, the tensor goes to its own model child. */
export async function runIpcWorker(size: number, threads: number) {
  const link = await ipcLink([bun, MAIN, "--role", "ipc-model", "--threads", String(threads)]);
  exitWithParent(() => link.close());
  let queue = Promise.resolve();
  process.on("message", (m: { id: number; body: Uint8Array; contentType: string | null; t0?: number; receivedAt?: number }) => {
    const startedAt = now();
    queue = queue.then(async () => {
      try {
        const items = await parseItems(m.body, m.contentType);
        process.send!({ id: m.id, status: 200, body: await handle(link, items, "bun-ipc", { size, startedAt, t0: m.t0, receivedAt: m.receivedAt }) });
      } catch (e) {
        const bad = e instanceof BadRequest;
        if (!bad) console.error(`ipc worker ${process.pid}:`, e);
        process.send!({ id: m.id, status: bad ? 400 : 500, body: { error: String((e as Error).message ?? e) } });
      }
    });
  });
  process.send!({ ready: true });
}

export async function runIpcModel(threads: number) {
  const models = await Models.load(threads);
  exitWithParent(() => {});
  const srv = ipcServer(async (t) => ({ ok: true, ...(await models.infer(t.meta, t.shape, t.data)) }));
  await srv.closed;
  process.exit(0);
}

export { MiB };
