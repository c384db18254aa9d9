/**
 * Processes of a measurement: Bun peers (roles/main.ts <role> ...) that
 * print READY and RESULT lines, and commands (the C benches, valgrind) run in
 * their own process group under a time limit. Both are killed on cleanup.
 */
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import { onCleanup } from "./cleanup";

export const PEER = resolve(import.meta.dir, "../roles/main.ts");

const peers = new Set<Subprocess>();
/** Process groups of commands still running. */
const groups = new Set<number>();

onCleanup(() => {
  for (const p of peers) {
    try {
      p.kill(9);
    } catch {}
  }
  peers.clear();
  for (const pid of groups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
  groups.clear();
});

/** Let the event loop run (timers, stdout of peers) between spin phases. */
export const tick = () => new Promise<void>((r) => setTimeout(r, 0));

/* ------------------------------------------------------------------ Bun peers */

export interface Peer {
  proc: Subprocess<"ignore", "pipe", "inherit">;
  /** Resolves when the peer printed READY (it has opened/subscribed everything). */
  ready: Promise<void>;
  /** Resolves with the JSON the peer printed as `RESULT {...}` (or null), once it exited with 0. */
  done: Promise<unknown>;
}

/**
 * Spawn `bun roles/main.ts role ...args` as a separate process. The peer
 * prints READY once set up, optionally RESULT <json>, then exits.
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

/* ------------------------------------------------------------------ commands */

export interface CmdResult {
  code: number;
  out: string;
  err: string;
  timedOut: boolean;
  seconds: number;
}

/**
 * Run a command in its own process group (setsid execs in place: pid ==
 * pgid), so a timeout (SIGTERM, SIGKILL 5 s later) also stops what it forked;
 * nothing of it outlives the call.
 */
export async function runCmd(cmd: string[], o: { timeoutS: number; cwd?: string; env?: Record<string, string> }): Promise<CmdResult> {
  const t0 = performance.now();
  const proc = Bun.spawn(["setsid", ...cmd], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  groups.add(proc.pid);
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-proc.pid, sig);
    } catch {}
  };
  let timedOut = false;
  let hard: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup("SIGTERM");
    hard = setTimeout(() => killGroup("SIGKILL"), 5000);
  }, o.timeoutS * 1000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  if (hard) await Bun.sleep(200);
  clearTimeout(hard);
  killGroup("SIGKILL");
  groups.delete(proc.pid);
  return { code, out, err, timedOut, seconds: (performance.now() - t0) / 1000 };
}

/** The JSON objects of a command's output (one per line starting with "{") that pass `is`. */
export function jsonLines<T>(out: string, is: (x: unknown) => x is T): T[] {
  const records: T[] = [];
  for (const line of out.split("\n")) {
    const t = line.trim();
    if (!t.startsWith("{")) continue;
    try {
      const j: unknown = JSON.parse(t);
      if (is(j)) records.push(j);
    } catch {}
  }
  return records;
}

/** The last n lines of a command's stderr, on one line. */
export const tail = (err: string, n: number) => err.trim().split("\n").slice(-n).join(" | ");
