/**
 * The C microbenchmarks of native/bench (built into native/build/bench/):
 * run each one that exists with --json (and --quick), collect one JSON
 * object per stdout line. A missing binary is reported as "not built".
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, onCleanup } from "./util";

export interface CPingPong {
  bench: "pingpong";
  impl: string; // "ferry" | "floor" | "iceoryx"
  wait: string;
  size: number;
  p50_ns: number;
  p99_ns: number;
  n: number;
}

export interface CThroughput {
  bench: "throughput";
  impl: string; // "zero-copy" | "zero-copy-nowrite" | "inline" | "memcpy"
  size: number;
  gbps: number;
  median_ns: number;
  reps: number;
}

export type CRecord = CPingPong | CThroughput;

export interface CRun {
  name: string;
  command: string[] | null;
  status: "ok" | "not built" | "skipped" | "failed" | "timed out";
  detail?: string;
  seconds?: number;
  records: CRecord[];
}

const BUILD = join(REPO_ROOT, "native/build/bench");

/** Process groups of C benches still running (killed by killCBenches on exit). */
const running = new Set<number>();
export function killCBenches() {
  for (const pid of running) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
  running.clear();
}
onCleanup(killCBenches);
const SRC = join(REPO_ROOT, "native/bench");

function isRecord(x: unknown): x is CRecord {
  if (!x || typeof x !== "object") return false;
  const r = x as Record<string, unknown>;
  return (r.bench === "pingpong" || r.bench === "throughput") && typeof r.size === "number";
}

async function runOne(name: string, cmd: string[] | null, timeoutS: number, cwd: string): Promise<CRun> {
  if (!cmd) return { name, command: null, status: "not built", records: [] };
  const t0 = performance.now();
  // own process group (setsid execs in place: pid == pgid), so a timeout also stops the forked peer
  // unpinned like the Bun measurements (FERRY_PIN=0), unless FERRY_BENCH_PIN=1 asks for the benches' own pinning
  const env = { ...process.env, FERRY_PIN: process.env.FERRY_BENCH_PIN === "1" ? "1" : "0" };
  const proc = Bun.spawn(["setsid", ...cmd], { cwd, env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  running.add(proc.pid);
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
  }, timeoutS * 1000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  if (hard) await Bun.sleep(200);
  clearTimeout(hard);
  killGroup("SIGKILL"); // nothing of the bench (a forked peer) may outlive it
  running.delete(proc.pid);
  const records: CRecord[] = [];
  for (const line of out.split("\n")) {
    const t = line.trim();
    if (!t.startsWith("{")) continue;
    try {
      const j = JSON.parse(t);
      if (isRecord(j)) records.push(j);
    } catch {}
  }
  const seconds = (performance.now() - t0) / 1000;
  const tail = err.trim().split("\n").slice(-3).join(" | ");
  if (timedOut) return { name, command: cmd, status: "timed out", detail: `after ${timeoutS} s`, seconds, records };
  if (code === 77) return { name, command: cmd, status: "skipped", detail: tail || "exit 77", seconds, records };
  if (code !== 0) return { name, command: cmd, status: "failed", detail: `exit ${code}${tail ? `: ${tail}` : ""}`, seconds, records };
  if (code === 0 && records.length === 0 && tail) return { name, command: cmd, status: "ok", detail: tail, seconds, records };
  return { name, command: cmd, status: "ok", seconds, records };
}

/**
 * Run the C benches one after the other; each gets at most timeoutS, and
 * together they try to end by `deadline` (performance.now() ms; 15 s minimum each).
 */
export async function cBenches(quick: boolean, timeoutS: number, deadline = Infinity): Promise<CRun[]> {
  const limit = () => Math.max(15, Math.min(timeoutS, Math.floor((deadline - performance.now()) / 1000)));
  const flags = ["--json", ...(quick ? ["--quick"] : [])];
  const bin = (n: string) => (existsSync(join(BUILD, n)) ? join(BUILD, n) : null);
  const runs: CRun[] = [];
  const pp = bin("bench_pingpong");
  runs.push(await runOne("bench_pingpong", pp ? [pp, ...flags] : null, limit(), BUILD));
  const tp = bin("bench_throughput");
  runs.push(await runOne("bench_throughput", tp ? [tp, ...flags] : null, limit(), BUILD));
  // iceoryx: the wrapper script starts RouDi and the binary; fall back to the binary alone
  const script = [join(BUILD, "run_iox.sh"), join(SRC, "run_iox.sh")].find(existsSync);
  const iox = bin("bench_iox_pingpong");
  let ioxCmd: string[] | null = null;
  if (script && iox) ioxCmd = ["bash", script, ...flags];
  else if (iox) ioxCmd = [iox, ...flags];
  const r = await runOne("iceoryx", ioxCmd, limit(), BUILD);
  if (!ioxCmd && script) r.detail = "run_iox.sh found but bench_iox_pingpong is not built (needs iceoryx)";
  runs.push(r);
  return runs;
}
