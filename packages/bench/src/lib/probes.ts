/**
 * Calibration probes of the machine: LLC size, copy and hash speed in this
 * process, and how much two CPU-bound processes get done at once. Exported as
 * `@ferry/bench/probes`.
 *
 * The LLC size has one definition on the JS side, @ferry/coordinator's
 * machine.ts (sysfs; re-exported here); libferry's cold-copy threshold reads
 * sysconf on the C side.
 */
import type { Parallelism } from "../schema";
import { MiB } from "./format";
import { hashWork } from "./msg";
import { median } from "./stats";

export type { Parallelism } from "../schema";

/** The LLC probe moved to @ferry/coordinator (which decides with it); re-exported for the sections. */
export { llcBytes, llcText } from "@ferry/coordinator/machine";

export interface Speeds {
  /** Bun.hash passes per byte that cost about one copy: hash / copy speed, rounded, 1..8. */
  passes: number;
  /** dst.set(src) of 16 MiB, GB/s. */
  copy_gbps: number;
  /** One Bun.hash pass over 16 MiB in 1 MiB pieces, GB/s. */
  hash_gbps: number;
}

/** Copy (dst.set) and Bun.hash speed at 16 MiB in this process: median of 5 after 2 warm-ups. */
export function calibrate(): Speeds {
  const n = 16 * MiB;
  const a = new Uint8Array(n).fill(1);
  const b = new Uint8Array(n).fill(2);
  const tc: number[] = [];
  const th: number[] = [];
  for (let r = 0; r < 7; r++) {
    let t = Bun.nanoseconds();
    b.set(a);
    tc.push(Bun.nanoseconds() - t);
    t = Bun.nanoseconds();
    hashWork(b, 1, MiB);
    th.push(Bun.nanoseconds() - t);
  }
  const copy = n / median(tc.slice(2));
  const hash = n / median(th.slice(2));
  return { passes: Math.max(1, Math.min(8, Math.round(hash / copy))), copy_gbps: copy, hash_gbps: hash };
}

const PROBE = {
  alu: "let x=0;const t=Bun.nanoseconds();for(let i=0;i<2e8;i++)x=(x*1664525+1013904223)|0;console.log((Bun.nanoseconds()-t)/1e6,x&1)",
  copy: "const a=new Uint8Array(16<<20).fill(1),b=new Uint8Array(16<<20);b.set(a);const t=Bun.nanoseconds();for(let i=0;i<40;i++)b.set(a);console.log((Bun.nanoseconds()-t)/1e6,b[9])",
};

/** ms of the slowest of k processes running `code` at once. */
async function probe(code: string, k: number): Promise<number> {
  const ps = Array.from({ length: k }, () => Bun.spawn([process.execPath, "-e", code], { stdout: "pipe", stderr: "inherit" }));
  const outs = await Promise.all(ps.map((p) => new Response(p.stdout).text()));
  return Math.max(...outs.map((o) => Number(o.trim().split(" ")[0])));
}

/**
 * How much two CPU-bound threads get done at once on this machine: the same
 * loop in one process, then in two at once. On a VM whose 2 vCPUs share one
 * physical core (or a host quota), two stages cannot overlap however they are
 * split, and the speedup shows it.
 */
export async function parallelism(): Promise<Parallelism> {
  const one = { alu: await probe(PROBE.alu, 1), copy: await probe(PROBE.copy, 1) };
  const two = { alu: await probe(PROBE.alu, 2), copy: await probe(PROBE.copy, 2) };
  return { alu_speedup: (2 * one.alu) / two.alu, copy_speedup: (2 * one.copy) / two.copy, alu_alone_ms: one.alu, copy_alone_ms: one.copy };
}
