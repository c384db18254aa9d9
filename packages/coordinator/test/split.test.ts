/**
 * The CPU + engine split converges on a synthetic slow engine: slowplug
 * (its own copy thread, held to 2 GB/s) under a profile that believes it is
 * as fast as the CPU. The coordinator splits, sees the engine lag (the
 * sending thread waits for it), learns its rate and moves the CPU's share up
 * until both parts finish together, DTO-style.
 */
import { expect, test } from "bun:test";
import { Channel, Engine, defaultPolicy, type SendReport } from "@ferry/channel";
import { registerCleanup, uniqueName } from "@ferry/testkit";
import { Coordinator } from "./entry";
import { MiB, loadSlowplug, profileOf } from "./helpers";

registerCleanup();

test("the split's CPU share converges so that the CPU and a slow engine finish together", async () => {
  loadSlowplug();
  // an engine well below memory bandwidth (so the CPU's part does not slow it down), held to 3 GB/s
  using slow = new Engine("slowplug", { options: "gbps=3" });
  using ch = Channel.create(uniqueName("co-split"), { capacity: 72 * MiB });
  const src = new Uint8Array(32 * MiB);
  for (let i = 0; i < src.length; i += 4096) src[i] = i >> 12;
  // the profile believes the engine is as fast as the CPU: the split starts at a CPU share of 1/2
  const c = new Coordinator(profileOf(10, [{ label: "slow", fixedUs: 30, gbps: 10 }]), {
    objective: "latency", split: "always", engineMap: new Map([["slow", slow]]),
  });
  const first = c.explain(32 * MiB);
  expect(first.cpuShare).toBeCloseTo(0.5, 2);
  expect(first.reasons.join("\n")).toContain('split: "always"');
  const reports: SendReport[] = [];
  const observe = c.observe.bind(c);
  c.observe = (r) => {
    reports.push(r);
    observe(r);
  };
  const pub = ch.publisher({ coordinator: c });
  const shares: number[] = [];
  for (let i = 0; i < 30; i++) {
    await pub.send(src);
    shares.push(c.splitShare("slow"));
  }
  const splits = reports.filter((r) => r.split);
  const st = c.stats().engines.slow!;
  const rates = splits.slice(-10).map((r) => r.split!).filter((s) => !s.engineFirst);
  const cpuGbps = splits.slice(-10).map((r) => r.split!.cpuBytes / r.split!.cpuNs).sort((a, b) => a - b)[5]!;
  console.log(
    `shares ${shares.map((x) => x.toFixed(2)).join(" ")}; engine rate correction ${st.rateCorrection}; CPU part ~${cpuGbps.toFixed(1)} GB/s; ` +
      `last splits (cpu/wait µs): ${splits.slice(-6).map((r) => `${(r.split!.cpuNs / 1e3).toFixed(0)}/${(r.split!.waitNs / 1e3).toFixed(0)}`).join(" ")}`,
  );
  expect(reports.every((r) => r.error === null)).toBe(true);
  expect(splits.length).toBe(30);
  // the CPU's share moved up from 1/2 toward rc / (rc + 3 GB/s) and settled
  const last = shares.slice(-8);
  expect(Math.min(...last)).toBeGreaterThan(0.65);
  // it hunts around the balance point (the CPU part's own rate varies by 2x from send to send on this VM)
  expect(Math.max(...last) - Math.min(...last)).toBeLessThan(0.18);
  const ideal = Math.min(0.95, cpuGbps / (cpuGbps + 3));
  const mean = last.reduce((a, b) => a + b, 0) / last.length;
  expect(Math.abs(mean - ideal)).toBeLessThan(0.1);
  // both parts finish together: over the last splits the thread waits little for the engine (its wait over its
  // own part: ~4.6 at the starting share of 1/2; converged, the median of the last 8 was 0.07-0.13 in ten runs
  // of this file alone and 0.27 and 0.29 in two full-suite runs on a 2-vCPU VM, where the CPU part's rate moves
  // by 20-40% from send to send and the share hunts around the balance point)
  const lag = splits.slice(-8).map((r) => r.split!.waitNs / r.split!.cpuNs).sort((a, b) => a - b);
  expect(lag[4]!).toBeLessThan(0.4);
  void rates;
  expect(st.splitSamples).toBe(30);
  expect(st.rateCorrection).toBeGreaterThan(2); // the profile's engine was 3x too fast
  expect(Object.keys(c.stats().choices)).toEqual(["split/slow"]);
}, 60_000);
