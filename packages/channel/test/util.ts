/**
 * Test helpers: peer processes (spawned Bun scripts that talk JSON lines on
 * stdout), unique channel names, hashing, /dev/shm and /proc inspection.
 */
import { existsSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect } from "bun:test";

export const PEERS = join(import.meta.dir, "peers");
export const SHM = "/dev/shm";

/* ------------------------------------------------------------------ names */

let counter = 0;
const usedNames = new Set<string>();

/** A channel name unique to this test process: "t<pid>-<n>-<tag>" (valid, <= 64 bytes). */
export function uniqueName(tag: string): string {
  const name = `t${process.pid}-${++counter}-${tag}`.slice(0, 64);
  usedNames.add(name);
  return name;
}

export const shmPath = (name: string) => join(SHM, `ferry.${name}`);
export const shmExists = (name: string) => existsSync(shmPath(name));

/** Every /dev/shm/ferry.* entry (names without the prefix). */
export function listFerryShm(): string[] {
  return readdirSync(SHM)
    .filter((f) => f.startsWith("ferry."))
    .map((f) => f.slice("ferry.".length));
}

/* ------------------------------------------------------------------ hashing */

export function sha256(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/* ------------------------------------------------------------------ /proc */

/** utime + stime of a process, in clock ticks (USER_HZ = 100 on Linux). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime is field 14, stime field 15
  return Number(rest[11]) + Number(rest[12]);
}

export const sleep = (ms: number) => Bun.sleep(ms);

/* ------------------------------------------------------------------ peers */

export type PeerMsg = { event: string; [k: string]: unknown };

const livePeers = new Set<Peer>();

export class Peer {
  readonly proc: ReturnType<typeof Bun.spawn>;
  readonly script: string;
  readonly msgs: PeerMsg[] = [];
  stderr = "";
  exitCode: number | null = null;
  #stdoutDone = false;
  #listeners = new Set<() => void>();
  #timer: ReturnType<typeof setTimeout>;
  readonly exited: Promise<number>;

  constructor(script: string, cfg: unknown, timeoutMs: number) {
    this.script = script;
    this.proc = Bun.spawn(["bun", join(PEERS, script), JSON.stringify(cfg)], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env },
    });
    livePeers.add(this);
    this.#timer = setTimeout(() => {
      this.stderr += `\n[test] peer ${script} killed after ${timeoutMs} ms timeout`;
      this.proc.kill(9);
    }, timeoutMs);
    this.exited = this.proc.exited.then((code) => {
      clearTimeout(this.#timer);
      this.exitCode = code;
      livePeers.delete(this);
      this.#notify();
      return code;
    });
    void this.#pumpStdout();
    void this.#pumpStderr();
  }

  get pid() {
    return this.proc.pid;
  }

  #notify() {
    for (const l of [...this.#listeners]) l();
  }

  async #pumpStdout() {
    const reader = (this.proc.stdout as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        try {
          this.msgs.push(JSON.parse(line));
        } catch {
          this.msgs.push({ event: "text", text: line });
        }
        this.#notify();
      }
    }
    this.#stdoutDone = true;
    this.#notify();
  }

  async #pumpStderr() {
    const dec = new TextDecoder();
    for await (const chunk of this.proc.stderr as ReadableStream<Uint8Array>) this.stderr += dec.decode(chunk);
  }

  /** First message matching `pred` (already received or coming), else rejects on exit/timeout. */
  waitFor(pred: string | ((m: PeerMsg) => boolean), timeoutMs = 20_000): Promise<PeerMsg> {
    const match = typeof pred === "string" ? (m: PeerMsg) => m.event === pred : pred;
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout>;
      const check = () => {
        const m = this.msgs.find(match);
        if (m) {
          done();
          resolve(m);
        } else if (this.#stdoutDone && this.exitCode !== null) {
          done();
          reject(new Error(`peer ${this.script} exited (${this.exitCode}) before ${String(pred)}.\n` +
            `stdout: ${JSON.stringify(this.msgs).slice(0, 2000)}\nstderr: ${this.stderr.slice(-3000)}`));
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      timer = setTimeout(() => {
        done();
        reject(new Error(`timeout (${timeoutMs} ms) waiting for ${String(pred)} from peer ${this.script}.\n` +
          `stdout: ${JSON.stringify(this.msgs).slice(0, 2000)}\nstderr: ${this.stderr.slice(-3000)}`));
      }, timeoutMs);
      this.#listeners.add(check);
      check();
    });
  }

  /** The peer's {"event":"result"} line. */
  result<T = Record<string, unknown>>(timeoutMs = 60_000): Promise<PeerMsg & T> {
    return this.waitFor("result", timeoutMs) as Promise<PeerMsg & T>;
  }

  /** Write a line to the peer's stdin. */
  send(line: string) {
    const stdin = this.proc.stdin as import("bun").FileSink;
    stdin.write(`${line}\n`);
    stdin.flush();
  }

  kill(signal = 9) {
    if (this.exitCode === null) this.proc.kill(signal);
  }
}

export function spawnPeer(script: string, cfg: unknown, timeoutMs = 60_000): Peer {
  return new Peer(script, cfg, timeoutMs);
}

/** Kill every peer still running and wait for it to be reaped. */
export async function killAllPeers() {
  const peers = [...livePeers];
  for (const p of peers) p.kill(9);
  await Promise.all(peers.map((p) => p.exited));
}

/**
 * Register the suite-level cleanup: kill leftover peers, then assert that no
 * /dev/shm/ferry.<name> created under one of this process's names remains
 * (removing any so the machine stays clean).
 */
export function registerCleanup() {
  afterAll(async () => {
    await killAllPeers();
    const prefix = `t${process.pid}-`;
    const left = listFerryShm().filter((n) => usedNames.has(n) || n.startsWith(prefix));
    for (const n of left) {
      try {
        unlinkSync(shmPath(n));
      } catch {}
    }
    expect(left).toEqual([]);
  });
}

/** Run `fn` with a FerryError expected; return it. */
export function expectFerryError(fn: () => unknown, code: string): Error & { code: string } {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeDefined();
  expect((err as Error).name).toBe("FerryError");
  expect((err as { code: string }).code).toBe(code);
  return err as Error & { code: string };
}

export async function expectFerryRejection(p: Promise<unknown>, code: string) {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeDefined();
  expect((err as Error).name).toBe("FerryError");
  expect((err as { code: string }).code).toBe(code);
  return err as Error & { code: string };
}
