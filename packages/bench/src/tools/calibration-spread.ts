/**
 * How far a coordinator's calibration can be trusted here (issue 9): two looks,
 * in one process.
 *
 *  1. Inline copies timed the way calibration method 1 did (a hot copy and a
 *     cold one alternating into the same slots) and the way method 2 does
 *     (each placement in a run of its own), through a channel without
 *     subscribers, at 1, 4 and 8 MiB: median µs of each.
 *  2. <n> fresh calibrations (objective latency, nothing read from or written
 *     to the cache) and, for each, what explain() chooses at 256 KiB, 1, 4
 *     and 16 MiB, with the calibrated offload/sw time over the faster inline
 *     placement's: how often the choice at a size moves with the
 *     calibration's noise.
 *
 *   bun run packages/bench/src/tools/calibration-spread.ts [n=10]
 */
import { Channel, defaultPolicy } from "@ferry/channel";
import { Coordinator, predict } from "@ferry/coordinator";
import { KiB, MiB, fmtSize } from "../lib/format";
import { median } from "../lib/stats";

const n = Number(process.argv[2] ?? 10);
const us = (ns: number) => (ns / 1e3).toFixed(0);

{
  const ch = Channel.create(`ferry-calspread-${process.pid}`, { capacity: 12 * MiB, slots: 256 });
  const pub = ch.publisher({ policy: defaultPolicy });
  try {
    const src = new Uint8Array(8 * MiB);
    for (let i = 0; i < src.length; i += 4096) src[i] = i & 255;
    const rows: string[] = [];
    for (const size of [MiB, 4 * MiB, 8 * MiB]) {
      const view = src.subarray(0, size);
      const time = (cache: "hot" | "cold") => {
        const t = Bun.nanoseconds();
        pub.sendSync(view, { cache });
        return Bun.nanoseconds() - t;
      };
      const reps = 20;
      const altHot: number[] = [], altCold: number[] = [], hot: number[] = [], cold: number[] = [];
      for (let i = -2; i < reps; i++) {
        const h = time("hot");
        const c = time("cold");
        if (i >= 0) (altHot.push(h), altCold.push(c));
      }
      for (const [cache, out] of [["hot", hot], ["cold", cold]] as const)
        for (let i = -2; i < reps; i++) {
          const t = time(cache);
          if (i >= 0) out.push(t);
        }
      rows.push(`${fmtSize(size)}: hot ${us(median(altHot))} alternating / ${us(median(hot))} in a run; cold ${us(median(altCold))} / ${us(median(cold))}`);
    }
    console.log(`inline sendSync, µs (median of 20): method 1 alternated the placements, method 2 runs each alone\n  ${rows.join("\n  ")}`);
  } finally {
    pub.close();
    ch.close();
  }
}

const sizes = [256 * KiB, MiB, 4 * MiB, 16 * MiB];
const picks = new Map(sizes.map((s) => [s, new Map<string, number>()]));
console.log(`\n${n} calibrations (objective latency): choice and offload/sw ÷ inline (calibrated) per size`);
for (let i = 0; i < n; i++) {
  const co = await Coordinator.calibrate({ objective: "latency", cache: false });
  const p = co.profile;
  const sw = p.engines.find((e) => e.label === "sw");
  const cells = sizes.map((s) => {
    const e = co.explain(s);
    const pick = `${e.mode}${e.engine !== "cpu" ? `/${e.engine}` : ""}${e.cpuShare ? " split" : ""}`;
    const m = picks.get(s)!;
    m.set(pick, (m.get(pick) ?? 0) + 1);
    const inl = Math.min(predict(p.inlineHot, s), predict(p.inlineCold, s));
    return `${fmtSize(s)} ${pick}${sw ? ` (${(predict(sw.offload, s) / inl).toFixed(2)})` : ""}`;
  });
  console.log(`  ${p.ms} ms: ${cells.join(" | ")}`);
  await Bun.sleep(100);
}
for (const [s, m] of picks)
  console.log(`${fmtSize(s)}: ${[...m].map(([k, c]) => `${k} ${c}`).join(", ")}`);
