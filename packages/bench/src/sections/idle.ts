/**
 * 6. Wake-up after idle: how services use a channel. A 64 B request every
 * 1 / 3 / 10 ms (the requester idles on a timer in between), answered with
 * 64 B; both sides await in their event loops. Round trip, next to a Unix
 * socket echo with the same gaps, in the same run, interleaved request by
 * request (measure/idle.ts) so the VM's drift hits both alike. Back-to-back ping-pongs
 * (section 1) never see the cost of a sleeping event loop waking up. Then
 * uploads: a request of 4 KiB / 64 KiB / 1 MiB every 10 ms acked with 1 byte,
 * Ferry (default wait) against a socket sink that assembles each request: the
 * size from which Ferry's missing copies outweigh its own work after idle.
 */
import type { WaitStrategy } from "@ferry/channel";
import { fmtSize, fmtNs, fmtRatio, table, type Grid } from "../lib/format";
import { target } from "../lib/target";
import { idleCpu, idleRoundTrips } from "../measure/idle";
import type { IdleRow } from "../schema";
import { section } from "../section";

const GAPS = [1, 3, 10];
/** Upload rows: a request of these sizes every UPLOAD_GAP ms, acked with 1 byte (where Ferry's missing copies start to count). */
const UPLOADS = [4096, 65536, 1 << 20];
const UPLOAD_GAP = 10;
/** The default wait strategy (SubscribeOptions.wait) and the fixed ones it is compared with. */
const DEFAULT_WAIT: WaitStrategy = "hybrid";
const WAITS: WaitStrategy[] = ["hybrid", "block"];

/** Results before the steady phase have rows without one: fresh. */
const phaseOf = (x: IdleRow) => x.phase ?? "fresh";
/** Results before listen() rows have no api: receive. */
const apiOf = (x: IdleRow) => x.api ?? "receive";
/** The 64 B rows (the targets'), not the uploads. */
const is64 = (x: IdleRow) => x.size === undefined;

export const idleGrid = (r: IdleRow[]): Grid => {
  const uds = (gap: number, phase: string) => r.find((x) => x.impl === "unix-socket" && is64(x) && x.gap_ms === gap && phaseOf(x) === phase);
  return {
    head: ["gap", "phase", "transport", "RTT p50", "RTT p99", "vs Unix socket (p50)", "n"],
    rows: r.filter((x) => x.impl !== "idle-cpu" && is64(x)).map((x) => {
      const u = uds(x.gap_ms, phaseOf(x));
      return [
        `${x.gap_ms} ms`,
        phaseOf(x),
        x.impl === "ferry" ? `ferry 64 B, ${x.wait}${x.wait === DEFAULT_WAIT ? " (default)" : ""}${apiOf(x) === "listen" ? ", listen()" : ""}` : "Unix socket 64 B",
        fmtNs(x.rtt_p50_ns),
        fmtNs(x.rtt_p99_ns),
        u && x.impl === "ferry" ? `${fmtRatio(x.rtt_p50_ns / u.rtt_p50_ns)}` : "",
        x.n,
      ];
    }),
  };
};

/** The upload rows: Ferry (default wait, await receive()) against the socket, size by size (steady). */
export const uploadGrid = (r: IdleRow[]): Grid => {
  const up = r.filter((x) => x.size !== undefined);
  const sizes = [...new Set(up.map((x) => x.size!))];
  return {
    head: ["request", "gap", "ferry (default wait)", "Unix socket", "ferry vs socket (p50)", "n"],
    rows: sizes.map((size) => {
      const f = up.find((x) => x.size === size && x.impl === "ferry");
      const u = up.find((x) => x.size === size && x.impl === "unix-socket");
      return [
        fmtSize(size), `${f?.gap_ms ?? u?.gap_ms} ms`, f ? fmtNs(f.rtt_p50_ns) : "", u ? fmtNs(u.rtt_p50_ns) : "",
        f && u ? fmtRatio(f.rtt_p50_ns / u.rtt_p50_ns) : "", Math.min(f?.n ?? 0, u?.n ?? 0),
      ];
    }),
  };
};

/** Worst (largest) ratio of Ferry's p50 with `wait` (and `api`) to the socket's, over the gaps, in `phase`. */
function worstVsSocket(r: IdleRow[], wait: WaitStrategy, phase = "steady", api = "receive"): { ratio: number; gap: number } | undefined {
  let worst: { ratio: number; gap: number } | undefined;
  for (const gap of GAPS) {
    const f = r.find((x) => x.impl === "ferry" && is64(x) && x.wait === wait && apiOf(x) === api && x.gap_ms === gap && phaseOf(x) === phase);
    const u = r.find((x) => x.impl === "unix-socket" && is64(x) && x.gap_ms === gap && phaseOf(x) === phase);
    if (!f || !u) return undefined;
    const ratio = f.rtt_p50_ns / u.rtt_p50_ns;
    if (!worst || ratio > worst.ratio) worst = { ratio, gap };
  }
  return worst;
}

export const idle = section({
  name: "idle",
  title: "6. wake-up after idle: a 64 B request every 1 / 3 / 10 ms, event loops on both sides (round trip); uploads of 4 KiB-1 MiB",
  alwaysTargets: true,
  empty: (): IdleRow[] => [],
  // jitWarm: back-to-back round trips through every transport between the fresh and the steady phase
  // (tools/idle-floor.ts WARM=20000: the library's idle round trip went from ~2.2x to ~1.4x the raw FFI path)
  config: (o) => ({
    gaps: GAPS, waits: WAITS, iterations: o.quick ? 40 : 250, warmup: o.quick ? 5 : 20, idleMs: o.quick ? 1000 : 3000, jitWarm: o.quick ? 2000 : 20_000,
    uploads: UPLOADS, uploadIterations: o.quick ? 20 : 100,
  }),
  async run(cfg) {
    const out: IdleRow[] = [];
    for (const gap of cfg.gaps) {
      Bun.gc(true);
      // interleaved: each round pings every transport once (measure/idle.ts)
      const res = await idleRoundTrips({ gapMs: gap, waits: cfg.waits, listen: DEFAULT_WAIT, iterations: cfg.iterations, warmup: cfg.warmup, maxMs: 60_000, jitWarm: cfg.jitWarm });
      for (const phase of ["fresh", "steady"] as const) {
        for (const wait of cfg.waits) {
          const f = res.find((x) => x.key === `ferry:${wait}` && x.phase === phase);
          if (f) out.push({ impl: "ferry", wait, gap_ms: gap, phase, n: f.n, rtt_p50_ns: f.rtt_p50_ns, rtt_p99_ns: f.rtt_p99_ns });
        }
        const l = res.find((x) => x.key === `ferry:${DEFAULT_WAIT}:listen` && x.phase === phase);
        if (l) out.push({ impl: "ferry", wait: DEFAULT_WAIT, api: "listen", gap_ms: gap, phase, n: l.n, rtt_p50_ns: l.rtt_p50_ns, rtt_p99_ns: l.rtt_p99_ns });
        const u = res.find((x) => x.key === "unix-socket" && x.phase === phase);
        if (u) out.push({ impl: "unix-socket", wait: null, gap_ms: gap, phase, n: u.n, rtt_p50_ns: u.rtt_p50_ns, rtt_p99_ns: u.rtt_p99_ns });
      }
    }
    // uploads: where the copies a socket makes (write, read, assembling the message) outweigh Ferry's own work
    for (const size of cfg.uploads) {
      Bun.gc(true);
      // back to back first as for 64 B, fewer for the larger ones (at most ~256 MiB through each transport)
      const jitWarm = Math.min(cfg.jitWarm, Math.floor(2 ** 28 / size));
      const res = await idleRoundTrips({ gapMs: UPLOAD_GAP, waits: [DEFAULT_WAIT], iterations: cfg.uploadIterations, warmup: 10, maxMs: 30_000, jitWarm, size });
      for (const x of res.filter((y) => y.phase === "steady")) {
        const ferry = x.key === `ferry:${DEFAULT_WAIT}`;
        out.push({ impl: ferry ? "ferry" : "unix-socket", wait: ferry ? DEFAULT_WAIT : null, gap_ms: UPLOAD_GAP, phase: "steady", size, n: x.n, rtt_p50_ns: x.rtt_p50_ns, rtt_p99_ns: x.rtt_p99_ns });
      }
    }
    const pct = await idleCpu(DEFAULT_WAIT, cfg.idleMs);
    out.push({ impl: "idle-cpu", wait: DEFAULT_WAIT, gap_ms: 0, n: 1, rtt_p50_ns: 0, rtt_p99_ns: 0, cpu_pct: pct });
    return out;
  },
  table: (r) => {
    const c = r.find((x) => x.impl === "idle-cpu");
    const up = r.some((x) => x.size !== undefined) ? `\nuploads after ${UPLOAD_GAP} ms idle (request of N bytes, 1-byte ack; steady):\n${table(uploadGrid(r))}` : "";
    return table(idleGrid(r)) + (c ? `\nidle subscriber (${c.wait}, awaiting receive(), nothing published): ${c.cpu_pct!.toFixed(2)}% of a core` : "") + up;
  },
  targets(r) {
    const rows = r ?? [];
    // the steady phase (a service that has run a while) where measured; the fresh one beside it in the note
    const phase = rows.some((x) => x.phase === "steady") ? "steady" : "fresh";
    const def = worstVsSocket(rows, DEFAULT_WAIT, phase);
    const fresh = phase === "steady" ? worstVsSocket(rows, DEFAULT_WAIT, "fresh") : undefined;
    const note = (w: { ratio: number; gap: number } | undefined, wait: WaitStrategy) =>
      w ? `${phase}: worst gap ${w.gap} ms (${wait}); block's worst: ${fmtRatio(worstVsSocket(rows, "block", phase)?.ratio ?? NaN)}${fresh ? `; fresh processes: ${fmtRatio(fresh.ratio)} at ${fresh.gap} ms` : ""}` : undefined;
    // the default strategy against the best fixed one, gap by gap
    let defVsBest: number | undefined;
    for (const gap of GAPS) {
      const recv = (x: IdleRow) => x.impl === "ferry" && is64(x) && apiOf(x) === "receive" && x.gap_ms === gap && phaseOf(x) === phase;
      const d = rows.find((x) => recv(x) && x.wait === DEFAULT_WAIT);
      const best = Math.min(...rows.filter(recv).map((x) => x.rtt_p50_ns));
      if (d && Number.isFinite(best)) defVsBest = Math.max(defVsBest ?? 0, d.rtt_p50_ns / best);
    }
    const ratio = (x: number) => `${x.toFixed(2)}x`;
    return [
      target("<=", {
        id: "idle-vs-socket",
        name: "request every 1/3/10 ms, 64 B round trip p50, default wait vs Unix socket (worst gap, steady)",
        limit: 1.0,
        fmt: ratio,
        note: note(def, DEFAULT_WAIT),
      }, def?.ratio),
      target("<=", {
        id: "idle-vs-socket-stretch",
        name: "the same, stretch goal",
        limit: 0.8,
        fmt: ratio,
      }, def?.ratio),
      target("<=", {
        id: "idle-listen-vs-socket",
        name: "the same with subscriber.listen() on both sides (the handler answers from the wake-up, as the socket's data callback)",
        limit: 1.0,
        fmt: ratio,
      }, worstVsSocket(rows, DEFAULT_WAIT, phase, "listen")?.ratio),
      target("<=", {
        id: "idle-cpu",
        name: "an idle subscriber awaiting receive() with the default wait: CPU, % of one core",
        limit: 1,
        fmt: (x) => `${x.toFixed(2)}%`,
      }, rows.find((x) => x.impl === "idle-cpu")?.cpu_pct),
      target("<=", {
        id: "idle-default-vs-best",
        name: "request every 1/3/10 ms: default wait vs the best fixed wait, p50 (worst gap)",
        limit: 1.1,
        fmt: ratio,
      }, defVsBest),
    ];
  },
});
