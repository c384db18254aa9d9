/**
 * 5. Copy engines and send modes (issue 3): inline vs offload vs pipelined,
 * measured between two Bun processes in one run.
 *
 *  a. end-to-end latency: send start -> the receiver has processed every byte
 *     (it hashes each piece `passes` times with Bun.hash; calibrated so that
 *     the work costs about as much as the copy), with the limit
 *     max(copy time, work time) from the inline runs of the same cell;
 *  b. stream throughput: a producer that also works per message (Bun.hash over
 *     its own input, about as costly as the copy), a receiver that only
 *     touches each message (and sleeps in between);
 *  c. sender CPU per GiB moved: the sending thread (/proc/self/task/<tid>/schedstat)
 *     and the whole process (process.cpuUsage(), copy threads included);
 *  d. hot vs cold: the receiver's read time right after arrival, for a size
 *     that fits the LLC and one that does not;
 *  f. engine overhead: the dsa engine (emulated DSA device here) vs sw,
 *     the same offload send in one process (measure/engines-overhead.ts);
 *  e. the C bench bench_modes (ns and sender CPU per message), and with
 *     --callgrind its instructions per message under valgrind, per thread.
 *
 * Engine: one swEngine({ threads: 1, chunkBytes }) for offload and pipelined.
 * Publisher waits (offload completion) use "block": on 2 CPUs a spinning
 * waiter would take a CPU from the copy thread or the receiver.
 */
import type { WaitStrategy } from "@ferry/channel";
import { swEngine } from "@ferry/sw-engine";
import { MiB, fmtNs, fmtSize } from "../lib/format";
import { calibrate, llcBytes, parallelism } from "../lib/probes";
import { target } from "../lib/target";
import { modesC, modesCallgrind } from "../measure/modes-c";
import { hotCold, modesLatency } from "../measure/modes-latency";
import { modesStreams } from "../measure/modes-streams";
import { enginesOverhead } from "../measure/engines-overhead";
import type { ModesResult, SendMode } from "../schema";
import { section, type Log, type Options } from "../section";
import { modesSvg, modesTables } from "./modes-report";

export interface ModesConfig {
  quick: boolean;
  sizes: number[];
  /** Receiver (and producer) work: Bun.hash passes per byte; 0 = calibrate. */
  passes: number;
  chunkBytes: number;
  /** How the latency / hot-cold receiver waits for messages and pipelined chunks. */
  recvWait: WaitStrategy;
  iterations: (size: number) => number;
  tputSizes: number[];
  tputBytesPerRep: number;
  tputReps: number;
  cpuBytes: number;
  cpuSizes: number[];
  hotColdReps: number;
  callgrind: boolean;
  /** Run the C bench natively / under callgrind within these many seconds each. */
  cTimeoutS: number;
}

function config(o: Options): ModesConfig {
  const Q = o.quick;
  return {
    quick: Q,
    sizes: Q ? [64 * 1024, MiB, 16 * MiB, 64 * MiB] : [64 * 1024, MiB, 4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB],
    /** FERRY_BENCH_WORK=N overrides the calibrated passes. */
    passes: Number(process.env.FERRY_BENCH_WORK ?? 0),
    chunkBytes: Number(process.env.FERRY_BENCH_CHUNK ?? 0) || MiB,
    recvWait: (process.env.FERRY_BENCH_RECV_WAIT ?? "hybrid") as WaitStrategy,
    iterations: (size) => (size <= MiB ? (Q ? 30 : 150) : size <= 16 * MiB ? (Q ? 10 : 30) : size <= 64 * MiB ? (Q ? 7 : 15) : 7),
    tputSizes: Q ? [16 * MiB] : [MiB, 4 * MiB, 16 * MiB, 64 * MiB],
    tputBytesPerRep: Q ? 128 * MiB : 256 * MiB,
    tputReps: Q ? 3 : 5,
    cpuBytes: Q ? 256 * MiB : 1024 * MiB,
    cpuSizes: [MiB, 16 * MiB],
    hotColdReps: Q ? 3 : 5,
    callgrind: o.callgrind,
    cTimeoutS: Q ? 60 : 120,
  };
}

async function run(cfg: ModesConfig, log: Log): Promise<ModesResult> {
  const t0 = performance.now();
  Bun.gc(true);
  const cal = calibrate();
  const llc = llcBytes();
  const engine = swEngine({ threads: 1, chunkBytes: cfg.chunkBytes });
  log(`receiver work: ${cfg.passes > 0 ? `${cfg.passes} Bun.hash pass(es) per byte (FERRY_BENCH_WORK)` : "calibrated below"}; at 16 MiB in this process: dst.set ${cal.copy_gbps.toFixed(1)} GB/s, Bun.hash ${cal.hash_gbps.toFixed(1)} GB/s`);
  log(`engine: swEngine({ threads: 1, chunkBytes: ${fmtSize(cfg.chunkBytes)} }); receiver pieces / pipelined chunks of ${fmtSize(cfg.chunkBytes)}; LLC ${llc ? fmtSize(llc) : "unknown"}`);
  const par = await parallelism().catch(() => null);
  if (par)
    log(`parallelism probe: two processes at once get ${par.alu_speedup.toFixed(2)}x (ALU loop) / ${par.copy_speedup.toFixed(2)}x (16 MiB copies) the work of one alone (2.00x = two full CPUs)`);
  const res: ModesResult = {
    parallelism: par,
    config: { passes: cfg.passes, passes_calibrated: cfg.passes <= 0, chunk_bytes: cfg.chunkBytes, engine: "sw, 1 thread", llc_bytes: llc, calibration: { copy_gbps: +cal.copy_gbps.toFixed(2), hash_gbps: +cal.hash_gbps.toFixed(2) } },
    latency: [], limits: [], throughput: [], cpu: [], hotcold: [],
    c: { status: "not run", records: [] }, callgrind: { status: "not run", cells: [] }, seconds: 0,
  };
  try {
    log("end-to-end latency per size (5a), median:");
    const l = await modesLatency(cfg, engine, cfg.passes, log);
    res.config.passes = l.passes;
    res.latency = l.cells;
    res.limits = l.limits;
    if (res.config.passes <= 0) res.config.passes = cal.passes;
    const st = await modesStreams(cfg, engine);
    res.throughput = st.tput;
    res.cpu = st.cpu;
    res.hotcold = await hotCold(cfg, engine, llc);
    log("engine overhead (5f): dsa (emulated device unless DSA is found) vs sw, offload send median:");
    res.engines = await enginesOverhead(cfg.quick ? [64 * 1024, MiB, 16 * MiB] : [64 * 1024, MiB, 16 * MiB, 64 * MiB], (s) => (s <= MiB ? (cfg.quick ? 30 : 100) : cfg.quick ? 7 : 15));
    for (const c of res.engines.cells) log(`  ${fmtSize(c.size)}: sw ${fmtNs(c.sw_ns)}, dsa ${fmtNs(c.dsa_ns)} (${c.ratio.toFixed(2)}x)`);
    res.c = await modesC(cfg);
    res.callgrind = await modesCallgrind(cfg);
  } finally {
    engine.close();
    res.seconds = +((performance.now() - t0) / 1000).toFixed(1);
  }
  return res;
}

export const modes = section({
  name: "modes",
  title: "5. copy engines and modes: inline vs offload vs pipelined, Bun -> Bun",
  alwaysTargets: false,
  empty: () => null,
  config,
  run,
  table: (r) => (r ? modesTables(r) : ""),
  targets(r, ctx) {
    const l64 = r?.limits.find((x) => x.size === 64 * MiB);
    const g = (m: SendMode) => r?.latency.find((c) => c.mode === m && c.size === 64 * MiB);
    const t = (m: string) => r?.throughput.find((x) => x.mode === m && x.size === 16 * MiB)?.gbps;
    const par = r?.parallelism;
    const machine = par ? `; this machine: two processes at once get ${par.alu_speedup.toFixed(2)}x (ALU) / ${par.copy_speedup.toFixed(2)}x (copies) of one` : "";
    const x2 = (x: number) => `${x.toFixed(2)}x`;
    const pip = g("pipelined"), inl = g("inline");
    const oi = t("offload") && t("inline") ? t("offload")! / t("inline")! : undefined;
    const [w, c] = [t("work-only") ?? NaN, t("copy-only") ?? NaN];
    return [
      target("<=", {
        id: "pipelined-vs-limit",
        name: "pipelined end-to-end latency at 64 MiB vs max(copy, work)",
        limit: 1.15,
        fmt: x2,
        note: l64 && pip && inl
          ? `same run: pipelined ${fmtNs(pip.median_ns)} vs inline ${fmtNs(inl.median_ns)} (${((1 - pip.median_ns / inl.median_ns) * 100).toFixed(0)}% lower), limit ${fmtNs(l64.limit_ns)} (copy ${fmtNs(l64.copy_ns)}, work ${fmtNs(l64.work_ns)})${machine}`
          : undefined,
      }, l64?.ratio.pipelined),
      target(">=", {
        id: "offload-vs-inline",
        name: `stream of 16 MiB messages with producer work, offload vs inline throughput (${ctx.machine.cores} cores)`,
        limit: 1.5,
        fmt: x2,
        note: oi
          ? `same run: inline ${t("inline")!.toFixed(2)}, offload ${t("offload")!.toFixed(2)}, pipelined ${t("pipelined")?.toFixed(2)} GB/s; work alone ${w.toFixed(2)}, copy alone ${c.toFixed(2)} GB/s (ideal offload/inline ${((1 / w + 1 / c) / Math.max(1 / w, 1 / c)).toFixed(2)}x)${machine}`
          : undefined,
      }, oi),
    ];
  },
  plot(r, ctx) {
    if (!r?.latency.length) return null;
    const m = ctx.machine;
    const subtitle = `${m.cpu}, ${m.cores} cores; Bun ${m.bun}; sw engine 1 thread, ${r.config.chunk_bytes / MiB} MiB chunks; work ${r.config.passes} Bun.hash pass(es)/byte; ${ctx.date.slice(0, 10)}${ctx.options.quick ? " (quick)" : ""}`;
    return { tag: "modes", svg: modesSvg(r, subtitle), docs: ctx.options.quick ? null : "docs/bench-modes.svg" };
  },
});
