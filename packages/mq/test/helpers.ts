import { spawn, type Subprocess } from "bun";
import { join } from "node:path";

/** Deterministic bytes for message i (fast for large sizes: one 64 KiB block repeated, with i mixed in). */
export function pattern(size: number, i: number): Uint8Array {
  const out = new Uint8Array(size);
  const block = new Uint8Array(Math.min(size, 65536));
  let x = (i * 2654435761 + 12345) >>> 0;
  for (let k = 0; k < block.length; k++) {
    x = (x * 1103515245 + 12345) >>> 0;
    block[k] = x >>> 24;
  }
  for (let off = 0; off < size; off += block.length) out.set(block.subarray(0, Math.min(block.length, size - off)), off);
  if (size >= 8) new DataView(out.buffer).setUint32(size - 4, i); // the tail differs per message too
  return out;
}

/** A peer process whose stdout lines we read. */
export class Peer {
  readonly proc: Subprocess<"ignore", "pipe", "inherit">;
  readonly lines: string[] = [];
  #waiters: (() => void)[] = [];
  constructor(script: string, args: string[], prefix: string[] = []) {
    const proc = spawn([...prefix, process.execPath, join(import.meta.dir, "peers", script), ...args], { stdout: "pipe", stderr: "inherit" });
    this.proc = proc;
    (async () => {
      const dec = new TextDecoder();
      let buf = "";
      for await (const chunk of proc.stdout) {
        buf += dec.decode(chunk, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          this.lines.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          for (const w of this.#waiters.splice(0)) w();
        }
      }
      for (const w of this.#waiters.splice(0)) w();
    })();
  }
  /** Wait for a line matching `re` (anywhere in the output so far). */
  async waitFor(re: RegExp, ms = 30_000): Promise<string> {
    const end = performance.now() + ms;
    for (;;) {
      const hit = this.lines.find((l) => re.test(l));
      if (hit) return hit;
      if (performance.now() > end) throw new Error(`peer: no line ${re} within ${ms} ms; got: ${this.lines.slice(-5).join(" | ")}`);
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), Bun.sleep(100)]);
    }
  }
  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }
  kill() {
    try {
      this.proc.kill("SIGKILL");
    } catch {}
  }
}
