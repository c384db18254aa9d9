/**
 * Between two Bun processes: `auto` through a calibrated coordinator for
 * 0 B .. 256 MiB under each objective, every payload checked byte for byte by
 * the receiver (peers/recv.ts); a synthetic profile that exercises every
 * mode and the split; and an engine that starts failing mid-run (slowplug
 * fail_after=) makes the coordinator fall back, with the reason recorded,
 * and no message lost.
 */
import { join } from "node:path";
import { describe, expect, test } from "bun:test";
import { Channel, Engine, type SendReport } from "@ferry/channel";
import { peerSpawner, registerCleanup, uniqueName } from "@ferry/testkit";
import { Coordinator, OBJECTIVES } from "./entry";
import { KiB, MiB, loadSlowplug, payload, profileOf } from "./helpers";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

const SIZES = [0, 1, 63, 4096, 4097, 64 * KiB + 5, MiB, 3 * MiB + 7, 16 * MiB, 64 * MiB, 256 * MiB];

type Got = { i: number; seq: number; len: number; size: number; ok?: boolean; pipelined: boolean; err?: unknown };

/** Send every size through `pub` (auto), then close; the receiver's result. */
async function roundTrip(name: string, ch: Channel, co: Coordinator, run: number, sizes = SIZES) {
  const sub = spawnPeer("recv.ts", { name }, 180_000);
  await sub.waitFor("ready");
  const pub = ch.publisher({ coordinator: co });
  await pub.waitForSubscribers(1);
  const reports: SendReport[] = [];
  const observe = co.observe.bind(co);
  co.observe = (r) => {
    reports.push(r);
    observe(r);
  };
  for (const [i, size] of sizes.entries()) {
    const m = payload(run, i, size);
    await pub.send(m.bytes, { header: m.header });
  }
  pub.close();
  const res = await sub.result<{ got: Got[]; end: string }>(180_000);
  await sub.exited;
  return { got: res.got, end: res.end, reports };
}

function expectIntact(got: Got[], sizes: number[]) {
  expect(got.map((g) => g.i)).toEqual(sizes.map((_, i) => i));
  for (const g of got) {
    expect(g.err).toBeUndefined();
    expect(g.ok).toBe(true);
    expect(g.len).toBe(sizes[g.i]!);
  }
}

describe("auto between two processes", () => {
  for (const objective of OBJECTIVES)
    test(`objective ${objective}: 0 B .. 256 MiB, every byte intact`, async () => {
      const co = await Coordinator.calibrate({ objective, engines: ["sw"] });
      const name = uniqueName(`co-e2e-${objective}`);
      using ch = Channel.create(name, { capacity: 260 * MiB });
      const { got, end, reports } = await roundTrip(name, ch, co, OBJECTIVES.indexOf(objective));
      expect(end).toBe("FERRY_E_EOF");
      expectIntact(got, SIZES);
      expect(reports.every((r) => r.error === null)).toBe(true);
      const used = Object.keys(co.stats().choices);
      console.log(`${objective}: ${reports.map((r) => `${r.size}:${r.decision.mode}${r.split ? "+split" : ""}`).join(" ")}`);
      expect(co.stats().total.messages).toBe(SIZES.length);
      expect(used.length).toBeGreaterThanOrEqual(1);
    }, 240_000);

  test("a profile that uses every mode and the split: pipelined, offload and split messages arrive intact", async () => {
    // engine twice the CPU's rate with a 2 µs fixed cost: engine modes from a few KiB; objective throughput splits large ones
    const co = new Coordinator(profileOf(5, [{ label: "sw", fixedUs: 2, gbps: 10 }]), { objective: "throughput" });
    const lat = new Coordinator(profileOf(5, [{ label: "sw", fixedUs: 2, gbps: 10 }]), { objective: "latency", split: false });
    for (const [k, c] of [co, lat].entries()) {
      const name = uniqueName(`co-e2e-modes${k}`);
      using ch = Channel.create(name, { capacity: 260 * MiB });
      const { got, reports } = await roundTrip(name, ch, c, 10 + k);
      expectIntact(got, SIZES);
      const modes = new Set(reports.map((r) => (r.split ? "split" : r.decision.mode)));
      console.log(`synthetic ${c.objective}: ${reports.map((r) => `${r.size}:${r.split ? "split" : r.decision.mode}`).join(" ")}`);
      if (k === 0) expect(modes.has("split")).toBe(true);
      else expect(modes.has("pipelined")).toBe(true);
      // small messages take the fast path (SendPolicy.fastInline: no observe() report), counted in the stats
      expect(c.stats().choices["inline/cpu"]?.messages).toBeGreaterThan(0);
      expect(c.stats().total.messages).toBe(SIZES.length);
    }
  }, 240_000);
});

describe("an engine that starts failing mid-run", () => {
  test("offload: the failing send is copied inline (the software floor), later ones avoid the engine; every fallback has its reason", async () => {
    loadSlowplug();
    using bad = new Engine("slowplug", { options: "fail_after=4" });
    const co = new Coordinator(profileOf(5, [{ label: "flaky", fixedUs: 2, gbps: 50 }]), {
      objective: "cpu", split: false, engineMap: new Map([["flaky", bad]]),
    });
    const sizes = Array.from({ length: 12 }, (_, i) => MiB + i);
    const name = uniqueName("co-failing");
    using ch = Channel.create(name, { capacity: 64 * MiB });
    const { got, reports } = await roundTrip(name, ch, co, 20, sizes);
    // nothing lost, nothing corrupted, in order
    expectIntact(got, sizes);
    expect(reports.every((r) => r.error === null)).toBe(true);
    const engineSends = reports.filter((r) => r.decision.mode !== "inline");
    expect(engineSends.length).toBeGreaterThanOrEqual(5);
    const retried = reports.filter((r) => r.retriedInline);
    expect(retried.length).toBe(1); // the 5th engine send failed; later ones were not handed to the engine
    expect(retried[0]!.retriedInline).toMatch(/engine copy of message/);
    expect(reports.indexOf(retried[0]!)).toBe(4);
    expect(reports.slice(5).every((r) => r.decision.mode === "inline")).toBe(true);
    const s = co.stats();
    expect(s.engines.flaky!.health).toBe("failing");
    expect(s.engines.flaky!.reason).toMatch(/^failed: .*FERRY_E_SYS.*retried after 1000 ms/);
    expect(s.fallbacks.byKind["engine error, sent inline: flaky"]).toBe(1);
    expect(s.fallbacks.byKind["engine failing: flaky"]).toBe(7);
    const last = s.fallbacks.recent.at(-1)!;
    expect(last).toMatchObject({ kind: "engine failing", engine: "flaky", size: MiB + 11 });
    expect(last.change).toMatch(/^(offload|pipelined)\/flaky -> inline\/cpu$/);
    expect(co.explain(MiB).fallback?.kind).toBe("engine failing");
    expect(co.explain(MiB).reasons.join("\n")).toMatch(/FALLBACK \(engine failing\): flaky would be chosen but failed: /);
  }, 120_000);

  test("after the cool-down one trial goes to the engine again: still failing doubles the cool-down", async () => {
    loadSlowplug();
    using bad = new Engine("slowplug", { options: "fail_after=0" });
    const co = new Coordinator(profileOf(5, [{ label: "flaky", fixedUs: 2, gbps: 50 }]), {
      objective: "cpu", split: false, engineMap: new Map([["flaky", bad]]),
    });
    using ch = Channel.create(uniqueName("co-cooldown"), { capacity: 16 * MiB });
    const pub = ch.publisher({ coordinator: co });
    const src = new Uint8Array(MiB);
    await pub.send(src); // fails on the engine, sent inline
    expect(co.stats().engines.flaky!.reason).toMatch(/retried after 1000 ms/);
    await Bun.sleep(1100);
    await pub.send(src); // the trial: fails again
    expect(co.stats().engines.flaky!.reason).toMatch(/retried after 2000 ms/);
    expect(co.stats().choices["offload/flaky"]?.retriedInline ?? co.stats().choices["pipelined/flaky"]?.retriedInline).toBe(2);
  }, 30_000);
});

test("the decision code is warmed up in idle time on a coordinator of its own: no decisions or stats of its own, none kept by the user's", async () => {
  // two processes that make one coordinator with an engine and idle 500 ms, with and without the warm-up
  const run = (warmup: boolean) =>
    spawnPeer("warmup.ts", { warmup, ms: 500 }).result<{ idleCpuMs: number; decisions: number; fresh: number; shared: number; modes: string[] }>(60_000);
  const on = await run(true);
  const off = await run(false);
  // it ran: ~2,000 choices on the main thread while the process idled (~10 ms; without it the thread sleeps)
  expect(on.idleCpuMs).toBeGreaterThan(2);
  expect(on.idleCpuMs).toBeGreaterThan(off.idleCpuMs);
  // and left the user's coordinator as it was: no decisions, nothing shared for `ferry stat`, the same choices
  expect(on.decisions).toBe(0);
  expect(on.fresh).toBe(0);
  expect(on.shared).toBe(0);
  expect(on.modes).toEqual(off.modes);
  expect(on.modes).toContain("offload/sw"); // (the profile's engine wins somewhere: the choices compared are not all inline)
}, 120_000);

