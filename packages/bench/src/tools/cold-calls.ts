/**
 * What single runtime calls cost when their code is cold (issues 7 and 9): in
 * one process, after every idle gap, the same sequence of calls, each timed
 * with libferry's clock (`nowNs`, itself a native call; the first read after
 * the gap pays for waking up, so it is reported apart):
 *
 *   first read        nowNs() right after the timer fired
 *   native call       a trivial libferry symbol (ferry_abi_version), then the same again
 *   Bun.nanoseconds   the clock the publishers' policy sends read (twice per send)
 *   Map.get           a lookup in a 2-entry Map
 *   performance.now   the clock the coordinator's fast tier reads
 *   new Uint8Array    a 64-byte typed array (an allocation)
 *
 *   bun run packages/bench/src/tools/cold-calls.ts [gapMs=10] [rounds=200]
 *
 * Medians in µs. With gap 0 the same calls are warm.
 */
import { lib, nowNs } from "@ferry/native";

const sym = lib.symbols;
const gap = Number(process.argv[2] ?? 10);
const rounds = Number(process.argv[3] ?? 200);
const map = new Map([["hot", 1], ["cold", 2]]);
const keys = ["hot", "cold"];
const rows: number[][] = [];
let sink = 0; // every result is used, so no call can be dropped as dead code
for (let i = 0; i < rounds + 20; i++) {
  await Bun.sleep(gap);
  const t0 = nowNs();
  const t1 = nowNs();
  sink += sym.ferry_abi_version() as number;
  const t2 = nowNs();
  sink += sym.ferry_abi_version() as number;
  const t3 = nowNs();
  sink += Bun.nanoseconds();
  const t4 = nowNs();
  sink += map.get(keys[i & 1]!)!;
  const t5 = nowNs();
  sink += performance.now();
  const t6 = nowNs();
  sink += new Uint8Array(64).length;
  const t7 = nowNs();
  if (i >= 20) rows.push([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6]);
}
const med = (k: number) => (rows.map((r) => r[k]!).sort((x, y) => x - y)[rows.length >> 1]! / 1000).toFixed(2);
console.log(
  `gap ${gap} ms, ${rows.length} rounds (medians, µs): first read ${med(0)}, native call ${med(1)} (again ${med(2)}), ` +
    `Bun.nanoseconds ${med(3)}, Map.get ${med(4)}, performance.now ${med(5)}, new Uint8Array(64) ${med(6)}` + (Number.isNaN(sink) ? " (NaN)" : ""),
);
