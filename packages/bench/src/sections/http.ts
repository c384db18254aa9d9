/**
 * 7. HTTP: a Bun.serve front plus 2 worker processes, large POST bodies.
 * The same load through @ferry/http, (a) Bun.spawn IPC, (b) a fetch proxy to
 * workers on Bun.serve Unix sockets, and (c) the floor: a front that only
 * reads the body. roles/http.ts has the fronts, workers and the client.
 *
 * The client is a Bun process (roles/http.ts httpClient), not wrk: the cells
 * are counted requests (3 to 96 per cell), which wrk cannot do (it runs for a
 * duration, and a 128 MiB body at c=16 needs several seconds per request),
 * and the same body buffer is sent every time, so the client builds nothing
 * per request. Its cost is the same for every front.
 */
import { createServer } from "node:net";
import { MiB, fmtSize, table } from "../lib/format";
import { finish, spawnPeer } from "../lib/procs";
import { target } from "../lib/target";
import type { HttpCell, HttpImpl, HttpResult } from "../schema";
import { section } from "../section";

const IMPLS: HttpImpl[] = ["ferry", "ipc", "proxy", "floor"];
const LABEL: Record<HttpImpl, string> = {
  ferry: "ferry (@ferry/http)",
  ipc: "(a) Bun.spawn IPC",
  proxy: "(b) fetch proxy, Unix sockets",
  floor: "(c) floor: front reads only",
};
const CLIENT =
  "a Bun client process (roles/http.ts): counted requests, one prebuilt body reused, per-request latency; wrk runs for a duration and cannot count 3-16 requests of 128 MiB";

interface Load { path: "hash" | "echo"; size: number; conc: number; n: number }

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Front { impl: HttpImpl; port: number; peer: ReturnType<typeof spawnPeer> }

async function startFront(impl: HttpImpl, maxBody: number): Promise<Front> {
  const port = await freePort();
  const peer = spawnPeer("http-front", [impl, port, maxBody], { readyTimeoutMs: 60_000 });
  await peer.ready;
  return { impl, port, peer };
}

async function stopFront(f: Front) {
  await fetch(`http://127.0.0.1:${f.port}/__quit`).catch(() => {});
  await finish(f.peer, 20_000).catch(() => {});
}

async function runLoad(f: Front, l: Load, log: (s: string) => void): Promise<HttpCell> {
  Bun.gc(true);
  const cfg = { url: `http://127.0.0.1:${f.port}/${l.path}`, size: l.size, conc: l.conc, n: l.n, warmup: Math.min(2, l.n) };
  const client = spawnPeer("http-client", [JSON.stringify(cfg)], { readyTimeoutMs: 600_000 });
  const r = (await finish(client, 600_000)) as Omit<HttpCell, "impl" | "path" | "size" | "conc">;
  const cell: HttpCell = { impl: f.impl, path: l.path, size: l.size, conc: l.conc, ...r };
  log(`  ${f.impl.padEnd(6)} ${l.path} ${fmtSize(l.size).padStart(7)} c=${String(l.conc).padEnd(2)} ${cell.rps.toFixed(1).padStart(7)} req/s  p50 ${cell.p50_ms.toFixed(1)} ms  p99 ${cell.p99_ms.toFixed(1)} ms${cell.bad ? `  BAD ${cell.bad}` : ""}`);
  return cell;
}

const find = (r: HttpResult | undefined, impl: HttpImpl, size: number, conc: number, path = "hash") =>
  r?.cells.find((c) => c.impl === impl && c.size === size && c.conc === conc && c.path === path);

/** Ferry's time per request over the other's (1/rps), at concurrency `conc`. */
const timeRatio = (r: HttpResult | undefined, other: HttpImpl, size: number, conc: number) => {
  const f = find(r, "ferry", size, conc), o = find(r, other, size, conc);
  return f && o ? o.rps / f.rps : undefined;
};
const rpsRatio = (r: HttpResult | undefined, other: HttpImpl, size: number, conc: number) => {
  const f = find(r, "ferry", size, conc), o = find(r, other, size, conc);
  return f && o ? f.rps / o.rps : undefined;
};

export const http = section({
  name: "http",
  title: "7. HTTP: Bun.serve front + 2 workers, large bodies (ferry, Bun IPC, fetch proxy, floor)",
  alwaysTargets: true,
  empty: (): HttpResult => ({ client: CLIENT, cells: [], errors: [] }),
  config: (o) => {
    const Q = o.quick;
    const n = (size: number, conc: number) =>
      size <= MiB ? (conc === 1 ? (Q ? 10 : 60) : Q ? 32 : 160)
      : size <= 16 * MiB ? (conc === 1 ? (Q ? 4 : 16) : Q ? 16 : 64)
      : conc === 1 ? 4 : 16;
    const sizes = Q ? [MiB, 16 * MiB] : [MiB, 16 * MiB, 128 * MiB];
    const loads: Load[] = [];
    for (const size of sizes) for (const conc of [1, 16]) loads.push({ path: "hash", size, conc, n: n(size, conc) });
    for (const conc of [1, 16]) loads.push({ path: "echo", size: 16 * MiB, conc, n: n(16 * MiB, conc) });
    return { loads, impls: IMPLS };
  },
  async run(cfg, log) {
    const r: HttpResult = { client: CLIENT, cells: [], errors: [] };
    log(`client: ${CLIENT}`);
    // every front (and its workers) up at once, idle; each load then runs against all of them back
    // to back, in an order that rotates per load, so drift on a shared machine hits them alike
    const maxBody = Math.max(...cfg.loads.map((l) => l.size)) + MiB;
    const fronts: Front[] = [];
    try {
      for (const impl of cfg.impls) {
        try {
          fronts.push(await startFront(impl, maxBody));
        } catch (e) {
          r.errors.push(`${impl}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      for (let i = 0; i < cfg.loads.length; i++) {
        const l = cfg.loads[i]!;
        for (let k = 0; k < fronts.length; k++) {
          const f = fronts[(i + k) % fronts.length]!;
          try {
            r.cells.push(await runLoad(f, l, log));
          } catch (e) {
            r.errors.push(`${f.impl} ${l.path} ${fmtSize(l.size)} c=${l.conc}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
      }
    } finally {
      for (const f of fronts) await stopFront(f);
    }
    return r;
  },
  table(r) {
    const keys = [...new Set(r.cells.map((c) => `${c.path}|${c.size}|${c.conc}`))];
    const rows = keys.flatMap((k) => {
      const [path, size, conc] = k.split("|");
      return IMPLS.map((impl) => find(r, impl, Number(size), Number(conc), path))
        .filter((c): c is HttpCell => !!c)
        .map((c) => [
          `${c.path} ${fmtSize(c.size)} c=${c.conc}`, LABEL[c.impl], c.rps.toFixed(1), c.p50_ms.toFixed(1), c.p99_ms.toFixed(1), String(c.n),
          c.impl === "ferry" || !find(r, "ferry", c.size, c.conc, c.path) ? "" : `${(find(r, "ferry", c.size, c.conc, c.path)!.rps / c.rps).toFixed(2)}x`,
        ]);
    });
    return [
      table(["load", "front", "req/s", "p50 ms", "p99 ms", "n", "ferry req/s ÷ this"], rows),
      "hash: each worker Bun.hash()es the body (wyhash) and answers a small JSON; echo: the body comes back (ferry: written in",
      "place into a loaned reply body). floor: the front reads the body (hash) or reads it and sends it back (echo); no workers.",
      `client: ${r.client}`,
      ...r.errors.map((e) => `FAILED: ${e}`),
    ].join("\n");
  },
  targets(r) {
    const t16 = timeRatio(r, "floor", 16 * MiB, 16), t128 = timeRatio(r, "floor", 128 * MiB, 16);
    const note = (size: number) => {
      const c1 = timeRatio(r, "floor", size, 1);
      return c1 === undefined ? undefined : `c=1: ${c1.toFixed(2)}x the floor's time`;
    };
    const vs = (other: HttpImpl) => {
      const c1 = rpsRatio(r, other, 16 * MiB, 1);
      return c1 === undefined ? undefined : `c=1: ${c1.toFixed(2)}x`;
    };
    return [
      target("<=", { id: "http-floor-16", name: "HTTP 16 MiB POST, c=16: ferry time per request vs the floor (front reads only)", limit: 1.15, fmt: (x) => `${x.toFixed(2)}x`, note: note(16 * MiB) }, t16),
      target("<=", { id: "http-floor-128", name: "HTTP 128 MiB POST, c=16: ferry time per request vs the floor", limit: 1.15, fmt: (x) => `${x.toFixed(2)}x`, note: note(128 * MiB) }, t128),
      target(">=", { id: "http-vs-ipc", name: "HTTP 16 MiB POST, c=16: ferry req/s vs Bun.spawn IPC", limit: 2, fmt: (x) => `${x.toFixed(2)}x`, note: vs("ipc") }, rpsRatio(r, "ipc", 16 * MiB, 16)),
      target(">=", { id: "http-vs-proxy", name: "HTTP 16 MiB POST, c=16: ferry req/s vs a fetch proxy over Unix sockets", limit: 2, fmt: (x) => `${x.toFixed(2)}x`, note: vs("proxy") }, rpsRatio(r, "proxy", 16 * MiB, 16)),
    ];
  },
});
