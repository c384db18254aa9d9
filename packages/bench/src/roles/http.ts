/**
 * Processes of the http section (sections/http.ts): a front on a TCP port with
 * its 2 workers, and a load client. Four fronts, the same workers' work
 * (Bun.hash of the body, answered with a small JSON; or the body echoed):
 *
 *   ferry   @ferry/http: gateway() in the front, serveWorker() in the workers
 *   ipc     Bun.spawn IPC (serialization "advanced"): the front reads the body, posts it to a worker
 *   proxy   the front proxies with fetch() to workers running Bun.serve on Unix sockets (bodies streamed)
 *   floor   the front only reads the body and answers (no workers): the upload itself
 *
 * Paths: /hash answers {"n","h"}; /echo answers the body.
 */
import { gateway, serveWorker } from "@ferry/http";
import { rmSync } from "node:fs";

const hashOf = (b: Uint8Array) => Bun.hash(b).toString(16); // wyhash: memory speed, the work is not the point
const small = (n: number, h: string) => `{"n":${n},"h":"${h}"}`;
const ROLE_MAIN = new URL("./main.ts", import.meta.url).pathname;

/** Workers of a front: exit when the front goes (a killed front must not leave them behind). */
function watchParent() {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 200).unref();
}

export async function httpWorker(impl: string, name: string) {
  watchParent();
  if (impl === "ferry") {
    const w = serveWorker(name, (req) => {
      if (req.url.endsWith("/echo")) {
        const out = req.loanBody(req.bytes.length);
        out.bytes.set(req.bytes);
        return out.response();
      }
      return new Response(small(req.bytes.length, hashOf(req.bytes)), { headers: { "content-type": "application/json" } });
    });
    await w.ready;
    console.log("READY");
    return;
  }
  if (impl === "ipc") {
    process.on("message", (m: { id: number; echo: boolean; body: Uint8Array }) => {
      if (m.echo) process.send!({ id: m.id, body: m.body });
      else process.send!({ id: m.id, json: small(m.body.length, hashOf(m.body)) });
    });
    console.log("READY");
    return;
  }
  if (impl === "proxy") {
    Bun.serve({
      unix: name,
      maxRequestBodySize: 2 ** 31,
      async fetch(req) {
        const b = await req.bytes();
        if (req.url.endsWith("/echo")) return new Response(b);
        return new Response(small(b.length, hashOf(b)), { headers: { "content-type": "application/json" } });
      },
    });
    console.log("READY");
    return;
  }
  throw new Error(`unknown worker impl ${impl}`);
}

export async function httpFront(impl: string, port: number, maxBody: number) {
  const workers: ReturnType<typeof Bun.spawn>[] = [];
  const name = `bench-http-${process.pid}`;
  let gw: ReturnType<typeof gateway> | null = null;
  const pending = new Map<number, (r: Response) => void>();
  let next = 0;
  const spawnWorker = async (i: number) => {
    const wname = impl === "proxy" ? `/tmp/${name}-${i}.sock` : name;
    const p = Bun.spawn([process.execPath, ROLE_MAIN, "http-worker", impl, wname], {
      stdout: "pipe",
      stderr: "inherit",
      ...(impl === "ipc"
        ? {
            serialization: "advanced" as const,
            ipc(m: { id: number; json?: string; body?: Uint8Array }) {
              const r = pending.get(m.id);
              pending.delete(m.id);
              r?.(m.json !== undefined ? new Response(m.json, { headers: { "content-type": "application/json" } }) : new Response(m.body!));
            },
          }
        : {}),
    });
    workers.push(p);
    const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!text.includes("READY")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`worker ${i} exited before READY`);
      text += new TextDecoder().decode(value);
    }
    return wname;
  };
  if (impl === "ferry") gw = gateway({ name, maxBodyBytes: maxBody, timeoutMs: 120_000 });
  const names = impl === "floor" ? [] : await Promise.all([0, 1].map(spawnWorker));
  if (gw) await gw.waitForWorkers(2);

  const quit = async () => {
    for (const w of workers) w.kill(15);
    await Promise.all(workers.map((w) => w.exited));
    // a killed proxy worker leaves its Unix socket file behind
    if (impl === "proxy") for (const n of names) rmSync(n, { force: true });
    gw?.close();
    server.stop(true);
    process.exit(0);
  };
  const server = Bun.serve({
    port,
    hostname: "127.0.0.1",
    maxRequestBodySize: maxBody,
    idleTimeout: 240,
    async fetch(req) {
      const url = req.url;
      if (url.endsWith("/__quit")) {
        setTimeout(quit, 10);
        return new Response("bye");
      }
      const echo = url.endsWith("/echo");
      switch (impl) {
        case "ferry":
          return gw!.fetch(req);
        case "floor": {
          if (echo) return new Response(await req.bytes());
          let n = 0;
          for await (const c of req.body!) n += c.length;
          return new Response(small(n, "0"), { headers: { "content-type": "application/json" } });
        }
        case "ipc": {
          const body = await req.bytes();
          const id = next++;
          const w = workers[id % workers.length]!;
          return new Promise<Response>((resolve) => {
            pending.set(id, resolve);
            w.send({ id, echo, body });
          });
        }
        case "proxy": {
          const sock = names[next++ % names.length]!;
          return fetch(`http://localhost/${echo ? "echo" : "hash"}`, {
            method: "POST",
            body: req.body,
            unix: sock,
            headers: { "content-length": req.headers.get("content-length") ?? "" },
          } as RequestInit);
        }
      }
      return new Response("unknown impl", { status: 500 });
    },
  });
  console.log("READY");
}

/** The load: `conc` loops, each POSTing the same body `n / conc` times; per-request latency, total rate. */
export async function httpClient(cfgJson: string) {
  const cfg = JSON.parse(cfgJson) as { url: string; size: number; conc: number; n: number; warmup: number };
  const body = new Uint8Array(cfg.size);
  for (let o = 0; o < body.length; o += 65536) crypto.getRandomValues(body.subarray(o, Math.min(o + 65536, body.length)));
  const echo = cfg.url.endsWith("/echo");
  let bad = 0;
  const one = async () => {
    const t0 = performance.now();
    const r = await fetch(cfg.url, { method: "POST", body });
    let n = 0;
    if (echo) for await (const c of r.body!) n += c.length;
    else n = ((await r.json()) as { n: number }).n;
    if (r.status !== 200 || n !== cfg.size) bad++;
    return performance.now() - t0;
  };
  for (let i = 0; i < cfg.warmup; i++) await one();
  const lat: number[] = [];
  let left = cfg.n;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: cfg.conc }, async () => {
      while (left > 0) {
        left--;
        lat.push(await one());
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((p / 100) * lat.length) - 1))]!;
  console.log("READY");
  console.log(`RESULT ${JSON.stringify({ n: lat.length, wall_s: wall, rps: lat.length / wall, p50_ms: pct(50), p99_ms: pct(99), bad })}`);
}
