/**
 * The results JSON that run.ts writes (bench-results/<timestamp>.json,
 * latest.json) and report.ts reads: one field per section (sections/*.ts),
 * plus the run's context, the targets and the scale line.
 */
import type { WaitStrategy } from "@ferry/channel";

export type SectionName = "floor" | "latency" | "throughput" | "peers" | "c" | "modes" | "idle" | "http" | "coordinator" | "mq";

/* ------------------------------------------------------------------ latency, peers (Ferry side) */

/** A Ferry ping-pong between two processes (measure/pingpong.ts). */
export interface PingPong {
  wait: WaitStrategy;
  /** Idle time before each ping (0: back to back). */
  gap_ms?: number;
  size: number;
  replySize: number;
  send: "loan" | "copy";
  touch: boolean;
  /** How both sides take messages: "loop" = a tryReceive() loop (spin's default), "await" = await receive(), "listen" = subscriber.listen(). */
  receive?: "loop" | "await" | "listen";
  n: number;
  rtt_p50_ns: number;
  rtt_p99_ns: number;
  /** One-way latency = RTT/2. */
  p50_ns: number;
  p99_ns: number;
  min_ns: number;
}

/* ------------------------------------------------------------------ throughput */

export type TputMode = "zero-copy" | "zero-copy-nowrite" | "inline" | "memcpy";

export interface TputResult {
  mode: TputMode;
  size: number;
  /** Messages (or copies) per rep. */
  perRep: number;
  reps: number;
  gbps: number;
  median_ns: number;
  /** GB/s of every rep, in run order. */
  samples: number[];
}

/* ------------------------------------------------------------------ peers */

export interface RttStats { n: number; median_ns: number; min_ns: number; max_ns: number }

export interface LatStats { n: number; p50_ns: number; p99_ns: number }

export interface PeerResult {
  impl: "bun-ipc" | "unix-socket";
  /** Round trip of one 64 MiB message + small ack. */
  rtt: RttStats;
  /** One-way latency of 64 B, RTT/2. */
  lat64: LatStats;
}

export interface PeersResult {
  payload_bytes: number;
  others: PeerResult[];
  /** 64 MiB round trips through Ferry (loan per wait strategy, loan read in full, inline copy). */
  ferry_rtt: PingPong[];
  /** 64 B one-way latency per wait strategy (the latency section's rows when it ran). */
  ferry_64B: PingPong[];
}

/* ------------------------------------------------------------------ c */

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

/** bench_cold: libferry's request path after an idle gap, one process (native/bench/bench_cold.c). */
export interface CCold {
  bench: "cold";
  /** true: the subscriber is armed, so the send formats the wake address and sends the datagram. */
  armed: boolean;
  phase: "send" | "take" | "release";
  gap_us: number;
  p50_ns: number;
  p90_ns: number;
}

export type CRecord = CPingPong | CThroughput | CCold;

export interface CRun {
  name: string;
  command: string[] | null;
  status: "ok" | "not built" | "skipped" | "failed" | "timed out";
  detail?: string;
  seconds?: number;
  records: CRecord[];
}

/* ------------------------------------------------------------------ modes */

export type SendMode = "inline" | "offload" | "pipelined";
export const MODES: SendMode[] = ["inline", "offload", "pipelined"];

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

export interface LatLimit { size: number; copy_ns: number; work_ns: number; limit_ns: number; ratio: Record<SendMode, number> }

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

export interface CModesRecord { bench: "modes"; mode: SendMode; size: number; n: number; ns_per_msg: number; sender_cpu_ns_per_msg: number }

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
  /** 5f: the dsa engine (emulated device unless DSA hardware is found) vs sw, offload send median. */
  engines?: { device: string; reason: string; cells: EngineOverheadCell[] };
  seconds: number;
}

export interface EngineOverheadCell {
  size: number;
  sw_ns: number;
  dsa_ns: number;
  /** dsa_ns / sw_ns */
  ratio: number;
}

/* ------------------------------------------------------------------ the run */

/** One target line of the harness (lib/target.ts builds them). */
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

export interface Machine {
  libferry: { path: string; mtime: string; size: number };
  cpu: string;
  cores: number;
  /** The LLC size as sysfs gives it ("266240K"), "" when unknown. */
  l3: string;
  memory_gib: number;
  kernel: string;
  virtualized: boolean;
  bun: string;
  ferry: string;
  platform: string;
}

export interface CpuNoise {
  /** CPU used by other processes, as a fraction of all cores. */
  foreign: number;
  busiest: string[];
}

/** What each section contributes: its field of the JSON. */
/** One row of the idle-gap section: a request every gap_ms, round trip, 64 B both ways. */
export interface IdleRow {
  /** "idle-cpu": a subscriber awaiting receive() with nothing published, cpu_pct of one core. */
  impl: "ferry" | "unix-socket" | "idle-cpu";
  /** Ferry: both sides' wait strategy ("hybrid" is the default). */
  wait: WaitStrategy | null;
  /** Ferry: how both sides take messages, `await receive()` or subscriber.listen(); absent: receive. */
  api?: "receive" | "listen";
  gap_ms: number;
  n: number;
  rtt_p50_ns: number;
  rtt_p99_ns: number;
  /** idle-cpu rows: CPU time of the waiting subscriber process over the wall time, in % of one core. */
  cpu_pct?: number;
  /**
   * "fresh": the first gapped round trips of new processes (the JS on both sides still in the JIT's
   * first tiers); "steady": the same after IdleOptions.jitWarm back-to-back round trips through every
   * transport, as in a service that has run a while (the targets' rows). Absent in results before it.
   */
  phase?: "fresh" | "steady";
  /** Request bytes; absent: 64 (answered with 64 B). Above 64: an upload answered with 1 byte (section 6's upload rows). */
  size?: number;
}

/* ------------------------------------------------------------------ http */

/** ferry: @ferry/http; ipc: Bun.spawn IPC; proxy: fetch to workers on Unix sockets; floor: the front only reads the body. */
export type HttpImpl = "ferry" | "ipc" | "proxy" | "floor";

/** One load of the http section: `n` POSTs of `size` bytes, `conc` at a time, from a client process. */
export interface HttpCell {
  impl: HttpImpl;
  /** hash: the worker hashes the body and answers a small JSON; echo: the body comes back. */
  path: "hash" | "echo";
  size: number;
  conc: number;
  n: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  wall_s: number;
  /** Requests that failed (status or length). */
  bad: number;
}

export interface HttpResult {
  /** How the load was made (which client and why). */
  client: string;
  cells: HttpCell[];
  /** Fronts that failed to start or run, with why. */
  errors: string[];
}

/**
 * The Bun Atomics floor (sections/floor.ts), or null when not measured; spin_*: Bun spin
 * 64 B one-way (a tryReceive loop) in sessions interleaved with the floor's, round by round.
 */
export type FloorResult = { n: number; p50_ns: number; p99_ns: number; spin_n?: number; spin_p50_ns?: number; rounds?: number } | null;

/* ------------------------------------------------------------------ coordinator (section 8) */

/** One size x variant of section 8: end-to-end latency (send start -> receiver has every byte). */
export interface CoordCell {
  size: number;
  /** "auto", "inline", "offload/sw", "pipelined/sw", "offload/dsa-emulated", ... */
  variant: string;
  n: number;
  median_ns: number;
  /**
   * The median over rounds of auto's time / this variant's time in the same round. Steadier than the ratio
   * of the two medians where the times are bimodal (64 B here: 10-20 µs on one CPU, 35-55 µs when a halted
   * vCPU must wake; an A/A run read up to 1.08x as a ratio of medians, up to 1.04x per round).
   */
  auto_per_round: number;
}

/** Sending-thread CPU per GiB, inline vs auto under objective cpu. */
export interface CoordCpu {
  size: number;
  /** Bytes per round. */
  bytes: number;
  /** Rounds per variant (each number is the median round); absent in results from before rounds. */
  rounds?: number;
  inline_thread_ns_per_gib: number;
  auto_thread_ns_per_gib: number;
  inline_wall_ns_per_gib: number;
  auto_wall_ns_per_gib: number;
  ratio: number;
  /** What auto chose for this size. */
  choice: string;
}

export interface CoordResult {
  calibration: { source: string; ms: number; engines: string[]; note: string };
  variants: string[];
  cells: CoordCell[];
  /** What auto (objective latency) chose per size, at the end. */
  choices: Record<number, string>;
  cpu: CoordCpu[];
  seconds: number;
}

/* ------------------------------------------------------------------ mq */

/** ref-*: same-host reference (claim check; built in place with a loan, -copy: sent from private bytes, -trust: loan and the consumer skips the digest check); payload-*: the payload through the broker in chunks; obj-nats: @nats-io/obj. */
export type MqImpl = "ref-nats" | "ref-redis" | "ref-nats-copy" | "ref-nats-trust" | "payload-nats" | "payload-redis" | "obj-nats";

export interface MqCell {
  impl: MqImpl;
  size: number;
  n: number;
  msgs_s: number;
  mb_s: number;
  /** one message in flight: send → receive → ack */
  p50_ms: number;
  /** payloads that arrived wrong (length, digest, path) */
  bad: number;
}

export interface MqResult {
  method: string;
  brokers: string;
  cells: MqCell[];
  errors: string[];
}

export interface Results {
  floor: FloorResult;
  coordinator: CoordResult | null;
  http: HttpResult;
  mq: MqResult;
  latency: PingPong[];
  idle: IdleRow[];
  throughput: TputResult[];
  peers: PeersResult;
  c: CRun[];
  modes: ModesResult | null;
}

export interface Result extends Results {
  schema: 1;
  date: string;
  quick: boolean;
  /** The sections of --only, or null for all. */
  only: SectionName[] | null;
  machine: Machine;
  other_cpu_before: CpuNoise;
  other_cpu_during: Record<string, CpuNoise>;
  libferry_rebuilt_during_run: boolean;
  /** Sections that failed: their stack. */
  errors: Record<string, string>;
  /** Seconds in all and per section. */
  seconds: { total: number } & Record<string, number>;
  targets: Target[];
  scale: { iceoryx_64B_p50_ns: number | null; floor_64B_p50_ns: number | null };
}
