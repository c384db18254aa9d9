/**
 * auto against inline for small messages (issue 9, section 8's first cells), with section 8's own
 * measurement (measure/coordinator.ts coordLatency: end to end, a 100 µs gap before each message,
 * variants in shuffled order each round, one publisher) repeated REPS times in one process: the
 * first repetition runs while the JIT and the coordinator's warm-up are still at work, as section 8's
 * 64 B cell does; the later ones show the steady state. Prints, per size, auto's and inline's
 * medians, their ratio, the median of the per-round ratios, what auto sent, and the cache placement
 * it had learnt (from 512 KiB).
 *
 *   bun run packages/bench/src/tools/auto-small.ts [sizes=64,1024] [iterations=300]
 *   REPS (2); COLD=1: also inline with cache "cold"; NOENG=1: no engine variants; NODSA=1: no emulated DSA variants; CPUCO=1: also calibrate
 *   for objective cpu first, as section 8 does
 */
import { defaultPolicy, setDefaultPolicy } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";
import { dsaEngine } from "@ferry/dsa-engine";
import { coordLatency, sentPerChoice, type Variant } from "../measure/coordinator";
setDefaultPolicy(defaultPolicy);

const sizes = (process.argv[2] ?? "64,1024").split(",").map(Number);
const iterations = Number(process.argv[3] ?? 300);
const env = process.env;
const co = await Coordinator.calibrate({ objective: "latency" });
if (env.CPUCO === "1") await Coordinator.calibrate({ objective: "cpu" });
const dsa = env.NODSA === "1" ? null : dsaEngine({ device: "emulated" });
const variants: Variant[] = [
  { name: "auto", mode: null },
  { name: "inline", mode: "inline" },
  ...(env.COLD === "1" ? ([{ name: "inline cold", mode: "inline", cache: "cold" }] as Variant[]) : []),
  ...(env.NOENG === "1" ? [] : ([{ name: "offload/sw", mode: "offload", engine: "sw" }, { name: "pipelined/sw", mode: "pipelined", engine: "sw" }] as Variant[])),
  ...(dsa ? ([{ name: "offload/dsa-emulated", mode: "offload", engine: dsa }, { name: "pipelined/dsa-emulated", mode: "pipelined", engine: dsa }] as Variant[]) : []),
];
try {
  for (let rep = 0; rep < Number(env.REPS ?? 2); rep++) {
    const before = sentPerChoice(co);
    const r = await coordLatency(sizes, variants, co, () => iterations, () => {});
    const after = sentPerChoice(co);
    const sent = Object.entries(after).map(([k, m]) => `${k} ${m - (before[k] ?? 0)}`).filter((x) => !x.endsWith(" 0"));
    const at = (size: number, v: string) => r.cells.find((c) => c.size === size && c.variant === v)!;
    const cells = sizes.map((size) => {
      const a = at(size, "auto"), i = at(size, "inline");
      const c = r.cells.find((x) => x.size === size && x.variant === "inline cold");
      return `${size} B auto ${(a.median_ns / 1e3).toFixed(1)} µs, inline ${(i.median_ns / 1e3).toFixed(1)} µs: ${(a.median_ns / i.median_ns).toFixed(3)}x, per round ${i.auto_per_round.toFixed(3)}x` +
        (c ? ` (inline cold ${(c.median_ns / 1e3).toFixed(1)} µs, auto per round ${c.auto_per_round.toFixed(3)}x)` : "");
    });
    const pl = co.stats().placement;
    const cls = Object.entries(pl.classes).map(([k, c]) => `${k} ${c.chosen} (hot ${c.hot.correction}x, ${c.hot.seen}; cold ${c.cold.correction}x, ${c.cold.seen})`);
    console.log(`rep ${rep}: ${cells.join("; ")}; auto sent ${sent.join(", ")}${cls.length ? `; placement ${cls.join(", ")}, ${pl.changes} changes` : ""}`);
  }
} finally {
  dsa?.close();
}
