/**
 * @ferry/sw-engine: defaults and detection, stats, option validation and
 * disposal. Sends through it between processes: tests/channel-sw-engine.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Channel, Engine, FerryError } from "@ferry/channel";
import { detect, swEngine, type SwEngine } from "../src/index";
import { expectFerryError, makePayload, registerCleanup, uniqueName } from "@ferry/testkit";

registerCleanup();

const KiB = 1024;
const MiB = 2 ** 20;

describe("detect() and defaults", () => {
  test("detect() picks one copy thread less than the CPUs (at least 1) and 256 KiB chunks, and says why", () => {
    const d = detect();
    expect(d.cpus).toBe(availableParallelism());
    expect(d.threads).toBe(Math.max(1, d.cpus - 1));
    expect(d.chunkBytes).toBe(256 * KiB);
    expect(d.reason).toContain(String(d.cpus));
    expect(d.reason.length).toBeGreaterThan(20);
  });

  test("detect() asks the engine's probe op: available, with what it would be and why", () => {
    const d = detect();
    expect(d.available).toBe(true);
    expect(d.probe).toMatchObject({ name: "sw", available: true, async: true, cacheHints: true, progress: true, batch: true });
    expect(d.probe.reason).toContain(`${d.threads} copy thread`);
  });

  test("Engine.probe says exactly why an engine is unavailable, and refuses an unknown one", () => {
    const p = Engine.probe("sw", { threads: 65 });
    expect(p.available).toBe(false);
    expect(p.reason).toContain("65 copy threads asked for, at most 64");
    expect(Engine.probe("cpu").available).toBe(true);
    expectFerryError(() => Engine.probe("no-such-engine"), "FERRY_E_NOTFOUND");
  });

  test("swEngine() defaults match detect(): options, caps and stats", () => {
    const d = detect();
    using e = swEngine();
    expect(e.name).toBe("sw");
    expect(e.options).toEqual({ threads: d.threads, chunkBytes: d.chunkBytes, drain: false });
    const caps = e.caps();
    expect(caps).toMatchObject({ name: "sw", async: true, cacheHints: true, progress: true, threads: d.threads, chunkBytes: d.chunkBytes });
    expect(caps.coldThreshold).toBeGreaterThan(0);
    expect(caps.coldThreshold).toBeLessThanOrEqual(16 * MiB);
    expect(e.stats()).toEqual({ submitted: 0, jobs: 0, errors: 0, bytes: 0, busyNs: 0, chunks: 0, fullWaits: 0, threads: d.threads });
  });

  test("explicit options reach the engine", () => {
    using e = swEngine({ threads: 2, chunkBytes: 64 * KiB, drain: true, coldThreshold: 2 * MiB });
    expect(e.options).toMatchObject({ threads: 2, chunkBytes: 64 * KiB, drain: true, coldThreshold: 2 * MiB });
    expect(e.caps()).toMatchObject({ threads: 2, chunkBytes: 64 * KiB, coldThreshold: 2 * MiB });
    expect(e.stats().threads).toBe(2);
  });
});

describe("stats", () => {
  test("jobs, bytes, chunks and busy time grow with offload and pipelined sends", async () => {
    const name = uniqueName("swstats");
    const ch = Channel.create(name, { capacity: 32 * MiB });
    using e = swEngine({ threads: 1, chunkBytes: 256 * KiB });
    try {
      const pub = ch.publisher({ engine: e });
      const b = new Uint8Array(4 * MiB).fill(7);
      for (let k = 0; k < 3; k++) await pub.send(b, { mode: "offload" });
      const s1 = e.stats();
      expect(s1.submitted).toBeGreaterThanOrEqual(3);
      expect(s1.jobs).toBe(3);
      expect(s1.errors).toBe(0);
      expect(s1.bytes).toBe(12 * MiB);
      expect(s1.chunks).toBeGreaterThanOrEqual(3 * 16);
      expect(s1.busyNs).toBeGreaterThan(0);
      await pub.send(b, { mode: "pipelined" });
      await pub.send(b.subarray(0, 1000), { mode: "offload", engine: e });
      const s2 = e.stats();
      expect(s2.jobs).toBe(5);
      expect(s2.bytes).toBe(16 * MiB + 1000);
      expect(s2.chunks).toBeGreaterThan(s1.chunks);
      expect(s2.busyNs).toBeGreaterThan(s1.busyNs);
      pub.close();
    } finally {
      ch.close();
    }
  });
});

describe("option validation: errors are FerryErrors", () => {
  test("threads: 1000 is refused by the library", () => {
    const err = expectFerryError(() => swEngine({ threads: 1000 }), "FERRY_E_INVAL");
    expect(err).toBeInstanceOf(FerryError);
    expect(err.message).toContain("threads");
  });

  test("threads: -1 is refused", () => {
    expectFerryError(() => swEngine({ threads: -1 }), "FERRY_E_INVAL");
  });

  test("chunkBytes below 4 KiB is refused", () => {
    const err = expectFerryError(() => swEngine({ chunkBytes: 100 }), "FERRY_E_INVAL");
    expect(err.message).toContain("4096");
  });

  test("pinning to a CPU this process cannot use is refused", () => {
    expectFerryError(() => swEngine({ threads: 1, pin: [availableParallelism() + 3] }), "FERRY_E_INVAL");
  });

  // Each of these is accepted today (or throws a plain RangeError): see the report.
  test.each([
    ["chunkBytes: -1 (wraps to 2^64-1)", { chunkBytes: -1 }],
    ["chunkBytes: 1.5 (RangeError from BigInt)", { chunkBytes: 1.5 }],
    ["coldThreshold: -5 (wraps to 2^64-5)", { coldThreshold: -5 }],
    ["pin: [64] (1n << 64n truncated to an empty mask: silently unpinned)", { pin: [64] }],
    ["pin: [-1] (1n << -1n is 0n: silently unpinned)", { pin: [-1] }],
  ])("%s is refused with FERRY_E_INVAL", (_what, opts) => {
    let e: SwEngine | undefined;
    expectFerryError(() => {
      e = swEngine(opts as never);
    }, "FERRY_E_INVAL");
    e?.close();
  });
});

describe("pinning", () => {
  const tasks = () => new Set(readdirSync("/proc/self/task").map(Number));
  const affinity = (t: number) => readFileSync(`/proc/self/task/${t}/status`, "utf8").match(/Cpus_allowed_list:\s*(\S+)/)![1];

  test.skipIf(availableParallelism() < 2)("pin: [1, 0] is the CPU set {0, 1}: copy thread i goes to its i-th lowest CPU (as documented)", () => {
    const before = tasks();
    using e = swEngine({ threads: 2, pin: [1, 0] });
    const added = [...tasks()].filter((t) => !before.has(t)).sort((a, b) => a - b); // created in order
    expect(added.length).toBe(2);
    expect(added.map(affinity)).toEqual(["0", "1"]);
    void e;
  });

  test("pin: [0] pins every copy thread to CPU 0 and copies still work", async () => {
    const before = tasks();
    using e = swEngine({ threads: 2, pin: [0] });
    const added = [...tasks()].filter((t) => !before.has(t));
    expect(added.map(affinity)).toEqual(["0", "0"]);
    const name = uniqueName("swpin");
    const ch = Channel.create(name, { capacity: 8 * MiB });
    try {
      const pub = ch.publisher({ engine: e });
      const b = makePayload(3 * MiB + 1, 5);
      expect(await pub.send(b, { mode: "offload" })).toBe(0);
      expect(e.stats().bytes).toBe(3 * MiB + 1);
      pub.close();
    } finally {
      ch.close();
    }
  });
});

describe("disposal", () => {
  test("`using engine = swEngine()` closes it at the end of the block; close is idempotent", () => {
    let outer: SwEngine;
    {
      using engine = swEngine({ threads: 1 });
      outer = engine;
      expect(engine.closed).toBe(false);
    }
    expect(outer.closed).toBe(true);
    expectFerryError(() => outer.stats(), "FERRY_E_CLOSED");
    expectFerryError(() => outer.caps(), "FERRY_E_CLOSED");
    outer.close();
    expect(outer.closed).toBe(true);
  });

  test("sending through a closed engine fails with FERRY_E_CLOSED and publishes nothing", async () => {
    const name = uniqueName("swclosed");
    const ch = Channel.create(name, { capacity: MiB });
    try {
      const e = swEngine({ threads: 1 });
      e.close();
      const pub = ch.publisher({ engine: e });
      let err: unknown;
      try {
        await pub.send(new Uint8Array(100), { mode: "offload" });
      } catch (x) {
        err = x;
      }
      expect((err as FerryError).code).toBe("FERRY_E_CLOSED");
      expect(ch.stats().published).toBe(0);
      expect(ch.stats().arenaUsed).toBe(0);
      pub.close();
    } finally {
      ch.close();
    }
  });
});
