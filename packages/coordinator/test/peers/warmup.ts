/**
 * The decision code's warm-up (Coordinator.#warmUp) seen from outside: this
 * process makes one coordinator with an engine, idles cfg.ms, then reports
 * that coordinator's stats, what the process shares for `ferry stat`, its
 * explain() modes at a few sizes, and the main thread's CPU over the idle time.
 * cfg: { warmup: boolean, ms }
 */
import { readFileSync } from "node:fs";
import { cfg, emit } from "@ferry/testkit/peer";

process.env.FERRY_COORD_WARMUP = cfg.warmup ? "1" : "0";
delete process.env.FERRY_STATS;
const { Coordinator, linear, readSharedStats, syntheticProfile } = await import("../entry");
const threadCpuNs = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]);
const co = new Coordinator(syntheticProfile({ inlineHot: linear(500, 5), engines: [{ label: "sw", offload: linear(20_000, 10) }] }));
const c0 = threadCpuNs();
await Bun.sleep(cfg.ms);
const idleCpuMs = (threadCpuNs() - c0) / 1e6;
const st = co.stats();
const shared = readSharedStats().filter((p) => p.pid === process.pid).flatMap((p) => p.coordinators);
emit("result", {
  idleCpuMs, decisions: st.decisions, fresh: st.decidedAfresh, shared: shared.length,
  modes: [1, 4, 16, 64, 256].map((m) => { const e = co.explain(m * 2 ** 20); return `${e.mode}/${e.engine}`; }),
});
