/**
 * Where auto's time goes inside section 8's rounds (issue 9): the same setup
 * as measure/coordinator.ts coordLatency (a receiver process, 100 µs gaps,
 * variants in an order drawn per round), for the sizes given, with auto's
 * policy wrapped to time the publisher's fastInline getter, decide() or
 * remembered.take(), and observe() or remembered.settled() per send; every
 * variant's send() synchronous part (for inline: the copy) is timed too, and
 * inline with explicit cold / hot stores is added (twice each with the
 * default hint, as a control for the spread; VARIANTS=auto,inline,... keeps
 * only those). NOREM=1: without
 * SendPolicy.remembered (decide/observe on every send above the fast tier).
 * INLINE_SCALE=6: the calibrated profile with inline copies 6x as slow (a
 * synthetic profile on which the engines win from ~1 MiB: auto's engine path
 * on this VM). WARM=30: warm-up rounds (default 2). "took" counts the sends
 * that followed a remembered decision; the rest decided afresh.
 *
 *   bun run packages/bench/src/tools/auto-pieces.ts [sizesMiB=16, comma-separated] [rounds=15]
 *
 * The thread-cpu(sync) column reads schedstat, which a running thread updates
 * only at scheduler ticks: not meaningful per send, kept for long sends.
 */
import { readFileSync } from "node:fs";
import { defaultPolicy, setDefaultPolicy, type Publisher, type SendPolicy } from "@ferry/channel";
import { sentPerChoice, toolCoordinator } from "../measure/coordinator";
import { dsaEngine } from "@ferry/dsa-engine";
import { MiB } from "../lib/format";
import { monoNs } from "../lib/msg";
import { Session } from "../lib/session";
import { median, roundOrder } from "../lib/stats";
setDefaultPolicy(defaultPolicy);
const sizes = (process.argv[2] ?? "16").split(",").map((x) => Number(x) * MiB);
const n = Number(process.argv[3] ?? 15);
const task = `/proc/self/task/${process.pid}`;
const tcpu = () => Number(readFileSync(`${task}/schedstat`, "utf8").split(" ")[0]);
const co = await toolCoordinator();
const warm = Number(process.env.WARM ?? 2);
const t = { fi: 0, dec: 0, obs: 0, took: 0 };
const wrap: SendPolicy = {
  get fastInline() { const a = Bun.nanoseconds(); const f = co.fastInline; t.fi += Bun.nanoseconds() - a; return f; },
  decide(size, ctx) { const a = Bun.nanoseconds(); const d = co.decide(size, ctx); t.dec += Bun.nanoseconds() - a; return d; },
  observe(r) { const a = Bun.nanoseconds(); co.observe(r); t.obs += Bun.nanoseconds() - a; },
  retryInline: (e) => co.retryInline(e),
  remembered: process.env.NOREM || !co.remembered ? null : {
    take(size, pub) { const a = Bun.nanoseconds(); const d = co.remembered.take(size, pub); t.dec += Bun.nanoseconds() - a; if (d) t.took++; return d; },
    settled(d, size, ns, sy) { const a = Bun.nanoseconds(); co.remembered.settled(d, size, ns, sy); t.obs += Bun.nanoseconds() - a; },
  },
};
const max = Math.max(...sizes);
await using s = new Session({ role: "recv", data: { tag: "zzl", capacity: max + 4 * MiB, slots: 64 }, ack: { tag: "zzla", capacity: MiB, slots: 64 }, ackWait: "block", args: [MiB, "hybrid"] });
await s.peer.ready;
const pub: Publisher = s.data.publisher({ backpressure: "block", timeoutMs: -1, policy: wrap });
const dsa = dsaEngine({ device: "emulated" });
const allVariants = [
  { name: "auto", mode: null }, { name: "inline", mode: "inline" }, { name: "inline-cold", mode: "inline", cache: "cold" }, { name: "inline-hot", mode: "inline", cache: "hot" }, { name: "inline2", mode: "inline" }, { name: "inline-cold2", mode: "inline", cache: "cold" }, { name: "offload/sw", mode: "offload", engine: "sw" },
  { name: "pipelined/sw", mode: "pipelined", engine: "sw" }, { name: "offload/dsa", mode: "offload", engine: dsa }, { name: "pipelined/dsa", mode: "pipelined", engine: dsa },
] as const;
// VARIANTS=auto,inline: only those (how warm the fixed path stays depends on how many variants share it)
const only = process.env.VARIANTS?.split(",");
const variants = only ? allVariants.filter((v) => only.includes(v.name)) : allVariants;
const header = new Uint8Array([0]);
for (const size of sizes) {
  const src = new Uint8Array(size).fill(5);
  const r: Record<string, { e2e: number[]; sync: number[]; cpu: number[]; fi: number[]; dec: number[]; obs: number[] }> = {};
  for (const v of variants) r[v.name] = { e2e: [], sync: [], cpu: [], fi: [], dec: [], obs: [] };
  for (let i = -warm; i < n; i++)
    for (const j of roundOrder(variants.length, i + warm)) {
      const v = variants[j]!;
      const g = Bun.nanoseconds();
      while (Bun.nanoseconds() - g < 100_000);
      t.fi = t.dec = t.obs = 0;
      const c0 = tcpu();
      const t0 = monoNs();
      const p = pub.send(src, v.mode === null ? { header } : { mode: v.mode, engine: (v as any).engine, cache: (v as any).cache, header });
      const ts = monoNs();
      const c1 = tcpu();
      await p;
      const [t1] = await s.recvAck();
      if (i < 0) continue;
      const o = r[v.name]!;
      o.e2e.push(t1 - t0); o.sync.push(ts - t0); o.cpu.push(c1 - c0); o.fi.push(t.fi); o.dec.push(t.dec); o.obs.push(t.obs);
    }
  const us = (x: number[]) => (median(x) / 1e3).toFixed(1);
  console.log(`${size / MiB} MiB (load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]})`);
  for (const v of variants) { const o = r[v.name]!; console.log(`  ${v.name.padEnd(14)} e2e ${us(o.e2e)} sync ${us(o.sync)} thread-cpu(sync) ${us(o.cpu)}` + (v.mode === null ? ` getter ${us(o.fi)} decide ${us(o.dec)} observe ${us(o.obs)}  decide all: ${o.dec.map((x) => (x / 1e3).toFixed(0)).join(" ")}; sync all: ${o.sync.map((x) => (x / 1e3).toFixed(0)).join(" ")}` : v.name === "inline" ? ` sync all: ${o.sync.map((x) => (x / 1e3).toFixed(0)).join(" ")}` : "")); }
  console.log("   took", t.took, "decided afresh", co.stats().decidedAfresh, JSON.stringify(sentPerChoice(co)), "inlineCorr", JSON.stringify(co.stats().inlineCorrections), co.explain(size).mode, co.explain(size).cache);
}
pub.close();
await s.end();
