/**
 * 1. One-way latency, Bun -> Bun: loan/publish ping-pong, RTT/2, per receiver wait strategy
 * and size; each row joins the samples of `rounds` sessions interleaved with the other rows
 * (LAT_DEBUG=1 prints each session's p50 on stderr).
 */
import type { WaitStrategy } from "@ferry/channel";
import { KiB, MiB, fmtNs, fmtSize, table, type Grid } from "../lib/format";
import { target } from "../lib/target";
import { receiveOf } from "../lib/msg";
import { roundOrder } from "../lib/stats";
import { pingPongRtts, summarize, type PingPongOptions } from "../measure/pingpong";
import type { CPingPong, PingPong } from "../schema";
import { section, type Context } from "../section";
import { cPingPongs } from "./c";

/**
 * The rows: spin as a tryReceive() loop (the lowest latency a Bun process gets: the floor
 * comparison), then every wait strategy through `await receive()`, the API the default wait
 * is compared in (the same promise hop on each side for all three).
 */
type Variant = { wait: WaitStrategy; receive: "loop" | "await" };
const VARIANTS: Variant[] = [
  { wait: "spin", receive: "loop" },
  { wait: "spin", receive: "await" },
  { wait: "block", receive: "await" },
  { wait: "hybrid", receive: "await" },
];
const label = (x: PingPong) => (x.wait === "spin" ? `spin (${receiveOf(x)})` : x.wait);
/** The row of the floor comparisons: spin through the tryReceive() loop. */
export const spinLoop = (x: PingPong) => x.wait === "spin" && receiveOf(x) === "loop";

function config(o: { quick: boolean }) {
  const Q = o.quick;
  return {
    sizes: [64, 4 * KiB, MiB],
    variants: VARIANTS,
    iterations: (w: WaitStrategy, size: number) =>
      w === "spin" ? (size >= MiB ? (Q ? 500 : 5000) : Q ? 5000 : 100000) : size >= MiB ? (Q ? 300 : 5000) : Q ? 1000 : 20000,
    warmup: (w: WaitStrategy) => (w === "spin" ? (Q ? 200 : 2000) : Q ? 50 : 300),
    maxMs: Q ? 600 : 3000,
    warmupMs: Q ? 150 : 300,
    rounds: Q ? 2 : 5,
  };
}

/** The latency table (printed, and pasted by report.ts). */
export const latencyGrid = (r: PingPong[]): Grid => ({
  head: ["receiver wait", "size", "p50", "p99", "min", "n"],
  rows: r.map((x) => [label(x), fmtSize(x.size), fmtNs(x.p50_ns), fmtNs(x.p99_ns), fmtNs(x.min_ns), x.n]),
});

/** The 64 B one-way rows: this section's, or those the peers section measured when latency gave none. */
export function ferry64(ctx: Context): PingPong[] {
  const own = ctx.results.latency?.filter((r) => r.size === 64) ?? [];
  return own.length ? own : (ctx.results.peers?.ferry_64B ?? []);
}

export const latency = section({
  name: "latency",
  title: "1. one-way latency, Bun -> Bun (loan/publish; RTT/2)",
  alwaysTargets: true,
  empty: () => [],
  config,
  async run(cfg) {
    // rounds: every size's wait strategies back to back, in an order drawn anew each round
    // (lib/stats.ts roundOrder), samples joined per row: the default wait is compared with
    // the fixed ones over the same minutes, not after them (this VM moves between minutes)
    const opts = ({ wait, receive }: Variant, size: number): PingPongOptions => ({
      wait, receive, size, replySize: size, send: "loan",
      iterations: Math.ceil(cfg.iterations(wait, size) / cfg.rounds), warmup: cfg.warmup(wait), warmupMs: cfg.warmupMs,
      maxMs: cfg.maxMs / cfg.rounds,
    });
    const rtts = new Map<string, Float64Array[]>();
    const key = (v: Variant, size: number) => `${v.wait}/${v.receive}/${size}`;
    for (let round = 0; round < cfg.rounds; round++)
      for (const [k, size] of cfg.sizes.entries())
        for (const j of roundOrder(cfg.variants.length, round * cfg.sizes.length + k)) {
          const v = cfg.variants[j]!;
          Bun.gc(true);
          const got = await pingPongRtts(opts(v, size));
          if (process.env.LAT_DEBUG) console.error(`round ${round} ${key(v, size)}: p50 ${(Float64Array.from(got).sort()[got.length >> 1]! / 2).toFixed(0)} ns`);
          rtts.set(key(v, size), [...(rtts.get(key(v, size)) ?? []), got]);
        }
    const out: PingPong[] = [];
    for (const v of cfg.variants)
      for (const size of cfg.sizes) {
        const parts = rtts.get(key(v, size))!;
        const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
        parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
        out.push(summarize(opts(v, size), all));
      }
    return out;
  },
  table: (r) => table(latencyGrid(r)),
  targets(r, ctx) {
    // the default wait (hybrid) against the best fixed one (spin, block), size by size, back to
    // back, all through await receive(); the tryReceive loop's row is reported beside it
    let worst: { ratio: number; size: number; best: string; loop?: number } | undefined;
    for (const size of new Set((r ?? []).map((x) => x.size))) {
      const at = (r ?? []).filter((x) => x.size === size);
      const h = at.find((x) => x.wait === "hybrid");
      const fixed = at.filter((x) => x.wait !== "hybrid" && receiveOf(x) === "await")
        .sort((a, b) => a.p50_ns - b.p50_ns)[0];
      if (!h || !fixed) continue;
      const ratio = h.p50_ns / fixed.p50_ns;
      const loop = at.find(spinLoop);
      if (!worst || ratio > worst.ratio) worst = { ratio, size, best: label(fixed), loop: loop && h.p50_ns / loop.p50_ns };
    }
    const l64 = ferry64(ctx);
    const cpp = cPingPongs(ctx.results.c ?? []);
    const ns = (x: { p50_ns: number } | undefined) => (x ? fmtNs(x.p50_ns) : "n/a");
    const cOf = (w: string): CPingPong | undefined => cpp.find((r) => r.impl === "ferry" && r.wait === w && r.size === 64);
    const cFloor = cpp.find((r) => r.impl === "floor" && r.size === 64);
    const ipc = ctx.results.peers?.others.find((p) => p.impl === "bun-ipc");
    const uds = ctx.results.peers?.others.find((p) => p.impl === "unix-socket");
    return [
      target("<=", {
        id: "bun-spin-p50",
        name: "one-way 64 B Bun->Bun, loan/publish/tryReceive/release spin, p50",
        limit: 300,
        fmt: fmtNs,
        note: `same run: C ferry spin ${ns(cOf("spin"))}, C floor (one cache line each way) ${ns(cFloor)}`,
      }, l64.find(spinLoop)?.p50_ns),
      target("<=", {
        id: "bun-block-p50",
        name: "one-way 64 B Bun->Bun, await receive() block, p50",
        limit: 30_000,
        fmt: fmtNs,
        note: `same run: C ferry block ${ns(cOf("block"))}; event-loop peers 64 B: Bun IPC ${ipc ? fmtNs(ipc.lat64.p50_ns) : "n/a"}, Unix socket ${uds ? fmtNs(uds.lat64.p50_ns) : "n/a"}`,
      }, l64.find((r) => r.wait === "block")?.p50_ns),
      target("<=", {
        id: "default-wait-vs-best",
        name: "back to back: default wait (hybrid) vs the best fixed wait, all await receive(), p50 (worst size)",
        limit: 1.1,
        fmt: (x) => `${x.toFixed(2)}x`,
        note: worst
          ? `worst at ${fmtSize(worst.size)}, where the best is ${worst.best}; hybrid vs spin as a tryReceive loop (no await) there: ${worst.loop ? `${worst.loop.toFixed(2)}x` : "n/a"}`
          : undefined,
      }, worst?.ratio),
    ];
  },
});
