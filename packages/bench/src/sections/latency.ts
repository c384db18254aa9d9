/**
 * 1. One-way latency, Bun -> Bun: loan/publish ping-pong, RTT/2, per receiver wait strategy
 * and size; each row joins the samples of `rounds` sessions interleaved with the other rows.
 */
import type { WaitStrategy } from "@ferry/channel";
import { KiB, MiB, fmtNs, fmtSize, table, type Grid } from "../lib/format";
import { target } from "../lib/target";
import { roundOrder } from "../lib/stats";
import { pingPongRtts, summarize, type PingPongOptions } from "../measure/pingpong";
import type { CPingPong, PingPong } from "../schema";
import { section, type Context } from "../section";
import { cPingPongs } from "./c";

const WAITS: WaitStrategy[] = ["spin", "block", "hybrid"];

function config(o: { quick: boolean }) {
  const Q = o.quick;
  return {
    sizes: [64, 4 * KiB, MiB],
    waits: WAITS,
    iterations: (w: WaitStrategy, size: number) =>
      w === "spin" ? (size >= MiB ? (Q ? 500 : 5000) : Q ? 5000 : 100000) : size >= MiB ? (Q ? 300 : 5000) : Q ? 1000 : 20000,
    warmup: (w: WaitStrategy) => (w === "spin" ? (Q ? 200 : 2000) : Q ? 50 : 300),
    maxMs: Q ? 600 : 3000,
    rounds: Q ? 2 : 3,
  };
}

/** The latency table (printed, and pasted by report.ts). */
export const latencyGrid = (r: PingPong[]): Grid => ({
  head: ["receiver wait", "size", "p50", "p99", "min", "n"],
  rows: r.map((x) => [x.wait, fmtSize(x.size), fmtNs(x.p50_ns), fmtNs(x.p99_ns), fmtNs(x.min_ns), x.n]),
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
    const opts = (wait: WaitStrategy, size: number): PingPongOptions => ({
      wait, size, replySize: size, send: "loan",
      iterations: Math.ceil(cfg.iterations(wait, size) / cfg.rounds), warmup: cfg.warmup(wait), maxMs: cfg.maxMs / cfg.rounds,
    });
    const rtts = new Map<string, Float64Array[]>();
    for (let round = 0; round < cfg.rounds; round++)
      for (const [k, size] of cfg.sizes.entries())
        for (const j of roundOrder(cfg.waits.length, round * cfg.sizes.length + k)) {
          const wait = cfg.waits[j]!;
          Bun.gc(true);
          const key = `${wait}/${size}`;
          rtts.set(key, [...(rtts.get(key) ?? []), await pingPongRtts(opts(wait, size))]);
        }
    const out: PingPong[] = [];
    for (const wait of cfg.waits)
      for (const size of cfg.sizes) {
        const parts = rtts.get(`${wait}/${size}`)!;
        const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
        parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
        out.push(summarize(opts(wait, size), all));
      }
    return out;
  },
  table: (r) => table(latencyGrid(r)),
  targets(r, ctx) {
    // the default wait (hybrid) against the best fixed one (spin, block), size by size, back to back
    let worst: { ratio: number; size: number; best: string } | undefined;
    for (const size of new Set((r ?? []).map((x) => x.size))) {
      const at = (r ?? []).filter((x) => x.size === size);
      const h = at.find((x) => x.wait === "hybrid");
      const fixed = at.filter((x) => x.wait !== "hybrid").sort((a, b) => a.p50_ns - b.p50_ns)[0];
      if (!h || !fixed) continue;
      const ratio = h.p50_ns / fixed.p50_ns;
      if (!worst || ratio > worst.ratio) worst = { ratio, size, best: fixed.wait };
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
      }, l64.find((r) => r.wait === "spin")?.p50_ns),
      target("<=", {
        id: "bun-block-p50",
        name: "one-way 64 B Bun->Bun, await receive() block, p50",
        limit: 30_000,
        fmt: fmtNs,
        note: `same run: C ferry block ${ns(cOf("block"))}; event-loop peers 64 B: Bun IPC ${ipc ? fmtNs(ipc.lat64.p50_ns) : "n/a"}, Unix socket ${uds ? fmtNs(uds.lat64.p50_ns) : "n/a"}`,
      }, l64.find((r) => r.wait === "block")?.p50_ns),
      target("<=", {
        id: "default-wait-vs-best",
        name: "back to back: default wait (hybrid, await receive()) vs the best fixed wait, p50 (worst size)",
        limit: 1.1,
        fmt: (x) => `${x.toFixed(2)}x`,
        note: worst ? `worst at ${fmtSize(worst.size)}, where the best is ${worst.best}${worst.best === "spin" ? " (a tryReceive loop on the JS thread, no await)" : ""}` : undefined,
      }, worst?.ratio),
    ];
  },
});
