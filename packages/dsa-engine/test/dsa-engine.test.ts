/**
 * @ferry/dsa-engine through the emulated DSA device (this machine has no DSA):
 * detection and the visible sw fallback, integrity 0 B .. 256 MiB through a
 * channel, splitting at max transfer, many small copies on small queues of
 * both kinds, every injected fault recovered or reported with its code, and
 * offload + pipelined sends between two Bun processes. The C side
 * (native/tests/test_engine_dsa.c) checks the paths taken (batches, retries,
 * fix-ups, status names) through the engine's counters.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Channel, FerryError } from "@ferry/channel";
import { detect, dsaEngine } from "../src/index";
import { checkPayload, makePayload, peerSpawner, registerCleanup, uniqueName, verifyChunks, type PatternHeader } from "@ferry/testkit";

registerCleanup();
const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
const KiB = 1024;
const MiB = 2 ** 20;

describe("detect() and the auto fallback", () => {
  test("detect() says exactly why no DSA is usable here, and finds the emulated device", () => {
    const d = detect();
    expect(d.device).toBe("auto");
    if (!d.available) expect(d.reason.length).toBeGreaterThan(20);
    const fake = detect({ options: "sysfs=/nonexistent-dsa-sysfs" });
    expect(fake.available).toBe(false);
    expect(fake.reason).toContain("no idxd driver: /nonexistent-dsa-sysfs does not exist");
    const emu = detect({ device: "emulated" });
    expect(emu.available).toBe(true);
    expect(emu.reason).toContain("emulated DSA device");
    expect(emu.probe).toMatchObject({ async: true, progress: true, batch: true, cacheHints: true });
  });

  test("the DSA engine finishes every job from its completion thread (FERRY_CAP_SELF_FINISH)", () => {
    using e = dsaEngine({ device: "emulated" });
    expect(e.caps().selfFinish).toBe(true);
    expect(e.selfFinish).toBe(true);
    expect(e.caps().hostCpu).toBe(true); // the emulated device copies on the host's CPUs (FERRY_CAP_HOST_CPU); a hardware queue does not
  });

  test("auto without DSA falls back to sw, and says so in the engine and its stats", () => {
    using e = dsaEngine({ device: "auto", options: "sysfs=/nonexistent-dsa-sysfs" });
    expect(e.engine).toBe("sw");
    expect(e.name).toBe("sw");
    expect(e.fallback).toContain("no usable DSA, using the sw engine: no idxd driver");
    expect(e.stats()).toMatchObject({ engine: "sw", fallback: e.fallback });
  });

  test("a named queue that is not there throws with the reason (no silent fallback)", () => {
    expect(() => dsaEngine({ device: "/dev/dsa/wq7.7", options: "sysfs=/nonexistent-dsa-sysfs" })).toThrow(/no idxd driver/);
    expect(() => dsaEngine({ device: "emulated", options: "bogus=1" })).toThrow(FerryError);
    expect(() => dsaEngine({ emulated: { size: 4 } })).toThrow(/need device "emulated"/);
  });
});

async function roundTrip(engineOpts: Parameters<typeof dsaEngine>[0], sizes: number[], mode: "offload" | "pipelined", capacity = 64 * MiB) {
  using ch = Channel.create(uniqueName("dsa"), { capacity });
  using engine = dsaEngine(engineOpts);
  const sub = ch.subscribe();
  const pub = ch.publisher({ engine, timeoutMs: 60_000 });
  for (const [i, size] of sizes.entries()) {
    const payload = makePayload(size, 1000 + i);
    await pub.send(payload, { mode, header: { p: 0, i, s: 1000 + i, size } });
    const msg = await sub.receive({ timeoutMs: 60_000 });
    if (msg.pipelined) await msg.ready();
    expect(checkPayload(msg.bytes, msg.header as PatternHeader).ok).toBe(true);
    msg.release();
  }
  const st = engine.stats();
  pub.close();
  sub.close();
  return st;
}

describe("emulated device: integrity through a channel", () => {
  test("offload 0 B .. 12 MiB, hot and cold, split at the 2 MiB max transfer", async () => {
    const st = await roundTrip({ device: "emulated" }, [0, 1, 63, 4 * KiB, 100 * KiB + 3, 2 * MiB, 2 * MiB + 1, 12 * MiB], "offload");
    expect(st).toMatchObject({ engine: "dsa", errors: 0, jobs: 8 });
    expect(st.chunks).toBe(0 + 1 + 1 + 1 + 1 + 1 + 2 + 6);
  });

  test("pipelined, 64 KiB max transfer: many pieces, progress per piece", async () => {
    const st = await roundTrip({ device: "emulated", emulated: { maxTransfer: 64 * KiB } }, [5 * MiB + 7, 3], "pipelined");
    expect(st.chunks).toBe(81 + 1);
  });

  test("one 256 MiB offload send, byte for byte", async () => {
    const st = await roundTrip({ device: "emulated", emulated: { workers: 2 } }, [256 * MiB], "offload", 300 * MiB);
    expect(st.bytes).toBe(256 * MiB);
    expect(st.chunks).toBe(128);
  }, 120_000);

  test("many small sends in flight on 2-entry queues of both kinds: all arrive intact", async () => {
    for (const mode of ["dedicated", "shared"] as const) {
      using ch = Channel.create(uniqueName("dsa-small"), { capacity: 16 * MiB });
      using engine = dsaEngine({ device: "emulated", emulated: { mode, size: 2, maxBatch: 8 } });
      const sub = ch.subscribe();
      const pub = ch.publisher({ engine, timeoutMs: 60_000 });
      const n = 300; // in rounds of 60 (a publisher keeps at most 64 engine sends in flight)
      for (let r = 0; r < n; r += 60) {
        const sends = Array.from({ length: 60 }, (_, k) => {
          const i = r + k, size = 1 + ((i * 97) % 8000);
          return pub.send(makePayload(size, i), { mode: "offload", header: { p: 0, i, s: i, size } });
        });
        await Promise.all(sends);
        for (let k = 0; k < 60; k++) {
          const msg = sub.tryReceive()!;
          expect(checkPayload(msg.bytes, msg.header as PatternHeader).ok).toBe(true);
          msg.release();
        }
      }
      const st = engine.stats();
      expect(st.jobs).toBe(n);
      expect(st.errors).toBe(0);
      pub.close();
      sub.close();
    }
  });
});

describe("emulated device: injected faults", () => {
  const recovered = ["pf_read@2:4096", "pf_write@1", "pf_read_desc@2:8192", "pf_write_desc@3:100", "pf_write@1:0:9", "qfull@1:30"];
  for (const inject of recovered)
    test(`${inject}: recovered, every byte right`, async () => {
      const st = await roundTrip({ device: "emulated", emulated: { inject }, options: "stall_ms=5" }, [3 * MiB + 5, 300 * KiB], "offload");
      expect(st.errors).toBe(0);
    });

  test("pageFaults: \"cpu\" finishes the rest on the CPU", async () => {
    const st = await roundTrip({ device: "emulated", pageFaults: "cpu", emulated: { inject: "pf_read@1" } }, [MiB], "pipelined");
    expect(st.errors).toBe(0);
    expect(st.chunks).toBe(1); // no fix-up descriptor
  });

  // [injection, code, the device status named in the error's message]
  const reported: [string, string, string][] = [
    ["bad_opcode@1", "FERRY_E_INVAL", "BAD_OPCODE"],
    ["cra_align@1", "FERRY_E_INVAL", "CRA_ALIGN"],
    ["halt@1", "FERRY_E_SYS", ""],
  ];
  for (const [inject, code, status] of reported)
    test(`${inject}: the send rejects with ${code}${status ? `, naming ${status}` : ""}`, async () => {
      using ch = Channel.create(uniqueName("dsa-fault"), { capacity: 8 * MiB });
      using engine = dsaEngine({ device: "emulated", emulated: { inject }, options: "stall_ms=5" });
      const pub = ch.publisher({ engine, timeoutMs: 10_000 });
      const err = await pub.send(makePayload(100 * KiB, 1), { mode: "offload" }).catch((e) => e);
      expect(err).toBeInstanceOf(FerryError);
      expect(err.code).toBe(code);
      expect(err.message).toContain("engine dsa: copy failed");
      if (status) expect(err.message).toContain(status);
      if (!inject.startsWith("halt")) await pub.send(makePayload(1000, 2), { mode: "offload" }); // the engine goes on
      else await expect(pub.send(makePayload(1000, 2), { mode: "offload" })).rejects.toMatchObject({ code: "FERRY_E_SYS" });
      expect(engine.stats().errors).toBe(1);
      pub.close();
    });
});

describe("two Bun processes", () => {
  test("offload and pipelined sends through an emulated DSA in the publisher process", async () => {
    const name = uniqueName("dsa-e2e");
    using ch = Channel.create(name, { capacity: 64 * MiB });
    const sub = ch.subscribe({ wait: "hybrid" });
    const sizes = [0, 7, 64 * KiB + 1, 5 * MiB + 3, 12 * MiB, 0, 9, 300 * KiB, 5 * MiB + 3, 12 * MiB];
    const modes = [...Array(5).fill("offload"), ...Array(5).fill("pipelined")];
    const pub = spawnPeer("dsa-pub.ts", { name, run: 8, sizes, modes, engine: { device: "emulated", chunkBytes: 512 * KiB, emulated: { inject: "pf_write@3+pf_read_desc@9" } } }, 60_000);
    const got: { i: number; ok: boolean; pipelined: boolean; badChunk?: unknown }[] = [];
    for (let n = 0; n < sizes.length; n++) {
      const msg = await sub.receive({ timeoutMs: 60_000 });
      const h = msg.header as PatternHeader;
      const g: (typeof got)[number] = { i: h.i, ok: false, pipelined: msg.pipelined };
      if (msg.pipelined) Object.assign(g, await verifyChunks(msg.chunks({ minBytes: MiB }), h.s, MiB, msg.length));
      g.ok = checkPayload(msg.bytes, h).ok;
      msg.release();
      got.push(g);
    }
    const r = await pub.result<{ sent: { i: number; mode: string }[]; problems: string[]; stats: { jobs: number; errors: number; engine: string } }>(30_000);
    expect(r.problems).toEqual([]);
    expect(r.stats).toMatchObject({ engine: "dsa", jobs: sizes.length, errors: 0 });
    expect(got.map((g) => g.i)).toEqual(sizes.map((_, i) => i));
    for (const g of got) expect({ i: g.i, ok: g.ok, badChunk: g.badChunk ?? null }).toEqual({ i: g.i, ok: true, badChunk: null });
    expect(got.filter((g) => g.pipelined).length).toBe(5);
    expect(await pub.exited).toBe(0);
    sub.close();
  }, 60_000);
});
