/**
 * Shared helpers of the harness: statistics, unique channel names, peer
 * processes (spawned with Bun.spawn, killed on exit) and cleanup of every
 * shared-memory segment the harness created.
 */
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Channel, type CreateOptions } from "@ferry/channel";
import type { Subprocess } from "bun";

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const PEER = resolve(import.meta.dir, "roles/main.ts");
export const REPO_ROOT = resolve(import.meta.dir, "../../..");

/* ------------------------------------------------------------------ statistics */

export function sorted(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs).sort();
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function pct(s: Float64Array, p: number): number {
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export function median(xs: ArrayLike<number>): number {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length & 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function fmtSize(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

/** Nanoseconds as a readable duration. */
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return "n/a";
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  if (x >= 100) return `${Math.round(x).toLocaleString("en-US")}x`;
  if (x >= 10) return `${x.toFixed(1)}x`;
  return `${x.toFixed(2)}x`;
}

export function gbps(bytes: number, ns: number): number {
  return bytes / ns; // bytes per ns == GB/s (1e9 bytes)
}

/** Render rows as an aligned text table. */
export function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

/* ------------------------------------------------------------------ channels */

const RUN_ID = `fb${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
let nameCounter = 0;
const created = new Set<string>();

/** A channel name unique to this harness run (and listed for cleanup). */
export function uniqueName(tag: string): string {
  return `${RUN_ID}-${tag}-${nameCounter++}`;
}

/** Create a channel with a unique name; it is unlinked on exit even if the run fails. */
export function createChannel(tag: string, opts: CreateOptions): Channel {
  const name = uniqueName(tag);
  created.add(name);
  return Channel.create(name, opts);
}

/** Segments of this run still present in /dev/shm. */
export function leftoverSegments(): string[] {
  if (!existsSync("/dev/shm")) return [];
  return readdirSync("/dev/shm").filter((f) => f.startsWith(`ferry.${RUN_ID}`));
}

/* ------------------------------------------------------------------ peers */

const peers = new Set<Subprocess>();

export interface Peer {
  proc: Subprocess<"ignore", "pipe", "inherit">;
  /** Resolves when the peer printed READY (it has opened/subscribed everything). */
  ready: Promise<void>;
  /** Resolves with the JSON the peer printed as `RESULT {...}` (or null), once it exited with 0. */
  done: Promise<unknown>;
}

/**
 * Spawn `bun peer.ts role ...args` as a separate process. The peer prints
 * READY once set up, optionally RESULT <json>, then exits.
 */
export function spawnPeer(
  role: string,
  args: (string | number)[],
  opts: { ipc?: (message: unknown) => void; serialization?: "json" | "advanced"; readyTimeoutMs?: number } = {},
): Peer {
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  const proc = Bun.spawn([process.execPath, PEER, role, ...args.map(String)], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env },
    ...(opts.ipc ? { ipc: (m: unknown) => opts.ipc!(m), serialization: opts.serialization ?? "advanced" } : {}),
  }) as Subprocess<"ignore", "pipe", "inherit">;
  peers.add(proc);
  let onReady!: () => void;
  let onReadyFail!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => ((onReady = res), (onReadyFail = rej)));
  const timer = setTimeout(() => {
    onReadyFail(new Error(`peer ${role} not ready within ${readyTimeoutMs} ms`));
    proc.kill(9);
  }, readyTimeoutMs);
  const done = (async () => {
    let result: unknown = null;
    let buf = "";
    const dec = new TextDecoder();
    for await (const chunk of proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line === "READY") {
          clearTimeout(timer);
          onReady();
        } else if (line.startsWith("RESULT ")) result = JSON.parse(line.slice(7));
        else if (line) process.stderr.write(`[peer ${role}] ${line}\n`);
      }
    }
    const code = await proc.exited;
    clearTimeout(timer);
    peers.delete(proc);
    const err = new Error(`peer ${role} exited with ${code}${proc.signalCode ? ` (${proc.signalCode})` : ""}`);
    onReadyFail(err);
    if (code !== 0) throw err;
    return result;
  })();
  done.catch(() => {}); // observed by the caller
  ready.catch(() => {});
  return { proc, ready, done };
}

/** Wait for a peer's exit, killing it if it takes longer than timeoutMs. */
export async function finish(peer: Peer, timeoutMs = 30_000): Promise<unknown> {
  const t = setTimeout(() => peer.proc.kill(9), timeoutMs);
  try {
    return await peer.done;
  } finally {
    clearTimeout(t);
  }
}

export function killPeers() {
  for (const p of peers) {
    try {
      p.kill(9);
    } catch {}
  }
  peers.clear();
}

const extraCleanups: (() => void)[] = [];
export function onCleanup(f: () => void) {
  extraCleanups.push(f);
}

/** Kill peers and remove every segment this run created (idempotent). */
export function cleanup() {
  killPeers();
  for (const f of extraCleanups) {
    try {
      f();
    } catch {}
  }
  for (const name of created) {
    if (existsSync(join("/dev/shm", `ferry.${name}`))) {
      try {
        Channel.unlink(name);
      } catch {}
    }
  }
}

let installed = false;
export function installCleanup() {
  if (installed) return;
  installed = true;
  process.on("exit", cleanup);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
}

/** Let the event loop run (timers, stdout of peers) between spin phases. */
export const tick = () => new Promise<void>((r) => setTimeout(r, 0));
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Spin (busy-wait) for the next message of a subscriber; throws on EOF. */
export function spinReceive(sub: { tryReceive(): import("@ferry/channel").Message | null }) {
  let m = sub.tryReceive();
  while (m === null) m = sub.tryReceive();
  return m;
}

/** Touch the payload: read one byte of every 64-byte cache line (and the last byte). */
export function touch(b: Uint8Array): number {
  let s = 0;
  const n = b.length;
  for (let i = 0; i < n; i += 64) s += b[i]!;
  if (n) s += b[n - 1]!;
  return s;
}
