/**
 * The C microbenchmarks of native/bench (built into native/build/bench/):
 * ping-pong, throughput, the cold request path (bench_cold) and iceoryx;
 * run each one that exists with --json (and --quick), collect one JSON
 * object per stdout line. A missing binary is reported as "not built".
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../lib/machine";
import { jsonLines, runCmd, tail } from "../lib/procs";
import type { CRecord, CRun } from "../schema";

export const BUILD = join(REPO_ROOT, "native/build/bench");
const SRC = join(REPO_ROOT, "native/bench");

function isRecord(x: unknown): x is CRecord {
  if (!x || typeof x !== "object") return false;
  const r = x as Record<string, unknown>;
  if (r.bench === "cold") return typeof r.phase === "string" && typeof r.p50_ns === "number";
  return (r.bench === "pingpong" || r.bench === "throughput") && typeof r.size === "number";
}

async function runOne(name: string, cmd: string[] | null, timeoutS: number): Promise<CRun> {
  if (!cmd) return { name, command: null, status: "not built", records: [] };
  // unpinned like the Bun measurements (FERRY_PIN=0), unless FERRY_BENCH_PIN=1 asks for the benches' own pinning
  const env = { FERRY_PIN: process.env.FERRY_BENCH_PIN === "1" ? "1" : "0" };
  const { code, out, err, timedOut, seconds } = await runCmd(cmd, { timeoutS, cwd: BUILD, env });
  const records = jsonLines(out, isRecord);
  const last = tail(err, 3);
  if (timedOut) return { name, command: cmd, status: "timed out", detail: `after ${timeoutS} s`, seconds, records };
  if (code === 77) return { name, command: cmd, status: "skipped", detail: last || "exit 77", seconds, records };
  if (code !== 0) return { name, command: cmd, status: "failed", detail: `exit ${code}${last ? `: ${last}` : ""}`, seconds, records };
  if (records.length === 0 && last) return { name, command: cmd, status: "ok", detail: last, seconds, records };
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
  runs.push(await runOne("bench_pingpong", pp ? [pp, ...flags] : null, limit()));
  const tp = bin("bench_throughput");
  runs.push(await runOne("bench_throughput", tp ? [tp, ...flags] : null, limit()));
  // libferry's request path after 10 ms idle (issue 7): with the wake's sendto, and without it
  const cold = bin("bench_cold");
  runs.push(await runOne("bench_cold", cold ? [cold, ...flags] : null, limit()));
  runs.push(await runOne("bench_cold --unarmed", cold ? [cold, ...flags, "--unarmed"] : null, limit()));
  // iceoryx: the wrapper script starts RouDi and the binary; fall back to the binary alone
  const script = [join(BUILD, "run_iox.sh"), join(SRC, "run_iox.sh")].find(existsSync);
  const iox = bin("bench_iox_pingpong");
  let ioxCmd: string[] | null = null;
  if (script && iox) ioxCmd = ["bash", script, ...flags];
  else if (iox) ioxCmd = [iox, ...flags];
  const r = await runOne("iceoryx", ioxCmd, limit());
  if (!ioxCmd && script) r.detail = "run_iox.sh found but bench_iox_pingpong is not built (needs iceoryx)";
  runs.push(r);
  return runs;
}
