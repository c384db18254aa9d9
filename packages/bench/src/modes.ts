/**
 * Copy engines and send modes (issue 3): inline vs offload vs pipelined,
 * measured between two Bun processes in one run.
 *
 *  1. end-to-end latency: send start -> the receiver has processed every byte
 *     (it hashes each piece `passes` times with Bun.hash; calibrated so that
 *     the work costs about as much as the copy), with the limit
 *     max(copy time, work time) from the inline runs of the same cell;
 *  2. stream throughput: a producer that also works per message (Bun.hash over
 *     its own input, about as costly as the copy), a receiver that only
 *     touches each message (and sleeps in between);
 *  3. sender CPU per GiB moved: the sending thread (/proc/self/task/<tid>/schedstat)
 *     and the whole process (process.cpuUsage(), copy threads included);
 *  4. hot vs cold: the receiver's read time right after arrival, for a size
 *     that fits the LLC and one that does not;
 *  5. the C bench bench_modes (ns and sender CPU per message), and with
 *     --callgrind its instructions per message under valgrind, per thread.
 *
 * Engine: one swEngine({ threads: 1, chunkBytes }) for offload and pipelined.
 * Publisher waits (offload completion) use "block": on 2 CPUs a spinning
 * waiter would take a CPU from the copy thread or the receiver.
 */
import { existsSync, readFileSync, readdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CachePlacement, Publisher, Subscriber, Channel, WaitStrategy } from "@ferry/channel";
// @ferry/bench does not list @ferry/sw-engine as a dependency (yet): import it by path
// (it resolves @ferry/channel to the same module instance).
import { swEngine, type SwEngine } from "@ferry/sw-engine";
import { hashWork, monoNs } from "./lib/msg";
import { KiB, MiB, REPO_ROOT, createChannel, finish, fmtNs, fmtSize, median, spawnPeer, table, type Peer } from "./util";

export type SendMode = "inline" | "offload" | "pipelined";
export const MODES: SendMode[] = ["inline", "offload", "pipelined"];

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

export interface LatCell {
  mode: SendMode;
  size: number;
  n: number;
  /** send start -> receiver done, median / p90 / min. */
  median_ns: number;
  p90_ns: number;
  min_ns: number;
  /** sender: send call (inline) or send start -> promise settled (engine copy + collect). */
  copy_ns: number;
  /** receiver: first receive -> last byte processed. */
  work_ns: number;
}

export interface LatLimit {
  size: number;
  copy_ns: number;
  work_ns: number;
  limit_ns: number;
  ratio: Record<SendMode, number>;
}

export interface TputCell {
  mode: SendMode | "work-only" | "copy-only";
  size: number;
  perRep: number;
  reps: number;
  gbps: number;
  samples: number[];
  /** Producer work: Bun.hash passes over its own input per message (calibrated per size: about one copy). */
  producer_passes: number;
}

export interface CpuCell {
  mode: SendMode;
  size: number;
  bytes: number;
  /** CPU ns of the sending (JS main) thread per GiB moved. */
  thread_ns_per_gib: number;
  /** CPU ns of the whole sending process (copy threads included) per GiB. */
  process_ns_per_gib: number;
  wall_ns_per_gib: number;
}

export interface HotColdCell {
  mode: "inline" | "offload";
  cache: "hot" | "cold";
  size: number;
  fits_llc: boolean;
  n: number;
  read_ns: number;
  read_gbps: number;
  copy_ns: number;
}

export interface CModesRecord {
  bench: "modes";
  mode: SendMode;
  size: number;
  n: number;
  ns_per_msg: number;
  sender_cpu_ns_per_msg: number;
}

export interface CallgrindCell {
  mode: SendMode;
  size: number;
  n: number;
  /** Instructions per message (difference of a 2N and an N run, / N). */
  sender_ir: number;
  all_ir: number;
  threads: Record<string, number>;
}

export interface Parallelism {
  /** Throughput of two processes running the same loop at once vs one alone (2.0 = two full CPUs). */
  alu_speedup: number;
  copy_speedup: number;
  alu_alone_ms: number;
  copy_alone_ms: number;
}

export interface ModesResult {
  parallelism: Parallelism | null;
  config: { passes: number; passes_calibrated: boolean; chunk_bytes: number; engine: string; llc_bytes: number; calibration: { copy_gbps: number; hash_gbps: number } };
  latency: LatCell[];
  limits: LatLimit[];
  throughput: TputCell[];
  cpu: CpuCell[];
  hotcold: HotColdCell[];
  c: { status: string; detail?: string; records: CModesRecord[] };
  callgrind: { status: string; detail?: string; cells: CallgrindCell[] };
  seconds: number;
}

/* ------------------------------------------------------------------ helpers */

const pctOf = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : NaN;
};

export function llcBytes(): number {
  try {
    const s = readFileSync("/sys/devices/system/cpu/cpu0/cache/index3/size", "utf8").trim();
    const m = /^(\d+)\s*([KMG]?)/i.exec(s);
    if (m) return Number(m[1]) * ({ "": 1, K: KiB, M: MiB, G: 1024 * MiB } as Record<string, number>)[m[2]!.toUpperCase()]!;
  } catch {}
  return 0;
}

/** CPU ns of this process's main thread (its tid is the pid). */
function threadCpuNs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]);
  } catch {
    return NaN;
  }
}
function processCpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** Copy GB/s (dst.set) and Bun.hash GB/s at 16 MiB in this process: passes = hash/copy speed, rounded. */
export function calibrate(): { passes: number; copy_gbps: number; hash_gbps: number } {
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

/** A sender, its receiver process (modes-recv) and an ack channel back. */
class LatSession {
  readonly data: Channel;
  readonly ack: Channel;
  readonly pub: Publisher;
  readonly ackSub: Subscriber;
  readonly peer: Peer;
  constructor(capacity: number, piece: number, engine: SwEngine, wait: WaitStrategy) {
    this.data = createChannel("mlat", { capacity, slots: 64 });
    this.ack = createChannel("mack", { capacity: MiB, slots: 64 });
    this.pub = this.data.publisher({ backpressure: "block", timeoutMs: -1, engine });
    this.ackSub = this.ack.subscribe({ wait: "block" });
    this.peer = spawnPeer("recv", [this.data.name, this.ack.name, piece, wait]);
  }
  /** One message: returns [latency, sender copy time, receiver work time] in ns. */
  async once(src: Uint8Array, mode: SendMode, passes: number, cache: CachePlacement = "auto"): Promise<[number, number, number]> {
    const header = new Uint8Array([passes]);
    const t0 = monoNs();
    if (mode === "inline") this.pub.sendSync(src, { mode: "inline", cache, header });
    else await this.pub.send(src, { mode, cache, header });
    const tc = monoNs() - t0;
    const a = await this.ackSub.receive();
    const f = new Float64Array(a.bytes.slice(0, 16).buffer);
    a.release();
    return [f[0]! - t0, tc, f[1]!];
  }
  async close() {
    this.pub.close();
    try {
      await finish(this.peer, 10_000);
    } finally {
      this.ackSub.close();
      this.data.close();
      this.ack.close();
      this.peer.proc.kill(9);
    }
  }
}

/* ------------------------------------------------------------------ 1. latency */

async function latency(cfg: ModesConfig, engine: SwEngine, passesIn: number, log: (s: string) => void) {
  const maxSize = Math.max(...cfg.sizes);
  const s = new LatSession(maxSize + 4 * MiB, cfg.chunkBytes, engine, cfg.recvWait);
  const cells: LatCell[] = [];
  const limits: LatLimit[] = [];
  let passes = passesIn;
  try {
    await s.peer.ready;
    if (passes <= 0) {
      // calibrate on the real path: 16 MiB inline, receiver does 1 pass; passes = copy time / work time
      const src = new Uint8Array(16 * MiB).fill(7);
      const xs: [number, number, number][] = [];
      for (let i = 0; i < 7; i++) xs.push(await s.once(src, "inline", 1));
      const ratio = median(xs.slice(2).map((x) => x[1])) / median(xs.slice(2).map((x) => x[2]));
      passes = Math.max(1, Math.min(8, Math.round(ratio)));
      log(`  calibration at 16 MiB: inline copy / one Bun.hash pass on the receiver = ${ratio.toFixed(2)} -> ${passes} pass(es)`);
    }
    for (const size of cfg.sizes) {
      let src: Uint8Array | null = new Uint8Array(size).fill(7);
      const r = new Map<SendMode, [number, number, number][]>(MODES.map((m) => [m, []]));
      const iters = cfg.iterations(size);
      for (let i = -2; i < iters; i++)
        for (const mode of MODES) {
          const x = await s.once(src, mode, passes);
          if (i >= 0) r.get(mode)!.push(x);
        }
      for (const mode of MODES) {
        const xs = r.get(mode)!;
        const lat = xs.map((x) => x[0]);
        cells.push({
          mode, size, n: xs.length, median_ns: median(lat), p90_ns: pctOf(lat, 90), min_ns: Math.min(...lat),
          copy_ns: median(xs.map((x) => x[1])), work_ns: median(xs.map((x) => x[2])),
        });
      }
      const inl = cells.find((c) => c.mode === "inline" && c.size === size)!;
      const limit = Math.max(inl.copy_ns, inl.work_ns);
      const ratio = Object.fromEntries(MODES.map((m) => [m, cells.find((c) => c.mode === m && c.size === size)!.median_ns / limit])) as Record<SendMode, number>;
      limits.push({ size, copy_ns: inl.copy_ns, work_ns: inl.work_ns, limit_ns: limit, ratio });
      log(`  ${fmtSize(size)}: inline ${fmtNs(inl.median_ns)}, offload ${fmtNs(cells.at(-2)!.median_ns)}, pipelined ${fmtNs(cells.at(-1)!.median_ns)}; limit ${fmtNs(limit)}`);
      src = null;
      Bun.gc(true);
    }
  } finally {
    await s.close();
  }
  return { cells, limits, passes };
}

/* ------------------------------------------------------------------ 2./3. streams */

async function streams(cfg: ModesConfig, engine: SwEngine) {
  const maxSize = Math.max(...cfg.tputSizes, ...cfg.cpuSizes);
  const depth = 2;
  const data = createChannel("mtput", { capacity: (depth + 2) * maxSize + 4 * MiB, slots: 256 });
  const ack = createChannel("mtack", { capacity: MiB, slots: 64 });
  const pub = data.publisher({ backpressure: "block", timeoutMs: -1, engine });
  const ackSub = ack.subscribe({ wait: "block" });
  const peer = spawnPeer("sink", [data.name, ack.name, "block", 1]);
  const empty = new Uint8Array(0);
  const tput: TputCell[] = [];
  const cpu: CpuCell[] = [];
  /** Send k messages of bufs (round robin) with `work` before each; at most `depth` engine sends in flight. */
  const run = async (mode: SendMode, k: number, bufs: Uint8Array[], work: (() => void) | null) => {
    const inflight: Promise<number>[] = [];
    for (let i = 0; i < k; i++) {
      if (work) work();
      const b = bufs[i % bufs.length]!;
      b[0] = i & 255;
      if (mode === "inline") pub.sendSync(b, { mode: "inline" });
      else {
        if (inflight.length >= depth) await inflight.shift();
        inflight.push(pub.send(b, { mode }));
      }
    }
    await Promise.all(inflight);
    pub.sendSync(empty);
    (await ackSub.receive()).release();
  };
  try {
    await peer.ready;
    // 2. throughput with producer work
    for (const size of cfg.tputSizes) {
      const k = Math.max(2, Math.floor(cfg.tputBytesPerRep / size));
      const bufs = [0, 1, 2].map((i) => new Uint8Array(size).fill(i + 1));
      const input = new Uint8Array(size).fill(9);
      // producer work about as costly as the copy: passes = inline send time / one hash pass, at this size
      const tc: number[] = [], th: number[] = [];
      for (let i = 0; i < 5; i++) {
        let t = monoNs();
        pub.sendSync(bufs[0]!);
        tc.push(monoNs() - t);
        await run("inline", 0, bufs, null); // the sink has released it
        t = monoNs();
        hashWork(input, 1, Math.min(size, cfg.chunkBytes));
        th.push(monoNs() - t);
      }
      const pp = Math.max(1, Math.min(8, Math.round(median(tc.slice(1)) / median(th.slice(1)))));
      const work = () => void hashWork(input, pp, Math.min(size, cfg.chunkBytes));
      const kinds = [...MODES, "work-only", "copy-only"] as const;
      const times = new Map<string, number[]>(kinds.map((m) => [m, []]));
      for (let r = -1; r < cfg.tputReps; r++)
        for (const m of kinds) {
          const t0 = monoNs();
          if (m === "work-only") for (let i = 0; i < k; i++) work();
          else if (m === "copy-only") await run("inline", k, bufs, null);
          else await run(m, k, bufs, work);
          if (r >= 0) times.get(m)!.push(monoNs() - t0);
        }
      for (const m of kinds) {
        const ts = times.get(m)!;
        tput.push({ mode: m, size, perRep: k, reps: ts.length, gbps: (k * size) / median(ts), samples: ts.map((t) => +((k * size) / t).toFixed(3)), producer_passes: pp });
      }
      Bun.gc(true);
    }
    // 3. sender CPU per GiB, no producer work
    for (const size of cfg.cpuSizes) {
      const k = Math.max(4, Math.floor(cfg.cpuBytes / size));
      const bufs = [0, 1, 2].map((i) => new Uint8Array(size).fill(i + 1));
      await run("inline", Math.min(k, 8), bufs, null); // warm
      for (const mode of MODES) {
        await run(mode, Math.min(k, 8), bufs, null);
        const th0 = threadCpuNs(), p0 = processCpuNs(), w0 = monoNs();
        await run(mode, k, bufs, null);
        const gib = (k * size) / 2 ** 30;
        cpu.push({
          mode, size, bytes: k * size,
          thread_ns_per_gib: (threadCpuNs() - th0) / gib,
          process_ns_per_gib: (processCpuNs() - p0) / gib,
          wall_ns_per_gib: (monoNs() - w0) / gib,
        });
      }
      Bun.gc(true);
    }
    pub.close();
    await finish(peer, 10_000);
  } finally {
    pub.close();
    ackSub.close();
    data.close();
    ack.close();
    peer.proc.kill(9);
  }
  return { tput, cpu };
}

/* ------------------------------------------------------------------ 4. hot vs cold */

async function hotCold(cfg: ModesConfig, engine: SwEngine, llc: number) {
  const fit = 16 * MiB;
  const nofit = llc ? Math.ceil((2 * llc) / (64 * MiB)) * 64 * MiB : 512 * MiB;
  const out: HotColdCell[] = [];
  const s = new LatSession(nofit + 4 * MiB, cfg.chunkBytes, engine, cfg.recvWait);
  try {
    await s.peer.ready;
    for (const size of [fit, nofit]) {
      let src: Uint8Array | null = new Uint8Array(size).fill(3);
      const variants = [["inline", "hot"], ["inline", "cold"], ["offload", "hot"], ["offload", "cold"]] as const;
      const r = new Map<string, [number, number, number][]>(variants.map((v) => [v.join(), []]));
      for (let i = -1; i < cfg.hotColdReps; i++)
        for (const [mode, cache] of variants) {
          const x = await s.once(src, mode, 1, cache);
          if (i >= 0) r.get(`${mode},${cache}`)!.push(x);
        }
      for (const [mode, cache] of variants) {
        const xs = r.get(`${mode},${cache}`)!;
        const read = median(xs.map((x) => x[2]));
        out.push({ mode, cache, size, fits_llc: llc ? size * 2 <= llc : size === fit, n: xs.length, read_ns: read, read_gbps: size / read, copy_ns: median(xs.map((x) => x[1])) });
      }
      src = null;
      Bun.gc(true);
    }
  } finally {
    await s.close();
  }
  return out;
}

/* ------------------------------------------------------------------ 5. C bench (+ callgrind) */

const CBIN = join(REPO_ROOT, "native/build/bench/bench_modes");

async function runCmd(cmd: string[], timeoutS: number, env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string; timedOut: boolean }> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, FERRY_PIN: "0", ...env } });
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    proc.kill(9);
  }, timeoutS * 1000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(t);
  return { code, out, err, timedOut };
}

async function cBench(cfg: ModesConfig): Promise<ModesResult["c"]> {
  if (!existsSync(CBIN)) return { status: "not built", records: [] };
  const r = await runCmd([CBIN, "--json", ...(cfg.quick ? ["--quick"] : [])], cfg.cTimeoutS);
  const records: CModesRecord[] = [];
  for (const l of r.out.split("\n")) {
    if (!l.startsWith("{")) continue;
    try {
      const j = JSON.parse(l);
      if (j.bench === "modes") records.push(j);
    } catch {}
  }
  if (r.timedOut) return { status: "timed out", records };
  if (r.code !== 0) return { status: "failed", detail: `exit ${r.code}: ${r.err.trim().split("\n").slice(-2).join(" | ")}`, records };
  return { status: "ok", records };
}

/** Per-thread instruction totals of one callgrind run (--separate-threads=yes). */
async function callgrindRun(mode: SendMode, size: number, n: number, timeoutS: number): Promise<Record<string, number> | string> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-cg-"));
  try {
    const r = await runCmd(
      ["valgrind", "--tool=callgrind", "--separate-threads=yes", `--callgrind-out-file=${dir}/cg.out`, CBIN, "--mode", mode, "--size", String(size), "-n", String(n), "--valgrind"],
      timeoutS,
    );
    if (r.timedOut) return "timed out";
    if (r.code !== 0) return `exit ${r.code}: ${r.err.trim().split("\n").slice(-2).join(" | ")}`;
    const threads: Record<string, number> = {};
    for (const f of readdirSync(dir)) {
      const m = /-(\d+)$/.exec(f);
      const txt = readFileSync(join(dir, f), "utf8");
      const tot = /^(?:summary|totals):\s+(\d+)/m.exec(txt);
      if (m && tot) threads[String(Number(m[1]))] = Number(tot[1]);
    }
    return threads;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Thread numbers in bench_modes (creation order): 1 sender (main), 2 receiver, 3 copy thread, 4 publisher's waiter. */
const THREAD_NAMES: Record<string, string> = { "1": "sender", "2": "receiver", "3": "copy", "4": "waiter" };

async function callgrind(cfg: ModesConfig): Promise<ModesResult["callgrind"]> {
  if (!cfg.callgrind) return { status: "not run (pass --callgrind)", cells: [] };
  if (!existsSync(CBIN)) return { status: "not built", cells: [] };
  const v = await runCmd(["valgrind", "--version"], 10).catch(() => null);
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

/* ------------------------------------------------------------------ parallelism probe */

const PROBE = {
  alu: "let x=0;const t=Bun.nanoseconds();for(let i=0;i<2e8;i++)x=(x*1664525+1013904223)|0;console.log((Bun.nanoseconds()-t)/1e6,x&1)",
  copy: "const a=new Uint8Array(16<<20).fill(1),b=new Uint8Array(16<<20);b.set(a);const t=Bun.nanoseconds();for(let i=0;i<40;i++)b.set(a);console.log((Bun.nanoseconds()-t)/1e6,b[9])",
};
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

/* ------------------------------------------------------------------ section */

export async function modesSection(cfg: ModesConfig, log: (s?: string) => void): Promise<ModesResult> {
  const t0 = performance.now();
  const cal = calibrate();
  let passes = cfg.passes;
  const llc = llcBytes();
  const engine = swEngine({ threads: 1, chunkBytes: cfg.chunkBytes });
  log(`receiver work: ${passes > 0 ? `${passes} Bun.hash pass(es) per byte (FERRY_BENCH_WORK)` : "calibrated below"}; at 16 MiB in this process: dst.set ${cal.copy_gbps.toFixed(1)} GB/s, Bun.hash ${cal.hash_gbps.toFixed(1)} GB/s`);
  log(`engine: swEngine({ threads: 1, chunkBytes: ${fmtSize(cfg.chunkBytes)} }); receiver pieces / pipelined chunks of ${fmtSize(cfg.chunkBytes)}; LLC ${llc ? fmtSize(llc) : "unknown"}`);
  const par = await parallelism().catch(() => null);
  if (par)
    log(`parallelism probe: two processes at once get ${par.alu_speedup.toFixed(2)}x (ALU loop) / ${par.copy_speedup.toFixed(2)}x (16 MiB copies) the work of one alone (2.00x = two full CPUs)`);
  const res: ModesResult = {
    parallelism: par,
    config: { passes, passes_calibrated: cfg.passes <= 0, chunk_bytes: cfg.chunkBytes, engine: "sw, 1 thread", llc_bytes: llc, calibration: { copy_gbps: +cal.copy_gbps.toFixed(2), hash_gbps: +cal.hash_gbps.toFixed(2) } },
    latency: [], limits: [], throughput: [], cpu: [], hotcold: [],
    c: { status: "not run", records: [] }, callgrind: { status: "not run", cells: [] }, seconds: 0,
  };
  try {
    log("\n-- 5a. end-to-end latency (send start -> receiver processed every byte), median");
    const l = await latency(cfg, engine, passes, (s) => log(s));
    passes = res.config.passes = l.passes;
    res.latency = l.cells;
    res.limits = l.limits;
    log(table(["size", "inline", "offload", "pipelined", "copy", "work", "limit", "inline/limit", "offload/limit", "pipelined/limit", "pipelined vs inline"], res.limits.map((x) => {
      const g = (m: SendMode) => res.latency.find((c) => c.mode === m && c.size === x.size)!;
      return [fmtSize(x.size), fmtNs(g("inline").median_ns), fmtNs(g("offload").median_ns), fmtNs(g("pipelined").median_ns), fmtNs(x.copy_ns), fmtNs(x.work_ns), fmtNs(x.limit_ns),
        x.ratio.inline.toFixed(2), x.ratio.offload.toFixed(2), x.ratio.pipelined.toFixed(2), `${((1 - g("pipelined").median_ns / g("inline").median_ns) * 100).toFixed(0)}% lower`];
    })));
    log("copy = inline sendSync time, work = receiver's processing of a complete message (both from the inline runs); limit = max(copy, work)");
    if (par) {
      const S = Math.min(2, Math.max(1, par.copy_speedup));
      log(`with the probe's ${S.toFixed(2)}x, two stages that share these CPUs cannot beat (copy + work) / ${S.toFixed(2)}: ` +
        res.limits.map((x) => `${fmtSize(x.size)} ${fmtNs(Math.max(x.limit_ns, (x.copy_ns + x.work_ns) / S))} (pipelined ${(res.latency.find((c) => c.mode === "pipelined" && c.size === x.size)!.median_ns / Math.max(x.limit_ns, (x.copy_ns + x.work_ns) / S)).toFixed(2)}x of it)`).join(", "));
    }

    log("\n-- 5b. stream throughput with producer work per message, receiver only touches (sleeps when idle)");
    if (passes <= 0) passes = res.config.passes = cal.passes;
    const st = await streams(cfg, engine);
    res.throughput = st.tput;
    res.cpu = st.cpu;
    const kinds = ["inline", "offload", "pipelined", "work-only", "copy-only"];
    log(table(["size", "producer passes", ...kinds.map((k) => `${k} GB/s`), "offload/inline"], cfg.tputSizes.map((s) => {
      const g = (k: string) => res.throughput.find((x) => x.mode === k && x.size === s)?.gbps ?? NaN;
      return [fmtSize(s), res.throughput.find((x) => x.size === s)?.producer_passes ?? "-", ...kinds.map((k) => g(k).toFixed(2)), `${(g("offload") / g("inline")).toFixed(2)}x`];
    })));
    log("work-only: the producer's work alone; copy-only: inline sends without work (the copy alone). Ideal offload = min(work-only, copy-only)");

    log("\n-- 5c. sender CPU per GiB moved (no producer work)");
    log(table(["size", "mode", "sending thread CPU/GiB", "process CPU/GiB", "wall/GiB"], res.cpu.map((c) => [fmtSize(c.size), c.mode, fmtNs(c.thread_ns_per_gib), fmtNs(c.process_ns_per_gib), fmtNs(c.wall_ns_per_gib)])));

    log("\n-- 5d. hot vs cold: receiver's read (one Bun.hash pass) right after arrival");
    res.hotcold = await hotCold(cfg, engine, llc);
    log(table(["size", "fits LLC", "mode", "cache", "read", "read GB/s", "sender copy"], res.hotcold.map((h) => [fmtSize(h.size), h.fits_llc ? "yes" : "no", h.mode, h.cache, fmtNs(h.read_ns), h.read_gbps.toFixed(2), fmtNs(h.copy_ns)])));

    log("\n-- 5e. C: bench_modes (one process: sending thread, receiver thread, sw copy thread)");
    res.c = await cBench(cfg);
    log(`bench_modes: ${res.c.status}${res.c.detail ? ` (${res.c.detail})` : ""}`);
    if (res.c.records.length)
      log(table(["mode", "size", "n", "wall/msg", "sending thread CPU/msg"], res.c.records.map((r) => [r.mode, fmtSize(r.size), r.n, fmtNs(r.ns_per_msg), fmtNs(r.sender_cpu_ns_per_msg)])));
    res.callgrind = await callgrind(cfg);
    log(`callgrind: ${res.callgrind.status}${res.callgrind.detail ? ` (${res.callgrind.detail})` : ""}`);
    if (res.callgrind.cells.length)
      log(table(["mode", "size", "sender Ir/msg", "all threads Ir/msg", "per thread"], res.callgrind.cells.map((c) => [c.mode, fmtSize(c.size), Math.round(c.sender_ir), Math.round(c.all_ir),
        Object.entries(c.threads).map(([k, v]) => `${k} ${Math.round(v)}`).join(", ")])));
  } finally {
    engine.close();
    res.seconds = +((performance.now() - t0) / 1000).toFixed(1);
  }
  return res;
}

/* ------------------------------------------------------------------ targets + plot */

/** One target line of the harness (shared by every section). */
export interface Target {
  id: string;
  name: string;
  goal: string;
  measured: string;
  status: "PASS" | "MISS" | "not measured";
  gap: string;
  /** Context from the same run (other wait modes, the C and peer numbers). */
  note?: string;
}

export function modesTargets(r: ModesResult | null, cores: number): Target[] {
  const out: Target[] = [];
  const l64 = r?.limits.find((x) => x.size === 64 * MiB);
  const g = (m: SendMode) => r?.latency.find((c) => c.mode === m && c.size === 64 * MiB);
  if (l64) {
    const v = l64.ratio.pipelined;
    const pass = v <= 1.15;
    out.push({
      id: "pipelined-vs-limit", name: "pipelined end-to-end latency at 64 MiB vs max(copy, work)", goal: "<= 1.15x", measured: `${v.toFixed(2)}x`,
      status: pass ? "PASS" : "MISS", gap: pass ? `${(1.15 / v).toFixed(2)}x headroom` : `${(v / 1.15).toFixed(2)}x over`,
      note: `same run: pipelined ${fmtNs(g("pipelined")!.median_ns)} vs inline ${fmtNs(g("inline")!.median_ns)} (${((1 - g("pipelined")!.median_ns / g("inline")!.median_ns) * 100).toFixed(0)}% lower), limit ${fmtNs(l64.limit_ns)} (copy ${fmtNs(l64.copy_ns)}, work ${fmtNs(l64.work_ns)})`,
    });
  } else out.push({ id: "pipelined-vs-limit", name: "pipelined end-to-end latency at 64 MiB vs max(copy, work)", goal: "<= 1.15x", measured: "n/a", status: "not measured", gap: "" });
  const t = (m: string) => r?.throughput.find((x) => x.mode === m && x.size === 16 * MiB)?.gbps;
  const oi = t("offload") && t("inline") ? t("offload")! / t("inline")! : undefined;
  out.push({
    id: "offload-vs-inline", name: `stream of 16 MiB messages with producer work, offload vs inline throughput (${cores} cores)`, goal: ">= 1.5x",
    measured: oi ? `${oi.toFixed(2)}x` : "n/a", status: oi === undefined ? "not measured" : oi >= 1.5 ? "PASS" : "MISS",
    gap: oi === undefined ? "" : oi >= 1.5 ? `${(oi / 1.5).toFixed(2)}x above` : `needs ${(1.5 / oi).toFixed(2)}x more`,
    note: oi ? `same run: inline ${t("inline")!.toFixed(2)}, offload ${t("offload")!.toFixed(2)}, pipelined ${t("pipelined")!.toFixed(2)} GB/s; work alone ${t("work-only")!.toFixed(2)}, copy alone ${t("copy-only")!.toFixed(2)} GB/s (ideal offload/inline ${((1 / t("work-only")! + 1 / t("copy-only")!) / Math.max(1 / t("work-only")!, 1 / t("copy-only")!)).toFixed(2)}x)` : undefined,
  });
  const par = r?.parallelism;
  if (par) for (const t of out) if (t.note) t.note += `; this machine: two processes at once get ${par.alu_speedup.toFixed(2)}x (ALU) / ${par.copy_speedup.toFixed(2)}x (copies) of one`;
  return out;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const sizeLabel = (n: number) => (n >= MiB ? `${n / MiB}M` : `${n / KiB}K`);

/** Two log-log panels: end-to-end latency vs size (with the limit) and stream throughput vs size, per mode. */
export function modesSvg(r: ModesResult, subtitle: string): string {
  const W = 980, H = 470;
  const colors: Record<string, string> = { inline: "#d62728", offload: "#1f77b4", pipelined: "#2ca02c", limit: "#555555", "work-only": "#9467bd", "copy-only": "#8c564b" };
  const o: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  o.push(`<text x="60" y="24" font-size="16" font-weight="bold">Ferry copy engines and modes: inline vs offload vs pipelined (two Bun processes)</text>`);
  o.push(`<text x="60" y="42" fill="#555">${esc(subtitle)}</text>`);
  const panel = (x0: number, title: string, ylab: string, series: { label: string; color: string; dash?: string; pts: { x: number; y: number }[] }[], fmtY: (v: number) => string) => {
    const m = { l: x0 + 60, t: 80, w: 340, h: 300 };
    const all = series.flatMap((s) => s.pts).filter((p) => p.y > 0 && Number.isFinite(p.y));
    if (!all.length) return;
    const xs = [...new Set(all.map((p) => p.x))].sort((a, b) => a - b);
    const x1 = Math.log2(xs[0]!), x2 = Math.log2(xs.at(-1)!);
    const y1 = Math.log10(Math.min(...all.map((p) => p.y)) / 1.3), y2 = Math.log10(Math.max(...all.map((p) => p.y)) * 1.3);
    const X = (v: number) => m.l + (x2 === x1 ? m.w / 2 : ((Math.log2(v) - x1) / (x2 - x1)) * m.w);
    const Y = (v: number) => m.t + m.h - ((Math.log10(v) - y1) / Math.max(1e-9, y2 - y1)) * m.h;
    o.push(`<text x="${m.l}" y="${m.t - 10}" font-weight="bold">${esc(title)}</text>`);
    for (let d = Math.floor(y1); d <= Math.ceil(y2); d++)
      for (const k of [1, 2, 5]) {
        const v = k * 10 ** d;
        if (Math.log10(v) > y2 || Math.log10(v) < y1) continue;
        o.push(`<line x1="${m.l}" x2="${m.l + m.w}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="${k === 1 ? "#ccc" : "#eee"}"/>`);
        o.push(`<text x="${m.l - 6}" y="${Y(v).toFixed(1)}" text-anchor="end" dominant-baseline="middle" fill="${k === 1 ? "#000" : "#888"}">${fmtY(v)}</text>`);
      }
    for (const s of xs) {
      o.push(`<line x1="${X(s).toFixed(1)}" x2="${X(s).toFixed(1)}" y1="${m.t}" y2="${m.t + m.h}" stroke="#eee"/>`);
      o.push(`<text x="${X(s).toFixed(1)}" y="${m.t + m.h + 16}" text-anchor="middle">${sizeLabel(s)}</text>`);
    }
    o.push(`<rect x="${m.l}" y="${m.t}" width="${m.w}" height="${m.h}" fill="none" stroke="#333"/>`);
    o.push(`<text x="${m.l + m.w / 2}" y="${m.t + m.h + 34}" text-anchor="middle">message size (log scale)</text>`);
    o.push(`<text transform="translate(${x0 + 14} ${m.t + m.h / 2}) rotate(-90)" text-anchor="middle">${esc(ylab)}</text>`);
    series.forEach((s, i) => {
      const pts = s.pts.filter((p) => p.y > 0 && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
      if (!pts.length) return;
      o.push(`<path d="${pts.map((p, j) => `${j ? "L" : "M"}${X(p.x).toFixed(1)} ${Y(p.y).toFixed(1)}`).join(" ")}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
      for (const p of pts) o.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="2.8" fill="${s.color}"><title>${esc(s.label)} ${sizeLabel(p.x)}: ${fmtY(p.y)}</title></circle>`);
      const ly = m.t + 12 + i * 16;
      o.push(`<line x1="${m.l + 8}" x2="${m.l + 30}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
      o.push(`<text x="${m.l + 34}" y="${ly}" dominant-baseline="middle">${esc(s.label)}</text>`);
    });
  };
  const ms = (v: number) => (v >= 1e6 ? `${+(v / 1e6).toPrecision(3)} ms` : `${+(v / 1e3).toPrecision(3)} µs`);
  panel(0, "end-to-end latency (median), receiver hashes every byte", "send start → receiver done", [
    ...MODES.map((m) => ({ label: m, color: colors[m]!, pts: r.latency.filter((c) => c.mode === m).map((c) => ({ x: c.size, y: c.median_ns })) })),
    { label: "limit max(copy, work)", color: colors.limit!, dash: "5 4", pts: r.limits.map((l) => ({ x: l.size, y: l.limit_ns })) },
  ], ms);
  panel(490, "stream throughput, producer works per message", "GB/s (1e9 B/s)", [
    ...MODES.map((m) => ({ label: m, color: colors[m]!, pts: r.throughput.filter((c) => c.mode === m).map((c) => ({ x: c.size, y: c.gbps })) })),
    { label: "copy alone", color: colors["copy-only"]!, dash: "5 4", pts: r.throughput.filter((c) => c.mode === "copy-only").map((c) => ({ x: c.size, y: c.gbps })) },
    { label: "work alone", color: colors["work-only"]!, dash: "2 3", pts: r.throughput.filter((c) => c.mode === "work-only").map((c) => ({ x: c.size, y: c.gbps })) },
  ], (v) => (v >= 1 ? `${+v.toPrecision(3)}` : v.toPrecision(2)));
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}
