/**
 * The SendPolicy seam and per-message chunk sizes: a publisher's policy is
 * asked for mode "auto" and for send() without a mode, its decision (mode,
 * engine, cache, chunkBytes) is applied, explicit send options win over it,
 * and bad values are FERRY_E_INVAL. Payloads are checked byte for byte in a
 * subscriber process (peers/verify-sub.ts, payload patterns from @ferry/testkit).
 */
import { join } from "node:path";
import { describe, expect, test } from "bun:test";
import {
  Channel, Engine, defaultPolicy, type SendContext, type SendDecision, type SendOptions, type SendPolicy,
} from "@ferry/channel";
import {
  expectFerryError,
  expectFerryRejection,
  makePayload, seedOf, sha256,
  peerSpawner,
  registerCleanup,
  uniqueName,
} from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const KiB = 1024;
const MiB = 2 ** 20;

/** A policy that answers `decision` and records every question. */
function recording(decision: (size: number) => SendDecision) {
  const calls: { size: number; ctx: SendContext }[] = [];
  const policy: SendPolicy = {
    decide(size, ctx) {
      calls.push({ size, ctx });
      return decision(size);
    },
  };
  return { policy, calls };
}

/** Payload i of run r, with the header verify-sub.ts checks it against. */
function payload(run: number, i: number, size: number) {
  const s = seedOf(run, 0, i);
  const bytes = makePayload(size, s);
  return { bytes, header: { p: 0, i, s, size }, hash: sha256(bytes) };
}

type Got = { i: number; seq: number; len: number; hash?: string; ok?: boolean; pipelined: boolean; err?: unknown };

describe("the default policy", () => {
  test("answers inline for every size, and send() without a mode is an inline copy", async () => {
    using ch = Channel.create(uniqueName("pol-default"), { capacity: MiB });
    const pub = ch.publisher();
    expect(pub.policy).toBe(defaultPolicy);
    const ctx = { channel: ch, publisher: pub, engine: pub.engine, options: {} };
    for (const size of [0, 1, 4 * KiB, 64 * MiB]) expect(defaultPolicy.decide(size, ctx).mode).toBe("inline");
    const sub = ch.subscribe();
    const seq = await pub.send(new Uint8Array([1, 2, 3]));
    expect(pub.pending).toBe(0); // published already: no engine job
    const m = sub.tryReceive()!;
    expect([m.seq, m.pipelined, [...m.bytes]]).toEqual([seq, false, [1, 2, 3]]);
    m.release();
  });
});

describe("a custom policy", () => {
  test('is asked for mode "auto" and for send() without a mode, once per message, with the context; not for explicit modes or sendSync', async () => {
    using ch = Channel.create(uniqueName("pol-ctx"), { capacity: MiB });
    const { policy, calls } = recording(() => ({ mode: "inline", reasons: ["test"] }));
    using engine = new Engine("cpu");
    const pub = ch.publisher({ policy, engine });
    expect(pub.policy).toBe(policy);
    const opts: SendOptions = { mode: "auto", cache: "hot" };
    await pub.send(new Uint8Array(10), opts);
    await pub.send(new Uint8Array(20));
    await pub.send(new Uint8Array(30), { mode: "inline" });
    await pub.send(new Uint8Array(40), { mode: "offload" });
    pub.sendSync(new Uint8Array(50));
    expect(calls.map((c) => c.size)).toEqual([10, 20]);
    const ctx = calls[0]!.ctx;
    expect(ctx.channel).toBe(ch);
    expect(ctx.publisher).toBe(pub);
    expect(ctx.engine).toBe(engine);
    expect(ctx.options).toBe(opts);
    expect(calls[1]!.ctx.options).toEqual({});
    expect(ch.stats().published).toBe(5);
  });

  test("a fast tier with a ceiling is not read again for sends at or above it (they decide); below it, and without one, at every send", async () => {
    using ch = Channel.create(uniqueName("pol-ceil"), { capacity: 4 * MiB });
    const sub = ch.subscribe();
    const mk = (ceiling?: number) => {
      const seen = { reads: 0, fast: 0, decided: 0 };
      const policy: SendPolicy = {
        get fastInline() {
          seen.reads++;
          return { below: 4 * KiB, ...(ceiling === undefined ? {} : { ceiling }), record: () => void seen.fast++ };
        },
        decide: () => (seen.decided++, { mode: "inline" }),
      };
      return { pub: ch.publisher({ policy }), seen };
    };
    const a = mk(64 * KiB);
    for (const n of [100, 100 * KiB, 100 * KiB, 100, 100 * KiB]) await a.pub.send(new Uint8Array(n).fill(n & 255));
    // read for the sends below the ceiling only (the first 100 B read it: the 100 KiB ones after decide() without it)
    expect(a.seen).toEqual({ reads: 2, fast: 2, decided: 3 });
    const b = mk();
    for (const n of [100, 100 * KiB, 100 * KiB]) await b.pub.send(new Uint8Array(n).fill(n & 255));
    expect(b.seen).toEqual({ reads: 3, fast: 1, decided: 2 });
    for (const n of [100, 100 * KiB, 100 * KiB, 100, 100 * KiB, 100, 100 * KiB, 100 * KiB]) {
      const m = sub.tryReceive()!;
      expect([m.length, m.bytes[0]]).toEqual([n, n & 255]);
      m.release();
    }
  });

  test("offload and pipelined decisions through the decided engine with its chunkBytes arrive intact in another process", async () => {
    const name = uniqueName("pol-xproc");
    using ch = Channel.create(name, { capacity: 64 * MiB });
    using engine = new Engine("sw", { threads: 1, chunkBytes: 256 * KiB });
    // >= 1 MiB: pipelined in 64 KiB chunks; >= 64 KiB: offload in 16 KiB chunks; else inline
    const { policy, calls } = recording((size) =>
      size >= MiB ? { mode: "pipelined", engine, chunkBytes: 64 * KiB, cache: "cold" }
      : size >= 64 * KiB ? { mode: "offload", engine, chunkBytes: 16 * KiB }
      : { mode: "inline" });
    const SIZES = [100, 64 * KiB, 3 * MiB, 200 * KiB + 7, 5 * MiB + 3, 0];
    const sub = spawnPeer("verify-sub.ts", { name, count: SIZES.length, wait: "hybrid" }, 60_000);
    await sub.waitFor("ready");
    const pub = ch.publisher({ policy }); // its own default engine is the shared "sw": the decision names another
    const sent: { i: number; seq: number; size: number; hash: string; chunks: number }[] = [];
    for (const [i, size] of SIZES.entries()) {
      const m = payload(7, i, size);
      const before = engine.stats().chunks;
      const seq = await pub.send(m.bytes, { header: m.header });
      sent.push({ i, seq, size, hash: m.hash, chunks: engine.stats().chunks - before });
    }
    expect(calls.map((c) => c.size)).toEqual(SIZES);
    // the decided chunk size took effect: a job of n bytes is ceil(n / chunk) chunks
    expect(sent.map((s) => s.chunks)).toEqual([0, 4, 48, 13, 81, 0]);
    const r = await sub.result<{ got: Got[]; end: string }>(60_000);
    expect(r.got.map((g) => [g.i, g.seq, g.len, g.hash, g.ok, g.err])).toEqual(sent.map((s) => [s.i, s.seq, s.size, s.hash, true, undefined]));
    expect(r.got.map((g) => g.pipelined)).toEqual(SIZES.map((s) => s >= MiB));
    expect(await sub.exited).toBe(0);
    pub.close();
    expect(ch.stats().arenaUsed).toBe(0);
  }, 60_000);

  test("a policy that switches from offload to pipelined with offloads in flight: messages arrive in send order, intact", async () => {
    // an offload is published when its copy is done, a pipelined send at its submit: the publisher holds a
    // policy's pipelined send until the offloads in flight have settled (the coordinator switches modes in streams)
    const name = uniqueName("pol-order");
    using ch = Channel.create(name, { capacity: 64 * MiB });
    const n = 24;
    const size = 2 * MiB;
    // offload for runs of three, then pipelined for one: every pipelined send follows offloads still in flight
    const { policy } = recording(() => ({ mode: calls++ % 4 === 3 ? "pipelined" : "offload" }));
    let calls = 0;
    const sub = spawnPeer("verify-sub.ts", { name, count: n, wait: "hybrid" }, 60_000);
    await sub.waitFor("ready");
    const pub = ch.publisher({ policy });
    await pub.waitForSubscribers(1);
    const inflight: Promise<number>[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < n; i++) {
      if (inflight.length >= 3) seqs.push(await inflight.shift()!);
      const m = payload(11, i, size);
      inflight.push(pub.send(m.bytes, { header: m.header }));
    }
    seqs.push(...(await Promise.all(inflight)));
    const r = await sub.result<{ got: Got[]; end: string }>(60_000);
    expect(r.got.map((g) => g.i)).toEqual([...Array(n).keys()]);
    expect(r.got.every((g) => g.ok === true && g.err === undefined)).toBe(true);
    expect(r.got.filter((g) => g.pipelined).length).toBe(n / 4);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(await sub.exited).toBe(0);
    pub.close();
  }, 60_000);

  test("inline decisions (fast tier, remembered, decided) made with offloads in flight wait for them: send order, intact", async () => {
    // an inline copy is published at once; with an offload still copying it would arrive first. The engine is held
    // to 1 GB/s (slowplug), so every offload is still in flight when the small sends after it are made
    try {
      Engine.load(join(import.meta.dir, "../../../native/build/tests/libferry_engine_slowplug.so"));
    } catch (e) {
      if ((e as { code?: string }).code !== "FERRY_E_EXISTS") throw e;
    }
    const slow = new Engine("slowplug", { options: "gbps=1" });
    const name = uniqueName("pol-inline-order");
    using ch = Channel.create(name, { capacity: 64 * MiB });
    const sizes = [2 * MiB, 1 * KiB, 2 * MiB, 64 * KiB, 2 * MiB, 256 * KiB, 2 * MiB, 512, 2 * MiB, 128 * KiB];
    const n = sizes.length;
    let remembered = 0;
    const inline: SendDecision = Object.freeze({ mode: "inline" });
    const policy: SendPolicy = {
      // below 4 KiB: the fast tier; 64 KiB: remembered; other small sizes: decide()
      fastInline: { below: 4 * KiB, record() {} },
      remembered: {
        take: (size) => (size === 64 * KiB ? (remembered++, inline) : null),
        settled() {},
      },
      decide: (size) => (size >= MiB ? { mode: "offload", engine: slow } : inline),
    };
    const sub = spawnPeer("verify-sub.ts", { name, count: n, wait: "hybrid" }, 60_000);
    await sub.waitFor("ready");
    const pub = ch.publisher({ policy });
    await pub.waitForSubscribers(1);
    const sends: Promise<number>[] = [];
    for (let i = 0; i < n; i++) {
      const m = payload(12, i, sizes[i]!);
      sends.push(pub.send(m.bytes, { header: m.header }));
    }
    const seqs = await Promise.all(sends);
    const r = await sub.result<{ got: Got[]; end: string }>(60_000);
    expect(r.got.map((g) => g.i)).toEqual([...Array(n).keys()]);
    expect(r.got.every((g) => g.ok === true && g.err === undefined)).toBe(true);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(remembered).toBe(1);
    expect(await sub.exited).toBe(0);
    pub.close();
    slow.close();
  }, 60_000);

  test("explicit send options win over the decision's engine, cache and chunkBytes", async () => {
    using ch = Channel.create(uniqueName("pol-override"), { capacity: 16 * MiB });
    using decided = new Engine("sw", { threads: 1 });
    using mine = new Engine("sw", { threads: 1 });
    const { policy } = recording(() => ({ mode: "offload", engine: decided, chunkBytes: 64 * KiB, cache: "nope" as never }));
    const pub = ch.publisher({ policy });
    const sub = ch.subscribe();
    const bytes = makePayload(MiB, 3);
    // the decision's cache is invalid: it only matters when the caller gives none
    await expectFerryRejection(pub.send(bytes), "FERRY_E_INVAL");
    await pub.send(bytes, { engine: mine, cache: "cold", chunkBytes: 128 * KiB });
    expect(decided.stats().jobs).toBe(0);
    expect(mine.stats()).toMatchObject({ jobs: 1, chunks: 8, bytes: MiB });
    await pub.send(bytes, { cache: "hot" }); // engine and chunkBytes from the decision
    expect(decided.stats()).toMatchObject({ jobs: 1, chunks: 16, bytes: MiB });
    for (let m = sub.tryReceive(); m; m = sub.tryReceive()) {
      expect(sha256(m.bytes)).toBe(sha256(bytes));
      m.release();
    }
    expect(ch.stats().published).toBe(2);
  });

  test("a decision with an unknown mode or wait, or a throwing policy, rejects the send and publishes nothing", async () => {
    using ch = Channel.create(uniqueName("pol-bad"), { capacity: MiB });
    const bad: SendPolicy[] = [
      { decide: () => ({ mode: "zero-copy" }) as never },
      { decide: () => ({ mode: "auto" }) as never },
      { decide: () => undefined as never },
      { decide: () => ({ mode: "inline", wait: "nope" as never }) },
      { decide: () => ({ mode: "offload", chunkBytes: 100 }) },
    ];
    for (const policy of bad) await expectFerryRejection(ch.publisher({ policy }).send(new Uint8Array(8)), "FERRY_E_INVAL");
    const boom = new Error("policy failed");
    const thrower = ch.publisher({ policy: { decide: () => { throw boom; } } });
    await expect(thrower.send(new Uint8Array(8))).rejects.toBe(boom);
    expect(ch.stats().published).toBe(0);
  });
});

describe("chunkBytes", () => {
  const BAD = [1, 4095, 4096.5, -4096, 2 ** 32, Number.NaN, Infinity];

  test("0 or an integer in 4096..2^32-1; anything else is FERRY_E_INVAL for send() (every mode) and sendSync()", async () => {
    using ch = Channel.create(uniqueName("chunk-inval"), { capacity: MiB });
    const pub = ch.publisher({ engine: "cpu" });
    for (const chunkBytes of BAD) {
      for (const mode of ["inline", "offload", "pipelined", "auto"] as const)
        await expectFerryRejection(pub.send(new Uint8Array(8), { mode, chunkBytes }), "FERRY_E_INVAL");
      expectFerryError(() => pub.sendSync(new Uint8Array(8), { chunkBytes }), "FERRY_E_INVAL");
    }
    expect(ch.stats().published).toBe(0);
    for (const chunkBytes of [0, 4096, 2 ** 32 - 1]) await pub.send(new Uint8Array(8), { mode: "offload", chunkBytes });
    expect(ch.stats().published).toBe(3);
  });

  test("per send on an explicit mode: an sw engine splits the job into chunks of that size (0: the engine's own)", async () => {
    using ch = Channel.create(uniqueName("chunk-sw"), { capacity: 16 * MiB });
    using engine = new Engine("sw", { threads: 1, chunkBytes: 256 * KiB });
    const pub = ch.publisher({ engine });
    const sub = ch.subscribe();
    const bytes = makePayload(2 * MiB, 9);
    const chunks: number[] = [];
    for (const [mode, chunkBytes] of [["offload", 0], ["offload", 4096], ["pipelined", 100_000], ["pipelined", 2 ** 32 - 1]] as const) {
      const before = engine.stats().chunks;
      await pub.send(bytes, { mode, chunkBytes });
      chunks.push(engine.stats().chunks - before);
      const m = sub.tryReceive()!;
      await m.ready();
      expect(sha256(m.bytes)).toBe(sha256(bytes));
      m.release();
    }
    expect(chunks).toEqual([8, 512, 21, 1]);
  });
});
