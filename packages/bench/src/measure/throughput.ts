/**
 * Throughput between two Bun processes, and the single-thread memcpy
 * reference measured in the same run.
 *
 * One rep = K messages of `size` bytes, then a 0-byte marker; the sink (a
 * separate process spinning on tryReceive) releases every message and acks
 * the marker on a second channel. GB/s = K*size / (time from the first loan
 * to the ack). Reported: median over reps; the reps of all modes (memcpy
 * included) are interleaved, size by size.
 *
 *   zero-copy          loan(size); loan.bytes.fill(i); publish   (producer builds in place)
 *   zero-copy-nowrite  loan(size); publish                       (the hand-over alone)
 *   inline             pub.sendSync(privateBuffer)               (CPU copy into the arena)
 *   memcpy             dst.set(src), two private Uint8Arrays     (no IPC: the reference)
 */
import { MiB } from "../lib/format";
import { spinReceive } from "../lib/msg";
import { tick } from "../lib/procs";
import { Session } from "../lib/session";
import { median } from "../lib/stats";
import type { TputMode, TputResult } from "../schema";

export interface TputOptions {
  sizes: number[];
  modes: TputMode[];
  /** Bytes moved per rep (K = max(1, bytesPerRep / size)). */
  bytesPerRep: number;
  reps: number;
  /** Stop adding reps to a size after this long (at least 3 reps). */
  maxMsPerCell: number;
}

/**
 * Throughput of every mode, size by size, with the reps of the modes
 * interleaved (zero-copy, nowrite, inline, memcpy, zero-copy, ...) so that
 * drifting machine conditions hit all of them alike; the memcpy reference
 * runs in this process while the sink idles.
 */
export async function throughput(o: TputOptions): Promise<TputResult[]> {
  const maxSize = Math.max(...o.sizes);
  const out: TputResult[] = [];
  {
    await using s = new Session({
      role: "sink",
      // two of the largest messages in flight, plus room for the marker
      data: { tag: "tput", capacity: 2 * maxSize + 4 * MiB, slots: 4096 },
      ack: { tag: "tack", capacity: MiB, slots: 64 },
      ackWait: "spin",
      args: ["spin", 0],
    });
    const { pub, ackSub } = s;
    const empty = new Uint8Array(0);
    await s.peer.ready;
    for (const size of o.sizes) {
      const k = Math.max(1, Math.floor(o.bytesPerRep / size));
      let src: Uint8Array | null = new Uint8Array(size).fill(5);
      let dst: Uint8Array | null = o.modes.includes("memcpy") ? new Uint8Array(size).fill(4) : null;
      const times = new Map<TputMode, number[]>(o.modes.map((m) => [m, []]));
      const start = performance.now();
      for (let r = -1; r < o.reps; r++) {
        for (const mode of o.modes) {
          const t0 = Bun.nanoseconds();
          if (mode === "memcpy") {
            for (let i = 0; i < k; i++) dst!.set(src);
          } else {
            if (mode === "zero-copy") {
              for (let i = 0; i < k; i++) {
                const loan = pub.loan(size);
                loan.bytes.fill(i & 255);
                pub.publish(loan);
              }
            } else if (mode === "zero-copy-nowrite") {
              for (let i = 0; i < k; i++) pub.publish(pub.loan(size));
            } else {
              for (let i = 0; i < k; i++) pub.sendSync(src);
            }
            pub.sendSync(empty);
            spinReceive(ackSub).release();
          }
          const t = Bun.nanoseconds() - t0;
          if (r >= 0) times.get(mode)!.push(t / k);
        }
        if (r >= 2 && performance.now() - start > o.maxMsPerCell) break;
      }
      if (dst && dst[size - 1] !== 5) throw new Error("memcpy reference: copy did not happen");
      for (const mode of o.modes) {
        const ts = times.get(mode)!;
        const med = median(ts);
        out.push({ mode, size, perRep: k, reps: ts.length, gbps: size / med, median_ns: med, samples: ts.map((t) => +(size / t).toFixed(3)) });
      }
      src = dst = null;
      Bun.gc(true);
      await tick();
    }
    await s.end(); // the sink exits at once on end of stream
  }
  Bun.gc(true);
  return out;
}
