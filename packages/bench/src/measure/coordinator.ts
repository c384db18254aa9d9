/**
 * Section 8's measurements: `auto` (a calibrated coordinator) against every
 * fixed mode/engine, end to end between two Bun processes, and the sending
 * thread's CPU per GiB under objective cpu vs inline.
 */
import { readFileSync } from "node:fs";
import { Channel, type Engine, type Publisher, type SendContext } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";
import { MiB } from "../lib/format";
import { monoNs } from "../lib/msg";
import { Session } from "../lib/session";
import { median, roundOrder } from "../lib/stats";
import type { CoordCell, CoordCpu } from "../schema";

const GAP_NS = 100_000;

/**
 * The tools' coordinator (auto-pieces.ts, auto-varied.ts): calibrated for objective latency, with inline copies
 * INLINE_SCALE times as slow in its profile when that is set (6: a synthetic profile on which the engines win
 * from ~1 MiB, auto's engine path on this VM).
 */
export async function toolCoordinator(): Promise<Coordinator> {
  const calibrated = await Coordinator.calibrate({ objective: "latency" });
  const scale = Number(process.env.INLINE_SCALE ?? 1);
  if (scale === 1) return calibrated;
  const p = structuredClone(calibrated.profile);
  p.inlineHot = p.inlineHot.map(([s, t]) => [s, t * scale]);
  p.inlineCold = p.inlineCold.map(([s, t]) => [s, t * scale]);
  p.source = "synthetic";
  return new Coordinator(p, { objective: "latency" });
}

/**
 * The setup of the tools that time the coordinator's code cold (decide-cold.ts, remembered-cold.ts):
 * toolCoordinator(), a channel and publisher for its SendContext, and evict(): read a 96 MiB buffer
 * (which evicts the caches and the TLB, as a large copy does), then pause 100 µs. idle() waits IDLE_MS
 * (default 300: the coordinator's warm-up has run by then). Close it with `using`.
 */
export async function coldCoordinator(tag: string) {
  const co = await toolCoordinator();
  const ch = Channel.create(`${tag}-${process.pid}`, { capacity: 4 * MiB, slots: 64 });
  const pub = ch.publisher();
  const ctx: SendContext = { channel: ch, publisher: pub, engine: "cpu", options: {} };
  const big = new Uint8Array(96 * MiB).fill(1);
  let sink = 0;
  return {
    co, pub, ctx,
    evict(): void {
      for (let j = 0; j < big.length; j += 64) sink += big[j]!;
      const g = Bun.nanoseconds();
      while (Bun.nanoseconds() - g < 100_000);
    },
    idle: () => Bun.sleep(Number(process.env.IDLE_MS ?? 300)),
    warmUp: process.env.FERRY_COORD_WARMUP === "0" ? "off" : "on",
    [Symbol.dispose]() {
      if (sink < 0) console.log(sink); // (keeps the reads)
      ch.close();
    },
  };
}

/** Messages `co` has sent per choice so far ("inline/cpu", "offload/sw", ...): what a stretch of sends did, as a difference. */
export function sentPerChoice(co: Coordinator): Record<string, number> {
  return Object.fromEntries(Object.entries(co.stats().choices).map(([k, c]) => [k, c.messages]));
}

export interface Variant {
  name: string;
  /** null: auto through the coordinator's publisher */
  mode: "inline" | "offload" | "pipelined" | null;
  engine?: Engine | string;
  /** a fixed cache placement (tools: inline with cache "cold"); section 8's variants leave libferry's "auto" */
  cache?: "hot" | "cold";
}

/** End-to-end latency (send start -> the receiver has every byte) per size and variant; variants interleaved. */
export async function coordLatency(
  sizes: number[], variants: Variant[], co: Coordinator, iterations: (size: number) => number, log: (s: string) => void,
): Promise<{ cells: CoordCell[]; choices: Record<number, string> }> {
  const max = Math.max(...sizes);
  await using s = new Session({
    role: "recv",
    data: { tag: "coord", capacity: max + 4 * MiB, slots: 64 },
    ack: { tag: "coack", capacity: MiB, slots: 64 },
    ackWait: "block",
    args: [MiB, "block"],
  });
  await s.peer.ready;
  const auto: Publisher = s.data.publisher({ backpressure: "block", timeoutMs: -1, coordinator: co });
  const header = new Uint8Array([0]); // the receiver does no work per byte: arrival only
  const once = async (src: Uint8Array, v: Variant) => {
    // every variant through the same publisher (an explicit mode never asks its policy): a publisher
    // used by one variant in six has its native state cold each time, which cost ~3-5 µs per send
    const pub = auto;
    // each message comes alone: the engines' threads (which poll ~20 µs after a job) and the
    // receiver settle first, so no variant pays for the one before it
    const g = Bun.nanoseconds();
    while (Bun.nanoseconds() - g < GAP_NS);
    const t0 = monoNs();
    await pub.send(src, v.mode === null ? { header } : { mode: v.mode, engine: v.engine, cache: v.cache, header });
    const [t1] = await s.recvAck();
    return t1 - t0;
  };
  const cells: CoordCell[] = [];
  const choices: Record<number, string> = {};
  try {
    const sent = () => sentPerChoice(co);
    for (const size of sizes) {
      let src: Uint8Array | null = new Uint8Array(size).fill(5);
      const before = sent();
      const r = new Map(variants.map((v) => [v.name, [] as number[]]));
      const n = iterations(size);
      // small sizes are cheap to warm: every variant's code reaches its steady (JIT) state; 64 B is
      // the run's first size, where 10 rounds left the auto path's code less warm than the fixed one's.
      // The same up to 4 MiB, the first size auto decides above its fast tier (remembered.take/settled,
      // code no smaller size runs): after 2 rounds they still ran in JSC's first tiers, ~15 + 8 µs per
      // 4 MiB send against ~2 + 2 µs once compiled (tools/auto-pieces.ts 4 60 vs 300)
      const warm = size <= 256 * 1024 ? 40 : size <= 4 * MiB ? 40 : size <= 16 * MiB ? 10 : 2;
      for (let i = -warm; i < n; i++)
        for (const j of roundOrder(variants.length, i + warm)) {
          const v = variants[j]!; // each variant follows every other about as often (roundOrder)
          const t = await once(src, v);
          if (i >= 0) r.get(v.name)!.push(t);
        }
      const autoTimes = r.get("auto");
      for (const v of variants) {
        const ts = r.get(v.name)!;
        const perRound = autoTimes ? median(ts.map((t, i) => autoTimes[i]! / t)) : NaN;
        cells.push({ size, variant: v.name, n, median_ns: median(ts), auto_per_round: perRound });
      }
      const e = co.explain(size);
      choices[size] = `${e.mode}/${e.engine}${e.cpuShare ? ` split ${(e.cpuShare * 100).toFixed(0)}%` : ""}`;
      const at = (name: string) => cells.find((c) => c.size === size && c.variant === name)!.median_ns;
      // what auto's sends of this size did, warm-up included (explain() above is its decision after them)
      const after = sent();
      const did = Object.entries(after).map(([k, m]) => [k, m - (before[k] ?? 0)] as const).filter(([, m]) => m > 0);
      log(`  ${size} B: ${variants.map((v) => `${v.name} ${(at(v.name) / 1e3).toFixed(1)} µs`).join(", ")} (auto: ${choices[size]}; its sends: ${did.map(([k, m]) => `${k} ${m}`).join(", ")})`);
      if (size >= 2 ** 20) {
        // the cache placement as learnt (from 512 KiB): cold while hot copies ran slow
        const pl = co.stats().placement;
        const cls = Object.entries(pl.classes).map(([k, c]) => `${k} ${c.chosen} (hot ${c.hot.correction}x, ${c.hot.seen} seen; cold ${c.cold.correction}x, ${c.cold.seen})`);
        log(`    placement: ${e.cache}; learnt ${cls.length ? cls.join("; ") : "nothing"}; ${pl.changes} changes`);
      }
      if (size >= 8 * 2 ** 20) {
        // what auto had learnt by then: large inline copies as seen / calibrated, and the splits per size class
        const st = co.stats();
        const cls = Object.entries(st.engines).flatMap(([l, e]) => Object.entries(e.splitClasses).map(([k, c]) => `${l} ${k}: ${c.trusted ? "trusted" : c.lost ? `lost (${c.lost})` : "untried"}, ${c.samples} ran${c.samples ? ` at ${c.seenGBps} GB/s` : ""}`));
        const inl = Object.entries(st.inlineCorrections).map(([k, x]) => `${k} ${x}x`).join(", ");
        log(`    learnt: inline ${inl ? `${inl} calibrated` : "as calibrated"}${cls.length ? `; splits ${cls.join("; ")}` : ""}`);
      }
      src = null;
      Bun.gc(true);
    }
  } finally {
    auto.close();
  }
  await s.end();
  return { cells, choices };
}

function threadCpuNs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]);
  } catch {
    return NaN;
  }
}

/**
 * Sending-thread CPU per GiB: a stream of `size` messages (<= 2 sends in flight) to a sink, inline vs auto
 * under `co` (objective cpu), at the stream's steady state: before the first size auto sends `steady`
 * messages of it, and at every size each variant sends WARM_SENDS (a count, not bytes: the JIT and the
 * arena's pages warm per send); then `rounds` rounds of `bytes` each alternate inline and auto (which goes
 * first alternates too); each gives the median round (one round of 16-64 sends moves by 10-30%).
 */
const WARM_SENDS = 64;
/**
 * The sending thread's CPU per engine send drops in one step after ~800-1,200 sends of a stream, the fixed
 * offload's and auto's alike (JSC's optimising tier taking over the send path; a count of sends, whatever
 * their size): `tools/send-warmup.ts 16 100 32 offload|auto` here (2026-11-28, one run each): offload ~50 µs
 * per send for the first ~800 sends, then 20-30 µs; auto 35-45 µs, then 25-35 µs after ~1,200. The target
 * is a stream's cost, so section 8b measures after this many (cold rounds: docs/benchmarks.md).
 */
export const STEADY_SENDS = 2048;

/**
 * A sink peer for streams of up to `max`-byte messages, and stream(): `k` sends of `bufs` in turn,
 * inline (`send` null: sendSync) or through `send` with at most DEPTH in flight, then a 0-byte
 * marker the sink acks: every byte has arrived when it returns. Also tools/send-cpu.ts.
 */
const DEPTH = 2;
export async function sendStream(tag: string, max: number) {
  const s = new Session({
    role: "sink",
    data: { tag, capacity: (DEPTH + 2) * max + 4 * MiB, slots: 256 },
    ack: { tag: `${tag}-ack`, capacity: MiB, slots: 64 },
    ackWait: "block",
    args: ["block", 1],
  });
  try {
    await s.peer.ready;
  } catch (e) {
    await s[Symbol.asyncDispose]();
    throw e;
  }
  const empty = new Uint8Array(0);
  const stream = async (send: ((b: Uint8Array) => Promise<number>) | null, k: number, bufs: Uint8Array[]) => {
    const inflight: Promise<number>[] = [];
    for (let i = 0; i < k; i++) {
      const b = bufs[i % bufs.length]!;
      if (!send) s.pub.sendSync(b, { mode: "inline" });
      else {
        if (inflight.length >= DEPTH) await inflight.shift();
        inflight.push(send(b));
      }
    }
    await Promise.all(inflight);
    s.pub.sendSync(empty);
    (await s.ackSub.receive()).release();
  };
  return { session: s, stream };
}

export async function coordCpu(sizes: number[], bytes: number, co: Coordinator, rounds = 3, steady = STEADY_SENDS): Promise<CoordCpu[]> {
  const { session, stream } = await sendStream("cocpu", Math.max(...sizes));
  await using s = session;
  const auto = s.data.publisher({ backpressure: "block", timeoutMs: -1, coordinator: co });
  const out: CoordCpu[] = [];
  const run = (pub: Publisher | null, k: number, bufs: Uint8Array[]) => stream(pub && ((b) => pub.send(b)), k, bufs);
  try {
    for (const size of sizes) {
      const k = Math.max(4, Math.floor(bytes / size));
      const bufs = [0, 1, 2].map((i) => new Uint8Array(size).fill(i + 1));
      const variants = [["inline", null], ["auto", auto]] as const;
      // warm-up: the sending thread's CPU per send falls steeply over a stream's first 40-60 sends and again in a
      // step after ~1,000 (STEADY_SENDS), offload and auto alike (64 MiB: 16 sends, the count used before, were not enough)
      if (out.length === 0 && steady > 0) await run(auto, steady, bufs); // (the sizes ascend: the quickest stream to reach it)
      for (const [, pub] of variants) await run(pub, WARM_SENDS, bufs);
      const res: Record<string, { cpu: number[]; wall: number[] }> = { inline: { cpu: [], wall: [] }, auto: { cpu: [], wall: [] } };
      for (let r = 0; r < rounds; r++)
        for (const [name, pub] of r % 2 ? [...variants].reverse() : variants) {
          const c0 = threadCpuNs();
          const w0 = monoNs();
          await run(pub, k, bufs);
          const gib = (k * size) / 2 ** 30;
          res[name]!.cpu.push((threadCpuNs() - c0) / gib);
          res[name]!.wall.push((monoNs() - w0) / gib);
        }
      const m = (name: string, f: "cpu" | "wall") => median(res[name]![f]);
      const e = co.explain(size);
      out.push({
        size, bytes: k * size, rounds, inline_thread_ns_per_gib: m("inline", "cpu"), auto_thread_ns_per_gib: m("auto", "cpu"),
        inline_wall_ns_per_gib: m("inline", "wall"), auto_wall_ns_per_gib: m("auto", "wall"), ratio: m("auto", "cpu") / m("inline", "cpu"),
        choice: `${e.mode}/${e.engine}`,
      });
      Bun.gc(true);
    }
  } finally {
    auto.close();
  }
  await s.end();
  return out;
}
