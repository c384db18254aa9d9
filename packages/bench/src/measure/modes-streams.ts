/**
 * Modes, streams: throughput of a producer that works per message (Bun.hash
 * over its own input, about as costly as the copy) into a sink that sleeps
 * between messages (role sink, wait "block"), and the sender's CPU per GiB
 * moved without producer work.
 */
import { readFileSync } from "node:fs";
import type { SwEngine } from "@ferry/sw-engine";
import { MiB } from "../lib/format";
import { hashWork, monoNs } from "../lib/msg";
import { Session } from "../lib/session";
import { median } from "../lib/stats";
import { MODES, type CpuCell, type SendMode, type TputCell } from "../schema";
import type { ModesConfig } from "../sections/modes";

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

export async function modesStreams(cfg: ModesConfig, engine: SwEngine) {
  const maxSize = Math.max(...cfg.tputSizes, ...cfg.cpuSizes);
  const depth = 2;
  await using s = new Session({
    role: "sink",
    data: { tag: "mtput", capacity: (depth + 2) * maxSize + 4 * MiB, slots: 256 },
    ack: { tag: "mtack", capacity: MiB, slots: 64 },
    ackWait: "block",
    engine,
    args: ["block", 1],
  });
  const { pub, ackSub } = s;
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
  await s.peer.ready;
  // throughput with producer work
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
  // sender CPU per GiB, no producer work
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
  await s.end();
  return { tput, cpu };
}
