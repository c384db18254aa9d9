/**
 * Peer processes: Bun scripts spawned with their config as JSON in argv[2],
 * talking JSON lines on stdout (the script side is ./peer.ts). The
 * caller names the script: a file: URL, an absolute path, or a path relative
 * to the directory given to peerSpawner() (usually the caller's own).
 */
import { existsSync } from "node:fs";
import { basename, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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

  /** `path`: the script's absolute path (see spawnPeer). */
  constructor(path: string, cfg: unknown, timeoutMs: number) {
    const script = (this.script = basename(path));
    this.proc = Bun.spawn([process.execPath, path, JSON.stringify(cfg)], {
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

/** Absolute path of a peer script: a file: URL, an absolute path, or a path relative to `dir`. */
export function resolvePeerScript(script: string | URL, dir?: string): string {
  let path: string;
  if (script instanceof URL) path = fileURLToPath(script);
  else if (isAbsolute(script)) path = script;
  else if (dir !== undefined) path = resolve(dir, script);
  else {
    throw new Error(
      `peer script "${script}" is relative: pass an absolute path, a URL (new URL("./peers/x.ts", import.meta.url)), ` +
        `or spawn through peerSpawner(dir)`,
    );
  }
  if (!existsSync(path)) throw new Error(`peer script not found: ${path}`);
  return path;
}

/** Spawn `script` (a file: URL or an absolute path) with `cfg`; it is killed after `timeoutMs`. */
export function spawnPeer(script: string | URL, cfg: unknown = {}, timeoutMs = 60_000): Peer {
  return new Peer(resolvePeerScript(script), cfg, timeoutMs);
}

/**
 * spawnPeer with relative script paths resolved against `dir`, e.g.
 * `const spawnPeer = peerSpawner(join(import.meta.dir, "peers"))`.
 */
export function peerSpawner(dir: string) {
  return (script: string | URL, cfg: unknown = {}, timeoutMs = 60_000): Peer =>
    new Peer(resolvePeerScript(script, dir), cfg, timeoutMs);
}

/** Kill every peer still running and wait for it to be reaped. */
export async function killAllPeers() {
  const peers = [...livePeers];
  for (const p of peers) p.kill(9);
  await Promise.all(peers.map((p) => p.exited));
}
