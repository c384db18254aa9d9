/**
 * Ferry benchmark harness.
 *
 *   bun run packages/bench/src/run.ts [--quick] [--only latency|throughput|peers|c|modes[,...]] [--callgrind]
 *
 * Every Ferry number is measured between two separate Bun processes (this
 * one and a peer spawned with Bun.spawn; nothing is pinned). Prints tables,
 * the targets with PASS/MISS, and writes bench-results/<timestamp>.json and
 * bench-results/latest.json at the repository root, plus the throughput plot
 * (docs/bench-throughput.svg for a full run). The "modes" section (modes.ts:
 * inline vs offload vs pipelined through a copy engine) adds
 * docs/bench-modes.svg; --callgrind also runs its C bench under valgrind.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { findLibrary, version as ferryVersion } from "@ferry/native";
import type { WaitStrategy } from "@ferry/channel";
import { foreignCpu, sample, snapshot, waitIdle, type Noise } from "./lib/noise";
import { cBenches, type CPingPong, type CRun, type CThroughput } from "./cbench";
import { BIG, bunIpc, unixSocket, type PeerResult } from "./peers";
import { pingPong, type PingPongResult } from "./pingpong";
import { throughputSvg, type Series } from "./plot";
import { markdown } from "./report";
import { modesSection, modesSvg, modesTargets, type ModesResult, type Target } from "./modes";
import { throughput, type TputMode, type TputResult } from "./throughput";
import {
  KiB,
  MiB,
  REPO_ROOT,
  cleanup,
  fmtNs,
  fmtRatio,
  fmtSize,
  installCleanup,
  leftoverSegments,
  sleep,
  table,
} from "./util";

/* ------------------------------------------------------------------ CLI */

const SECTIONS = ["latency", "throughput", "peers", "c", "modes"] as const;
type Section = (typeof SECTIONS)[number];

function parseArgs(argv: string[]) {
  let quick = false;
  let only: Section[] = [...SECTIONS];
  let onlyGiven = false;
  let waitIdleS = 0;
  let callgrind = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") quick = true;
    else if (a === "--callgrind") callgrind = true;
    else if (a === "--wait-idle" || a.startsWith("--wait-idle=")) waitIdleS = a.includes("=") ? Number(a.slice(12)) : 120;
    else if (a === "--only" || a.startsWith("--only=")) {
      const v = a.includes("=") ? a.slice(7) : argv[++i];
      if (!v) throw new Error("--only needs a value: latency|throughput|peers|c|modes");
      const list = v.split(",").map((s) => s.trim()) as Section[];
      for (const s of list) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section "${s}" (latency|throughput|peers|c|modes)`);
      only = list;
      onlyGiven = true;
    } else if (a === "--help" || a === "-h") {
      console.log("usage: bun run packages/bench/src/run.ts [--quick] [--only latency|throughput|peers|c|modes[,...]] [--wait-idle[=seconds]] [--callgrind]");
      console.log("  --wait-idle  first wait (default up to 120 s) until other processes use < 10% of the CPUs");
      console.log("  --callgrind  modes: also count instructions per message of native/build/bench/bench_modes under valgrind (slow)");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return { quick, only, onlyGiven, waitIdleS, callgrind };
}

const args = parseArgs(process.argv.slice(2));
const Q = args.quick;
const want = (s: Section) => args.only.includes(s);

const CFG = {
  latency: {
    sizes: [64, 4 * KiB, MiB],
    waits: ["spin", "block", "hybrid"] as WaitStrategy[],
    iterations: (w: WaitStrategy, size: number) =>
      w === "spin" ? (size >= MiB ? (Q ? 500 : 5000) : Q ? 5000 : 100000) : size >= MiB ? (Q ? 300 : 5000) : Q ? 1000 : 20000,
    warmup: (w: WaitStrategy) => (w === "spin" ? (Q ? 200 : 2000) : Q ? 50 : 300),
    maxMs: Q ? 600 : 3000,
  },
  throughput: {
    sizes: [4 * KiB, 64 * KiB, MiB, 16 * MiB, 64 * MiB, 256 * MiB],
    modes: ["zero-copy", "zero-copy-nowrite", "inline", "memcpy"] as TputMode[],
    bytesPerRep: Q ? 64 * MiB : 256 * MiB,
    reps: Q ? 3 : 15,
    maxMsPerCell: Q ? 800 : 5000,
  },
  peers: {
    bigSize: BIG,
    bigReps: Q ? 3 : 11,
    latIterations: Q ? 1000 : 20000,
    latWarmup: Q ? 50 : 300,
    maxMs: Q ? 600 : 3000,
    ferryRttIterations: Q ? 300 : 5000,
    ferryCopyIterations: Q ? 10 : 60,
  },
  c: { timeoutS: Q ? 30 : 120 },
  modes: {
    quick: Q,
    sizes: Q ? [64 * KiB, MiB, 16 * MiB, 64 * MiB] : [64 * KiB, MiB, 4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB],
    /** Bun.hash passes per byte for the receiver's (and producer's) work; 0 = calibrate (FERRY_BENCH_WORK=N overrides). */
    passes: Number(process.env.FERRY_BENCH_WORK ?? 0),
    chunkBytes: Number(process.env.FERRY_BENCH_CHUNK ?? 0) || MiB,
    recvWait: (process.env.FERRY_BENCH_RECV_WAIT ?? "hybrid") as WaitStrategy,
    iterations: (size: number) => (size <= MiB ? (Q ? 30 : 150) : size <= 16 * MiB ? (Q ? 10 : 30) : size <= 64 * MiB ? (Q ? 7 : 15) : 7),
    tputSizes: Q ? [16 * MiB] : [MiB, 4 * MiB, 16 * MiB, 64 * MiB],
    tputBytesPerRep: Q ? 128 * MiB : 256 * MiB,
    tputReps: Q ? 3 : 5,
    cpuBytes: Q ? 256 * MiB : 1024 * MiB,
    cpuSizes: [MiB, 16 * MiB],
    hotColdReps: Q ? 3 : 5,
    callgrind: args.callgrind,
    cTimeoutS: Q ? 60 : 120,
  },
};

/* ------------------------------------------------------------------ machine */

function machine() {
  let model = cpus()[0]?.model ?? "unknown";
  let kernel = "";
  let l3 = "";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {}
  try {
    const idx = readFileSync("/sys/devices/system/cpu/cpu0/cache/index3/size", "utf8").trim();
    l3 = idx;
  } catch {}
  let hypervisor = false;
  try {
    hypervisor = /\bhypervisor\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {}
  let libferry = { path: "", mtime: "", size: 0 };
  try {
    const path = findLibrary();
    const st = statSync(path);
    libferry = { path, mtime: st.mtime.toISOString(), size: st.size };
  } catch {}
  return {
    libferry,
    cpu: model.trim(),
    cores: cpus().length,
    l3,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    kernel,
    virtualized: hypervisor,
    bun: Bun.version,
    ferry: ferryVersion,
    platform: `${process.platform}-${process.arch}`,
  };
}

/* ------------------------------------------------------------------ targets */


function atMost(id: string, name: string, value: number | undefined, limit: number, fmt: (x: number) => string): Target {
  const goal = `<= ${fmt(limit)}`;
  if (value === undefined || !Number.isFinite(value)) return { id, name, goal, measured: "n/a", status: "not measured", gap: "" };
  const pass = value <= limit;
  return {
    id,
    name,
    goal,
    measured: fmt(value),
    status: pass ? "PASS" : "MISS",
    gap: pass ? `${fmtRatio(limit / value)} headroom` : `${fmtRatio(value / limit)} over the target (${fmt(value - limit)} too slow)`,
  };
}

function atLeast(id: string, name: string, value: number | undefined, limit: number, fmt: (x: number) => string): Target {
  const goal = `>= ${fmt(limit)}`;
  if (value === undefined || !Number.isFinite(value)) return { id, name, goal, measured: "n/a", status: "not measured", gap: "" };
  const pass = value >= limit;
  return {
    id,
    name,
    goal,
    measured: fmt(value),
    status: pass ? "PASS" : "MISS",
    gap: pass ? `${fmtRatio(value / limit)} above the target` : `needs ${fmtRatio(limit / value)} more`,
  };
}

/** "12x lower" or, when ferry is slower, "3.2x higher". */
function lower(peer: number, ferry: number) {
  return ferry <= peer ? `${fmtRatio(peer / ferry)} lower` : `${fmtRatio(ferry / peer)} HIGHER`;
}

/* ------------------------------------------------------------------ main */

async function main() {
  installCleanup();
  const log = (s = "") => console.log(s);
  const before: Noise = args.waitIdleS > 0 ? await waitIdle(args.waitIdleS, log) : await sample(500);
  const started = new Date();
  const t0 = performance.now();
  const mach = machine();
  /** The whole run should stay inside this (the C benches get what is left, within their own limit). */
  const budgetS = Q ? 85 : 340;
  const section = (s: string) => log(`\n== ${s} ${"=".repeat(Math.max(0, 70 - s.length))}`);
  const elapsed = () => ((performance.now() - t0) / 1000).toFixed(1);

  log(`Ferry bench${Q ? " (--quick)" : ""} — ${started.toISOString()}`);
  log(`machine: ${mach.cpu}, ${mach.cores} cores${mach.virtualized ? " (VM)" : ""}, L3 ${mach.l3 || "?"}, ${mach.memory_gib} GiB, Linux ${mach.kernel}; Bun ${mach.bun}, libferry ${mach.ferry}`);
  log(`CPU used by other processes before the run: ${(before.foreign * 100).toFixed(0)}% of ${mach.cores} cores`);
  if (before.foreign > 0.1) {
    log(`WARNING: the machine is not idle; the numbers below are skewed by other work:`);
    for (const l of before.busiest) log(`  ${l}`);
  }

  const timings: Record<string, number> = {};
  const noise: Record<string, { foreign: number; busiest: string[] }> = {};
  const errors: Record<string, string> = {};
  /** Run one section; a failure is reported and recorded, and the other sections still run. */
  const timed = async <T>(name: string, f: () => Promise<T>, fallback: T): Promise<T> => {
    const s = performance.now();
    const snap = snapshot();
    try {
      return await f();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      errors[name] = e instanceof Error && e.stack ? e.stack : msg;
      log(`FAILED: section "${name}": ${msg}`);
      process.exitCode = 1;
      return fallback;
    } finally {
      timings[name] = +((performance.now() - s) / 1000).toFixed(2);
      const n = foreignCpu(snap, snapshot());
      noise[name] = { foreign: +n.foreign.toFixed(3), busiest: n.busiest };
      if (n.foreign > 0.1)
        log(`WARNING: other processes used ${(n.foreign * 100).toFixed(0)}% of the CPUs during "${name}": ${n.busiest.join("; ")}`);
    }
  };

  /* ---------------- 1. latency */
  let latency: PingPongResult[] = [];
  if (want("latency")) {
    section("1. one-way latency, Bun -> Bun (loan/publish; RTT/2)");
    latency = await timed("latency", async () => {
      const out: PingPongResult[] = [];
      for (const wait of CFG.latency.waits)
        for (const size of CFG.latency.sizes) {
          Bun.gc(true);
          out.push(
            await pingPong({
              wait,
              size,
              replySize: size,
              send: "loan",
              iterations: CFG.latency.iterations(wait, size),
              warmup: CFG.latency.warmup(wait),
              maxMs: CFG.latency.maxMs,
            }),
          );
        }
      return out;
    }, [] as PingPongResult[]);
    log(
      table(
        ["receiver wait", "size", "p50", "p99", "min", "n"],
        latency.map((r) => [r.wait, fmtSize(r.size), fmtNs(r.p50_ns), fmtNs(r.p99_ns), fmtNs(r.min_ns), r.n]),
      ),
    );
    log(`(${elapsed()} s)`);
  }

  /* ---------------- 2. throughput */
  let tput: TputResult[] = [];
  if (want("throughput")) {
    section("2. throughput, Bun -> Bun, and single-thread memcpy in the same run");
    tput = await timed("throughput", async () => {
      Bun.gc(true);
      return throughput(CFG.throughput);
    }, [] as TputResult[]);
    const cell = (mode: TputMode, size: number) => {
      const r = tput.find((x) => x.mode === mode && x.size === size);
      return r ? r.gbps.toFixed(2) : "-";
    };
    const modes: TputMode[] = CFG.throughput.modes;
    log(table(["size", ...modes.map((m) => `${m} GB/s`), "inline/memcpy"], CFG.throughput.sizes.map((s) => {
      const inl = tput.find((x) => x.mode === "inline" && x.size === s)?.gbps;
      const mc = tput.find((x) => x.mode === "memcpy" && x.size === s)?.gbps;
      return [fmtSize(s), ...modes.map((m) => cell(m, s)), inl && mc ? `${(inl / mc).toFixed(2)}` : "-"];
    })));
    log("zero-copy: loan + bytes.fill(i) + publish; zero-copy-nowrite: loan + publish; inline: sendSync(private buffer);");
    log("memcpy: dst.set(src) on two private arrays, in this process, reps interleaved with the others");
    log(`(${elapsed()} s)`);
  }

  /* ---------------- 3. peers */
  let peers: PeerResult[] = [];
  let ferryRtt: PingPongResult[] = [];
  let ferry64: PingPongResult[] = latency.filter((r) => r.size === 64);
  if (want("peers")) {
    section("3. peers a Bun user has today (same run)");
    await timed("peers", async () => {
      Bun.gc(true);
      peers.push(await bunIpc(CFG.peers));
      Bun.gc(true);
      peers.push(await unixSocket(CFG.peers));
      Bun.gc(true);
      const rtt = (wait: WaitStrategy, send: "loan" | "copy", touch: boolean, iterations: number) =>
        pingPong({ wait, size: BIG, replySize: 1, send, touch, iterations, warmup: send === "loan" && !touch ? 20 : 3, maxMs: CFG.peers.maxMs });
      for (const wait of ["spin", "hybrid", "block"] as WaitStrategy[])
        ferryRtt.push(await rtt(wait, "loan", false, CFG.peers.ferryRttIterations));
      ferryRtt.push(await rtt("hybrid", "loan", true, CFG.peers.ferryCopyIterations));
      ferryRtt.push(await rtt("hybrid", "copy", false, CFG.peers.ferryCopyIterations));
      if (!ferry64.length)
        for (const wait of ["spin", "block", "hybrid"] as WaitStrategy[])
          ferry64.push(
            await pingPong({ wait, size: 64, replySize: 64, send: "loan", iterations: Q ? 2000 : 6000, warmup: 200, maxMs: CFG.latency.maxMs }),
          );
    }, undefined);
    const ipc = peers.find((p) => p.impl === "bun-ipc");
    const uds = peers.find((p) => p.impl === "unix-socket");
    if (ipc && uds) {
      const rows: (string | number)[][] = [];
      rows.push(["Bun IPC (advanced)", fmtNs(ipc.rtt.median_ns), "1x", fmtRatio(uds.rtt.median_ns / ipc.rtt.median_ns), fmtNs(ipc.lat64.p50_ns), fmtNs(ipc.lat64.p99_ns)]);
      rows.push(["Unix socket", fmtNs(uds.rtt.median_ns), fmtRatio(ipc.rtt.median_ns / uds.rtt.median_ns), "1x", fmtNs(uds.lat64.p50_ns), fmtNs(uds.lat64.p99_ns)]);
      for (const r of ferryRtt) {
        const l = ferry64.find((x) => x.wait === r.wait);
        rows.push([
          `ferry ${r.send === "loan" ? "loan" : "inline copy"}, ${r.wait}${r.touch ? ", receiver reads all" : ""}`,
          fmtNs(r.rtt_p50_ns),
          fmtRatio(ipc.rtt.median_ns / r.rtt_p50_ns),
          fmtRatio(uds.rtt.median_ns / r.rtt_p50_ns),
          r.send === "loan" && !r.touch && l ? fmtNs(l.p50_ns) : "",
          r.send === "loan" && !r.touch && l ? fmtNs(l.p99_ns) : "",
        ]);
      }
      log(table(["transport", "64 MiB RTT (median)", "x faster than Bun IPC", "x faster than UDS", "64 B p50", "64 B p99"], rows));
      log("64 MiB RTT: payload one way, a 1-byte ack back on a second channel. ferry loan: loan + stamp + publish; the receiver");
      log("checks the stamp byte and releases (\"receiver reads all\": it also reads every 64-byte line). Bun IPC / UDS: the");
      log("receiver gets its own copy (deserialised / assembled into one buffer). 64 B: ping-pong, one way = RTT/2.");
      const loanH = ferryRtt.find((r) => r.send === "loan" && r.wait === "hybrid" && !r.touch);
      const copyH = ferryRtt.find((r) => r.send === "copy");
      if (loanH)
        log(`=> ferry 64 MiB loan RTT (hybrid, the default) is ${fmtRatio(ipc.rtt.median_ns / loanH.rtt_p50_ns)} faster than Bun IPC and ${fmtRatio(uds.rtt.median_ns / loanH.rtt_p50_ns)} faster than a Unix socket`);
      if (copyH)
        log(`=> ferry 64 MiB inline-copy RTT is ${fmtRatio(ipc.rtt.median_ns / copyH.rtt_p50_ns)} faster than Bun IPC and ${fmtRatio(uds.rtt.median_ns / copyH.rtt_p50_ns)} faster than a Unix socket`);
      for (const w of ["spin", "block"] as WaitStrategy[]) {
        const l = ferry64.find((x) => x.wait === w);
        if (l)
          log(`=> ferry 64 B one-way p50 (${w}) is ${lower(ipc.lat64.p50_ns, l.p50_ns)} than Bun IPC and ${lower(uds.lat64.p50_ns, l.p50_ns)} than a Unix socket`);
      }
    }
    log(`(${elapsed()} s)`);
  }

  /* ---------------- 4. C benches */
  let cRuns: CRun[] = [];
  if (want("c")) {
    section("4. C microbenchmarks (native/build/bench)");
    cRuns = await timed("c", () => cBenches(Q, CFG.c.timeoutS, t0 + budgetS * 1000), [] as CRun[]);
    for (const r of cRuns)
      log(`${r.name}: ${r.status}${r.detail ? ` (${r.detail})` : ""}${r.seconds !== undefined ? `, ${r.seconds.toFixed(1)} s` : ""}, ${r.records.length} results`);
    const pp = cRuns.flatMap((r) => r.records).filter((x): x is CPingPong => x.bench === "pingpong");
    const tp = cRuns.flatMap((r) => r.records).filter((x): x is CThroughput => x.bench === "throughput");
    if (pp.length)
      log("\n" + table(["impl", "wait", "size", "p50", "p99", "n"], pp.map((r) => [r.impl, r.wait, fmtSize(r.size), fmtNs(r.p50_ns), fmtNs(r.p99_ns), r.n])));
    if (tp.length) {
      const sizes = [...new Set(tp.map((r) => r.size))].sort((a, b) => a - b);
      const impls = [...new Set(tp.map((r) => r.impl))];
      log("\n" + table(["size", ...impls.map((i) => `C ${i} GB/s`)], sizes.map((s) => [fmtSize(s), ...impls.map((i) => tp.find((r) => r.impl === i && r.size === s)?.gbps.toFixed(2) ?? "-")])));
    }
    log(`(${elapsed()} s)`);
  }

  /* ---------------- 5. copy engines and modes */
  let modes: ModesResult | null = null;
  if (want("modes")) {
    section("5. copy engines and modes: inline vs offload vs pipelined, Bun -> Bun");
    modes = await timed("modes", async () => {
      Bun.gc(true);
      return modesSection(CFG.modes, log);
    }, null);
    log(`(${elapsed()} s)`);
  }

  /* ---------------- 6. targets */
  section("6. targets");
  const cpp = cRuns.flatMap((r) => r.records).filter((x): x is CPingPong => x.bench === "pingpong");
  const ipc = peers.find((p) => p.impl === "bun-ipc");
  const loanH = ferryRtt.find((r) => r.send === "loan" && r.wait === "hybrid" && !r.touch);
  const inl64 = tput.find((r) => r.mode === "inline" && r.size === 64 * MiB);
  const mc64 = tput.find((r) => r.mode === "memcpy" && r.size === 64 * MiB);
  const spin64 = ferry64.find((r) => r.wait === "spin");
  const block64 = ferry64.find((r) => r.wait === "block");
  const cSpin = cpp.find((r) => r.impl === "ferry" && r.wait === "spin" && r.size === 64);
  const targets: Target[] = [
    atLeast("loan-vs-ipc", "64 MiB Bun->Bun round trip through a loan (hybrid) vs Bun IPC", ipc && loanH ? ipc.rtt.median_ns / loanH.rtt_p50_ns : undefined, 1000, (x) => fmtRatio(x) + " faster"),
    atMost("inline-vs-memcpy", "inline copy of 64 MiB vs single-thread memcpy of 64 MiB (time ratio)", inl64 && mc64 ? mc64.gbps / inl64.gbps : undefined, 1.25, (x) => `${x.toFixed(2)}x`),
    atMost("bun-spin-p50", "one-way 64 B Bun->Bun, loan/publish/tryReceive/release spin, p50", spin64?.p50_ns, 300, fmtNs),
    atMost("bun-block-p50", "one-way 64 B Bun->Bun, await receive() block, p50", block64?.p50_ns, 30_000, fmtNs),
    atMost("c-spin-p50", "one-way 64 B C->C ferry spin, p50", cSpin?.p50_ns, 150, fmtNs),
    ...(want("modes") ? modesTargets(modes, mach.cores) : []),
  ];
  {
    const ns = (x: { p50_ns: number } | undefined) => (x ? fmtNs(x.p50_ns) : "n/a");
    const rttX = (w: WaitStrategy, touch = false) => {
      const f = ferryRtt.find((r) => r.send === "loan" && r.wait === w && r.touch === touch);
      return ipc && f ? fmtRatio(ipc.rtt.median_ns / f.rtt_p50_ns) : "n/a";
    };
    const cOf = (w: string) => cpp.find((r) => r.impl === "ferry" && r.wait === w && r.size === 64);
    const cFloor = cpp.find((r) => r.impl === "floor" && r.size === 64);
    const uds = peers.find((p) => p.impl === "unix-socket");
    targets[0]!.note = `same run: spin ${rttX("spin")}, block ${rttX("block")}; when the receiver also reads all 64 MiB: ${rttX("hybrid", true)}`;
    targets[2]!.note = `same run: C ferry spin ${ns(cOf("spin"))}, C floor (one cache line each way) ${ns(cFloor)}`;
    targets[3]!.note = `same run: C ferry block ${ns(cOf("block"))}; event-loop peers 64 B: Bun IPC ${ipc ? fmtNs(ipc.lat64.p50_ns) : "n/a"}, Unix socket ${uds ? fmtNs(uds.lat64.p50_ns) : "n/a"}`;
    targets[4]!.note = `same run: C floor ${ns(cFloor)} is the hardware limit of one hop on this machine`;
  }
  log(table(["target", "goal", "measured", "status", "gap"], targets.map((t) => [t.name, t.goal, t.measured, t.status, t.gap])));
  for (const t of targets) if (t.note && t.status !== "not measured") log(`  ${t.id}: ${t.note}`);
  const iox = cpp.find((r) => r.impl === "iceoryx" && r.size === 64 && r.wait === "spin") ?? cpp.find((r) => r.impl === "iceoryx" && r.size === 64);
  const floor = cpp.find((r) => r.impl === "floor" && r.size === 64 && r.wait === "spin") ?? cpp.find((r) => r.impl === "floor" && r.size === 64);
  const scale = {
    iceoryx_64B_p50_ns: iox?.p50_ns ?? null,
    floor_64B_p50_ns: floor?.p50_ns ?? null,
  };
  const cStatus = (n: string) => cRuns.find((r) => r.name === n)?.status ?? "not run";
  log(`for scale: C iceoryx 64 B p50 ${iox ? fmtNs(iox.p50_ns) : `n/a (${cStatus("iceoryx")})`}; C floor (two processes, one shared cache line) 64 B p50 ${floor ? fmtNs(floor.p50_ns) : `n/a (${cStatus("bench_pingpong")})`}`);

  /* ---------------- output */
  const libNow = machine().libferry;
  const rebuilt = libNow.mtime !== mach.libferry.mtime || libNow.size !== mach.libferry.size;
  if (rebuilt) {
    log(`WARNING: ${mach.libferry.path} was rebuilt during the run (${mach.libferry.mtime} -> ${libNow.mtime}); peers spawned later loaded another build, so mixed-build numbers (or hangs) are possible: run again`);
    process.exitCode = 1;
  }
  const total = (performance.now() - t0) / 1000;
  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const outDir = join(REPO_ROOT, "bench-results");
  mkdirSync(outDir, { recursive: true });
  const strip = (r: PingPongResult) => {
    const { rtt: _r, ...rest } = r;
    return rest;
  };
  const result = {
    schema: 1,
    date: started.toISOString(),
    quick: Q,
    only: args.onlyGiven ? args.only : null,
    machine: mach,
    other_cpu_before: { foreign: +before.foreign.toFixed(3), busiest: before.busiest },
    other_cpu_during: noise,
    libferry_rebuilt_during_run: rebuilt,
    errors,
    seconds: { total: +total.toFixed(1), ...timings },
    latency: latency.map(strip),
    throughput: tput,
    peers: {
      payload_bytes: BIG,
      others: peers,
      ferry_rtt: ferryRtt.map(strip),
      ferry_64B: ferry64.map(strip),
    },
    c: cRuns,
    modes,
    targets,
    scale,
  };
  const json = JSON.stringify(result, null, 2);
  writeFileSync(join(outDir, `${stamp}.json`), json);
  writeFileSync(join(outDir, "latest.json"), json);
  const mdText = markdown(result);
  writeFileSync(join(outDir, `${stamp}.md`), mdText);
  writeFileSync(join(outDir, "latest.md"), mdText);

  // plot: Bun modes and, when built, the C modes of the same run
  if (tput.length || cRuns.length) {
    const ctp = cRuns.flatMap((r) => r.records).filter((x): x is CThroughput => x.bench === "throughput");
    const colors: Record<string, string> = { "zero-copy": "#1f77b4", inline: "#d62728", memcpy: "#555555" };
    const series: Series[] = [];
    for (const mode of ["zero-copy", "inline", "memcpy"] as const) {
      const pts = tput.filter((r) => r.mode === mode).map((r) => ({ size: r.size, gbps: r.gbps }));
      if (pts.length) series.push({ label: `Bun ${mode}${mode === "zero-copy" ? " (fill)" : mode === "memcpy" ? " (dst.set)" : ""}`, color: colors[mode]!, points: pts });
    }
    for (const mode of ["zero-copy", "inline", "memcpy"] as const) {
      const pts = ctp.filter((r) => r.impl === mode).map((r) => ({ size: r.size, gbps: r.gbps }));
      if (pts.length) series.push({ label: `C ${mode}`, color: colors[mode]!, dash: "6 4", points: pts });
    }
    const svg = throughputSvg(
      series,
      "Ferry throughput between two processes vs message size",
      `${mach.cpu}, ${mach.cores} cores; Bun ${mach.bun}; median of reps; ${started.toISOString().slice(0, 10)}${Q ? " (quick)" : ""}`,
    );
    writeFileSync(join(outDir, `${stamp}-throughput.svg`), svg);
    writeFileSync(join(outDir, "latest-throughput.svg"), svg);
    if (!Q && !args.onlyGiven) {
      mkdirSync(join(REPO_ROOT, "docs"), { recursive: true });
      writeFileSync(join(REPO_ROOT, "docs/bench-throughput.svg"), svg);
    }
  }

  if (modes && modes.latency.length) {
    const svg = modesSvg(modes, `${mach.cpu}, ${mach.cores} cores; Bun ${mach.bun}; sw engine 1 thread, ${modes.config.chunk_bytes / MiB} MiB chunks; work ${modes.config.passes} Bun.hash pass(es)/byte; ${started.toISOString().slice(0, 10)}${Q ? " (quick)" : ""}`);
    writeFileSync(join(outDir, `${stamp}-modes.svg`), svg);
    writeFileSync(join(outDir, "latest-modes.svg"), svg);
    if (!Q) writeFileSync(join(REPO_ROOT, "docs/bench-modes.svg"), svg);
  }

  cleanup();
  const left = leftoverSegments();
  log(`\nwrote bench-results/${stamp}.json (+ .md, -throughput.svg) and bench-results/latest.json${!Q && !args.onlyGiven ? "; docs/bench-throughput.svg" : ""}`);
  log(`total ${total.toFixed(1)} s${left.length ? `; LEFTOVER segments: ${left.join(", ")}` : "; no /dev/shm/ferry.* segments left"}`);
  if (left.length) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  cleanup();
  process.exit(1);
});
