/**
 * Other work on the machine skews every number on a 2-core VM. This samples
 * /proc at section boundaries and reports how much CPU processes outside this
 * harness (and its peers) used in between, so a noisy run says so.
 */
import { readFileSync, readdirSync } from "node:fs";
import { cpus } from "node:os";

const HZ = 100; // USER_HZ: /proc/<pid>/stat ticks are 1/100 s on Linux

interface Proc {
  ppid: number;
  ticks: number;
  cmd: string;
}

export interface Snapshot {
  at: number;
  procs: Map<number, Proc>;
}

export function snapshot(): Snapshot {
  const procs = new Map<number, Proc>();
  let names: string[] = [];
  try {
    names = readdirSync("/proc");
  } catch {}
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const s = readFileSync(`/proc/${n}/stat`, "utf8");
      const close = s.lastIndexOf(")");
      const comm = s.slice(s.indexOf("(") + 1, close);
      const f = s.slice(close + 2).split(" ");
      // fields after ")": state(3) ppid(4) ... utime(14) stime(15)
      const ppid = Number(f[1]);
      const ticks = Number(f[11]) + Number(f[12]);
      let cmd = comm;
      try {
        cmd = readFileSync(`/proc/${n}/cmdline`, "utf8").replace(/\0/g, " ").trim().slice(0, 100) || comm;
      } catch {}
      procs.set(Number(n), { ppid, ticks, cmd });
    } catch {}
  }
  return { at: performance.now(), procs };
}

function isMine(pid: number, procs: Map<number, Proc>): boolean {
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    if (p === process.pid) return true;
    const x = procs.get(p);
    if (!x) return false;
    p = x.ppid;
  }
  return false;
}

export interface Noise {
  /** CPU used by other processes, as a fraction of all cores. */
  foreign: number;
  seconds: number;
  busiest: string[];
}

export function foreignCpu(a: Snapshot, b: Snapshot): Noise {
  const seconds = Math.max(1e-3, (b.at - a.at) / 1000);
  const capacity = seconds * HZ * cpus().length;
  let total = 0;
  const per: { pid: number; cmd: string; ticks: number }[] = [];
  for (const [pid, p] of b.procs) {
    if (pid === process.pid || isMine(pid, b.procs)) continue;
    const d = p.ticks - (a.procs.get(pid)?.ticks ?? 0);
    if (d <= 0) continue;
    total += d;
    per.push({ pid, cmd: p.cmd, ticks: d });
  }
  per.sort((x, y) => y.ticks - x.ticks);
  return {
    foreign: total / capacity,
    seconds,
    busiest: per
      .slice(0, 3)
      .filter((p) => p.ticks / (seconds * HZ) > 0.05)
      .map((p) => `${p.pid} ${((100 * p.ticks) / (seconds * HZ)).toFixed(0)}% ${p.cmd}`),
  };
}

/** Measure foreign CPU over `ms` now. */
export async function sample(ms: number): Promise<Noise> {
  const a = snapshot();
  await Bun.sleep(ms);
  return foreignCpu(a, snapshot());
}

/** Wait (up to maxS seconds) until other processes use < 10% of the CPUs; returns the last sample. */
export async function waitIdle(maxS: number, log: (s: string) => void): Promise<Noise> {
  const end = performance.now() + maxS * 1000;
  let n = await sample(1000);
  while (n.foreign > 0.1 && performance.now() < end) {
    log(`waiting for an idle machine: other processes use ${(n.foreign * 100).toFixed(0)}% (${n.busiest.join("; ")})`);
    n = await sample(2000);
  }
  return n;
}
