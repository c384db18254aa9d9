/**
 * Real brokers for tests and the benchmark: nats-server (JetStream, file
 * storage in a temporary directory) and redis-server (AOF, fsync always),
 * each on free loopback ports, stopped by pid. Missing binaries are installed
 * by scripts/ensure-tools.sh only under CI=true or FERRY_INSTALL_DEPS=1;
 * otherwise brokerTools() says what is missing.
 */
import { spawn, spawnSync, type Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..", "..");

/** null when both servers are here (installing them if allowed), else why not. */
export function brokerTools(): string | null {
  const r = spawnSync(["bash", join(ROOT, "scripts", "ensure-tools.sh"), "nats-server", "redis-server"], { stderr: "pipe" });
  return r.exitCode === 0 ? null : r.stderr.toString().trim() || `ensure-tools exited ${r.exitCode}`;
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

async function until(what: string, ms: number, f: () => Promise<boolean>): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await f().catch(() => false)) return;
    await Bun.sleep(50);
  }
  throw new Error(`${what}: not ready within ${ms} ms`);
}

export interface Broker {
  readonly kind: "nats" | "redis";
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Bytes the server received and sent so far (NATS /varz in_bytes/out_bytes; Redis INFO total_net_*). */
  bytes(): Promise<{ in: number; out: number }>;
  /** Stop (SIGTERM, then SIGKILL after 5 s) and start again on the same port and data directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function stopProc(p: Subprocess) {
  if (p.exitCode !== null || p.signalCode !== null) return;
  process.kill(p.pid, "SIGTERM");
  const t = setTimeout(() => {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }, 5000);
  await p.exited;
  clearTimeout(t);
}

/**
 * A running server as a Broker: `args` started with `ready` awaited (again on
 * restart, same port and data directory `dir`), stopped by pid, `dir` removed at stop.
 */
async function serve(
  kind: Broker["kind"], url: string, port: number, dir: string, args: string[], ready: () => Promise<void>,
  bytes: Broker["bytes"],
): Promise<Broker> {
  let proc: Subprocess;
  const start = async () => {
    proc = spawn(args, { stdout: "ignore", stderr: "ignore" });
    await ready();
  };
  await start();
  return {
    kind, url, port, bytes,
    get pid() { return proc.pid; },
    async restart() {
      await stopProc(proc);
      await start();
    },
    async stop() {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Where a broker's commands run: [] here, or a prefix such as ["ip", "netns", "exec", "a"]. */
export async function startNats(opts: { host?: string; prefix?: string[] } = {}): Promise<Broker> {
  const host = opts.host ?? "127.0.0.1";
  const dir = mkdtempSync(join(tmpdir(), "ferry-nats-"));
  const port = freePort(), mon = freePort();
  const args = [...(opts.prefix ?? []), "nats-server", "-js", "-sd", dir, "-a", host, "-p", String(port), "-m", String(mon)];  // the monitoring port listens on the same address
  return serve(
    "nats", `nats://${host}:${port}`, port, dir, args,
    () => until("nats-server", 15_000, async () => (await fetch(`http://${host}:${mon}/healthz?js-enabled-only=true`)).ok),
    async () => {
      const v = (await (await fetch(`http://${host}:${mon}/varz`)).json()) as { in_bytes: number; out_bytes: number };
      return { in: v.in_bytes, out: v.out_bytes };
    },
  );
}

/** fsync: "always" (default: nothing acked is lost in a restart) or Redis's own default "everysec". */
export async function startRedis(opts: { host?: string; prefix?: string[]; fsync?: "always" | "everysec" } = {}): Promise<Broker> {
  const host = opts.host ?? "127.0.0.1";
  const dir = mkdtempSync(join(tmpdir(), "ferry-redis-"));
  const port = freePort();
  const args = [
    ...(opts.prefix ?? []), "redis-server", "--port", String(port), "--bind", host, "--dir", dir, "--appendonly", "yes",
    "--appendfsync", opts.fsync ?? "always", "--save", "", "--protected-mode", "no", "--proto-max-bulk-len", "1gb",
  ];
  const cli = () => new Bun.RedisClient(`redis://${host}:${port}`, { autoReconnect: false, connectionTimeout: 1000 });
  const ask = async <T>(f: (c: Bun.RedisClient) => Promise<T>): Promise<T> => {
    const c = cli();
    try {
      return await f(c);
    } finally {
      c.close();
    }
  };
  return serve(
    "redis", `redis://${host}:${port}`, port, dir, args,
    () => until("redis-server", 15_000, () => ask(async (c) => (await c.send("PING", [])) === "PONG")),
    () =>
      ask(async (c) => {
        const info = String(await c.send("INFO", ["stats"]));
        const num = (k: string) => Number(new RegExp(`${k}:(\\d+)`).exec(info)?.[1] ?? NaN);
        return { in: num("total_net_input_bytes"), out: num("total_net_output_bytes") };
      }),
  );
}
