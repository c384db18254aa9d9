/**
 * Modes in C: native/build/bench/bench_modes (ns and sending-thread CPU per
 * message), and with --callgrind its instructions per message under valgrind,
 * per thread.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KiB, MiB } from "../lib/format";
import { jsonLines, runCmd, tail } from "../lib/procs";
import { MODES, type CallgrindCell, type CModesRecord, type ModesResult, type SendMode } from "../schema";
import type { ModesConfig } from "../sections/modes";
import { BUILD } from "./cbench";

const CBIN = join(BUILD, "bench_modes");
/** Run unpinned, like the Bun measurements. */
const run = (cmd: string[], timeoutS: number) => runCmd(cmd, { timeoutS, env: { FERRY_PIN: "0" } });

const isModes = (x: unknown): x is CModesRecord => !!x && typeof x === "object" && (x as { bench?: unknown }).bench === "modes";

export async function modesC(cfg: ModesConfig): Promise<ModesResult["c"]> {
  if (!existsSync(CBIN)) return { status: "not built", records: [] };
  const r = await run([CBIN, "--json", ...(cfg.quick ? ["--quick"] : [])], cfg.cTimeoutS);
  const records = jsonLines(r.out, isModes);
  if (r.timedOut) return { status: "timed out", records };
  if (r.code !== 0) return { status: "failed", detail: `exit ${r.code}: ${tail(r.err, 2)}`, records };
  return { status: "ok", records };
}

/** Per-thread instruction totals of one callgrind run (--separate-threads=yes), or why there are none. */
async function callgrindRun(mode: SendMode, size: number, n: number, timeoutS: number): Promise<Record<string, number> | string> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-cg-"));
  try {
    const r = await run(
      ["valgrind", "--tool=callgrind", "--separate-threads=yes", `--callgrind-out-file=${dir}/cg.out`, CBIN, "--mode", mode, "--size", String(size), "-n", String(n), "--valgrind"],
      timeoutS,
    );
    if (r.timedOut) return "timed out";
    if (r.code !== 0) return `exit ${r.code}: ${tail(r.err, 2)}`;
    const threads: Record<string, number> = {};
    for (const f of readdirSync(dir)) {
      const m = /-(\d+)$/.exec(f);
      const tot = /^(?:summary|totals):\s+(\d+)/m.exec(readFileSync(join(dir, f), "utf8"));
      if (m && tot) threads[String(Number(m[1]))] = Number(tot[1]);
    }
    return threads;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Thread numbers in bench_modes (creation order): 1 sender (main), 2 receiver, 3 copy thread, 4 publisher's waiter. */
const THREAD_NAMES: Record<string, string> = { "1": "sender", "2": "receiver", "3": "copy", "4": "waiter" };

/** Instructions per message: (I(2N) - I(N)) / N per thread, for 64 KiB and 1 MiB, every mode. */
export async function modesCallgrind(cfg: ModesConfig): Promise<ModesResult["callgrind"]> {
  if (!cfg.callgrind) return { status: "not run (pass --callgrind)", cells: [] };
  if (!existsSync(CBIN)) return { status: "not built", cells: [] };
  const v = await run(["valgrind", "--version"], 10).catch(() => null);
  if (!v || v.code !== 0) return { status: "valgrind not found", cells: [] };
  const cells: CallgrindCell[] = [];
  const n = cfg.quick ? 20 : 50;
  for (const size of [64 * KiB, MiB])
    for (const mode of MODES) {
      const a = await callgrindRun(mode, size, n, cfg.cTimeoutS);
      const b = await callgrindRun(mode, size, 2 * n, cfg.cTimeoutS);
      if (typeof a === "string" || typeof b === "string") return { status: "failed", detail: `${mode} ${size}: ${typeof a === "string" ? a : b}`, cells };
      const threads: Record<string, number> = {};
      for (const t of new Set([...Object.keys(a), ...Object.keys(b)])) threads[THREAD_NAMES[t] ?? `thread${t}`] = ((b[t] ?? 0) - (a[t] ?? 0)) / n;
      const all = Object.values(threads).reduce((x, y) => x + y, 0);
      cells.push({ mode, size, n, sender_ir: threads.sender ?? NaN, all_ir: all, threads });
    }
  return { status: "ok", cells };
}
