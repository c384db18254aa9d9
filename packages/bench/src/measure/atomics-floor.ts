/**
 * The Bun floor of a one-way hop: two Bun processes ping-pong one 32-bit
 * word each on one shared cache line (a /dev/shm file mapped with Bun.mmap),
 * with Atomics.store / Atomics.load, spinning. Nothing else moves between
 * them, so no Bun channel can beat it: the spin targets are ratios to it
 * (issue 7: Bun spin <= 3x this floor), measured in the same run.
 */
import { rmSync, writeFileSync } from "node:fs";
import { spawnPeer } from "../lib/procs";
import { pct, sorted } from "../lib/stats";

export interface AtomicsFloor {
  n: number;
  p50_ns: number;
  p99_ns: number;
}

const PING = 0; // word index: the requester's counter
const PONG = 1; // the echo's counter (same 64-byte line)

function view(path: string): Int32Array {
  const m = Bun.mmap(path, { shared: true } as never);
  return new Int32Array(m.buffer, m.byteOffset, 16);
}

/** The echo role: copy PING to PONG whenever it changes; stop at -1. */
export function atomicsEcho(path: string) {
  const v = view(path);
  process.stdout.write("READY\n");
  let last = 0;
  for (;;) {
    let x = Atomics.load(v, PING);
    while (x === last) x = Atomics.load(v, PING);
    if (x === -1) break;
    Atomics.store(v, PONG, x);
    last = x;
  }
}

export async function atomicsFloor(iterations: number, warmup: number): Promise<AtomicsFloor> {
  const r = sorted(await atomicsFloorRtts(iterations, warmup));
  return { n: r.length, p50_ns: pct(r, 50) / 2, p99_ns: pct(r, 99) / 2 };
}

/** The round trips (ns) of one floor session. */
export async function atomicsFloorRtts(iterations: number, warmup: number): Promise<Float64Array> {
  const path = `/dev/shm/ferry-bench-atomics-${process.pid}`;
  writeFileSync(path, new Uint8Array(4096));
  try {
    const v = view(path);
    const peer = spawnPeer("atomics-echo", [path]);
    await peer.ready;
    const rtt = new Float64Array(iterations);
    // each round trip timed alone, as measure/pingpong.ts times Ferry's (the clock reads are in both)
    const BATCH = 1;
    let n = 0;
    let x = 0;
    for (let i = 0; n < iterations; i++) {
      const t0 = Bun.nanoseconds();
      for (let k = 0; k < BATCH; k++) {
        x++;
        Atomics.store(v, PING, x);
        while (Atomics.load(v, PONG) !== x);
      }
      const t1 = Bun.nanoseconds();
      if (i * BATCH >= warmup) rtt[n++] = (t1 - t0) / BATCH;
    }
    Atomics.store(v, PING, -1);
    await peer.done;
    return rtt.subarray(0, n);
  } finally {
    rmSync(path, { force: true });
  }
}
