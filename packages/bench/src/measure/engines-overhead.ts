/**
 * 5f. Engine overhead: the `dsa` engine on the emulated DSA device against
 * `sw` (1 copy thread), both behind the same in-process offload send (send
 * start -> promise resolved, the message published), median per size. The
 * emulated device copies with the CPU in a worker thread, so this measures
 * what the DSA engine's descriptor/completion machinery costs on top of a
 * software copy: a correctness vehicle's overhead, not a speed claim. On real
 * DSA hardware (none was available) the same cell would use device "auto".
 */
import { Channel } from "@ferry/channel";
import { dsaEngine, detect } from "@ferry/dsa-engine";
import { swEngine } from "@ferry/sw-engine";
import type { EngineOverheadCell } from "../schema";

export async function enginesOverhead(sizes: number[], iterations: (size: number) => number): Promise<{ device: string; reason: string; cells: EngineOverheadCell[] }> {
  const hw = detect();
  const device = hw.available ? "auto" : "emulated";
  const cells: EngineOverheadCell[] = [];
  const cap = Math.max(...sizes) * 2 + (1 << 20);
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  for (const size of sizes) {
    const src = new Uint8Array(size).map((_, i) => (i * 131) & 255);
    const row: EngineOverheadCell = { size, sw_ns: 0, dsa_ns: 0, ratio: 0 };
    for (const kind of ["sw", "dsa"] as const) {
      using ch = Channel.create(`bench-eng-${process.pid}-${kind}-${size}`, { capacity: cap });
      using engine = kind === "sw" ? swEngine({ threads: 1 }) : dsaEngine({ device });
      const sub = ch.subscribe();
      const pub = ch.publisher({ engine });
      const ts: number[] = [];
      const n = iterations(size);
      for (let i = 0; i < n + 2; i++) {
        const t0 = Bun.nanoseconds();
        await pub.send(src, { mode: "offload", cache: "cold" });
        const dt = Bun.nanoseconds() - t0;
        sub.tryReceive()?.release();
        if (i >= 2) ts.push(dt);
      }
      row[kind === "sw" ? "sw_ns" : "dsa_ns"] = median(ts);
      pub.close();
      sub.close();
    }
    row.ratio = +(row.dsa_ns / row.sw_ns).toFixed(2);
    cells.push(row);
  }
  return { device: hw.available ? "hardware (auto)" : "emulated", reason: hw.reason, cells };
}
