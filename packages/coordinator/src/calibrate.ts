/**
 * The measurement behind a profile (<= 1 s): in this process, through a
 * private channel without subscribers (each message is released at once),
 * time every way of sending at a few sizes:
 *  - inline (sendSync) with cache "hot" and "cold": wall = sending thread;
 *  - per engine, offload and pipelined sends: send() -> settled (median),
 *    and the sending thread's CPU per send (/proc/thread-self/schedstat over
 *    the batch: submit, event-loop wake-ups, settle);
 *  - per async engine, the CPU + engine split at 1, 8, 32 and 64 MiB (and at
 *    LLC/2) with the share its rates suggest.
 * Besides DEFAULT_SIZES, every series gets points at LLC/2 and LLC (when
 * between 1 and 64 MiB): copies get slower where source and destination stop
 * fitting the cache, and a line drawn across that knee from 8 to 32 MiB put
 * a 16 MiB inline copy at 1.0 ms where it took 0.72 ms (section 8: the
 * calibration then sent 16 MiB messages through an engine or a split).
 * Sizes are cut short, largest first, if the budget runs out (noted).
 */
import { Channel, defaultPolicy, type EngineLike, type Publisher, type SendPolicy } from "@ferry/channel";
import { engineByName } from "@ferry/native";
import { coldFromBytes, llcBytes, libraryKey, machineKey, threadCpuNs } from "./machine";
import { CALIBRATION_METHOD, DEFAULT_SIZES, perByte, predict, type EngineProfile, type Profile, type Series } from "./profile";
import { availableParallelism } from "node:os";

const MiB = 1 << 20;

export interface CalibrationEngine {
  label: string;
  engine: EngineLike;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const INLINE_REPS: Record<number, number> = { 64: 200, 4096: 200, 65536: 60, [MiB]: 20, [8 * MiB]: 7, [32 * MiB]: 4, [64 * MiB]: 3 };
const ENGINE_REPS: Record<number, number> = { 64: 30, 4096: 30, 65536: 20, [MiB]: 10, [8 * MiB]: 5, [32 * MiB]: 3, [64 * MiB]: 3 };

/**
 * Engine sends are timed after the engine's threads went idle (a sw copy
 * thread polls 20 µs after its last job, then sleeps): the latency of a
 * message that comes alone, not of one in a back-to-back burst. Spins
 * (no timer is that fine) and returns the ns spent.
 */
const IDLE_GAP_NS = 60_000;
function idleGap(): number {
  const t = Bun.nanoseconds();
  while (Bun.nanoseconds() - t < IDLE_GAP_NS);
  return Bun.nanoseconds() - t;
}

/** The share a CPU + engine split starts from: the CPU's part of the two rates (0.05..0.95). */
export function balancedShare(cpuNsPerByte: number, engineNsPerByte: number): number {
  const rc = 1 / cpuNsPerByte;
  const re = 1 / engineNsPerByte;
  return Math.min(0.95, Math.max(0.05, rc / (rc + re)));
}

/** The knee of a copy's cost: where libferry's cache "auto" turns cold (coldFromBytes) and the LLC, when known and between 1 and 64 MiB. */
function kneeSizes(llc: number): number[] {
  return llc > 0 ? [coldFromBytes(llc), llc].map(Math.round).filter((s) => s > MiB && s < 64 * MiB) : [];
}

/** The sizes a profile measures: DEFAULT_SIZES and the cache knee (kneeSizes), ascending. */
export function calibrationSizes(llc: number): number[] {
  return [...new Set([...DEFAULT_SIZES, ...kneeSizes(llc)])].sort((a, b) => a - b);
}

/**
 * The source of a calibration copy of `size` bytes, the i-th of its run: from coldFromBytes(llc) up (the size from which
 * copies are cold), each copy reads a different `size`-byte part of `src` in turn, so that the one before it has not
 * left its source in the LLC. A stream of such messages carries a new payload each time (section 8's sends of one
 * size find their source evicted by the copies between them); copying the same source again and again timed 16 MiB
 * inline copies at 391-739 µs on this 2-vCPU VM (32 MiB LLC) where section 8's took 650-900 µs, and auto learnt
 * inline's level there over a dozen copies, re-deciding at each step. Below that size, and where `src` holds a single
 * part (64 MiB), the same source.
 */
export function sourceOf(src: Uint8Array, size: number, i: number, llc: number): Uint8Array {
  const parts = size >= coldFromBytes(llc) ? Math.floor(src.length / size) : 1;
  const at = parts > 1 ? (((i % parts) + parts) % parts) * size : 0;
  return src.subarray(at, at + size);
}

/** The sizes the CPU + engine split is measured at: 1, 8, 32, 64 MiB and LLC/2. */
function splitSizes(llc: number): number[] {
  return [...new Set([MiB, 8 * MiB, 32 * MiB, 64 * MiB, ...kneeSizes(llc).slice(0, 1)])].sort((a, b) => a - b);
}

/** Measure a profile for `engines` within about `budgetMs`. */
export async function measureProfile(engines: CalibrationEngine[], budgetMs = 900): Promise<Profile> {
  const t0 = performance.now();
  const over = () => performance.now() - t0 > budgetMs;
  const notes: string[] = [];
  const name = `ferry-cal-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const llc = llcBytes();
  const sizes = calibrationSizes(llc);
  const max = sizes[sizes.length - 1]!;
  const ch = Channel.create(name, { capacity: max + 4 * MiB, slots: 256 });
  try {
    // an explicit policy: never ask the process's default (which may be a coordinator calibrating)
    const pub = ch.publisher({ policy: defaultPolicy });
    const src = new Uint8Array(max);
    for (let i = 0; i < src.length; i += 4096) src[i] = i & 255;
    void src.buffer;

    const inlineHot: Series = [];
    const inlineCold: Series = [];
    for (const size of sizes) {
      if (over() && inlineHot.length >= 3) {
        notes.push(`inline: stopped before ${size} B (budget)`);
        break;
      }
      const reps = INLINE_REPS[size] ?? 5;
      // each placement in a run of its own, as a stream of one size sends them: a hot copy right after a cold
      // one (non-temporal stores that left the destination out of the cache) took 1.7-1.9x as long at 1-8 MiB
      // (this 2-vCPU EPYC VM: 4 MiB 150-160 µs against 88 µs in a run of hot copies), which in some calibrations put
      // a pipelined send or a CPU + engine split at 4 MiB, where a hot inline copy is faster end to end (one section 8
      // run: 165 µs against the split's 183 µs); tools/calibration-spread.ts shows both
      const run = (cache: "hot" | "cold") => {
        const ts: number[] = [];
        for (let i = -2; i < reps; i++) {
          const view = sourceOf(src, size, i, llc);
          const t = Bun.nanoseconds();
          pub.sendSync(view, { cache });
          if (i >= 0) ts.push(Bun.nanoseconds() - t);
        }
        return median(ts);
      };
      inlineHot.push([size, run("hot")]);
      inlineCold.push([size, run("cold")]);
    }

    const out: EngineProfile[] = [];
    for (const { label, engine } of engines) {
      let e;
      try {
        e = engineByName(engine);
      } catch (err) {
        notes.push(`${label}: not measured (${(err as Error).message})`);
        continue;
      }
      const caps = e.caps();
      const ep: EngineProfile = {
        label, name: e.name, async: caps.async, chunkBytes: caps.chunkBytes, hostCpu: caps.hostCpu,
        offload: [], pipelined: [], offloadCpu: [], pipelinedCpu: [], split: [], splitShare: 0,
      };
      try {
        // warm-up: the first sends through a path compile it
        for (let i = 0; i < 5; i++) for (const mode of ["offload", "pipelined"] as const) await pub.send(src.subarray(0, 65536), { mode, engine: e });
        for (const size of sizes) {
          if (over() && ep.offload.length >= 3) {
            notes.push(`${label}: stopped before ${size} B (budget)`);
            break;
          }
          const reps = ENGINE_REPS[size] ?? 3;
          for (const mode of ["offload", "pipelined"] as const) {
            await pub.send(sourceOf(src, size, -1, llc), { mode, engine: e }); // warm-up
            const ts: number[] = [];
            let gaps = 0;
            const c0 = threadCpuNs();
            for (let i = 0; i < reps; i++) {
              const view = sourceOf(src, size, i, llc);
              gaps += idleGap();
              const t = Bun.nanoseconds();
              await pub.send(view, { mode, engine: e });
              ts.push(Bun.nanoseconds() - t);
            }
            const cpu = (threadCpuNs() - c0 - gaps) / reps;
            (mode === "offload" ? ep.offload : ep.pipelined).push([size, median(ts)]);
            (mode === "offload" ? ep.offloadCpu : ep.pipelinedCpu).push([size, Number.isFinite(cpu) ? Math.max(0, cpu) : median(ts)]);
          }
        }
        if (ep.async && ep.offload.length >= 4) {
          const cpuRate = Math.min(perByte(inlineHot), perByte(inlineCold));
          ep.splitShare = balancedShare(cpuRate, perByte(ep.offload));
          let share = ep.splitShare;
          const split: SendPolicy = { decide: () => ({ mode: "offload", engine: e, cpuShare: share }) };
          const spub = ch.publisher({ policy: split });
          try {
            for (const size of splitSizes(llc)) {
              if (size > max || (over() && ep.split.length >= 2)) break;
              const ts: number[] = [];
              for (let i = -1; i < 3; i++) {
                const view = sourceOf(src, size, i, llc);
                idleGap();
                const t = Bun.nanoseconds();
                await spub.send(view);
                if (i >= 0) ts.push(Bun.nanoseconds() - t);
              }
              ep.split.push([size, median(ts)]);
            }
          } finally {
            spub.close();
          }
          void share;
        }
        out.push(ep);
      } catch (err) {
        notes.push(`${label}: measurement failed (${(err as Error).message}); left out`);
      }
    }
    pub.close();
    return {
      format: 1,
      method: CALIBRATION_METHOD,
      machine: machineKey(),
      library: libraryKey(),
      created: new Date().toISOString(),
      ms: Math.round(performance.now() - t0),
      source: "measured",
      llcBytes: llc,
      cpus: availableParallelism(),
      inlineHot,
      inlineCold,
      engines: out,
      notes,
    };
  } finally {
    ch.close();
  }
}

/** For explain: the modelled split time when no split point was measured. */
export function splitModel(p: Profile, e: EngineProfile, size: number, share: number): number {
  const cpu = Math.min(predict(p.inlineHot, size * share), predict(p.inlineCold, size * share));
  const eng = predict(e.offload, size * (1 - share));
  return Math.max(cpu, eng);
}

export type { Publisher };
