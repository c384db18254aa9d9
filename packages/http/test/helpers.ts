/** What the @ferry/http tests share: a gateway behind Bun.serve, worker peers, tools, hashes, /dev/shm checks. */
import { expect } from "bun:test";
import { join, resolve } from "node:path";
import { gateway, type Gateway, type GatewayOptions } from "@ferry/http";
import { listFerryShm, peerSpawner, uniqueName, type Peer } from "@ferry/testkit";

export const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
export const MiB = 2 ** 20;
const ROOT = resolve(import.meta.dir, "../../..");

/**
 * The path of command-line tool `tool` (curl, wrk). When it is missing, scripts/ensure-tools.sh
 * installs it if allowed (CI=true or FERRY_INSTALL_DEPS=1); otherwise this throws saying how to get it.
 */
export function requireTool(tool: "curl" | "wrk"): string {
  let p = Bun.which(tool);
  if (p) return p;
  const r = Bun.spawnSync(["bash", join(ROOT, "scripts/ensure-tools.sh"), tool], { stderr: "pipe" });
  p = Bun.which(tool);
  if (p) return p;
  throw new Error(
    `${tool} is needed by this test and is not installed (${r.stderr.toString().trim()}). ` +
      `Install it with: FERRY_INSTALL_DEPS=1 scripts/ensure-tools.sh ${tool}  (or: apt-get install ${tool})`,
  );
}

export interface Front {
  gw: Gateway;
  server: ReturnType<typeof Bun.serve>;
  base: string;
  name: string;
  workers: Peer[];
  stop(): Promise<void>;
}

/** A gateway named uniquely, Bun.serve in front of it, and `workers` worker processes that joined it. */
export async function startFront(
  opts: Partial<GatewayOptions> & { workers?: number; serveLimit?: number; workerCfg?: Record<string, unknown> } = {},
): Promise<Front> {
  const name = uniqueName("http");
  const { workers: nw = 1, serveLimit, workerCfg, ...gopts } = opts;
  const gw = gateway({ name, timeoutMs: 20_000, ...gopts });
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: gw.fetch,
    maxRequestBodySize: serveLimit ?? gw.maxBodyBytes,
    idleTimeout: 60,
  });
  const workers = Array.from({ length: nw }, () => spawnPeer("worker.ts", { name, ...workerCfg }, 240_000));
  await Promise.all(workers.map((w) => w.waitFor("ready", 30_000)));
  if (nw > 0) await gw.waitForWorkers(nw, { timeoutMs: 10_000 });
  return {
    gw, server, name, workers,
    base: `http://127.0.0.1:${server.port}`,
    async stop() {
      for (const w of workers) w.kill(15);
      await Promise.all(workers.map((w) => w.exited));
      server.stop(true);
      gw.close();
    },
  };
}

export const sha256 = (b: Uint8Array | ArrayBuffer) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** A deterministic body of n bytes (seeded xorshift, so every size differs everywhere). */
export function body(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  const w = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < w.length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    w[i] = x;
  }
  for (let i = w.length * 4; i < n; i++) out[i] = (i * 31 + seed) & 255;
  return out;
}

/** Hash a response body as it streams in (never holding it whole). */
export async function hashStream(s: ReadableStream<Uint8Array> | null): Promise<{ sha: string; n: number }> {
  const h = new Bun.CryptoHasher("sha256");
  let n = 0;
  if (s) for await (const c of s) { h.update(c); n += c.length; }
  return { sha: h.digest("hex"), n };
}

/** Nothing of this test process is left in /dev/shm. */
export function expectNoShmLeft() {
  const mine = listFerryShm().filter((n) => n.startsWith(`t${process.pid}-`));
  expect(mine).toEqual([]);
}

/** An error body must not reveal a shared-memory name. */
export function expectNoShmNames(text: string, f: Front) {
  expect(text).not.toContain(f.name);
  expect(text).not.toContain("/dev/shm");
  expect(text).not.toContain("ferry.");
}

/** Poll until `pred` holds (or fail after timeoutMs). */
export async function until(pred: () => boolean, timeoutMs = 5000, what = "condition") {
  const end = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`timeout waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** No request pending, both arenas empty (within a few seconds: releases race with the replies). */
export async function expectDrained(f: Front, timeoutMs = 5000) {
  const empty = () => {
    const s = f.gw.stats();
    return s.pending === 0 && s.requestArenaUsed === 0 && s.replyArenaUsed === 0;
  };
  await until(empty, timeoutMs, "the arenas to drain").catch(() => {});
  const s = f.gw.stats();
  expect({ pending: s.pending, requestArenaUsed: s.requestArenaUsed, replyArenaUsed: s.replyArenaUsed })
    .toEqual({ pending: 0, requestArenaUsed: 0, replyArenaUsed: 0 });
}
