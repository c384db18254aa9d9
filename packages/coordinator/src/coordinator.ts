/**
 * The coordinator: a SendPolicy that decides, per message, the mode
 * (inline / offload / pipelined, or an offload split between the sending
 * thread and an engine), the engine, the chunk size, the cache placement and
 * the wait strategy from a calibrated profile, the objective, the engines'
 * health and backlog; and that learns from how its sends went (the split's
 * share, DTO-style; engine failures; stats).
 *
 * How a choice is made (decide() and explain() run the same code):
 *  1. candidates: inline (cpu), and per usable engine offload, pipelined and,
 *     when the engine copies on its own threads and the payload is >= 1 MiB,
 *     the split; each gets estimates from the profile: latency (send ->
 *     published, plus the engine's backlog), sender CPU, and busy time (the
 *     bottleneck of sender and engine per message);
 *  2. the objective's cost (latency: latency; throughput: busy; cpu: sender
 *     CPU), latency breaking ties; an engine mode must beat inline by 5% and
 *     a split the best other choice by 5% (calibration noise is no reason to
 *     leave the CPU);
 *  3. the best choice among engines that are unusable now (gone, failing,
 *     queue full) is noted as a fallback, with its reason;
 *  4. cache, chunk and wait follow from the choice and the size.
 */
import {
  Errno, FerryError, type Channel, type EngineLike, type FastInline, type Publisher, type Remembered, type SendContext, type SendDecision, type SendPolicy, type SendReport,
  type WaitStrategy,
} from "@ferry/channel";
import { Engine } from "@ferry/native";
import { detect as detectDsa, dsaEngine } from "@ferry/dsa-engine";
import { balancedShare, measureProfile, type CalibrationEngine } from "./calibrate";
import { coldFromBytes } from "./machine";
import { cacheDir, curveAt, curveOf, curveSlope, loadCached, perByte, predict, saveCached, type Curve, type EngineProfile, type Profile, type Series } from "./profile";
import { Recorder, shareStats, type FallbackKind, type FallbackRecord, type ChoiceStats } from "./stats";

export type Objective = "latency" | "throughput" | "cpu";
export const OBJECTIVES: readonly Objective[] = ["latency", "throughput", "cpu"];

const KiB = 1024;
const MiB = 1024 * KiB;
/** Smallest payload the coordinator splits between the CPU and an engine. */
export const SPLIT_MIN = MiB;
/** An engine mode must be this much better than inline; a split this much better than the best other choice. */
const MARGIN = 0.05;
/** Engine sends in flight per publisher that libferry allows (FERRY_MAX_JOBS); a few are left for explicit sends. */
const QUEUE_LIMIT = 60;

export interface CoordinatorOptions {
  /** What to optimise: "latency" (default), "throughput" (message rate of a sender doing nothing else), "cpu" (least sending-thread CPU). */
  objective?: Objective;
  /**
   * The engines to choose among besides the CPU: names ("sw", a loaded
   * plugin's) or Engine instances, optionally labelled. Default: "sw", plus
   * "dsa" where a usable DSA work queue exists (@ferry/dsa-engine's detect()).
   */
  engines?: (EngineLike | { label: string; engine: EngineLike })[];
  /**
   * Also consider the emulated DSA device (default false; env
   * FERRY_COORD_DSA_EMULATED=1). It is a correctness vehicle, never chosen
   * for speed unless asked for here, and then only on its measured numbers.
   */
  emulatedDsa?: boolean;
  /** Use this profile instead of measuring or the cache (synthetic profiles in tests, what-ifs). */
  profile?: Profile;
  /** Read and write the calibration cache (default true). */
  cache?: boolean;
  /** Measure even if a valid cached profile exists (default false). */
  recalibrate?: boolean;
  /**
   * The CPU + engine split: true (default) considers it like any other
   * choice; false never splits; "always" splits every message of at least
   * SPLIT_MIN (1 MiB) over the best async engine (the sending thread always
   * helps; the share is still tuned from feedback).
   */
  split?: boolean | "always";
  /** Measurement budget, ms (default 900). */
  budgetMs?: number;
}

export interface ExplainOptions {
  /** Another objective for this question (default: the coordinator's). */
  objective?: Objective;
  /** Whether the receiver is waiting for this message (default: read from `channel` if given, else assumed). */
  receiverWaiting?: boolean;
  /** Ask as if for a send on this channel (its readers decide cache placement). */
  channel?: Channel;
  /** Engine sends in flight on the publisher (queue-full check). */
  pending?: number;
}

/** One candidate's estimates (ns). */
export interface Estimate {
  choice: string;
  latencyNs: number;
  cpuNs: number;
  busyNs: number;
  /** Why it was not considered, when it was not. */
  excluded?: string;
}

export interface Explanation {
  mode: "inline" | "offload" | "pipelined";
  /** "cpu" for inline, else the engine's label. */
  engine: string;
  chunkBytes: number;
  cache: "hot" | "cold";
  wait: WaitStrategy;
  /** The wait's spin budget, ns (0 for block). */
  spinNs: number;
  /** The CPU + engine split's CPU share (offload only; 0: no split). */
  cpuShare: number;
  objective: Objective;
  size: number;
  reasons: string[];
  estimates: Estimate[];
  /** The fallback this decision is, if any. */
  fallback?: { kind: FallbackKind; engine: string; reason: string };
}

type Health = "ok" | "failing" | "probing" | "gone";

interface EngineState {
  label: string;
  engine: EngineLike;
  /** the instance (opened lazily for names) */
  name: string;
  prof: EngineProfile;
  /** prof's series as curves (profile.ts Curve): what decisions and learning read */
  c: { offload: Curve; pipelined: Curve; offloadCpu: Curve; pipelinedCpu: Curve };
  health: Health;
  reason: string;
  until: number;
  cooldownMs: number;
  inflight: number;
  inflightBytes: number;
  /** the most sends in flight at once since the engine was last idle (1: each ran alone; observe() learns only from those) */
  busyMax: number;
  /**
   * Splits per size class (a power of two, rounded: SplitClass), created by the first trial.
   * A split is trusted only where one ran in this process and beat the best choice without a split
   * (the calibration measures it in-process, with nobody else on the CPUs: on two vCPUs with a
   * receiver a 16 MiB split it put at 0.42 ms took 0.8-1 ms, slower than inline, while 64 and
   * 256 MiB splits took 0.72-0.78x inline's time). Until then, decide() sends one trial split
   * of that class when the split would win, then waits (1 s, doubling to 60 s after each
   * losing trial) before the next; explain() says so.
   */
  classes: Map<number, SplitClass>;
  /**
   * The calibration's split as measured / the model at the calibrated share, per measured size
   * (empty: none measured; 1 everywhere). The time a split loses to wake-ups and to sharing the
   * memory bandwidth is not one factor: on this kind of VM it was 2.6x the model at 16 MiB and
   * 1.4x at 64 MiB in one profile; one median for all sizes kept 64 MiB splits out.
   */
  splitCal: Series;
  /** the split's CPU share, tuned from feedback */
  share: number;
  splitSamples: number;
  /**
   * the split's CPU part as seen / the inline profile's time for those bytes (EWMA): copying beside an
   * engine shares the memory bandwidth (and, on few cores, the CPU), so the part is slower than alone
   */
  cpuCorr: number;
  /** observed engine copy time / the profile's (EWMA over split parts and large sends): the profile corrected online */
  engCorr: number;
  engSamples: number;
  /**
   * pipelined sends as seen / the profile's, over the engine's rate correction (EWMA): a pipelined send
   * publishes and wakes the reader per chunk, and beside a receiver on few CPUs that costs far more than
   * in calibration (section 8: 1.3 ms vs 0.55 ms at 16 MiB); the engine's copy rate is not what moved
   */
  pipeCorr: number;
  /** pipelined sends learnt from in this process; the pipelined correction the cached profile has (EngineProfile.pipelinedLearnt, 1 without) */
  pipeSamples: number;
  pipeSaved: number;
  /** the last five ratios (seen / expected) engCorr and pipeCorr learn from (towardsMedian), seeded with the correction itself */
  engSeen: number[];
  pipeSeen: number[];
  /** engCorr's relaxation (#maybeRelax; pipeCorr does not relax: the pipelined mode's own cost is the machine's, e.g. the per-chunk wake-ups on two vCPUs) */
  engRelax: Relaxing;
  /** engCorr > 1 is what keeps this engine out of sizes being sent (#pricedOut): only then it relaxes; cleared when the engine is chosen */
  pricedOut: boolean;
  errors: number;
  /** share and cpuCorr when remembered decisions were last invalidated, engCorr and pipeCorr when the fast tier was last told (Coordinator.#moved) */
  memoAt: { engCorr: number; share: number; cpuCorr: number; pipeCorr: number };
  /**
   * Per inline size class (from LARGE up): when this engine was last seen there (a sequence number, 0: never) and the
   * class's inline correction then (0: inline's level there was not settled yet). Read by Coordinator.#drift.
   */
  drift: { at: Float64Array; inl: Float64Array };
}

/** How an engine's learnt rate relaxes (RELAX_MS). */
interface Relaxing {
  /** performance.now() when the correction last learnt from a send or relaxed */
  at: number;
  /** how long it waits unconfirmed before relaxing: RELAX_MS, doubled (to RELAX_MAX_MS) each time a send after a relaxation priced the choice out again */
  ms: number;
  /** the coordinator's decisions (#decided) at `at`: it also waits RELAX_SENDS × ms / RELAX_MS of them */
  n: number;
  /** the correction a relaxation left (the sends through it next are its trial), 0 when none */
  trial: number;
  /** sends learnt from since the relaxation (the trial's verdict comes within three) */
  trialSends: number;
}

/** What the coordinator knows of splits of one size class on one engine (EngineState.classes). */
interface SplitClass {
  /** a split of this class ran here and beat the best choice without one */
  trusted: boolean;
  /** why the last trial lost ("" if none did) */
  lost: string;
  /**
   * The next trial comes at trialAt (performance.now() ms) or after `every` sends of this class
   * left out (`since` counts them), whichever is first: a loss waits 1 s, doubling per lost trial
   * up to 60 s; a near miss (SPLIT_NEAR_MISS) also ends after 2 sends, doubling up to 64 (a class's
   * first split runs cold: in section 8 the first 64 MiB split took 4.6 ms against inline's
   * expected 4.4-4.5 and the later ones 2.8-3.3); while a trial runs, `every` is Infinity.
   */
  trialAt: number;
  trialMs: number;
  every: number;
  everyNext: number;
  since: number;
  /** ns per byte of the splits of this class as seen (send -> published; EWMA, NaN until one ran): their estimate from then on */
  nsPerByte: number;
  samples: number;
  /** the last three splits' ns per byte as seen, the newest last: from the third on, the EWMA follows their median (#tuneSplit) */
  seen: number[];
}
/** Splits' size classes: log2 of the size, rounded (48 MiB .. 90 MiB is the 64 MiB class). */
function classOf(size: number): number {
  const s = Math.max(1, size);
  // (whole sizes below 2^31 from a table: Math.log2 is a call into libm, which #choose makes per engine and which
  // costs a few µs when its code is cold; the table holds the same answers, found with Math.log2 itself)
  if (s < 2 ** 31 && Number.isInteger(s)) {
    const e = 31 - Math.clz32(s);
    return s >= CLASS_UP[e]! ? e + 1 : e;
  }
  return Math.round(Math.log2(s));
}
/** CLASS_UP[e]: the least whole size in [2^e, 2^(e+1)) whose class is e + 1 (classOf). */
const CLASS_UP = Array.from({ length: 31 }, (_, e) => {
  let lo = 2 ** e, hi = 2 ** (e + 1); // Math.round(Math.log2(lo)) is e; hi's is e + 1
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (Math.round(Math.log2(mid)) > e) hi = mid;
    else lo = mid;
  }
  return hi;
});
/** A lost trial's next one comes after this many sends of its class at most, doubling per lost trial up to SPLIT_TRIAL_MAX_SENDS (SplitClass). */
const SPLIT_TRIAL_SENDS = 2;
/** A lost trial within this factor of the choice without a split is a near miss: tried again after SPLIT_TRIAL_SENDS sends (else after the cool-down only). */
const SPLIT_NEAR_MISS = 1.1;
/** SPLIT_NEAR_MISS for a size class's first split past the cache's knee, which runs cold (#judgeSplit): its loss within this factor is a near miss. */
const SPLIT_FIRST_NEAR_MISS = 1.35;
const SPLIT_TRIAL_MAX_SENDS = 64;
/** After a split lost its trial, the next trial waits this long, doubling per lost trial up to SPLIT_TRIAL_MAX_MS (SplitClass). */
const SPLIT_TRIAL_MS = 1000;
const SPLIT_TRIAL_MAX_MS = 60_000;
/**
 * What a split would have taken with the CPU share `share` (the share after tuning on it, #tuneSplit), at the
 * rates its two parts ran at: each part's time scaled to its new size, the longer one, plus what the send took
 * besides the parts (loan, publish; `other` false: not that, the parts only). When the engine's part was done
 * first, it is taken to have needed all of the CPU part's time (its rate is known only as at least that).
 */
function balancedNs(s: NonNullable<SendReport["split"]>, ns: number, share: number, other: boolean): number {
  const n = s.cpuBytes + s.engineBytes;
  const parts = s.cpuNs + s.waitNs;
  if (!(s.cpuBytes > 0 && s.cpuNs > 0 && parts > 0 && n > 0)) return ns;
  const rest = other ? Math.max(0, ns - parts) : 0;
  const cpu = (share * n * s.cpuNs) / s.cpuBytes;
  const eng = s.engineBytes > 0 ? ((1 - share) * n * (s.engineFirst ? s.cpuNs : parts)) / s.engineBytes : 0;
  return Math.max(cpu, eng) + rest;
}
/** A size class nothing is known of yet (read-only: explain() and crossovers() never create classes; #classFor copies it). */
const NO_CLASS: Readonly<SplitClass> = Object.freeze({
  trusted: false, lost: "", trialAt: 0, trialMs: SPLIT_TRIAL_MS, every: Infinity, everyNext: SPLIT_TRIAL_SENDS, since: 0, nsPerByte: NaN, samples: 0, seen: Object.freeze([]) as unknown as number[],
});

interface MemoEntry {
  size: number;
  waiting: boolean;
  version: number;
  /** the publisher's queue was full (pending >= QUEUE_LIMIT) */
  full: boolean;
  /** each engine's inflightBytes (its backlog) when decided */
  loads: number[];
  /**
   * The learnt inline correction of the size's class (#inlineCorr, sizes >= LARGE) may move within [lo, hi] before
   * the decision could change: computed from the choices' estimates when it was made (#inlineBand).
   */
  lo: number;
  hi: number;
  /**
   * Every engine's learnt rate and pipelined correction when decided (engCorr, pipeCorr per engine, in
   * #engines order), and the factor each may move by either way before the decision could change: MEMO_DRIFT
   * until one moved further, then what #engineBand finds (null: not looked for yet). The memo follows these
   * corrections by this band, not by #version.
   */
  corr: number[];
  tol: number[] | null;
  /** the split size class it left out, if any: it stands only until that class's next trial is due (#recall) */
  gate: SplitClass | null;
  decision: Tagged;
}

/** An engine (a decision's EngineState, if it has one) is not a closed Engine: #memoOk asks it of every engine, #take of the decision's own. */
function open(st: EngineState | undefined): boolean {
  return st === undefined || typeof st.engine === "string" || !st.engine.closed;
}

/**
 * May a decision remembered with split class `g` left out stand for one more send? Yes (counting the send) until
 * the class's next trial is due (by count or time) or it is trusted; always without a class.
 */
function leftOut(g: SplitClass | null): boolean {
  if (g === null) return true;
  if (g.trusted || g.since >= g.every || performance.now() >= g.trialAt) return false; // its next trial is due
  g.since++; // one more send of that class left out
  return true;
}

const MEMO_SLOTS = 64;
/** How far a learnt correction may drift before remembered decisions are dropped (timings jitter by a few % per message). */
const MEMO_DRIFT = 0.05;
/**
 * The bands a remembered engine decision tries for the correction its own sends teach (#engineBand: the engine's
 * rate for an offload, its pipelined correction for a pipelined send), widest first: the decision stands while that
 * correction stays within the band and every other within MEMO_DRIFT, when the choice is the same with all of them
 * at the far end against it; else within MEMO_DRIFT, as every decision did before. A stream of 4 MiB offloads on
 * this VM moves its engine's rate by 10-30% now and then (a send preempted by the wake-up it caused takes 1.5-2x
 * as long, and the median of five flips between the two), and each move past MEMO_DRIFT made the sends after it
 * decide afresh, 30-250 µs each before the copy with the coordinator's code cold (one-off timings; the count of
 * fresh decisions: tools/auto-pieces.ts with INLINE_SCALE=6, 26-61 of 230 sends before, 8-12 with the band).
 */
const ENGINE_BANDS = [1.5, 1.25];
/**
 * The fast tier follows learnt corrections (#moved, #learnInline) at most this often:
 * rebuilding it runs #choose over the grid up to LARGE (~130 sizes, 60-130 µs), and
 * a stream of engine sends moves the engine's correction by more than MEMO_DRIFT
 * every few messages (section 8b: that was ~35 µs per 16 MiB send of the sending
 * thread's CPU). A change of an engine's health rebuilds it at the next send.
 */
const TIER_LEARN_MS = 250;
/**
 * An engine's learnt rate (EngineState.engCorr) that no send through the engine has confirmed for this long
 * moves half way back to the calibration (in log terms), and again every interval after: an engine priced
 * out by a slow spell (load, another process on the engine's CPUs) is tried again, and relearnt if it is
 * still slow; a trial that shows it slow again doubles the interval (to RELAX_MAX_MS). The pipelined
 * correction (pipeCorr) does not relax: it is the mode's cost on this machine (per-chunk wake-ups, ~2x on
 * two vCPUs), and relaxing it made section 8 here try pipelined sends of 64-256 MiB again and again and
 * judge trusted splits against their too-cheap estimate (geomean 1.08x against 0.95-1.0x).
 */
const RELAX_MS = 250;
const RELAX_MAX_MS = 60_000;
/**
 * ... and waits this many of the coordinator's decisions (sends above the fast tier) as well, doubling with the
 * interval: in a sparse stream (the demo's requests ~300 ms apart, tools/auto-sparse.ts) RELAX_MS alone had a
 * priced-out engine relax, and be tried again, at nearly every send; in a stream (section 8) the interval is
 * what counts, as before.
 */
const RELAX_SENDS = 8;
/** From this size inline copies teach the coordinator their real cost (#learnInline): memory bound, and long enough (≥ ~400 µs) that a wake-up preempting the send (the receiver woken onto this CPU) is a small error. */
const LARGE = 8 * 1024 * 1024;
/**
 * Cache placement learnt from the copies themselves (#learnPlace): inline copies from this size up (and below
 * coldFrom, where every copy is cold) teach how hot and cold copies run here against their calibration. A hot
 * copy writes through the cache and is fast only when its destination is there already: in a stream of sends
 * into warm arena slots (section 8, 100 µs apart) hot copies took 45.6 / 136 µs against cold ones' 59.5 / 168 µs
 * at 1 / 4 MiB, while after a 20 ms idle gap hot took 146 / 460 µs against cold 117 / 368 µs, and with a fresh
 * source buffer per send (a worker filling a new tensor: its page faults evict the destination) 63 / 186 µs
 * against 59 / 126 µs (tools/auto-cost.ts, plain, with GAP_MS=20 and with FRESH=1; one run each). The
 * calibration times each placement in a run of its own, so it sees the warm case only.
 */
const PLACE_MIN = 512 * 1024;
/**
 * Hot copies running at least this much slower than calibrated (the median of a class's last five, a window
 * that starts with five 1s: three slow copies move it) say their destination is not in cache: cold ones are
 * tried. A median, not the learnt EWMA: section 8's warm 4 MiB stream has hot copies at 0.95-1.2x with one at
 * 1.5-1.6x now and then, and such a spike had lifted the EWMA past 1.25 and sent 13 cold copies there.
 */
const PLACE_SLOW = 1.25;
/**
 * Copies of a placement a size class must have seen before they may change its placement: the first copies of a
 * size in a process run cold themselves (its code and the arena slots), and one such hot copy at 1.65-1.74x its
 * calibration had turned 4 MiB cold in section 8 here, where hot copies then ran 0.9x and cold ones cost 20%
 * more end to end; the same for a cold trial's first copy (one at 4x its calibration in tools/auto-sparse.ts,
 * where cold copies run ~0.65 ms against hot ones' ~1 ms at 9.2 MiB).
 */
const PLACE_SEEN = 3 as const;
/**
 * Cold copies must be expected this much cheaper than hot ones (as learnt) to take a class over, hot ones
 * PLACE_MARGIN to take it back: in a warm stream the two differ by a few % either way from send to send, and with
 * 5% both ways section 8's 4 MiB class changed placement 13 times (each change drops remembered decisions and
 * rebuilds the fast tier) and ran 1.22x inline's time; in a sparse stream cold copies are 30-40% cheaper.
 */
const PLACE_COLD_MARGIN = 0.15;
const PLACE_MARGIN = 0.05;
/** A cold trial that lost (the class back to hot by judgement) doubles the hot copies the next needs first: PLACE_SEEN × 2^lost, lost up to this. */
const PLACE_LOST_MAX = 6;
/**
 * While a size class's copies are cold, every this many of them its hot copies' learnt correction moves half way
 * back to 1 (log terms), and the next hot copy seen replaces it: a hot copy is tried again once it would win (the
 * destination may be in cache again), one in 16-48 sends while it still loses. Counted in sends, not time: in a
 * sparse stream (the demo's requests every ~300 ms) a 2 s interval had hot copies tried every eighth send.
 */
const PLACE_RELAX_SENDS = 16;
/** Size classes (classOf) the per-class state covers: up to 2^47 bytes; larger sizes share the last. */
const CLASSES = 48;
/**
 * How far an engine's estimate may follow the drift inline copies of its size class have shown since the engine
 * was last seen there (#drift), for engines that copy on the host's CPUs (EngineProfile.hostCpu): when the machine
 * slows (another tenant, the memory bus) only the choice being sent shows it. Section 8's 16 MiB cell (a trace,
 * docs/benchmarks.md "Issue 9, eighteenth session"): inline's correction went 1.59 -> 1.95 -> 1.50 while
 * offload/sw's stayed, and auto went inline -> offload -> inline with it.
 */
const DRIFT_MAX = 1.5;
/** #inlineCorr's index for `size` (>= LARGE). */
const inlineClass = (size: number) => Math.min(CLASSES - 1, classOf(size));
/** An engine choice within this factor of inline's estimate gets an inline trial while no inline copy of the size's class (LARGE or more) was seen (#inlineTrial). */
const INLINE_TRIAL = 1.5;
/** At most one inline trial per size class per this many ms while none has been seen there (one that failed is tried again then). */
const INLINE_TRIAL_MS = 1000;
/**
 * An inline trial sends copies of its class until this many were seen (#inlineTrial), and among a class's first this
 * many, #learnInline takes a copy faster than the correction as the class's level at once. A class's first copy in a
 * fresh process can run ~2x its level (with calibration method 3, a 16 MiB trial at 2.1x its calibration put
 * inline's correction at 1.23, and a fresh coordinator sent 35-60 of 40-70 messages of 16 MiB through an engine at
 * 1.11-1.21x inline's time in 5 of 14 runs of a one-off throwaway; none of 8 with two copies).
 */
const INLINE_TRIAL_COPIES = 2;

interface Choice {
  kind: "inline" | "offload" | "pipelined" | "split";
  st: EngineState | null;
  latencyNs: number;
  cpuNs: number;
  busyNs: number;
  cost: number;
  /**
   * A split of a size class above the sizes the calibration measured splits at, none of which has been seen on its
   * engine here (SplitClass.samples 0): its estimate is an extrapolation, so it is tried when it is at least as
   * good as the best choice without it, not MARGIN better (#pick); what the trial takes then decides (#judgeSplit,
   * and the class's rate learnt from it). Within the measured sizes the margin stands: there a trial's loss is
   * likelier (16 MiB splits lose by 1.1-1.2x here) and its cost larger beside the message (a first split's one-off
   * ~1 ms against a 0.8 ms send).
   */
  unseen: boolean;
}

/* ------------------------------------------------------------------ formatting for reasons */

export function fmtSize(n: number): string {
  if (n >= MiB && n % (MiB / 4) === 0) return `${n / MiB} MiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= KiB && n % (KiB / 4) === 0) return `${n / KiB} KiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}

export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return "∞";
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${Math.round(ns)} ns`;
}

const gbps = (nsPerByte: number) => `${(1 / nsPerByte).toFixed(1)} GB/s`;

/* ------------------------------------------------------------------ errors: whose fault */

const NOT_THE_ENGINES = new Set(["FERRY_E_CLOSED", "FERRY_E_TOOBIG", "FERRY_E_TIMEOUT", "FERRY_E_INVAL", "FERRY_E_BUSY", "FERRY_E_EOF", "FERRY_E_PEERDEAD", "FERRY_E_NAME"]);
const QUEUE_FULL = new Set(["FERRY_E_FULL", "FERRY_E_LIMIT"]);

function codeOf(e: Error | null): string {
  return (e as FerryError | null)?.code ?? "";
}

/** An engine send's error that is the engine's doing (not a closed publisher, a full arena, bad arguments). */
export function engineFault(e: Error | null): boolean {
  return e !== null && !NOT_THE_ENGINES.has(codeOf(e));
}

/* ------------------------------------------------------------------ warming the decision code up */

/** Set once the first coordinator with engines started Coordinator.#warmUp (once per process: the code is shared). */
let warmedUp = false;
/** Coordinator.#warmUp's choices in all, per slice, and the pause between slices (ms). */
const WARM_CHOICES = 2000;
const WARM_SLICE = 100;
const WARM_PAUSE_MS = 2;

/* ------------------------------------------------------------------ the coordinator */

let seq = 0;
/** The engine state a decision charged (copied along with the decision into its report). */
const TAG = Symbol("ferry.coordinator.engine");
/** The stats key of a decision ("inline/cpu", "offload/sw", ...), made once with it. */
const KIND = Symbol("ferry.coordinator.kind");
type Tagged = SendDecision & { [TAG]?: EngineState; [KIND]?: string };

export class Coordinator implements SendPolicy {
  readonly objective: Objective;
  readonly profile: Profile;
  /** Where the profile came from: "measured", "cache", "given", or "none" (no calibration yet: every choice inline). */
  readonly profileSource: "measured" | "cache" | "given" | "none";
  /** Why the cache was not used, when it was not. */
  readonly profileNote: string;
  readonly id: number;
  readonly #split: boolean | "always";
  readonly #engines: EngineState[];
  readonly #rec = new Recorder();
  /** last fallback reported per engine+kind (to warn once per change, not per message) */
  readonly #warned = new Set<string>();
  #decided = 0;
  /** decisions #choose computed (decide() without a remembered one): stats().decidedAfresh */
  #fresh = 0;
  /** decide()'s answer below min(fast tier, 64 KiB), where inline wins whatever the load and the cache is hot (built with the tier) */
  #fast: SendDecision | null = null;
  /** What publishers read at each send (SendPolicy.fastInline): the same threshold and decision, counted without decide()/observe(). */
  #fastInline: FastInline | null = null;
  #fastVersion = -1;
  #fastLearnt = -1;
  /** #health when the tier was built, and when (performance.now()) */
  #fastHealth = -1;
  #fastAt = 0;
  /**
   * Decisions remembered per size while nothing they depend on moved (#memoOk: no
   * engine send in flight, every engine healthy): direct-mapped by size, checked
   * against #version, which every change of an engine's health or of what splits
   * learnt bumps, and against the band the engines' learnt rates may move in
   * (MemoEntry.corr/tol, #inCorr). Deciding afresh costs ~0.6 µs warm but 30-250 µs
   * (one-off timings) when this code runs cold (after an engine's copy and the receiver ran on this
   * CPU), which is the common case.
   */
  #memo: (MemoEntry | undefined)[] = new Array(MEMO_SLOTS);
  #version = 0;
  /** bumped when an engine's learnt rate or pipelined correction moved more than MEMO_DRIFT (#moved): the fast tier follows it (at most every TIER_LEARN_MS); remembered decisions follow their band instead */
  #learnt = 0;
  /** bumped (with #version) by every change of an engine's health and of the cache placement (#judgePlace): the fast tier is rebuilt at once for those, and at most every TIER_LEARN_MS for learnt corrections */
  #health = 0;
  /**
   * Large inline copies: seen / profile per size class (classOf; #learnInline), 1 for a class none was seen of;
   * remembered decisions of sizes >= LARGE carry the band their class's may move in (MemoEntry.lo/hi). Per class:
   * the calibration's error depends on the size (here it copied 16 MiB at 40 GB/s, the size fitting its caches,
   * where sends took 1.6-2.1x that, and 64 MiB within ~10% of what sends took), and one correction for every
   * size had carried 16 MiB's to 256 MiB, where it priced inline out (section 8: pipelined sends chosen at 1.16x
   * inline's time).
   */
  readonly #inlineCorr = new Float64Array(CLASSES).fill(1);
  /** the last five inline copies' ratios (seen / calibrated) per class, and where the next goes (#learnInline) */
  readonly #inlineWin = new Float64Array(CLASSES * 5).fill(1);
  readonly #inlineWinAt = new Uint8Array(CLASSES);
  /** inline copies of LARGE and more seen per size class (#learnInline): until one is, inline's estimate there is the calibration's alone */
  readonly #inlineSeen = new Uint32Array(CLASSES);
  /** per class, when an inline copy was last seen (#seenSeq; 0: never): with EngineState.drift, which side of a class is fresher (#drift) */
  readonly #inlineAt = new Float64Array(CLASSES);
  #seenSeq = 0;
  /** the class inline copies were last learnt from (-1: none yet; stats().inlineCorrection) */
  #inlineLast = -1;
  /** when decide() last sent an inline trial per size class (performance.now(); #inlineTrial) */
  readonly #inlineTrialAt = new Float64Array(CLASSES).fill(-Infinity);
  /** From this size every copy is cold whatever the receiver does (#cache: coldFromBytes): "is a receiver waiting" is not asked there. */
  readonly #coldFrom: number;
  /** From this size up, a copy's cost grows with its size (the LLC, at least twice #coldFrom; 64 MiB when the LLC is unknown): #nearSplit */
  readonly #knee: number;
  /**
   * Inline copies of PLACE_MIN up to coldFrom as seen / the profile, per size class (inlineClass) and placement
   * (#learnPlace): an EWMA and the copies seen. Per class, as
   * #inlineCorr: the calibration's error depends on the size (section 8 here: hot 1 MiB copies ran 1.7-3.8x
   * their calibrated time, 4 MiB ones 0.9x). #coldPref: cold copies are chosen for the class with a waiting
   * receiver (#cache), since hot ones ran PLACE_SLOW or more their calibrated time and cold ones were (or are
   * expected to be) cheaper; every change bumps #version and #health.
   */
  readonly #placeCorr = { hot: new Float64Array(CLASSES).fill(1), cold: new Float64Array(CLASSES).fill(1) };
  readonly #placeSeen = { hot: new Uint32Array(CLASSES), cold: new Uint32Array(CLASSES) };
  /** the last five hot copies' ratios (seen / calibrated) per class, from five 1s (PLACE_SLOW), and where the next goes */
  readonly #hotWin = new Float64Array(CLASSES * 5).fill(1);
  readonly #hotWinAt = new Uint8Array(CLASSES);
  /** copies of the class's chosen placement since it was chosen (#judgePlace) */
  readonly #placeSince = new Uint32Array(CLASSES);
  /** 1: the class's hot correction was relaxed, not seen: the next hot copy replaces it, and alone is its trial */
  readonly #hotGuess = new Uint8Array(CLASSES);
  /** a cold trial's first PLACE_SEEN copies' ratios per class (#learnPlace: their median ends the trial) */
  readonly #coldTrial = new Float64Array(CLASSES * PLACE_SEEN);
  /** cold trials of the class that lost in a row (PLACE_LOST_MAX at most) */
  readonly #coldLost = new Uint8Array(CLASSES);
  readonly #coldPref = new Uint8Array(CLASSES);
  #placeFlips = 0;
  /**
   * SendPolicy.remembered: a decision remembered for this size and load (#take), followed by the
   * publisher without decide(), and settled() instead of observe() when it was published.
   */
  readonly remembered: Remembered;
  /** the cache directory this coordinator's profile is in (calibrate(), fromCache()): learnt pipelined corrections go back there (#saveLearnt); null: none */
  #cacheDir: string | null = null;
  /** The profile's inline series as curves (profile.ts Curve): what decisions and learning read. */
  readonly #hot: Curve;
  readonly #cold: Curve;
  #saveTimer: ReturnType<typeof setTimeout> | null = null;
  /** receiverWaiting's last answer, for the channel asked last (most publishers use one) */
  #waitCh: Channel | null = null;
  #waitAt = 0;
  #waiting = true;

  /** A coordinator over `profile` (see Coordinator.calibrate() for one measured here). */
  constructor(
    profile: Profile,
    opts: CoordinatorOptions & { source?: Coordinator["profileSource"]; note?: string; engineMap?: Map<string, EngineLike>; warmUpOnly?: boolean; cacheDir?: string } = {},
  ) {
    const objective = opts.objective ?? "latency";
    if (!OBJECTIVES.includes(objective)) throw new FerryError(Errno.INVAL, `unknown objective ${JSON.stringify(objective)} (latency, throughput, cpu)`);
    this.objective = objective;
    this.profile = profile;
    this.profileSource = opts.source ?? "given";
    this.profileNote = opts.note ?? "";
    this.#split = opts.split ?? true;
    this.#coldFrom = coldFromBytes(profile.llcBytes);
    this.#knee = profile.llcBytes > 0 ? Math.max(profile.llcBytes, 2 * this.#coldFrom) : 64 * MiB;
    this.remembered = Object.freeze({
      take: (size: number, pub: Publisher) => this.#take(size, pub),
      settled: (d: SendDecision, size: number, ns: number, syncNs: number) => this.#settled(d as Tagged, size, ns, syncNs),
    });
    this.id = ++seq;
    const map = opts.engineMap ?? new Map<string, EngineLike>();
    this.#hot = curveOf(profile.inlineHot);
    this.#cold = curveOf(profile.inlineCold);
    this.#engines = profile.engines.map((prof) => ({
      label: prof.label,
      engine: map.get(prof.label) ?? prof.label,
      name: prof.name,
      prof,
      c: { offload: curveOf(prof.offload), pipelined: curveOf(prof.pipelined), offloadCpu: curveOf(prof.offloadCpu), pipelinedCpu: curveOf(prof.pipelinedCpu) },
      health: "ok" as Health,
      reason: "",
      until: 0,
      cooldownMs: 1000,
      inflight: 0,
      inflightBytes: 0,
      busyMax: 0,
      classes: new Map(),
      splitCal: splitCalibration(profile, prof),
      share: prof.splitShare || balancedShare(Math.min(perByte(profile.inlineHot), perByte(profile.inlineCold)), perByte(prof.offload)),
      splitSamples: 0,
      engCorr: 1,
      pipeCorr: learntPipelined(prof),
      pipeSamples: 0,
      pipeSaved: learntPipelined(prof),
      engSeen: [1, 1, 1, 1, 1],
      pipeSeen: new Array<number>(5).fill(learntPipelined(prof)),
      engRelax: { at: 0, ms: RELAX_MS, n: 0, trial: 0, trialSends: 0 },
      pricedOut: false,
      engSamples: 0,
      errors: 0,
      cpuCorr: 1,
      memoAt: { engCorr: 1, share: 0, cpuCorr: 1, pipeCorr: 1 },
      drift: { at: new Float64Array(CLASSES), inl: new Float64Array(CLASSES) },
    }));
    for (const st of this.#engines) st.memoAt = { engCorr: st.engCorr, share: st.share, cpuCorr: st.cpuCorr, pipeCorr: st.pipeCorr };
    if (opts.warmUpOnly) return; // (#warmUp's own: no stats, no warm-up of its own)
    this.#cacheDir = opts.cacheDir ?? null;
    shareStats(() => (this.#decided || this.#rec.fast ? this.stats() : null));
    if (!warmedUp && profile.engines.length && process.env.FERRY_COORD_WARMUP !== "0") {
      warmedUp = true;
      Coordinator.#warmUp(new Coordinator(profile, { objective, split: opts.split, warmUpOnly: true }));
    }
  }

  /**
   * The decision code (decide(), #choose and what they call) made to run WARM_CHOICES times on `co` (a coordinator
   * of its own, whose state nobody reads), as sends run it (not dry), over sizes from 64 KiB to 1 GiB, in slices of
   * WARM_SLICE between event-loop turns on timers that keep no process alive. A fresh decision is made rarely (a
   * size not remembered, a learnt rate past its band), so JavaScriptCore kept that code in its baseline tier for
   * thousands of decisions, and it mostly runs right after a large copy has pushed it out of the caches: a fresh
   * decide() of 10-40 MiB after a 96 MiB read took a median of 60-71 µs without this and 28-36 µs with it
   * (tools/decide-cold.ts, five alternating pairs; the optimizing tier's code is smaller and does less). The same
   * for a remembered decision's take() and settled(), which every large send of a stream runs right after a copy:
   * after a 96 MiB read, take 13.0-14.6 µs and settled 9.4-10.2 µs without them in the warm-up, 6.1-8.8 and
   * 4.4-4.6 µs with them (tools/remembered-cold.ts, two alternating pairs of a one-off switch; the tool itself
   * compares FERRY_COORD_WARMUP=0 with the default). The slices take ~10 ms of this thread in all, ~0.5 ms
   * each, within ~100 ms of the first coordinator with engines. FERRY_COORD_WARMUP=0: none.
   */
  static #warmUp(co: Coordinator): void {
    // decide() itself from the size where the receiver's state stops mattering (#waitingFor asks no channel there),
    // with its backlog put back after each; below that the choice alone, for both receiver states
    const ctx = { channel: null, publisher: { pending: 0 }, engine: "cpu", options: {} } as unknown as SendContext;
    let i = 0;
    const slice = () => {
      for (const end = i + WARM_SLICE; i < end; i++) {
        const size = Math.round(2 ** (16 + ((i % 97) * 14) / 97)) + (i & 63) * 64;
        if (size >= co.#coldFrom) {
          co.decide(size, ctx);
          // a remembered decision's path too (take before the send, settled after it: every large send of a
          // stream runs them, right after its copy), with the time the decision expected
          const d = co.#take(size, ctx.publisher as Publisher) as Tagged | null;
          if (d !== null) {
            const st = d[TAG];
            const ns = curveAt(st === undefined ? (d.cache === "hot" ? co.#hot : co.#cold) : d.mode === "offload" ? st.c.offload : st.c.pipelined, size);
            co.#settled(d, size, ns, ns);
          }
          for (const st of co.#engines) st.inflight = st.inflightBytes = st.busyMax = 0;
        } else co.#inlineBand(size, co.#choose(size, co.objective, (i & 1) === 0, 0, false, false));
      }
      if (i < WARM_CHOICES) setTimeout(slice, WARM_PAUSE_MS).unref();
    };
    setTimeout(slice, WARM_PAUSE_MS).unref();
  }

  /**
   * A coordinator with a profile of this machine: the cached one when it
   * matches this machine, this libferry build and these engines, else a new
   * measurement (<= 1 s), which is cached. Engines default to "sw" plus DSA
   * where usable (the emulated device only with emulatedDsa).
   */
  static async calibrate(opts: CoordinatorOptions = {}): Promise<Coordinator> {
    const { engines, map, notes } = resolveEngines(opts);
    if (opts.profile) return new Coordinator(opts.profile, { ...opts, source: "given", engineMap: map });
    const labels = engines.map((e) => e.label);
    const useCache = opts.cache ?? true;
    let note = "";
    if (useCache && !opts.recalibrate) {
      const c = loadCached(labels);
      if (c.profile) return new Coordinator(c.profile, { ...opts, source: "cache", note: `cached in ${c.file}`, engineMap: map, cacheDir: cacheDir() });
      note = c.why;
    } else {
      note = opts.recalibrate ? "recalibration asked for" : "cache off";
    }
    const p = await measureProfile(engines, opts.budgetMs ?? 900);
    p.notes.push(...notes);
    let saved = false;
    if (useCache) {
      const err = saveCached(p);
      saved = err === null;
      note += err ? `; not cached (${err})` : `; cached in ${cacheDir()}`;
    }
    return new Coordinator(p, { ...opts, source: "measured", note, engineMap: map, ...(saved ? { cacheDir: cacheDir() } : {}) });
  }

  /** The cached profile's coordinator if there is one (no measuring), else null and why. */
  static fromCache(opts: CoordinatorOptions = {}): { coordinator: Coordinator | null; why: string } {
    const { engines, map } = resolveEngines(opts);
    const c = loadCached(engines.map((e) => e.label));
    if (!c.profile) return { coordinator: null, why: c.why };
    return { coordinator: new Coordinator(c.profile, { ...opts, source: "cache", note: `cached in ${c.file}`, engineMap: map, cacheDir: cacheDir() }), why: "" };
  }

  /* ---------------------------------------------------------------- SendPolicy */

  /** Sizes below `below` are inline whatever the load: publishers skip decide() and observe() for them (SendPolicy.fastInline; see #fastTier). */
  get fastInline(): FastInline {
    const f = this.#fastInline;
    if (f !== null && ((this.#fastVersion === this.#version && this.#fastLearnt === this.#learnt) || (this.#fastHealth === this.#health && performance.now() - this.#fastAt < TIER_LEARN_MS))) return f;
    return (this.#fastInline = this.#fastTier());
  }

  decide(size: number, ctx: SendContext): SendDecision {
    this.#decided++;
    if (size <= 64 * KiB && size < this.fastInline.below) return this.#fast!; // (the getter rebuilds the tier and #fast when stale)
    this.#maybeRelax();
    const waiting = this.#waitingFor(size, ctx.channel);
    const pending = ctx.publisher.pending;
    const memo = this.#memoOk();
    const full = pending >= QUEUE_LIMIT;
    const slot = this.#slot(size, waiting);
    let d = memo ? this.#recall(slot, size, waiting, pending) : undefined;
    if (d === undefined) {
      this.#fresh++;
      const r = this.#choose(size, this.objective, waiting, pending, false);
      this.#pricedOut(size, () => r.best, () => this.#choose(size, this.objective, waiting, pending, false, true).best);
      if (this.#inlineTrial(size, r.best, r.inline)) {
        // one inline copy to learn what they cost here, neither remembered nor charged
        this.#inlineTrialAt[inlineClass(size)] = performance.now();
        d = { mode: "inline", cache: r.cache, wait: r.wait };
        d[KIND] = "inline/cpu";
        return Object.freeze(d);
      }
      const st = r.best.st;
      if (r.best.kind === "split" && this.#split !== "always") {
        const c = this.#classFor(st!, size);
        // a trial: no other of this class until this one was observed, or the cool-down passed
        if (!c.trusted) {
          c.trialAt = performance.now() + c.trialMs;
          c.every = Infinity;
          c.since = 0;
        }
      }
      d = {
        mode: r.best.kind === "split" ? "offload" : r.best.kind,
        engine: st ? st.engine : undefined,
        cache: r.cache,
        chunkBytes: r.chunkBytes || undefined,
        wait: r.wait,
      };
      if (r.best.kind === "split") {
        d.cpuShare = st!.share;
        d.spinNs = r.spinNs;
      }
      if (st) d[TAG] = st;
      d[KIND] = name(r.best);
      Object.freeze(d);
      // (a split is not remembered: its share is tuned after every split, in steps smaller than MEMO_DRIFT)
      if (memo && r.best.kind !== "split") {
        const [lo, hi] = this.#inlineBand(size, r);
        // (with a split left out until its trial: only until then; a 16 MiB inline send that decided afresh each time cost ~80 µs cold)
        const es = this.#engines;
        const loads: number[] = [], corr: number[] = [];
        for (const e of es) {
          loads.push(e.inflightBytes);
          corr.push(e.engCorr, e.pipeCorr);
        }
        this.#memo[slot] = { size, waiting, version: this.#version, full, loads, lo, hi, corr, tol: null, gate: r.gated, decision: d };
      }
    }
    this.#charge(d, size);
    return d;
  }

  /**
   * The memo entry #take handed out last: a stream of one size above the fast tier (4, 16 and 64 MiB in
   * section 8) asks for it again and again, and this check reads the entry and the coordinator's own
   * fields instead of the memo table and every engine's backlog, each a cold cache line after a large copy
   * (a throwaway that skipped take() altogether gained ~3% at 4 and 16 MiB there; in a stream of 16 MiB
   * offloads under objective cpu, take() took 3.5-4.8 µs (median) of the sending thread's ~50 µs per send
   * through the table, 1.1-1.4 µs through this check: one-off timing around the calls in tools/send-cpu.ts's
   * stream, docs/benchmarks.md "Issue 9, eleventh session"). It stands for what
   * #recall checks: the entry's version covers health (#health moves with it) and what splits learnt, the
   * inline and engine bands (#inBand, #inCorr: each engine's two corrections) the learnt rates, the backlog is #loads unchanged (an inline decision) or every engine's as the entry has it (#sameLoad: an
   * engine send in a stream finds the one before it in flight each time); a split left out until its
   * next trial (gate) is checked and counted as #recall does. #memoOk's closed-engine check is made for
   * the decision's own engine only (a closed engine cannot make an inline decision wrong, nor one that
   * sends through another engine).
   */
  #last: MemoEntry | null = null;
  #lastLoads = -1;
  /** Changes whenever an engine's inflightBytes does (#charge, #settled, observe). */
  #loads = 0;

  /** SendPolicy.remembered.take: the remembered decision for this size and load, or null (the publisher then calls decide()). */
  #take(size: number, pub: Publisher): SendDecision | null {
    if (size <= 64 * KiB) return null; // (small sizes: the fast tier, and decide() is one comparison there)
    this.#maybeRelax();
    const q = this.#last;
    if (q !== null && q.size === size && q.version === this.#version && (this.#lastLoads === this.#loads || this.#sameLoad(q.loads)) &&
      q.full === pub.pending >= QUEUE_LIMIT && q.waiting === this.#waitingFor(size, pub.channel) &&
      this.#inBand(size, q) && this.#inCorr(q, pub.pending) && open(q.decision[TAG])) {
      if (leftOut(q.gate)) {
        this.#decided++;
        this.#lastLoads = this.#loads; // (before the charge: an engine decision's own send changes the backlog)
        this.#charge(q.decision, size); // (an inline decision: nothing to charge)
        return q.decision;
      }
    }
    if (!this.#memoOk()) return null;
    const waiting = this.#waitingFor(size, pub.channel);
    const slot = this.#slot(size, waiting);
    const d = this.#recall(slot, size, waiting, pub.pending);
    if (d === undefined) return null;
    this.#decided++;
    this.#last = this.#memo[slot]!;
    this.#lastLoads = this.#loads;
    this.#charge(d, size);
    return d;
  }

  /**
   * SendPolicy.remembered.settled: a send of a remembered decision was published. What observe() does
   * for such a send, without its report: the engine's backlog, the stats, and the learning (an engine's
   * rate from a send that ran alone, large inline copies' cost). Failures go through observe().
   */
  #settled(d: Tagged, size: number, ns: number, syncNs: number): void {
    const st = d[TAG];
    let alone = false;
    if (st) {
      st.inflight = Math.max(0, st.inflight - 1);
      st.inflightBytes = Math.max(0, st.inflightBytes - size);
      this.#loads++;
      alone = st.busyMax <= 1;
      if (st.inflight === 0) st.busyMax = 0;
    }
    this.#rec.recordLater(d[KIND]!, size, ns, syncNs);
    if (d.mode === "inline") {
      if (size >= LARGE) this.#learnInline(size, d.cache, syncNs);
      if (size >= PLACE_MIN) this.#learnPlace(size, d.cache, syncNs);
    } else if (st && size >= SPLIT_MIN && alone) this.#learnWhole(st, d.mode, ns, size);
  }

  #charge(d: Tagged, size: number): void {
    const st = d[TAG];
    if (st) {
      st.inflight++;
      st.inflightBytes += size;
      this.#loads++;
      if (st.inflight > st.busyMax) st.busyMax = st.inflight;
      // in use: its rate is not what keeps it out, and does not relax until RELAX_MS after its last use
      // (a stream with sends in flight teaches no rate; relaxing it there would only drop remembered decisions)
      st.engRelax.at = performance.now();
      st.engRelax.n = this.#decided;
      st.pricedOut = false;
    }
  }

  /** The memo slot of a size, receiver state and the engines' backlog (a stream's first send, with nothing queued, and the next ones keep their own slots). */
  #slot(size: number, waiting: boolean): number {
    let load = 0;
    for (const st of this.#engines) load += st.inflightBytes;
    return (size ^ (size >>> 11) ^ (waiting ? 0 : 0x155) ^ (load >>> 20) ^ (load >>> 26)) & (MEMO_SLOTS - 1);
  }

  /** The decision remembered in `slot` if it is for this size, receiver state, queue state, version and backlog, and the inline correction and the engines' corrections are inside its bands. */
  #recall(slot: number, size: number, waiting: boolean, pending: number): Tagged | undefined {
    const m = this.#memo[slot];
    const full = pending >= QUEUE_LIMIT;
    if (m === undefined || m.size !== size || m.waiting !== waiting || m.version !== this.#version || m.full !== full || !this.#sameLoad(m.loads))
      return undefined;
    if (!this.#inBand(size, m) || !this.#inCorr(m, pending)) return undefined;
    return leftOut(m.gate) ? m.decision : undefined;
  }

  /**
   * Every engine's learnt rate and pipelined correction are within `m`'s band (MemoEntry.corr/tol). The first
   * time one has moved past MEMO_DRIFT, the band is looked for (#engineBand): a decision made once and never
   * asked for again (a size sent once) costs no more than before.
   */
  #inCorr(m: MemoEntry, pending: number): boolean {
    if (this.#within(m.corr, m.tol)) return true;
    if (m.tol !== null) return false;
    m.tol = this.#engineBand(m, pending);
    return this.#within(m.corr, m.tol);
  }

  /** Every engine's rate and pipelined correction within `tol` (null: MEMO_DRIFT) of `corr` (MemoEntry's). */
  #within(corr: number[], tol: number[] | null): boolean {
    const es = this.#engines;
    for (let i = 0; i < es.length; i++) {
      const k = es[i]!.engCorr / corr[2 * i]!, p = es[i]!.pipeCorr / corr[2 * i + 1]!;
      const tk = tol?.[2 * i] ?? 1 + MEMO_DRIFT, tp = tol?.[2 * i + 1] ?? 1 + MEMO_DRIFT;
      if (k > tk || k * tk < 1 || p > tp || p * tp < 1) return false;
    }
    return true;
  }

  /**
   * How far (a factor, either way) each engine's learnt rate and pipelined correction may move from what they were
   * when `m` was decided before its decision could change (MemoEntry.tol, in MemoEntry.corr's order): for an engine
   * decision the correction its own sends teach gets the widest of ENGINE_BANDS with which the decision is still
   * chosen when every correction is at the end of its band that goes against it (its own engine's rate up and every
   * other engine's down; the same engine's other mode cheaper), every other correction MEMO_DRIFT; without such a
   * band, or for an inline decision, MEMO_DRIFT for all. One dry #choose per band tried, with everything else as it
   * is now (#recall has checked the backlog, the queue and the receiver against the entry's). Every estimate only
   * grows with a rate or correction it depends on, so that corner is the worst of the band for each comparison the
   * decision has to win (against inline, another engine, the same engine's other mode or split).
   */
  #engineBand(m: MemoEntry, pending: number): number[] {
    const es = this.#engines;
    const d = m.decision;
    const st0 = d[TAG];
    const tol = es.flatMap(() => [1 + MEMO_DRIFT, 1 + MEMO_DRIFT]);
    const own = st0 && d.mode !== "inline" ? 2 * es.indexOf(st0) + (d.mode === "pipelined" ? 1 : 0) : -1;
    if (own < 0) return tol;
    const base = m.corr;
    // the far end of each band against the decision: its own engine dearer (for an offload its pipelined sends
    // cheaper, for a pipelined send dearer), every other engine cheaper
    const corner = (st: EngineState, i: number) => {
      const mine = st === st0;
      const k = mine ? base[2 * i]! * tol[2 * i]! : base[2 * i]! / tol[2 * i]!;
      const p = mine && d.mode === "pipelined" ? base[2 * i + 1]! * tol[2 * i + 1]! : base[2 * i + 1]! / tol[2 * i + 1]!;
      return [k, p] as const;
    };
    for (const band of ENGINE_BANDS) {
      tol[own] = band;
      const b = this.#withRates(corner, () => this.#choose(m.size, this.objective, m.waiting, pending, false, true, true).best);
      if (b.kind === d.mode && b.st === st0) return tol;
    }
    tol[own] = 1 + MEMO_DRIFT;
    return tol;
  }

  /**
   * The drift engine `st`'s estimates of size class `size` carry (DRIFT_MAX): for an engine that copies on the
   * host's CPUs, when inline copies of the class were seen after it, how far their correction moved since the
   * engine was last seen there, within 1/DRIFT_MAX..DRIFT_MAX; else 1. Inline's estimate carries none: an engine's
   * first sends teach its level, not drift, and with both directions auto stayed on offload at 16 MiB in 3 of 6
   * section 8 runs (docs/benchmarks.md); nor does a hardware engine's (the sending CPU's load does not slow it).
   */
  #drift(st: EngineState, size: number): number {
    const k = inlineClass(size);
    const ref = this.#driftRef(st, k);
    return ref ? Math.min(DRIFT_MAX, Math.max(1 / DRIFT_MAX, this.#inlineCorr[k]! / ref)) : 1;
  }

  /** The inline correction of class `k` that engine `st`'s estimates there are scaled from (#drift), or 0 when they carry no drift. */
  #driftRef(st: EngineState, k: number): number {
    const ref = st.drift.inl[k]!;
    return st.prof.hostCpu && ref > 0 && this.#inlineAt[k]! > st.drift.at[k]! ? ref : 0;
  }

  /** The learnt inline correction of the size's class is inside `m`'s band (only estimates from LARGE up carry it). */
  #inBand(size: number, m: MemoEntry): boolean {
    if (size < LARGE) return true;
    const c = this.#inlineCorr[inlineClass(size)]!;
    return c >= m.lo && c <= m.hi;
  }

  /**
   * How far the inline correction (applied from LARGE up) may move before `r`'s choice could change:
   * every estimate of an inline copy scales with it, the others do not. Inline stays chosen until some
   * other choice beats it by MARGIN; another choice stays chosen while it beats inline by MARGIN and no
   * choice that is not eligible now becomes so. The wait (block past 2 ms) moves with the inline estimate too.
   */
  #inlineBand(size: number, r: { best: Choice; inline: Choice; all: Choice[] }): [number, number] {
    if (size < LARGE) return [0, Infinity];
    const c = this.#inlineCorr[inlineClass(size)]!;
    const inl = r.inline.cost * (1 - MARGIN);
    if (!(inl > 0)) return [c, c];
    let lo = 0, hi = Infinity;
    const k = inlineClass(size);
    /**
     * The inline correction `x`'s estimate was scaled from (#drift), if it moves with the correction now (an offload
     * or pipelined choice of an engine on the host's CPUs, the bound not reached): it then keeps its ratio to inline
     * up to the bound. Else 0 (a split's CPU part does not follow: the formula below, which holds its estimate
     * still, asks again sooner than needed, never later).
     */
    const follows = (x: Choice): number => {
      const ref = x.st && x.kind !== "split" ? this.#driftRef(x.st, k) : 0;
      return ref && c >= ref / DRIFT_MAX && c <= ref * DRIFT_MAX ? ref : 0;
    };
    const within = (ref: number) => {
      lo = Math.max(lo, ref / DRIFT_MAX);
      hi = Math.min(hi, ref * DRIFT_MAX);
    };
    for (const x of r.all) {
      if (x === r.inline || x === r.best) continue;
      const ref = follows(x);
      if (ref) within(ref);
      else if (r.best === r.inline || x.cost >= inl) hi = Math.min(hi, (c * x.cost) / inl); // x becomes eligible above this
    }
    const bestRef = r.best === r.inline ? 0 : follows(r.best);
    if (bestRef) within(bestRef);
    else if (r.best !== r.inline) lo = Math.max(lo, (c * r.best.cost) / inl);
    // the wait (block past 2 ms) moves with the estimate of the best choice when that moves with the correction
    if ((r.best === r.inline || bestRef) && this.objective !== "cpu") {
      const w = r.best.latencyNs;
      if (w <= 2e6) hi = Math.min(hi, (c * 2e6) / w);
      else lo = Math.max(lo, (c * 2e6) / w);
    }
    return [lo, hi];
  }

  #sameLoad(loads: number[]): boolean {
    const es = this.#engines;
    for (let i = 0; i < es.length; i++) if (es[i]!.inflightBytes !== loads[i]) return false;
    return true;
  }

  /** May a remembered decision stand? Every engine healthy (the load is checked per entry). */
  #memoOk(): boolean {
    for (const st of this.#engines)
      if (st.health !== "ok" || !open(st)) return false;
    return true;
  }

  /**
   * Is someone waiting on `ch` now (subscribers and nothing queued)? Asked of the channel (channel.stats(),
   * 50-180 µs in section 8's sends) at most every 50 ms, and only for sizes whose cache it decides (#cache):
   * above 64 KiB and below LLC/2.
   */
  #waitingFor(size: number, ch: Channel): boolean {
    if (size <= 64 * KiB || size >= this.#coldFrom) return true;
    const now = performance.now();
    if (ch === this.#waitCh && now - this.#waitAt < WAITING_TTL_MS) return this.#waiting;
    const w = receiverWaiting(ch);
    this.#waitCh = ch;
    this.#waitAt = now;
    this.#waiting = w;
    return w;
  }

  observe(rep: SendReport): void {
    const d = rep.decision as Tagged;
    const charged = d[TAG];
    // ran alone: no other send of this coordinator on its engine since the engine was last idle, so rep.ns
    // is its own copy, not a wait behind the ones before it (a stream with sends in flight teaches nothing)
    let alone = false;
    if (charged) {
      charged.inflight = Math.max(0, charged.inflight - 1);
      charged.inflightBytes = Math.max(0, charged.inflightBytes - rep.size);
      this.#loads++;
      alone = charged.busyMax <= 1;
      if (charged.inflight === 0) charged.busyMax = 0;
    }
    // the engine that actually ran (an explicit send() engine wins over the decision's)
    const st = charged && charged.engine === d.engine ? charged : null;
    const kind = d.mode === "inline" ? "inline/cpu" : `${rep.split ? "split" : d.mode}/${st?.label ?? rep.engine}`;
    this.#rec.record(kind, rep.size, rep.ns, rep.syncNs, rep.error !== null, !!rep.retriedInline);
    if (d.mode === "inline" && rep.error === null && !rep.retriedInline) {
      if (rep.size >= LARGE) this.#learnInline(rep.size, d.cache, rep.syncNs);
      if (rep.size >= PLACE_MIN) this.#learnPlace(rep.size, d.cache, rep.syncNs);
    }
    if (!st || d.mode === "inline") return;
    const failure = rep.retriedInline ? new FerryError(Errno.SYS, rep.retriedInline) : rep.error;
    if (failure && engineFault(failure)) {
      this.#engineFailed(st, failure, rep.size, !!rep.retriedInline, kind);
      return;
    }
    if (!failure) {
      if (st.health === "probing") {
        this.#version++;
        this.#health++;
        st.health = "ok";
        st.cooldownMs = 1000;
        this.#fallback({ kind: "recovered", engine: st.label, change: `${kind} works again`, size: rep.size, reason: `a trial send after "${st.reason}" succeeded` });
        st.reason = "";
      }
      if (rep.split) {
        this.#tuneSplit(st, rep);
        this.#judgeSplit(st, rep);
      }
      else if (rep.size >= SPLIT_MIN && alone) this.#learnWhole(st, d.mode, rep.ns, rep.size);
    }
  }

  retryInline(error: Error): boolean {
    return engineFault(error);
  }

  /* ---------------------------------------------------------------- explain */

  /** The decision for a message of `size` bytes now, with the numbers behind it. */
  explain(size: number, opts: ExplainOptions = {}): Explanation {
    if (!Number.isSafeInteger(size) || size < 0) throw new FerryError(Errno.INVAL, `explain: size must be a non-negative integer, got ${size}`);
    const objective = opts.objective ?? this.objective;
    if (!OBJECTIVES.includes(objective)) throw new FerryError(Errno.INVAL, `unknown objective ${JSON.stringify(objective)} (latency, throughput, cpu)`);
    const waiting = opts.receiverWaiting ?? (opts.channel ? receiverWaiting(opts.channel) : true);
    const r = this.#choose(size, objective, waiting, opts.pending ?? 0, true);
    const b = r.best;
    return {
      mode: b.kind === "split" ? "offload" : b.kind,
      engine: b.st?.label ?? "cpu",
      chunkBytes: r.chunkBytes,
      cache: r.cache,
      wait: r.wait,
      spinNs: r.spinNs,
      cpuShare: b.kind === "split" ? b.st!.share : 0,
      objective,
      size,
      reasons: r.reasons,
      estimates: r.estimates,
      ...(r.fallback ? { fallback: r.fallback } : {}),
    };
  }

  /** The sizes at which the choice changes under `objective` (64 B .. 1 GiB, to the nearest 1/8 of a power of two). */
  crossovers(objective: Objective = this.objective): { size: number; from: string; to: string }[] {
    const out: { size: number; from: string; to: string }[] = [];
    const label = (s: number) => {
      const b = this.#choose(s, objective, true, 0, false, true).best;
      return b.kind === "inline" ? "inline/cpu" : `${b.kind}/${b.st!.label}`;
    };
    let prev = label(64);
    for (let e = 6; e < 30; e++)
      for (let k = 1; k <= 8; k++) {
        const s = Math.round(2 ** (e + k / 8));
        const l = label(s);
        if (l !== prev) out.push({ size: s, from: prev, to: l });
        prev = l;
      }
    return out;
  }

  /* ---------------------------------------------------------------- stats */

  stats(): CoordinatorStats {
    const snap = this.#rec.snapshot();
    let messages = 0, bytes = 0, ns = 0;
    for (const c of Object.values(snap.choices)) {
      messages += c.messages;
      bytes += c.bytes;
      ns += c.ns;
    }
    return {
      id: this.id,
      objective: this.objective,
      profile: { source: this.profileSource, created: this.profile.created, ms: this.profile.ms, note: this.profileNote, engines: this.profile.engines.map((e) => e.label) },
      decisions: this.#decided + this.#rec.fast,
      decidedAfresh: this.#fresh,
      inlineCorrection: this.#inlineLast < 0 ? 1 : +this.#inlineCorr[this.#inlineLast]!.toFixed(3),
      inlineCorrections: Object.fromEntries(
        [...this.#inlineSeen.keys()].filter((k) => this.#inlineSeen[k]! > 0).map((k) => [fmtSize(2 ** k), +this.#inlineCorr[k]!.toFixed(3)]),
      ),
      placement: {
        changes: this.#placeFlips,
        classes: Object.fromEntries(
          [...this.#placeSeen.hot.keys()].filter((k) => this.#placeSeen.hot[k]! + this.#placeSeen.cold[k]! > 0).map((k) => [fmtSize(2 ** k), {
            chosen: this.#coldPref[k] ? "cold" as const : "hot" as const,
            hot: { correction: +this.#placeCorr.hot[k]!.toFixed(3), seen: this.#placeSeen.hot[k]! },
            cold: { correction: +this.#placeCorr.cold[k]!.toFixed(3), seen: this.#placeSeen.cold[k]! },
          }]),
        ),
      },
      total: { messages, bytes, ns },
      choices: snap.choices,
      fallbacks: snap.fallbacks,
      engines: Object.fromEntries(this.#engines.map((s) => [s.label, {
        health: s.health, reason: s.reason, inflight: s.inflight, inflightBytes: s.inflightBytes,
        cpuShare: +s.share.toFixed(3), splitSamples: s.splitSamples, errors: s.errors, rateCorrection: +s.engCorr.toFixed(3), pipelinedCorrection: +s.pipeCorr.toFixed(3),
        splitCpuCorrection: +s.cpuCorr.toFixed(3), splitTrusted: [...s.classes.values()].some((c) => c.trusted),
        splitClasses: Object.fromEntries([...s.classes].sort((a, b) => a[0] - b[0]).map(([k, c]) => [fmtSize(2 ** k), { trusted: c.trusted, samples: c.samples, seenGBps: c.samples ? +(1 / c.nsPerByte).toFixed(2) : 0, lost: c.lost }])),
      }])),
    };
  }

  /** Fallback records so far (the last 50). */
  get fallbacks(): FallbackRecord[] {
    return this.#rec.snapshot().fallbacks.recent;
  }

  /* ---------------------------------------------------------------- internals */

  #usable(st: EngineState, pending: number, dry: boolean): { ok: true } | { ok: false; kind: FallbackKind; reason: string } {
    if (st.health === "gone") return { ok: false, kind: "engine gone", reason: st.reason };
    if (typeof st.engine !== "string" && st.engine.closed) {
      st.health = "gone";
      this.#version++;
      this.#health++;
      st.reason = `engine "${st.label}" was closed`;
      return { ok: false, kind: "engine gone", reason: st.reason };
    }
    if (st.health === "failing") {
      if (Date.now() < st.until) return { ok: false, kind: "engine failing", reason: st.reason };
      if (!dry) {
        st.health = "probing"; // trials: a success makes it ok, a failure doubles the cool-down
        this.#version++;
        this.#health++;
      }
    }
    if (pending >= QUEUE_LIMIT)
      return { ok: false, kind: "queue full", reason: `${pending} engine sends in flight on this publisher (libferry allows 64)` };
    return USABLE;
  }

  /**
   * The publishers' fast tier (SendPolicy.fastInline): every size below the first
   * at which anything but inline could win with a receiver waiting and nothing in
   * flight, failing engines counted as healthy (load and failures only make the
   * engines worse, so inline stays best below it), capped at LARGE (inline copies from there teach #learnInline);
   * the cache as #cache says for a waiting receiver: hot, then cold from
   * `coldFrom`. Scanned on the grid crossovers() uses (eighths of a power of
   * two); where the cache would turn hot again above coldFrom the tier ends.
   * Recomputed when an engine's health changes, and at most every TIER_LEARN_MS when
   * only learnt corrections moved (#version without #health).
   */
  #fastTier(): FastInline {
    // The grid: eight sizes per octave, from 64 B up to LARGE. It is scanned an octave at a time (its first size),
    // and an octave's eighths only where the next octave's first size changes something (a choice other than
    // inline, a fallback, the cache turning cold): ~30 #choose() calls instead of ~130. This runs on the sending
    // thread after learning moved a correction (the getter above), where the full scan cost ~1.3 ms
    // (tools/send-cpu.ts, objective cpu, 16 MiB). A size range where another choice wins that starts and ends
    // inside one octave is not seen here: decide() still sees every size from `below` up.
    const at = (e: number, k: number) => Math.round(2 ** (e + k / 8));
    let below = LARGE, coldFrom = Infinity;
    const look = (size: number) => this.#choose(size, this.objective, true, 0, false, true);
    // (r.fallback: an engine would win if it were usable; decide() must see those sizes, to record the fallback and send the trials)
    const stops = (r: ReturnType<typeof look>) => r.best.kind !== "inline" || !!r.fallback || (coldFrom !== Infinity && r.cache === "hot");
    /** true: the tier ends at `size` */
    const visit = (size: number, r = look(size)) => {
      if (stops(r)) {
        below = size;
        return true;
      }
      if (r.cache === "cold" && coldFrom === Infinity) coldFrom = size;
      return false;
    };
    scan: for (let e = 6; e < 26; e++) {
      const s = at(e, 0);
      const r = s < LARGE ? look(s) : null;
      if (e > 6 && (r === null || stops(r) || (r.cache === "cold" && coldFrom === Infinity)))
        for (let k = 1; k < 8; k++) {
          const f = at(e - 1, k);
          if (f >= LARGE || visit(f)) break scan;
        }
      if (r === null || visit(s, r)) break;
    }
    // an engine whose learnt rate keeps it out of the tier's largest size may relax (#pricedOut)
    if (below > 64 * KiB) this.#pricedOut(below - 1, () => look(below - 1).best, () => look(below - 1).best);
    const small = this.#choose(Math.max(0, Math.min(below, 64 * KiB) - 1), this.objective, true, 0, false, true);
    this.#fast = Object.freeze({ mode: "inline", cache: small.cache, wait: small.wait }) as SendDecision;
    const rec = this.#rec;
    this.#fastVersion = this.#version;
    this.#fastLearnt = this.#learnt;
    this.#fastHealth = this.#health;
    this.#fastAt = performance.now();
    return Object.freeze({
      below,
      ceiling: LARGE, // (the tier never reaches it: sends from LARGE up do not read this getter)
      cache: "hot" as const,
      ...(coldFrom !== Infinity ? { coldFrom } : {}),
      record: (size: number, ns: number, error: Error | null) => {
        // (each counts as a decision: stats() adds rec.fast; a correction that priced an engine out of these
        // sizes must still relax, or they would stay in the tier for good)
        if ((rec.fast & 15) === 15) this.#maybeRelax();
        if (error === null) {
          rec.recordInline(size, ns);
          if (size >= PLACE_MIN) this.#learnPlace(size, size >= coldFrom ? "cold" : "hot", ns);
        } else {
          rec.fast++;
          rec.record("inline/cpu", size, ns, ns, true, false);
        }
      },
    });
  }

  /** explain: build reasons and estimates; dry (explain, crossovers): record and change nothing. */
  /**
   * gate (decide, explain): leave out a split that is not trusted yet at this size while its trial waits
   * (EngineState.classes); crossovers() and the fast tier see the calibrated split.
   * noSplit: the best choice without any split and without the engines' backlog (a split, which runs
   * only with nothing queued on its publisher, is judged against it).
   */
  #choose(size: number, objective: Objective, waiting: boolean, pending: number, explain: boolean, dry = explain, gate = !dry || explain, noSplit = false) {
    // (written to run cold: decide() calls this when a decision is not remembered, usually right after a large copy
    // has pushed this code out of the caches; each allocation, closure and array builtin is more code to fetch
    // then: a fresh decide() of 10-40 MiB after such a copy took 62-78 µs with the code before, 41-67 µs with this,
    // tools/decide-cold.ts with FERRY_COORD_WARMUP=0; one-off, 10-11 µs with the code warm and the data evicted)
    let gated: SplitClass | null = null;
    const p = this.profile;
    const reasons: string[] = explain ? [] : NOTHING; // (only explain() reads or fills them)
    const estimates: Estimate[] = explain ? [] : NOTHING;
    const cache = this.#cache(size, waiting, objective, explain ? reasons : null);
    const inl = curveAt(cache === "hot" ? this.#hot : this.#cold, size) * (size >= LARGE ? this.#inlineCorr[inlineClass(size)]! : 1);
    const inline = choice(objective, "inline", null, inl, inl, inl);
    const all: Choice[] = [inline];
    let blocked: Map<EngineState, { kind: FallbackKind; reason: string }> | null = null;
    for (const st of this.#engines) {
      const u = this.#usable(st, pending, dry);
      if (!u.ok) (blocked ??= new Map()).set(st, u);
      const e = st.prof;
      const c = st.c;
      const k = st.engCorr * (size >= LARGE ? this.#drift(st, size) : 1);
      const backlog = noSplit ? 0 : st.inflightBytes * curveSlope(c.offload) * k; // (judging a split, which ran with nothing queued: no backlog)
      const engFixed = curveAt(c.offload, 0) * k;
      // a pipelined send's publish runs on the sending thread, an offload's on the engine's (libferry send.c): so
      // pipelined never costs the sender less than offload on the same engine, whatever a few calibration
      // sends (with no receiver to wake) measured
      const offCpu = curveAt(c.offloadCpu, size);
      const pipeCpu = Math.max(offCpu, curveAt(c.pipelinedCpu, size));
      const engBusy = curveAt(c.offload, size) * k - engFixed;
      all.push(choice(objective, "offload", st, curveAt(c.offload, size) * k + backlog, offCpu, Math.max(offCpu, engBusy)));
      all.push(choice(objective, "pipelined", st, curveAt(c.pipelined, size) * k * st.pipeCorr + backlog, pipeCpu, Math.max(pipeCpu, engBusy)));
      if (!(this.#split && e.async && size >= SPLIT_MIN && st.share > 0 && !noSplit)) continue;
      const cls = st.classes.get(classOf(size)) ?? NO_CLASS;
      const untried = !cls.trusted && this.#split !== "always" && performance.now() < cls.trialAt && cls.since < cls.every;
      if (gate && untried) {
        if (!dry) {
          (cls as SplitClass).since++; // a send of this class left out (decide; a gated class is never NO_CLASS)
          gated ??= cls as SplitClass;
        }
        if (explain) reasons.push(leftOutReason(st, cls));
      } else {
        const f = st.share;
        const cpuPart = Math.min(curveAt(this.#hot, size * f), curveAt(this.#cold, size * f)) * st.cpuCorr;
        const engPart = curveAt(c.offload, size * (1 - f)) * k + backlog;
        // as seen for this size class once a split of it ran (its parts' rates beside each other and its wake-ups,
        // which the model's parts measured alone do not carry); else the calibration's split at this size (its ratio to
        // the model with the calibrated rates: what splits of other sizes taught the parts, e.g. one 4 MiB split whose
        // engine thread was woken onto this CPU, is not carried to sizes that never ran); else the model as learnt
        // (or, for a class none of which ran, what splits of the nearest class that did ran at, where both are past the
        // cache's knee: #nearSplit)
        const near = cls.samples > 0 ? 0 : this.#nearSplit(st, size);
        const lat = cls.samples > 0 ? cls.nsPerByte * size + backlog : near > 0 ? near + backlog : st.splitCal.length ? this.#calPrior(st, size) + backlog : Math.max(cpuPart, engPart);
        const cpu = cpuPart + curveAt(c.offloadCpu, size * (1 - f));
        all.push(choice(objective, "split", st, lat, cpu, Math.max(cpu, engPart - engFixed), cls.samples === 0 && this.#split !== "always" && beyond(st.splitCal, size)));
      }
    }
    // the best of all (usable or not), then the best usable one
    const ideal = this.#pick(all, inline, objective, null);
    const best = blocked ? this.#pick(all, inline, objective, blocked) : ideal;
    let fallback: Explanation["fallback"];
    if (ideal !== best && ideal.st && blocked?.has(ideal.st)) {
      const b = blocked.get(ideal.st)!;
      fallback = { kind: b.kind, engine: ideal.st.label, reason: b.reason };
      if (!dry) this.#fallback({ kind: b.kind, engine: ideal.st.label, change: `${name(ideal)} -> ${name(best)}`, size, reason: b.reason });
    }
    // backlog: the engine would be best when idle, but its queue makes the CPU faster
    const { wait, spinNs } = this.#wait(best, size, objective, explain ? reasons : null);
    const chunkBytes = best.kind === "pipelined" ? pipelinedChunk(size) : 0;
    if (explain) this.#explainChoice(reasons, estimates, best, inline, all, objective, size, chunkBytes, fallback, blocked ?? NONE_BLOCKED);
    return { best, inline, all, cache, wait, spinNs, chunkBytes, reasons, estimates, fallback, gated };
  }

  /** explain(): #choose's estimates and reasons (kept apart from #choose: its size is what the JIT weighs before compiling it). */
  #explainChoice(
    reasons: string[], estimates: Estimate[], best: Choice, inline: Choice, all: Choice[], objective: Objective, size: number, chunkBytes: number,
    fallback: Explanation["fallback"], unusable: ReadonlyMap<EngineState, { kind: FallbackKind; reason: string }>,
  ): void {
    for (const c of all)
      estimates.push({
        choice: name(c), latencyNs: Math.round(c.latencyNs), cpuNs: Math.round(c.cpuNs), busyNs: Math.round(c.busyNs),
        ...(c.st && unusable.has(c.st) ? { excluded: `${unusable.get(c.st)!.kind}: ${unusable.get(c.st)!.reason}` } : {}),
      });
    this.#reasons(reasons, best, inline, all, objective, size, fallback, unusable);
    if (best.kind === "pipelined") {
      const e = best.st!.prof;
      const first = predict(e.pipelined, 0) + chunkBytes * perByte(e.pipelined);
      reasons.push(`chunk ${fmtSize(chunkBytes)}: ${Math.ceil(size / chunkBytes)} chunks, the receiver can start after the first (≈ ${fmtNs(first)} at ${gbps(perByte(e.pipelined))}); 1/32 of the message, clamped to 64 KiB..4 MiB`);
    } else if (best.kind === "offload") reasons.push(`chunk: the engine's own (${best.st!.prof.chunkBytes ? fmtSize(best.st!.prof.chunkBytes) : "whole job"}): the message is published only when complete`);
    else if (best.kind === "split") reasons.push(`chunk: none; this thread copies the first ${(best.st!.share * 100).toFixed(0)}% (${fmtSize(Math.floor(size * best.st!.share))}), ${best.st!.label} the rest, published when both are done`);
    else reasons.push("chunk: none (an inline copy is one piece)");
    reasons.push(`profile: ${this.profileSource}${this.profile.created ? ` ${this.profile.created}` : ""}${this.profileNote ? ` (${this.profileNote})` : ""}`);
  }

  /**
   * #choose's pick among `cs` (of which `inline` is the first), leaving out the choices through engines in
   * `blocked` (null: none): a choice other than inline must beat it by MARGIN (a split always may under split
   * "always"), a split must beat the best choice without one by MARGIN (an unseen split, Choice.unseen: beat both
   * at all), and where two modes of one engine are
   * close the one the objective prefers (cpu: offload within 20% of pipelined; latency: pipelined within 3% of
   * offload). The first of equal costs wins.
   */
  #pick(cs: Choice[], inline: Choice, objective: Objective, blocked: ReadonlyMap<EngineState, unknown> | null): Choice {
    const always = this.#split === "always";
    const ic = inline.cost;
    let ns: Choice = inline, sp: Choice | undefined;
    for (let i = 1; i < cs.length; i++) {
      const c = cs[i]!;
      if (!eligible(c, ic, always, blocked)) continue;
      if (c.kind === "split") {
        if (sp === undefined || c.cost < sp.cost) sp = c;
      } else if (c.cost < ns.cost) ns = c;
    }
    let best = sp !== undefined && (always || sp.cost < (sp.unseen ? ns.cost : ns.cost * (1 - MARGIN))) ? sp : ns;
    if (objective === "cpu" && best.kind === "pipelined") {
      // publishing early (and waking readers per chunk) is not cheaper for the sender: offload unless pipelined is clearly so
      const off = sameEngine(cs, "offload", best.st);
      if (off && eligible(off, ic, always, blocked) && off.cost <= best.cost * 1.2) best = off;
    }
    if (objective === "latency" && best.kind === "offload") {
      const pp = sameEngine(cs, "pipelined", best.st);
      if (pp && eligible(pp, ic, always, blocked) && pp.cost <= best.cost * 1.03) best = pp; // as fast: the receiver may start on the first chunks
    }
    return best;
  }

  #cache(size: number, waiting: boolean, objective: Objective, reasons: string[] | null): "hot" | "cold" {
    const p = this.profile;
    const llc = p.llcBytes;
    // cold from libferry's own threshold for cache "auto" (min(LLC/2, 16 MiB)): end to end here (section 8, a receiver
    // reusing warm arena slots, a 32 MiB LLC) hot stores won at 4 MiB, cold ones at 16 MiB (tools/auto-cost.ts: 178 vs
    // 197 µs; 0.76 vs 1.07 ms); on a 16-core Xeon VM reporting a 300 MiB L3, hot offloads took 276 vs 186 µs at 16 MiB
    const comfy = this.#coldFrom;
    if (size <= 64 * KiB) {
      reasons?.push(`cache hot: ${fmtSize(size)} is small; it lands in cache and the reader comes soon`);
      return "hot";
    }
    if (size >= comfy) {
      reasons?.push(`cache cold: ${fmtSize(size)} ≥ ${llc ? `min(LLC/2, 16 MiB) (${fmtSize(comfy)})` : `${fmtSize(comfy)} (LLC unknown)`}: it would not fit comfortably and would evict the reader's data`);
      return "cold";
    }
    if (!waiting) {
      reasons?.push("cache cold: the receiver is not waiting (messages are queued or nobody subscribes): the data would be evicted before it is read");
      return "cold";
    }
    if (size >= PLACE_MIN && this.#coldPref[inlineClass(size)]) {
      if (reasons) reasons.push(`cache cold: ${this.#placeWhy(size)}`);
      return "cold";
    }
    const hot = curveAt(this.#hot, size);
    const cold = curveAt(this.#cold, size);
    if (objective !== "latency" && cold < hot * 0.8) {
      reasons?.push(`cache cold: objective ${objective}; a cold copy costs the sender ${fmtNs(cold)} vs ${fmtNs(hot)} hot here`);
      return "cold";
    }
    // (objective latency: hot even where the calibration's cold copy is much cheaper for the sender: calibration
    // method 1 alternated hot and cold sends into the same slots, so each hot copy there wrote lines the cold one
    // before had just pushed out of cache, while a channel's slots are normally reused warm; end to end, section 8
    // measured hot as fast or faster at 1-4 MiB where that calibration said cold was 40% cheaper. Method 2 times
    // each in a run of its own: 1-4 MiB cold copies are 5-15% cheaper there, under the 20% the other objectives
    // ask; 8 MiB ones still 25-30%)
    reasons?.push(`cache hot: the receiver is waiting and ${fmtSize(size)} fits the LLC (${fmtSize(llc)}) comfortably; hot copy ${fmtNs(hot)} vs cold ${fmtNs(cold)} (as calibrated)`);
    return "hot";
  }

  #wait(best: Choice, size: number, objective: Objective, reasons: string[] | null): { wait: WaitStrategy; spinNs: number } {
    const w = best.latencyNs;
    const cpus = this.profile.cpus;
    if (objective === "cpu") {
      reasons?.push(`wait block: objective cpu (no spinning; expected wait ${fmtNs(w)})`);
      return { wait: "block", spinNs: 0 };
    }
    if (w > 2e6) {
      reasons?.push(`wait block: the expected wait (${fmtNs(w)}) is long; spinning would only burn a CPU`);
      return { wait: "block", spinNs: 0 };
    }
    const busyThreads = best.kind === "inline" ? 1 : 2;
    if (w <= 20_000 && cpus > busyThreads) {
      const spin = Math.max(2_000, Math.round(2 * w));
      reasons?.push(`wait spin (budget ${fmtNs(spin)}): the expected wait (${fmtNs(w)}) is shorter than a sleep and wake-up, and ${cpus} CPUs leave one to spin`);
      return { wait: "spin", spinNs: spin };
    }
    const spin = Math.min(50_000, Math.max(5_000, Math.round(cpus <= busyThreads ? w / 4 : w)));
    reasons?.push(`wait hybrid (spin ${fmtNs(spin)}, then block): expected wait ${fmtNs(w)}${cpus <= busyThreads ? `; ${cpus} CPUs: a long spin would take the CPU the ${best.kind === "inline" ? "sender" : "engine"} needs` : ""}`);
    return { wait: "hybrid", spinNs: spin };
  }

  #reasons(
    reasons: string[], best: Choice, inline: Choice, all: Choice[], objective: Objective, size: number,
    fallback: Explanation["fallback"], blocked: ReadonlyMap<EngineState, { kind: FallbackKind; reason: string }>,
  ) {
    const metric = objective === "latency" ? "latency" : objective === "throughput" ? "busy time per message (sender or engine, the bottleneck)" : "sending-thread CPU";
    const v = (c: Choice) => fmtNs(objective === "latency" ? c.latencyNs : objective === "throughput" ? c.busyNs : c.cpuNs);
    const ranked = [...all].sort((a, b) => a.cost - b.cost);
    const runner = ranked.find((c) => c !== best);
    const head = `${name(best)}: objective ${objective} minimises ${metric}; ${name(best)} ${v(best)}` +
      (runner ? `, next ${name(runner)} ${v(runner)}` : "") + (best !== inline ? `, inline ${v(inline)}` : "");
    reasons.unshift(head);
    if (best === inline && ranked[0] !== inline && ranked[0]!.cost >= inline.cost * (1 - MARGIN) && !(ranked[0]!.st && blocked.has(ranked[0]!.st)))
      reasons.splice(1, 0, `${name(ranked[0]!)} is within ${MARGIN * 100}% of inline (${v(ranked[0]!)} vs ${v(inline)}): not worth leaving the CPU`);
    // the crossover from inline to the chosen engine mode, from the profile
    const xo = this.crossovers(objective).filter((x) => x.size <= Math.max(size, 64) * 4);
    if (xo.length) reasons.push(`calibrated crossovers (${objective}): ${xo.map((x) => `${x.from} -> ${x.to} at ${fmtSize(x.size)}`).join(", ")}`);
    const ic = inlineClass(size);
    if (this.#inlineTrial(size, best, inline))
      reasons.push(this.#inlineSeen[ic] === 0
        ? `inline trial: no inline copy of this size class (${fmtSize(2 ** ic)}) has been seen here, so inline's estimate is the calibration's alone and within ${INLINE_TRIAL}x of ${name(best)}'s: decide() sends the next one inline to learn what it costs`
        : `inline trial: ${this.#inlineSeen[ic]} inline copy of this size class (${fmtSize(2 ** ic)}) seen here, and a class's first copy can run cold: decide() sends the next one inline too (${INLINE_TRIAL_COPIES} in all; the faster one is inline's level there)`);
    if (size >= LARGE && this.#inlineCorr[ic] !== 1)
      reasons.push(`inline copies of this size class (${fmtSize(2 ** ic)}) run ${this.#inlineCorr[ic]!.toFixed(2)}x the calibrated time here (seen): their estimates carry it`);
    if (size >= LARGE) {
      const bound = (r: number) => (r >= DRIFT_MAX || r <= 1 / DRIFT_MAX ? ` (the bound: ${DRIFT_MAX}x either way)` : "");
      for (const st of this.#engines) {
        const d = this.#drift(st, size);
        if (d !== 1) reasons.push(`${st.label}'s estimates carry x${d.toFixed(2)}${bound(d)}: how far inline copies of this size class moved since ${st.label} was last seen here (the machine's drift, which the side not being sent does not show)`);
      }
    }
    if (best.unseen)
      reasons.push(`split/${best.st!.label}: no split of this size class has been seen here and the calibration measured none this large, so its estimate is an extrapolation: tried once it is at least as good as the best choice without it (not ${MARGIN * 100}% better); what the trial takes decides the next ones`);
    if (best.kind === "split" && this.#split === "always") reasons.push(`split: "always" (the coordinator's option): the sending thread copies part of every message of at least ${fmtSize(SPLIT_MIN)}`);
    if (best.st) {
      const st = best.st;
      const e = st.prof;
      if (st.inflightBytes) reasons.push(`engine ${st.label} backlog: ${st.inflight} send(s), ${fmtSize(st.inflightBytes)} queued ≈ ${fmtNs(st.inflightBytes * perByte(e.offload) * st.engCorr)} before this one`);
      reasons.push(`engine ${st.label}: ${gbps(perByte(e.offload) * st.engCorr)} at large sizes, ${fmtNs(predict(e.offload, 0) * st.engCorr)} per send fixed${st.engSamples ? ` (calibrated × ${st.engCorr.toFixed(2)} as observed over ${st.engSamples} sends)` : ""}; sender CPU per send ${fmtNs(predict(e.offloadCpu, size))}`);
      if (best.kind === "split")
        reasons.push(`split: CPU share ${(st.share * 100).toFixed(1)}% (${st.splitSamples ? `tuned from ${st.splitSamples} sends so both finish together` : "from the calibrated rates"}: CPU ${gbps(Math.min(perByte(this.profile.inlineHot), perByte(this.profile.inlineCold)))}, ${st.label} ${gbps(perByte(e.offload) * st.engCorr)}); ${splitSeen(st, size, this.#knee)}${st.cpuCorr !== 1 ? `; the CPU part runs ${st.cpuCorr.toFixed(2)}x its time alone beside the engine (seen)` : ""}`);
    } else {
      for (const st of this.#engines) {
        if (st.inflightBytes && !blocked.has(st)) {
          const idle = all.find((c) => c.st === st && c.kind === "offload");
          if (idle && idle.latencyNs - st.inflightBytes * perByte(st.prof.offload) * st.engCorr < inline.latencyNs)
            reasons.push(`engine ${st.label} backlog: ${fmtSize(st.inflightBytes)} queued ≈ ${fmtNs(st.inflightBytes * perByte(st.prof.offload) * st.engCorr)}: it would finish later than the CPU`);
        }
      }
    }
    for (const st of this.#engines) if (st.pipeCorr !== 1) reasons.push(pipelinedWhy(st));
    if (fallback) reasons.push(`FALLBACK (${fallback.kind}): ${fallback.engine} would be chosen but ${fallback.reason}`);
    for (const [st, b] of blocked) if (!fallback || fallback.engine !== st.label) reasons.push(`engine ${st.label} not used now (${b.kind}): ${b.reason}`);
  }

  #fallback(f: Omit<FallbackRecord, "at">) {
    this.#rec.fallback(f);
    const key = `${f.kind}|${f.engine}`;
    if (f.kind === "recovered") {
      for (const k of [...this.#warned]) if (k.endsWith(`|${f.engine}`)) this.#warned.delete(k);
      return;
    }
    if (!this.#warned.has(key) && process.env.FERRY_COORD_QUIET !== "1") {
      this.#warned.add(key);
      process.emitWarning(`${f.kind}: ${f.change} (${f.reason})`, { code: "FERRY_COORD_FALLBACK" });
    }
  }

  #engineFailed(st: EngineState, err: Error, size: number, retried: boolean, kind: string) {
    st.errors++;
    const queue = QUEUE_FULL.has(codeOf(err));
    st.cooldownMs = st.health === "probing" ? Math.min(60_000, st.cooldownMs * 2) : queue ? 100 : st.cooldownMs;
    st.health = "failing";
    this.#version++;
    this.#health++;
    st.until = Date.now() + st.cooldownMs;
    st.reason = `${queue ? "queue full" : "failed"}: ${err.message} (${codeOf(err) || err.name}); retried after ${st.cooldownMs} ms`;
    this.#fallback({
      kind: retried ? "engine error, sent inline" : queue ? "queue full" : "engine failing",
      engine: st.label,
      change: retried ? `${kind} -> inline/cpu (this message)` : `${kind} failed`,
      size,
      reason: st.reason,
    });
  }

  /**
   * A whole engine send (offload or pipelined, not a split) that ran alone took `ns` (observe() and #settled()):
   * an offload settles when published, a pipelined send when its copy is done, so both time the engine's copy.
   */
  #learnWhole(st: EngineState, mode: SendDecision["mode"], ns: number, size: number) {
    const pred = curveAt(mode === "offload" ? st.c.offload : st.c.pipelined, size);
    if (pred > 0) this.#learnEngine(st, ns / pred, size, mode === "pipelined");
  }

  /** An engine send that ran alone took `ratio` × the profile's time: offload (and split parts) teach the engine's rate, pipelined sends their mode's own cost. */
  #learnEngine(st: EngineState, ratio: number, size: number, pipelined = false) {
    if (size >= LARGE) {
      const k = inlineClass(size);
      st.drift.at[k] = ++this.#seenSeq;
      st.drift.inl[k] = this.#inlineSeen[k]! > 5 ? this.#inlineCorr[k]! : 0; // (inline's level still being learnt: no reference)
    }
    if (pipelined) {
      // the pipelined mode's own cost as seen, over the engine's rate as known: its per-chunk publishes and wake-ups
      st.pipeCorr = towardsMedian(st.pipeSeen, st.pipeCorr, ratio / st.engCorr);
      st.pipeSamples++;
      this.#moved(st);
      // learnt from three sends or more, and 10% away from what the cached profile has: written back (soon, off this path)
      if (this.#cacheDir !== null && st.pipeSamples >= 3 && Math.abs(Math.log(st.pipeCorr / st.pipeSaved)) > Math.log(1.1) && this.#saveTimer === null)
        this.#saveTimer = setTimeout(() => this.#saveLearnt(), 250).unref();
      return;
    }
    st.engSamples++;
    st.engCorr = towardsMedian(st.engSeen, st.engCorr, ratio);
    trialSeen(st.engRelax, st.engCorr, this.#decided);
    this.#moved(st);
  }

  /**
   * Write the pipelined corrections learnt here (from three sends or more) into the cached profile this
   * coordinator came from, if it is still that one (the same measurement: a newer calibration is left alone).
   * Errors are ignored: the cache is optional.
   */
  #saveLearnt() {
    this.#saveTimer = null;
    const dir = this.#cacheDir;
    if (dir === null) return;
    const c = loadCached(this.profile.engines.map((e) => e.label), dir);
    if (!c.profile || c.profile.created !== this.profile.created) return;
    let any = false;
    for (const st of this.#engines) {
      const e = c.profile.engines.find((x) => x.label === st.label);
      if (!e || st.pipeSamples < 3) continue;
      e.pipelinedLearnt = { corr: +st.pipeCorr.toFixed(3), sends: (e.pipelinedLearnt?.sends ?? 0) + st.pipeSamples, at: new Date().toISOString() };
      st.pipeSaved = st.pipeCorr;
      any = true;
    }
    if (any) saveCached(c.profile, dir);
  }

  /**
   * Is an engine's learnt rate what keeps it out of `size`? With `best()` chosen (not that engine; asked only
   * when some engine's rate is raised and not marked yet: the fast tier computes it for this), `again()`
   * chooses once more with every engine's rate above 1 set back to the calibration: an engine chosen then is
   * marked pricedOut, and only such a rate relaxes (#maybeRelax). An engine simply not competitive at the
   * sizes sent keeps what it learnt (section 8 here: its rate learnt at 16 MiB had relaxed away by the 64 MiB
   * sends, and the trusted split there was judged against a too-cheap offload).
   */
  #pricedOut(size: number, best: () => Choice, again: () => Choice): void {
    if (size < SPLIT_MIN) return;
    let raised: EngineState[] | null = null; // (one pass, no array unless one is raised: this runs at every fresh decision)
    for (const st of this.#engines) if (st.engCorr > 1 && !st.pricedOut) (raised ??= []).push(st); // (marked already: nothing to ask)
    if (raised === null) return;
    const chosen = best().st;
    raised = raised.filter((st) => st !== chosen);
    if (raised.length === 0) return;
    const b = this.#withRates((st) => (raised.includes(st) ? [1, st.pipeCorr] : null), again);
    if (b.st && raised.includes(b.st)) b.st.pricedOut = this.#anyPricedOut = true;
  }

  /**
   * `f()` with each engine's learnt rate and pipelined correction as `rates` gives them ([engCorr, pipeCorr], or
   * null: as they are), put back afterwards whatever `f` does: the what-if choices of #pricedOut and #engineBand.
   */
  #withRates<T>(rates: (st: EngineState, i: number) => readonly [number, number] | null, f: () => T): T {
    const es = this.#engines;
    const kept = es.map((st) => [st.engCorr, st.pipeCorr] as const);
    es.forEach((st, i) => {
      const r = rates(st, i);
      if (r) [st.engCorr, st.pipeCorr] = r;
    });
    try {
      return f();
    } finally {
      es.forEach((st, i) => ([st.engCorr, st.pipeCorr] = kept[i]!));
    }
  }

  /** Next time #maybeRelax looks at the engines (performance.now()). */
  #relaxAt = 0;
  /** Some engine was marked pricedOut since #maybeRelax last found none (#charge clears an engine's mark, not this). */
  #anyPricedOut = false;

  /** Relax the rates of priced-out engines that are due (relaxes()): from decide(), remembered decisions (#take) and every 16th send of the fast tier. */
  #maybeRelax(): void {
    if (!this.#anyPricedOut) return; // (no clock read on the path of sends while nothing is priced out)
    const now = performance.now();
    if (now < this.#relaxAt) return;
    this.#relaxAt = now + RELAX_MS / 2;
    let any = false;
    for (const st of this.#engines) {
      const e = st.pricedOut && st.engCorr !== 1 && relaxes(st.engRelax, st.engCorr, now, this.#decided);
      if (e) {
        st.engCorr = e;
        st.engSeen.fill(e); // (the window starts again from the relaxed value)
        this.#moved(st);
      }
      any ||= st.pricedOut;
    }
    this.#anyPricedOut = any;
  }

  /** A split ran: trust splits on this engine while they beat the best choice without one (as predicted now), else wait for the next trial. */
  #judgeSplit(st: EngineState, rep: SendReport) {
    if (this.#split === "always") return;
    const alt = this.#choose(rep.size, this.objective, true, 0, false, true, false, true).best;
    const c = this.#classFor(st, rep.size);
    const first = !c.trusted && !c.lost && c.samples <= 1 && rep.size >= this.#knee; // (the class's first trial: SPLIT_FIRST_NEAR_MISS below)
    // a trusted class is judged by its splits as learnt (the class's rate, which this split has just moved: a slower
    // one a fifth of the way), not by this one alone: one slow split among good ones (a thread preempted) had ended
    // the trust for a second or more (section 8: a 64 MiB class with 11 splits at 18.5 GB/s, ~3.6 ms, lost it to one
    // of 4.25 ms against inline's expected 4.18, and went inline for the rest of the size at 1.08x inline's time)
    const ns = this.objective !== "cpu" && c.trusted && c.samples > 1 && c.nsPerByte > 0 ? c.nsPerByte * rep.size : rep.ns;
    const won = this.objective === "cpu" ? rep.split!.cpuNs <= alt.cpuNs : ns <= alt.latencyNs;
    if (won) {
      if (!c.trusted) this.#version++; // decisions remembered while it was left out
      c.trusted = true;
      c.lost = "";
      c.trialMs = SPLIT_TRIAL_MS;
      c.everyNext = SPLIT_TRIAL_SENDS;
      return;
    }
    if (c.trusted) this.#version++; // remembered decisions were made with the split in
    c.trusted = false;
    c.trialAt = performance.now() + c.trialMs;
    c.trialMs = Math.min(SPLIT_TRIAL_MAX_MS, c.trialMs * 2);
    // a near miss (within 10%: a class's first split runs cold) is tried again after a few sends; a clear loss
    // waits for the time cool-down only (16 MiB splits here lose by 1.1-1.2x every time, 4 MiB ones by 3-4x)
    const seen = this.objective === "cpu" ? rep.split!.cpuNs : rep.ns;
    const want = this.objective === "cpu" ? alt.cpuNs : alt.latencyNs;
    // Judged on its share or on one-off costs, not on what splits cost here, a loss is tried again soon, as a near
    // miss is: the share has just moved toward the rates the two parts ran at (#tuneSplit), and the first split on
    // an engine in a process runs the publisher's split code for the first time (a first 64 MiB split in section
    // 8's setting took 4.5-5.4 ms send to published, 3.2-3.7 ms of it the two parts, 0.6-0.9 ms between the
    // publisher's choice to split and the split's first line; later ones 0.2-0.3 ms besides the parts: one-off
    // stamps in a throwaway run of measure/coordinator.ts's coordLatency at 16, 64 and 256 MiB)
    const even = this.objective === "cpu" ? seen : balancedNs(rep.split!, rep.ns, st.share, st.splitSamples > 1);
    // A class's first trial (never trusted nor lost before) runs cold besides: on two vCPUs its engine thread, woken
    // after sleeping, starts on the sending thread's CPU and the two parts share it until the scheduler moves one (the
    // first 64 MiB splits of section 8 runs took 4.4-6.0 ms, their parts 4.3-4.8 ms, against inline's expected
    // 3.5-3.9 ms; the later ones of those classes ran at ~2.9-3.4 ms). It is a near miss within SPLIT_FIRST_NEAR_MISS
    // past the cache's knee (#knee), where splits win when warm. Below it a first loss is mostly a real one: 16 MiB
    // splits lost by 1.2-1.4x in every section 8 run, and with the wider near miss there a second trial was sent in 6
    // of 14 runs.
    const nearMiss = first ? SPLIT_FIRST_NEAR_MISS : SPLIT_NEAR_MISS;
    if (seen <= want * nearMiss || even <= want * nearMiss) {
      c.every = c.everyNext;
      c.everyNext = Math.min(SPLIT_TRIAL_MAX_SENDS, c.everyNext * 2);
    } else c.every = Infinity;
    c.since = 0;
    c.lost = `a split of ${fmtSize(rep.size)} took ${fmtNs(seen)}${this.objective === "cpu" ? " of this thread's CPU" : ""}${even < seen * 0.95 ? ` (${fmtNs(even)} with its parts as the share now has them${st.splitSamples > 1 ? "" : ", without what the send took besides them: this engine's first split here"})` : ""}; ${name(alt)} is expected to take ${fmtNs(want)}`;
  }

  /**
   * DTO's loop, with times instead of wait counts: when the engine's part
   * finished after the CPU's (the thread waited), move the share toward the
   * rates seen (half way); when the engine was done first, the engine idled:
   * the CPU takes 2% less. Waits under 5% of the CPU part are in band.
   */
  #tuneSplit(st: EngineState, rep: SendReport) {
    const prior = this.#splitPrior(st, rep.size); // (before this split moves the share and the corrections)
    const s = rep.split!;
    const f = st.share;
    // the engine's rate as seen: its part took cpuNs + waitNs (or at most cpuNs when it was done first)
    const predEng = curveAt(st.c.offload, s.engineBytes);
    const predCpu = Math.min(curveAt(this.#hot, s.cpuBytes), curveAt(this.#cold, s.cpuBytes));
    if (predCpu > 0 && s.cpuNs > 0) st.cpuCorr = Math.min(4, Math.max(0.5, 0.5 * st.cpuCorr + 0.5 * (s.cpuNs / predCpu)));
    if (predEng > 0) {
      if (!s.engineFirst) this.#learnEngine(st, (s.cpuNs + s.waitNs) / predEng, rep.size);
      else if (s.cpuNs / predEng < st.engCorr) this.#learnEngine(st, s.cpuNs / predEng, rep.size);
    }
    if (!s.engineFirst) {
      if (s.waitNs > 0.05 * s.cpuNs && s.cpuNs > 0) {
        const rc = s.cpuBytes / s.cpuNs;
        const re = s.engineBytes / (s.cpuNs + s.waitNs);
        const target = rc / (rc + re);
        st.share = clampShare(f + 0.5 * (target - f));
      }
    } else {
      st.share = clampShare(f - 0.02);
    }
    st.splitSamples++;
    // what a split of this size class costs here, end to end (send -> published), learnt from the estimate it
    // was sent on: a class's first split runs cold (section 8: 4.6 ms for the first 64 MiB split, 2.8-3.3 ms later).
    // Not from the first split on this engine: its time includes the first run of the publisher's split code in
    // this process (0.6-0.9 ms before the split began, seen at 64 MiB); #judgeSplit judges that one by its parts
    const c = this.#classFor(st, rep.size);
    if (rep.ns > 0 && rep.size > 0 && st.splitSamples > 1) {
      // from the class's third split on, the median of its last three: one slow split among good ones (a thread
      // preempted) moved the EWMA a fifth of the way to it, e.g. a 64 MiB class at ~3.0 ms per split, 14 of them,
      // to 3.8 ms after one of 7.17 ms, and so out of its size and (#nearSplit) out of 256 MiB for a whole section 8 run
      c.seen.push(rep.ns / rep.size);
      if (c.seen.length > 3) c.seen.shift();
      const seen = c.seen.length === 3 ? medianOf(c.seen, 0, 3) : c.seen[c.seen.length - 1]!;
      const before = c.samples ? c.nsPerByte : prior / rep.size;
      // a send's time can only be inflated (a wake-up preempting the thread): trust a faster one more
      c.nsPerByte = before > 0 && Number.isFinite(before) ? (seen < before ? 0.5 : 0.2) * seen + (seen < before ? 0.5 : 0.8) * before : seen;
      c.samples++;
      if (!(Math.abs(c.nsPerByte - before) <= MEMO_DRIFT * before)) this.#version++; // remembered decisions compared against it
    }
    this.#moved(st);
  }

  /**
   * A split's estimate at `size` before one of its class ran, without backlog: the seen rate of the nearest class
   * past the cache's knee (#nearSplit), else the calibration's (#calPrior).
   */
  #splitPrior(st: EngineState, size: number): number {
    const near = this.#nearSplit(st, size);
    return near > 0 ? near : this.#calPrior(st, size);
  }

  /** #splitPrior from the calibration alone: its split at this size (its ratio to the model), else the model as learnt. */
  #calPrior(st: EngineState, size: number): number {
    const f = st.share;
    const cpu = Math.min(curveAt(this.#hot, size * f), curveAt(this.#cold, size * f));
    const eng = curveAt(st.c.offload, size * (1 - f));
    return st.splitCal.length ? Math.max(cpu, eng) * ratioAt(st.splitCal, size) : Math.max(cpu * st.cpuCorr, eng * st.engCorr);
  }

  /**
   * A split's estimate at `size` from the splits of another size class on `st` that ran here (two or more, so not
   * a class's cold first one alone), at their rate as seen, when both sizes are past the cache's knee (#knee):
   * there a copy's cost grows with its size, and splits of the nearest such class (in log2) measured beside this
   * receiver say more than the calibration's, measured alone and up to 64 MiB. 0 when there is none. In section 8
   * the calibration's estimate put the first 256 MiB split at 8.8-15.1 ms in five runs (the 64 MiB class's splits,
   * 13-16 of them at 18-28 GB/s, put it at 9.6-14.9 ms; auto's splits there ran at 12.0-13.2 ms, median per run);
   * where it said 15.1 ms against inline's 16.1 ms, one cold first split of 17.1 ms kept the class out for the rest
   * of the size.
   */
  #nearSplit(st: EngineState, size: number): number {
    const k = nearClass(st, size, this.#knee);
    return k < 0 ? 0 : st.classes.get(k)!.nsPerByte * size;
  }

  /** The size class of `size` on `st`, created on first use (by a trial or its observation). */
  #classFor(st: EngineState, size: number): SplitClass {
    const k = classOf(size);
    let c = st.classes.get(k);
    if (!c) st.classes.set(k, (c = { ...NO_CLASS, seen: [] }));
    return c;
  }

  /**
   * Should this fresh decision send an inline copy instead of `best`, to learn what inline copies cost here? While
   * none of this size class (LARGE or more) has been seen (#inlineSeen), inline's estimate there is the calibration's
   * alone, and nothing corrects it while an engine is chosen: engines learn from their own sends (and relax when left
   * out), inline only from inline sends. So when an engine choice wins over an inline estimate within INLINE_TRIAL of
   * its own, inline copies are sent until INLINE_TRIAL_COPIES of the class were seen (the first at most once per
   * INLINE_TRIAL_MS and class while none is seen; the second right after it: a class's first copy in a process can
   * run cold, and #learnInline takes the faster of the two). Only with a measured profile
   * (calibrated now, cached or given): a synthetic one is what its maker says, taken as is. At 16 MiB on this VM the
   * calibration put inline at 862 µs against the engine's 632 µs; sent inline, it took 684 µs end to end against the
   * offload's 730 µs (section 8, one run, 2026-11-29), and auto kept offloading.
   */
  #inlineTrial(size: number, best: Choice, inline: Choice): boolean {
    if (size < LARGE || best.kind === "inline" || this.profile.source !== "measured" || !(best.cost > 0 && inline.cost <= best.cost * INLINE_TRIAL)) return false;
    const k = inlineClass(size);
    const seen = this.#inlineSeen[k]!;
    return seen < INLINE_TRIAL_COPIES && (seen > 0 || performance.now() - this.#inlineTrialAt[k]! >= INLINE_TRIAL_MS);
  }

  /**
   * An inline copy of PLACE_MIN or more below coldFrom with placement `cache` took `ns` (the sending thread's
   * copy and publish, as the calibration timed them): its class's correction for that placement moves towards
   * ns / calibrated (an EWMA from 1; a faster one counts more, as in #learnInline), then #judgePlace.
   */
  #learnPlace(size: number, cache: string | undefined, ns: number) {
    if (size >= this.#coldFrom || !(ns > 0) || (cache !== "hot" && cache !== "cold")) return;
    const pred = curveAt(cache === "hot" ? this.#hot : this.#cold, size);
    if (!(pred > 0)) return;
    const k = inlineClass(size);
    const corr = this.#placeCorr[cache];
    const seen = this.#placeSeen[cache];
    const ratio = ns / pred;
    const hot = cache === "hot";
    // (from 1, not from the first copy: a size's first copies in a process run cold, and one at 2x had set it)
    // (up to 16x: after an idle gap a 1 MiB copy runs 5-10x its calibration, hot and cold alike, and at 4x both had read the same)
    corr[k] = hot && this.#hotGuess[k] ? Math.min(16, Math.max(0.5, ratio)) : copyTowards(corr[k]!, ratio, 0.3, 16);
    seen[k]!++;
    if (hot) into5(this.#hotWin, this.#hotWinAt, k, ratio);
    const guess = hot && this.#hotGuess[k] === 1; // (the one hot copy of a relaxation's trial)
    if (hot) this.#hotGuess[k] = 0;
    if ((this.#coldPref[k] === 1) !== hot) this.#placeSince[k]!++;
    if (!hot && this.#coldPref[k] === 1 && this.#placeSince[k]! <= PLACE_SEEN) {
      // a cold trial's first copies: at its end their median is the cold correction, not the EWMA from 1, which took
      // ~15 copies to say what three had (1 MiB copies at ~3.4x their calibration, interleaved with engine sends as in
      // section 8: a trial of 16 cold copies in a one-off trace; cold ones ran 1.12-1.18x inline's time end to end,
      // tools/auto-small.ts 1048576 140 with COLD=1)
      const at = k * PLACE_SEEN + this.#placeSince[k]! - 1;
      this.#coldTrial[at] = ratio;
      if (this.#placeSince[k] === PLACE_SEEN) corr[k] = Math.min(16, Math.max(0.5, medianOf(this.#coldTrial, k * PLACE_SEEN, PLACE_SEEN)));
    }
    if (!hot && this.#coldPref[k] && this.#placeSince[k]! % PLACE_RELAX_SENDS === 0) {
      // every PLACE_RELAX_SENDS cold copies (#placeSince counts them since the class went cold): hot's correction
      // moves half way back to 1, as a guess the next hot copy replaces
      const h = this.#placeCorr.hot;
      h[k] = Math.sqrt(h[k]!);
      this.#hotGuess[k] = 1;
      this.#judgePlace(k, size, true);
      return;
    }
    this.#judgePlace(k, size, guess);
  }

  /** Class k's hot and cold copies' expected time at `size` as learnt (the calibration's while none was seen). */
  #placeEst(k: number, size: number): [number, number] {
    return [curveAt(this.#hot, size) * this.#placeCorr.hot[k]!, curveAt(this.#cold, size) * this.#placeCorr.cold[k]!];
  }

  /**
   * Cold copies for class k with a waiting receiver once its hot ones run PLACE_SLOW or more their calibrated time
   * (the median of the last five; a relaxation's one hot copy: the learnt correction it set)
   * and cold ones are expected PLACE_COLD_MARGIN cheaper at `size` as learnt (as calibrated while none was seen),
   * after PLACE_SEEN hot copies (doubling per cold trial lost in a row: PLACE_LOST_MAX at most) or, after a
   * relaxation's trial (`relaxed`: its one hot copy, or the guess itself), at once. Hot again once hot copies are
   * PLACE_MARGIN cheaper as learnt, after PLACE_SEEN cold copies (a trial: judged so, and lost, it doubles the
   * wait for the next) or at a relaxation (their correction relaxes every PLACE_RELAX_SENDS cold copies,
   * #learnPlace). A change drops remembered decisions and rebuilds the fast tier (#version, #health).
   */
  #judgePlace(k: number, size: number, relaxed = false) {
    // (the cheap tests first: this runs after every inline copy of 512 KiB or more, fast-tier ones included)
    const was = this.#coldPref[k] === 1;
    const since = this.#placeSince[k]!;
    if (was ? !relaxed && since < PLACE_SEEN : !relaxed && since < PLACE_SEEN << this.#coldLost[k]!) return;
    if (!was && (this.#placeSeen.hot[k]! < PLACE_SEEN || (relaxed ? this.#placeCorr.hot[k]! : this.#hotMedian(k)) < PLACE_SLOW)) return;
    const [hotEst, coldEst] = this.#placeEst(k, size);
    const cold = was ? !(hotEst < coldEst * (1 - PLACE_MARGIN)) : coldEst < hotEst * (1 - PLACE_COLD_MARGIN);
    if (cold === was) return;
    if (!cold) this.#coldLost[k] = relaxed ? 0 : Math.min(PLACE_LOST_MAX, this.#coldLost[k]! + 1);
    this.#coldPref[k] = cold ? 1 : 0;
    this.#placeSince[k] = 0;
    this.#placeFlips++;
    this.#version++;
    this.#health++; // (rare, unlike the corrections: the fast tier follows at its next read, as for a change of health)
  }

  /** The median of class k's last five hot copies' ratios (#hotWin). */
  #hotMedian(k: number): number {
    return medianOf(this.#hotWin, k * 5, 5);
  }

  /** Why copies of `size` are cold (#coldPref), with the numbers. */
  #placeWhy(size: number): string {
    const k = inlineClass(size);
    const [h, c] = this.#placeEst(k, size);
    const hs = this.#placeSeen.hot[k]!, cs = this.#placeSeen.cold[k]!;
    return `hot inline copies of this size class (${fmtSize(2 ** k)}) ran ${this.#placeCorr.hot[k]!.toFixed(2)}x their calibrated time here (${hs} seen; the destination was not in cache), ` +
      `cold ones ${cs ? `${this.#placeCorr.cold[k]!.toFixed(2)}x (${cs} seen)` : "untried: one is tried"}; at ${fmtSize(size)} hot ${fmtNs(h)} vs cold ${fmtNs(c)}`;
  }

  /**
   * Large inline copies as seen against the profile (seen / predicted, 0.5..4, per size class), applied to
   * their class's inline estimates from LARGE up: the profile measures up to 64 MiB and extrapolates beyond, its
   * error depends on the size (caches), and a loaded machine copies slower than the calibration saw; the
   * thresholds move with it. After a class's first five copies, half way to the median of its last five (an
   * engine's rate learns from a median too, towardsMedian): a copy's time is inflated now and then (the receiver
   * woken onto this CPU runs first, the engine's thread has just evicted the caches), and with an EWMA a few such
   * copies right after offloads (16 MiB: 1.2-2.1 ms against ~0.8, a one-off trace of a section-8-like stream) had
   * put inline 5% above offload's estimate, while offload/sw ran 0.99-1.11x inline's time in section 8.
   */
  #learnInline(size: number, cache: string | undefined, ns: number) {
    const pred = curveAt(cache === "hot" ? this.#hot : this.#cold, size);
    if (!(pred > 0) || !(ns > 0)) return;
    const k = inlineClass(size);
    const ratio = ns / pred;
    this.#inlineSeen[k]!++;
    this.#inlineLast = k;
    into5(this.#inlineWin, this.#inlineWinAt, k, ratio);
    // the class's first five copies (an inline trial is one or two): an EWMA from 1 that trusts a faster copy more (a
    // send's time can only be inflated); from then on, half way to the median of its last five. Among the class's
    // first INLINE_TRIAL_COPIES, a copy faster than the correction is its level at once: they are often an inline
    // trial, after which an engine is sent and no other inline copy comes to finish the EWMA's way down (with
    // calibration method 3 a 16 MiB trial ran ~0.75x its calibration, and half way there kept inline's estimate
    // above offload's)
    const before = this.#inlineCorr[k]!;
    this.#inlineCorr[k] = this.#inlineSeen[k]! <= 5
      ? this.#inlineSeen[k]! <= INLINE_TRIAL_COPIES && ratio < before ? Math.max(0.5, ratio) : copyTowards(before, ratio, 0.2)
      : Math.min(4, Math.max(0.5, 0.5 * before + 0.5 * medianOf(this.#inlineWin, k * 5, 5)));
    this.#inlineAt[k] = ++this.#seenSeq;
    // (no #version bump: only estimates from LARGE up carry it, and each remembered decision there knows
    // how far it may move before the choice changes, MemoEntry.lo/hi; the fast tier ends below LARGE)
  }

  /**
   * After learning: remembered decisions go stale once the split's share or CPU correction moved MEMO_DRIFT (5%)
   * from when they were made (#version), or an engine's rate or pipelined correction left their band (#inCorr);
   * the fast tier follows the rates once they moved MEMO_DRIFT (#learnt).
   */
  #moved(st: EngineState) {
    const m = st.memoAt;
    const far = (a: number, b: number) => Math.abs(a - b) > MEMO_DRIFT * Math.abs(b);
    if (far(st.share, m.share) || far(st.cpuCorr, m.cpuCorr)) {
      this.#version++;
      m.share = st.share;
      m.cpuCorr = st.cpuCorr;
    }
    if (far(st.engCorr, m.engCorr) || far(st.pipeCorr, m.pipeCorr)) {
      this.#learnt++;
      m.engCorr = st.engCorr;
      m.pipeCorr = st.pipeCorr;
    }
  }

  /** @internal tests: the engine states' split shares */
  splitShare(label: string): number {
    return this.#engines.find((s) => s.label === label)?.share ?? NaN;
  }
}

export interface CoordinatorStats {
  id: number;
  objective: Objective;
  profile: { source: string; created: string; ms: number; note: string; engines: string[] };
  decisions: number;
  /**
   * Of those, the decisions computed afresh (every choice estimated); the others came from the fast tier or were
   * remembered (decided for the same size and load before, with nothing they depend on moved past its band).
   */
  decidedAfresh: number;
  /** inline copies of 8 MiB and more as seen / the profile, in the size class they were last seen at (learnt online; 1 before any) */
  inlineCorrection: number;
  /** the same per size class seen (keyed like splitClasses: "16 MiB" is 11.3-22.6 MiB); each applies to its class's inline estimates only */
  inlineCorrections: Record<string, number>;
  /**
   * Cache placement as learnt (512 KiB up to min(LLC/2, 16 MiB), a receiver waiting), per size class seen
   * (keyed like inlineCorrections): the placement chosen (cold while hot copies ran slow: their destination
   * was not in cache), each placement's inline copies as seen / calibrated and how many were seen; how often
   * a class's choice changed.
   */
  placement: {
    changes: number;
    classes: Record<string, { chosen: "hot" | "cold"; hot: { correction: number; seen: number }; cold: { correction: number; seen: number } }>;
  };
  total: { messages: number; bytes: number; ns: number };
  choices: Record<string, ChoiceStats>;
  fallbacks: { count: number; byKind: Record<string, number>; recent: FallbackRecord[] };
  engines: Record<string, { health: Health; reason: string; inflight: number; inflightBytes: number; cpuShare: number; splitSamples: number; errors: number; rateCorrection: number;
    /** pipelined sends as seen / the profile's, beyond rateCorrection (their per-chunk publishes and wake-ups) */
    pipelinedCorrection: number;
    /** the split's CPU part as seen / alone (memory bandwidth shared with the engine) */
    splitCpuCorrection: number;
    /** a split on this engine ran here and beat the best choice without one, at some size (until then only trials are sent) */
    splitTrusted: boolean;
    /**
     * Per size class splits were tried at (a power of two, "64 MiB"): trusted there, how many ran, the rate
     * they ran at end to end (GB/s; their estimate from then on), why the last trial lost.
     */
    splitClasses: Record<string, { trusted: boolean; samples: number; seenGBps: number; lost: string }> }>;
}

/** Put `v` in class k's window of five in `win` (per class, from k * 5), at the slot `at[k]` says, and move that on. */
function into5(win: Float64Array, at: Uint8Array, k: number, v: number): void {
  const i = at[k]!;
  win[k * 5 + i] = v;
  at[k] = i === 4 ? 0 : i + 1;
}

/** The median of the n (3 or 5) values from `at` (the one with at most n/2 below it and at most n/2 above; no allocation). */
function medianOf(v: ArrayLike<number>, at: number, n: 3 | 5): number {
  const half = n >> 1;
  for (let i = at; i < at + n; i++) {
    const x = v[i]!;
    let below = 0, same = 0;
    for (let j = at; j < at + n; j++) {
      const y = v[j]!;
      if (y < x) below++;
      else if (y === x) same++;
    }
    if (below <= half && below + same > half) return x;
  }
  return v[at]!; // (unreachable: one of them is their median)
}

/**
 * An engine correction (0.25..8) moved towards what sends show: the median of the last five sends' ratios
 * (seen / expected; `seen`, the window, starts seeded with the correction itself), half way when that median
 * is more than 25% off the correction (the engine or the machine changed: three sends show it), a tenth of
 * the way when within. Two sends alone move nothing: an engine's first sends in a process run cold (its
 * threads waking, the send path's JS in the JIT's first tiers: 9-30x the profile here for the first, and on
 * the device machine the first two offloads and pipelined sends of 1 MiB priced both out for good), and a
 * send a wake-up preempted is slow too. The jitter of single sends (0.7-1.6x on this VM) no longer moves the
 * correction past MEMO_DRIFT at every other send, dropping every remembered decision with it (section 8's
 * measurement at 4 MiB with a profile on which offload wins: 143 of 190 offloads decided afresh, ~26 µs each
 * before the copy, 1.2x the fixed offload).
 */
function towardsMedian(seen: number[], corr: number, ratio: number): number {
  seen.shift();
  seen.push(ratio);
  const m = medianOf(seen, 0, 5);
  const w = Math.abs(m / corr - 1) > 0.25 ? 0.5 : 0.1;
  return Math.min(8, Math.max(0.25, (1 - w) * corr + w * m));
}

/**
 * A send taught the engine's rate `corr` (towardsMedian): a relaxation's trial ends when its sends moved the
 * rate back up by more than 10% (the wait before the next relaxation doubles) or after three that did not (it
 * resets).
 */
function trialSeen(r: Relaxing, corr: number, n: number): void {
  if (r.trial) {
    r.trialSends++;
    const slow = corr > r.trial * 1.1;
    if (slow || r.trialSends >= 3) {
      r.ms = slow ? Math.min(RELAX_MAX_MS, r.ms * 2) : RELAX_MS;
      r.trial = 0;
    }
  }
  r.at = performance.now();
  r.n = n;
}

/**
 * An inline copy's correction (seen / calibrated, 0.5..max) moved towards `ratio`: half way when the copy was faster
 * (a copy's time can only be inflated: the receiver woken onto this CPU preempts it), `slower` of the way when not.
 */
function copyTowards(before: number, ratio: number, slower: number, max = 4): number {
  const w = ratio < before ? 0.5 : slower;
  return Math.min(max, Math.max(0.5, (1 - w) * before + w * ratio));
}

/**
 * The relaxed rate when `r` is due at `now`, with the coordinator at `n` decisions (half way back to 1 in log
 * terms; within 2% of it, 1), else 0: due when both its interval and as many decisions (RELAX_SENDS per
 * RELAX_MS) passed since it last learnt or relaxed.
 */
function relaxes(r: Relaxing, corr: number, now: number, n: number): number {
  if (now - r.at < r.ms || n - r.n < (RELAX_SENDS * r.ms) / RELAX_MS) return 0;
  const sq = Math.sqrt(corr);
  const next = Math.abs(sq - 1) < 0.02 ? 1 : sq;
  r.at = now;
  r.n = n;
  r.trial = next;
  r.trialSends = 0;
  return next;
}

/** explain(): an engine's pipelined correction, where it comes from. */
function pipelinedWhy(st: EngineState): string {
  const l = st.prof.pipelinedLearnt;
  const from = learntPipelined(st.prof) !== 1 ? `; it started at ${l!.corr}x, learnt by earlier processes on this machine over ${l!.sends} sends (the cached profile)` : "";
  return `pipelined/${st.label}: ${st.pipeCorr.toFixed(2)}x the calibration (its per-chunk publishes and wake-ups beside the receiver, which the calibration runs without), ${st.pipeSamples} pipelined sends seen here${from}`;
}

/** A profile engine's pipelined correction as learnt by earlier coordinators (EngineProfile.pipelinedLearnt), 1 without (or out of range). */
function learntPipelined(e: EngineProfile): number {
  const c = e.pipelinedLearnt?.corr;
  return typeof c === "number" && c >= 0.25 && c <= 8 ? c : 1;
}

function clampShare(f: number): number {
  return Math.min(0.95, Math.max(0.05, f));
}

/** A choice with its cost under `objective` (what #pick compares): the objective's time plus a thousandth of the latency, which breaks ties. */
function choice(objective: Objective, kind: Choice["kind"], st: EngineState | null, latencyNs: number, cpuNs: number, busyNs: number, unseen = false): Choice {
  const cost = (objective === "latency" ? latencyNs : objective === "throughput" ? busyNs : cpuNs) + latencyNs * 1e-3;
  return { kind, st, latencyNs, cpuNs, busyNs, cost, unseen };
}

/**
 * Not inline: through no engine in `blocked`, and beating inline's cost (`inlineCost`) by MARGIN (an unseen split:
 * at all, Choice.unseen), or a split under split "always".
 */
function eligible(c: Choice, inlineCost: number, always: boolean, blocked: ReadonlyMap<EngineState, unknown> | null): boolean {
  if (blocked !== null && c.st !== null && blocked.has(c.st)) return false;
  return c.cost < (c.unseen ? inlineCost : inlineCost * (1 - MARGIN)) || (c.kind === "split" && always);
}

/** The choice of mode `kind` through engine `st` among `cs` (one at most). */
function sameEngine(cs: Choice[], kind: Choice["kind"], st: EngineState | null): Choice | undefined {
  for (const c of cs) if (c.kind === kind && c.st === st) return c;
  return undefined;
}

/** #usable's answer for a usable engine (one object: #choose asks for every engine at every fresh decision). */
const USABLE = Object.freeze({ ok: true as const });

/** #choose's reasons and estimates when not explaining: nothing is put in them then (frozen: a push would throw). */
const NOTHING = Object.freeze([]) as unknown as never[];

/** #choose's blocked engines when none is. */
const NONE_BLOCKED: ReadonlyMap<EngineState, { kind: FallbackKind; reason: string }> = new Map();

function name(c: Choice): string {
  return c.kind === "inline" ? "inline/cpu" : `${c.kind}/${c.st!.label}`;
}

/** The split's time at calibration over its model, per measured size (0.5..4; empty when none was measured). */
function splitCalibration(p: Profile, e: EngineProfile): Series {
  if (!e.split.length || !e.splitShare) return [];
  const f = e.splitShare;
  return e.split.map(([s, ns]) => {
    const model = Math.max(Math.min(predict(p.inlineHot, s * f), predict(p.inlineCold, s * f)), predict(e.offload, s * (1 - f)));
    return [s, Math.min(4, Math.max(0.5, ns / model))] as [number, number];
  });
}

/** `size` is of a size class above the largest size in `cal` (a split calibration; true when it is empty): its estimate there is extrapolated. */
function beyond(cal: Series, size: number): boolean {
  return cal.length === 0 || classOf(size) > classOf(cal[cal.length - 1]![0]);
}

/** A calibration series' ratio at `size`: interpolated on log2(size) between measured sizes, the nearest one's outside them (1 when none). */
function ratioAt(s: Series, size: number): number {
  if (!s.length) return 1;
  if (size <= s[0]![0]) return s[0]![1];
  for (let i = 1; i < s.length; i++) {
    const [x1, y1] = s[i]!;
    if (size <= x1) {
      const [x0, y0] = s[i - 1]!;
      return y0 + ((y1 - y0) * Math.log2(size / x0)) / Math.log2(x1 / x0);
    }
  }
  return s[s.length - 1]![1];
}

/** explain(): why a split is left out of #choose now (its class waits for a trial). */
function leftOutReason(st: EngineState, cls: Readonly<SplitClass>): string {
  return `split/${st.label} left out until observed: ${cls.lost ? `its last trial lost (${cls.lost})` : "a trial is running"}; the calibration measured it alone in this process, a real one runs beside the receiver and other threads; next trial at this size in ${fmtNs((cls.trialAt - performance.now()) * 1e6)}${cls.every !== Infinity ? ` or after ${cls.every - cls.since} more send(s) of it` : ""}`;
}

/**
 * The size class on `st` nearest to `size` (in log2; the smaller one on a tie) with two splits or more seen, when
 * `size` and the class are both at least `knee`; -1 when none (Coordinator.#nearSplit).
 */
function nearClass(st: EngineState, size: number, knee: number): number {
  if (size < knee || st.classes.size === 0) return -1;
  const k0 = classOf(size);
  let best = -1;
  for (const [k, c] of st.classes)
    if (k !== k0 && c.samples >= 2 && 2 ** k >= knee && (best < 0 || Math.abs(k - k0) < Math.abs(best - k0) || (Math.abs(k - k0) === Math.abs(best - k0) && k < best)))
      best = k;
  return best;
}

/** explain(): where a split's estimate at `size` comes from (`knee`: Coordinator.#knee). */
function splitSeen(st: EngineState, size: number, knee: number): string {
  const c = st.classes.get(classOf(size));
  if (c && c.samples > 0) return `splits of the ${fmtSize(2 ** classOf(size))} class ran at ${gbps(c.nsPerByte)} here (${c.samples} seen): their estimate`;
  const k = nearClass(st, size, knee);
  if (k >= 0) {
    const n = st.classes.get(k)!;
    return `none of this size class ran here; splits of the ${fmtSize(2 ** k)} class did, at ${gbps(n.nsPerByte)} (${n.samples} seen): past the cache (${fmtSize(knee)}) a copy's cost grows with its size, so their rate is the estimate`;
  }
  if (st.splitCal.length) return `model × ${ratioAt(st.splitCal, size).toFixed(2)} as calibrated at this size (wake-ups, the parts sharing memory bandwidth)`;
  return "the model as calibrated";
}

/** Pipelined chunk: 1/32 of the message as a power of two, 64 KiB .. 4 MiB. */
export function pipelinedChunk(size: number): number {
  const c = 2 ** Math.ceil(Math.log2(Math.max(1, size / 32)));
  return Math.min(4 * MiB, Math.max(64 * KiB, c));
}

/**
 * Is a reader waiting on `ch`: someone subscribes and nothing published is
 * unreleased (history aside). channel.stats() takes the channel's lock, so
 * the answer is kept for 50 ms per channel rather than asked per message.
 */
const WAITING_TTL_MS = 50;
const waitingSeen = new WeakMap<Channel, { at: number; waiting: boolean }>();
function receiverWaiting(ch: Channel): boolean {
  const now = performance.now();
  const seen = waitingSeen.get(ch);
  if (seen && now - seen.at < WAITING_TTL_MS) return seen.waiting;
  let waiting = true;
  try {
    const s = ch.stats();
    waiting = s.subscribers > 0 && s.backlog === 0; // (tail - head counts released messages not reclaimed yet)
  } catch {
    // a closed channel: the send will say so
  }
  waitingSeen.set(ch, { at: now, waiting });
  return waiting;
}

/** The engines a coordinator chooses among, with labels; notes say what was left out and why. */
export function resolveEngines(opts: CoordinatorOptions): { engines: CalibrationEngine[]; map: Map<string, EngineLike>; notes: string[] } {
  const notes: string[] = [];
  const engines: CalibrationEngine[] = [];
  if (opts.engines) {
    for (const x of opts.engines) {
      const ce: CalibrationEngine = typeof x === "object" && x !== null && "label" in x && !(x instanceof Engine) ? x : { label: labelOf(x as EngineLike), engine: x as EngineLike };
      engines.push(ce);
    }
  } else {
    engines.push({ label: "sw", engine: "sw" });
    const d = detectDsa({ device: "auto" });
    if (d.available) engines.push({ label: "dsa", engine: dsaEngine({ device: "auto" }) });
    else notes.push(`dsa: not used (${d.reason})`);
    if (opts.emulatedDsa ?? process.env.FERRY_COORD_DSA_EMULATED === "1") engines.push({ label: "dsa-emulated", engine: dsaEngine({ device: "emulated" }) });
    else notes.push("dsa-emulated: not used (a correctness vehicle; emulatedDsa: true includes it)");
  }
  const map = new Map<string, EngineLike>();
  for (const e of engines) {
    if (map.has(e.label)) throw new FerryError(Errno.INVAL, `two engines labelled "${e.label}": give them labels ({ label, engine })`);
    map.set(e.label, e.engine);
  }
  return { engines, map, notes };
}

function labelOf(e: EngineLike): string {
  if (typeof e === "string") return e;
  const d = e as Engine & { device?: string; engine?: string };
  if (d.name === "dsa" && d.device === "emulated") return "dsa-emulated";
  return d.name;
}
