/**
 * Modes, end to end: send start (this process) -> the receiver (role recv)
 * has processed every byte, for inline, offload and pipelined sends; and the
 * receiver's read right after arrival with cache "hot" vs "cold".
 */
import type { CachePlacement, WaitStrategy } from "@ferry/channel";
import type { SwEngine } from "@ferry/sw-engine";
import { MiB, fmtNs, fmtSize } from "../lib/format";
import { monoNs } from "../lib/msg";
import { Session } from "../lib/session";
import { median, pct, sorted } from "../lib/stats";
import { MODES, type HotColdCell, type LatCell, type LatLimit, type SendMode } from "../schema";
import type { ModesConfig } from "../sections/modes";

/** [latency, sender copy time, receiver work time] of one message, ns. */
type Once = [number, number, number];

/** A sender, its receiver process (role recv) and an ack channel back. */
class LatSession extends Session {
  constructor(capacity: number, piece: number, engine: SwEngine, wait: WaitStrategy) {
    super({
      role: "recv",
      data: { tag: "mlat", capacity, slots: 64 },
      ack: { tag: "mack", capacity: MiB, slots: 64 },
      ackWait: "block",
      engine,
      args: [piece, wait],
    });
  }

  /** One message; the receiver does `passes` Bun.hash passes over each byte. */
  async once(src: Uint8Array, mode: SendMode, passes: number, cache: CachePlacement = "auto"): Promise<Once> {
    const header = new Uint8Array([passes]);
    const t0 = monoNs();
    if (mode === "inline") this.pub.sendSync(src, { mode: "inline", cache, header });
    else await this.pub.send(src, { mode, cache, header });
    const tc = monoNs() - t0;
    const [done, work] = await this.recvAck();
    return [done - t0, tc, work];
  }
}

/**
 * Latency per size and mode (modes interleaved iteration by iteration) and the
 * limit max(copy, work) from the inline runs. passes <= 0: calibrate it first
 * on the real path (16 MiB inline, copy time / one pass on the receiver).
 */
export async function modesLatency(cfg: ModesConfig, engine: SwEngine, passesIn: number, log: (s: string) => void) {
  const cells: LatCell[] = [];
  const limits: LatLimit[] = [];
  let passes = passesIn;
  await using s = new LatSession(Math.max(...cfg.sizes) + 4 * MiB, cfg.chunkBytes, engine, cfg.recvWait);
  await s.peer.ready;
  if (passes <= 0) {
    const src = new Uint8Array(16 * MiB).fill(7);
    const xs: Once[] = [];
    for (let i = 0; i < 7; i++) xs.push(await s.once(src, "inline", 1));
    const ratio = median(xs.slice(2).map((x) => x[1])) / median(xs.slice(2).map((x) => x[2]));
    passes = Math.max(1, Math.min(8, Math.round(ratio)));
    log(`  calibration at 16 MiB: inline copy / one Bun.hash pass on the receiver = ${ratio.toFixed(2)} -> ${passes} pass(es)`);
  }
  for (const size of cfg.sizes) {
    let src: Uint8Array | null = new Uint8Array(size).fill(7);
    const r = new Map<SendMode, Once[]>(MODES.map((m) => [m, []]));
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
        mode, size, n: xs.length, median_ns: median(lat), p90_ns: pct(sorted(lat), 90), min_ns: Math.min(...lat),
        copy_ns: median(xs.map((x) => x[1])), work_ns: median(xs.map((x) => x[2])),
      });
    }
    const at = (m: SendMode) => cells.find((c) => c.mode === m && c.size === size)!;
    const inl = at("inline");
    const limit = Math.max(inl.copy_ns, inl.work_ns);
    const ratio = Object.fromEntries(MODES.map((m) => [m, at(m).median_ns / limit])) as Record<SendMode, number>;
    limits.push({ size, copy_ns: inl.copy_ns, work_ns: inl.work_ns, limit_ns: limit, ratio });
    log(`  ${fmtSize(size)}: inline ${fmtNs(inl.median_ns)}, offload ${fmtNs(at("offload").median_ns)}, pipelined ${fmtNs(at("pipelined").median_ns)}; limit ${fmtNs(limit)}`);
    src = null;
    Bun.gc(true);
  }
  await s.end();
  return { cells, limits, passes };
}

/** Receiver's read (one Bun.hash pass) right after arrival, hot vs cold, for a size that fits the LLC and one that does not. */
export async function hotCold(cfg: ModesConfig, engine: SwEngine, llc: number): Promise<HotColdCell[]> {
  const fit = 16 * MiB;
  const nofit = llc ? Math.ceil((2 * llc) / (64 * MiB)) * 64 * MiB : 512 * MiB;
  const out: HotColdCell[] = [];
  await using s = new LatSession(nofit + 4 * MiB, cfg.chunkBytes, engine, cfg.recvWait);
  await s.peer.ready;
  for (const size of [fit, nofit]) {
    let src: Uint8Array | null = new Uint8Array(size).fill(3);
    const variants = [["inline", "hot"], ["inline", "cold"], ["offload", "hot"], ["offload", "cold"]] as const;
    const r = new Map<string, Once[]>(variants.map((v) => [v.join(), []]));
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
  await s.end();
  return out;
}
