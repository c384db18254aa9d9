/**
 * Copy engines and send modes across real processes: offload and pipelined
 * sends through the built-in cpu / sw engines and plugins, failing engines,
 * engine shutdown with work in flight, a publisher killed mid-copy, copyTo,
 * and inline sends with cache hints. Several publisher processes with
 * @ferry/sw-engine engines: tests/channel-sw-engine.test.ts.
 *
 * Payloads follow @ferry/testkit's patterns (header { p, i, s, size } names
 * the pattern), so subscriber processes check every byte, not only a hash.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Channel, Engine, FerryError, type Publisher } from "@ferry/channel";
import {
  expectFerryError,
  expectFerryRejection,
  makePayload,
  type Peer,
  peerSpawner,
  registerCleanup,
  rng,
  seedOf,
  sha256,
  sleep,
  uniqueName,
} from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const KiB = 1024;
const MiB = 2 ** 20;
const PLUGINS = join(import.meta.dir, "../../../native/build/tests");
const TESTPLUG = join(PLUGINS, "libferry_engine_testplug.so");
const FAILPLUG = join(PLUGINS, "libferry_engine_failplug.so");
const SLOWPLUG = join(PLUGINS, "libferry_engine_slowplug.so");

type Got = {
  p: number; i: number; seq: number; len: number; pipelined: boolean; headerSize: number; hash?: string; ok?: boolean;
  err?: { errName: string; code: string; message: string }; released?: boolean; releaseErr?: unknown;
  progressAtReceive?: number; bytesWhileIncomplete?: any; chunkHash?: string; nChunks?: number; chunkedBytes?: number;
  badChunk?: unknown; shortChunks?: number; copyCpuOk?: boolean; copySwOk?: boolean;
};
type SubResult = { got: Got[]; end: string };

/** Load a plugin (once per process: a second load answers FERRY_E_EXISTS). */
function loadPlugin(path: string, name: string): string {
  try {
    const n = Engine.load(path);
    expect(n).toBe(name);
  } catch (e) {
    if ((e as FerryError).code !== "FERRY_E_EXISTS") throw e;
  }
  expect(Engine.list()).toContain(name);
  return name;
}

async function startSub(name: string, cfg: Record<string, unknown>, timeoutMs = 60_000): Promise<Peer> {
  const sub = spawnPeer("verify-sub.ts", { name, ...cfg }, timeoutMs);
  await sub.waitFor("ready");
  return sub;
}

/** Payload i of run r from this (test) process, with the header the subscriber checks. */
function payload(run: number, i: number, size: number) {
  const s = seedOf(run, 0, i);
  const bytes = makePayload(size, s);
  return { bytes, header: { p: 0, i, s, size }, hash: sha256(bytes) };
}

/** Expect the subscriber's messages to be exactly `sent`, in order, each intact. */
function expectDelivered(got: Got[], sent: { i: number; seq: number; size: number; hash: string }[], p = 0) {
  expect(got.map((g) => g.i)).toEqual(sent.map((s) => s.i));
  for (const [k, s] of sent.entries()) {
    const g = got[k]!;
    expect({ k, p: g.p, seq: g.seq, len: g.len, hash: g.hash, ok: g.ok, err: g.err, released: g.released })
      .toEqual({ k, p, seq: s.seq, len: s.size, hash: s.hash, ok: true, err: undefined, released: true });
  }
}

/* ------------------------------------------------------------------ 1. offload */

/** A 16 MiB channel and a slowplug engine opened with `options`, both closed after `fn`. */
async function withSlowplug(options: string, tag: string, fn: (ch: Channel, name: string, slow: Engine) => Promise<void>) {
  loadPlugin(SLOWPLUG, "slowplug");
  const slow = new Engine("slowplug", { options });
  const name = uniqueName(tag);
  const ch = Channel.create(name, { capacity: 16 * MiB });
  try {
    await fn(ch, name, slow);
  } finally {
    slow.close();
    ch.close();
  }
}

describe("offload send through an engine", () => {
  const rand = rng(1234);
  const SIZES = [0, 1, 4 * KiB + 3, MiB, 16 * MiB, 64 * MiB, ...Array.from({ length: 8 }, () => rand() % (3 * MiB))];

  async function offloadRun(run: number, engineKind: "instance" | "cpu" | "sw", viaPublisherDefault: boolean) {
    const name = uniqueName(`off-${engineKind}`);
    const ch = Channel.create(name, { capacity: 160 * MiB });
    const own = engineKind === "instance" ? new Engine("sw", { threads: 1 }) : null;
    const engine = own ?? engineKind;
    try {
      const sub = await startSub(name, { count: SIZES.length, wait: "hybrid" });
      const pub = ch.publisher(viaPublisherDefault ? { engine } : {});
      const sent: { i: number; seq: number; size: number; hash: string }[] = [];
      const problems: string[] = [];
      const order: number[] = [];
      const pending: Promise<void>[] = [];
      let notYetPublished = 0;
      for (const [i, size] of SIZES.entries()) {
        const m = payload(run, i, size);
        const before = ch.stats().published;
        const p = pub.send(m.bytes, { mode: "offload", header: m.header, ...(viaPublisherDefault ? {} : { engine }) });
        // a 64 MiB copy on a copy thread is not done when send() returns: nothing published yet
        if (size === 64 * MiB && engineKind !== "cpu" && ch.stats().published === before) notYetPublished++;
        pending.push(
          p.then((seq) => {
            order.push(i);
            if (ch.stats().published < seq + 1) problems.push(`message ${i} (seq ${seq}) resolved before it was published`);
            sent.push({ i, seq, size, hash: m.hash });
            void m.bytes;
          }),
        );
        if (size >= 16 * MiB) await p; // bound the private memory in flight
      }
      await Promise.all(pending);
      expect(problems).toEqual([]);
      expect(order).toEqual(SIZES.map((_, i) => i)); // promises settle in send order
      for (let k = 1; k < sent.length; k++) expect(sent[k]!.seq).toBe(sent[k - 1]!.seq + 1);
      const r = await sub.result<SubResult>(60_000);
      expect(r.got.length).toBe(SIZES.length);
      expectDelivered(r.got, sent);
      for (const g of r.got) {
        expect(g.pipelined).toBe(false);
        expect(g.headerSize).toBe(g.len); // headers arrive
      }
      expect(await sub.exited).toBe(0);
      if (own) expect(own.stats().bytes).toBeGreaterThanOrEqual(SIZES.reduce((a, b) => a + b, 0));
      if (engineKind !== "cpu") {
        // the copy runs after send() returns: a 64 MiB copy takes milliseconds, so the
        // message is normally not published yet when send() returns. A sending thread
        // descheduled inside the call for that long (seen on a loaded 2-vCPU VM) can miss
        // it once; three more 128 MiB tries make a false failure vanishingly unlikely.
        const big = new Uint8Array(128 * MiB);
        for (let t = 0; t < 3 && notYetPublished === 0; t++) {
          const before = ch.stats().published;
          const p = pub.send(big, { mode: "offload", ...(viaPublisherDefault ? {} : { engine }) });
          if (ch.stats().published === before) notYetPublished++;
          await p;
        }
        expect(notYetPublished).toBeGreaterThanOrEqual(1);
      }
      pub.close();
      expect(ch.stats().arenaUsed).toBe(0);
    } finally {
      own?.close();
      ch.close();
    }
  }

  test('an Engine("sw", { threads: 1 }) per send: every size arrives intact, in order, with headers', async () => {
    await offloadRun(1, "instance", false);
  }, 60_000);

  test('engine "cpu" as the publisher default', async () => {
    await offloadRun(2, "cpu", true);
  }, 60_000);

  test('engine "sw" by name', async () => {
    await offloadRun(3, "sw", false);
  }, 60_000);

  test("published by the engine's thread: a subscriber process gets the messages while the sending thread is busy", async () => {
    // slowplug starts each job 50 ms after its submit (its own thread): nothing is done by the time
    // send() returns, so only a publish from the engine's side can reach the subscriber before this
    // thread's event loop runs again (until 7a44115 offloads were published by the sender's collect)
    await withSlowplug("latency_us=50000", "off-busy", async (ch, name, slow) => {
      const sub = await startSub(name, { count: 2, wait: "block", emitReceived: true });
      const pub = ch.publisher();
      const ms = [payload(4, 0, 2 * MiB), payload(4, 1, 100 * KiB)];
      const t0 = Date.now();
      const sent = ms.map((m) => pub.send(m.bytes, { mode: "offload", engine: slow, header: m.header }));
      expect(ch.stats().published).toBe(0);
      while (Date.now() - t0 < 1500); // this thread's event loop cannot run: no collect, no publish from here
      const t1 = Date.now();
      const seqs = await Promise.all(sent);
      expect(seqs[1]).toBe(seqs[0]! + 1);
      for (const seq of seqs) {
        const received = await sub.waitFor((e) => e.event === "received" && e.seq === seq);
        expect(received.t as number).toBeLessThan(t1); // it arrived before this thread was free again
      }
      const r = await sub.result<SubResult>();
      expectDelivered(r.got, ms.map((m, i) => ({ i, seq: seqs[i]!, size: m.bytes.length, hash: m.hash })));
      pub.close();
      expect(ch.stats().arenaUsed).toBe(0);
    });
  }, 30_000);
});

test("close with offloads in flight: every send that resolved was delivered, every one that rejected was not", async () => {
  // slowplug copies one job at a time at 10 MB/s: 256 KiB jobs finish ~26 ms apart, and its thread publishes each;
  // close() comes while some are published and not yet collected by this (busy) thread, and others still copy
  await withSlowplug("gbps=0.01", "off-close", async (ch, _name, slow) => {
    const sub = ch.subscribe();
    const pub = ch.publisher();
    const n = 6;
    const settled: ("resolved" | "rejected")[] = [];
    const sends = Array.from({ length: n }, (_, i) =>
      pub.send(new Uint8Array(256 * KiB).fill(i + 1), { mode: "offload", engine: slow }).then(
        (seq) => ((settled[i] = "resolved"), seq),
        (e: FerryError) => ((settled[i] = "rejected"), expect(e.code).toBe("FERRY_E_CLOSED"), -1),
      ));
    const t0 = Date.now();
    while (Date.now() - t0 < 70); // two or so published by the engine's thread, none collected here
    pub.close();
    const seqs = await Promise.all(sends);
    const got: number[] = [];
    for (;;) {
      let m;
      try {
        m = sub.tryReceive();
      } catch (e) {
        expect((e as FerryError).code).toBe("FERRY_E_EOF"); // every publisher closed, nothing left
        break;
      }
      if (m === null) break;
      got.push(m.bytes[0]! - 1);
      m.release();
    }
    const resolved = [...Array(n).keys()].filter((i) => settled[i] === "resolved");
    expect(got).toEqual(resolved); // delivered exactly the sends that resolved, in order
    expect(resolved.length).toBeGreaterThanOrEqual(1);
    for (const i of resolved) expect(seqs[i]).toBeGreaterThanOrEqual(0);
    sub.close();
    expect(ch.stats().arenaUsed).toBe(0);
  });
}, 30_000);

/* ------------------------------------------------------------------ 3. pipelined */

describe("pipelined 64 MiB, consumed with chunks({ minBytes: 4 MiB })", () => {
  let incompleteSeen = 0;
  for (const wait of ["spin", "block", "hybrid"] as const) {
    test(`subscriber wait "${wait}"`, async () => {
      const name = uniqueName(`pipe-${wait}`);
      const ch = Channel.create(name, { capacity: 80 * MiB });
      using engine = new Engine("sw", { threads: 1, chunkBytes: MiB });
      try {
        const m = payload(20, 0, 64 * MiB);
        const sub = await startSub(name, { count: 1, wait, chunks: 4 * MiB });
        await sleep(50); // the subscriber is waiting in receive()
        const pub = ch.publisher({ engine });
        const seq = await pub.send(m.bytes, { mode: "pipelined", header: m.header });
        const r = await sub.result<SubResult>(30_000);
        const g = r.got[0]!;
        expect(g.err).toBeUndefined();
        expect(g.seq).toBe(seq);
        expect(g.pipelined).toBe(true);
        expect(g.badChunk).toBeNull(); // every yielded chunk was final when yielded
        expect(g.shortChunks).toBe(0);
        expect(g.chunkedBytes).toBe(64 * MiB);
        expect(g.nChunks).toBeGreaterThanOrEqual(1);
        expect(g.nChunks).toBeLessThanOrEqual(16);
        expect(g.chunkHash).toBe(m.hash);
        expect(g.hash).toBe(m.hash); // msg.bytes after ready()
        expect(g.ok).toBe(true);
        // (the copy runs on the engine's thread: it may end between the peer's progress() and its bytes, which
        // reads the progress again; that is no error and is not counted as seen incomplete)
        if (g.progressAtReceive! < 64 * MiB && g.bytesWhileIncomplete !== "completed meanwhile") {
          incompleteSeen++;
          expect(g.bytesWhileIncomplete.errName).toBe("FerryError");
          expect(g.bytesWhileIncomplete.code).toBe("FERRY_E_STATE");
        }
        expect(g.released).toBe(true);
        expect(await sub.exited).toBe(0);
        pub.close();
        expect(ch.stats().arenaUsed).toBe(0);
        expect(engine.stats().chunks).toBeGreaterThanOrEqual(64);
      } finally {
        ch.close();
      }
    }, 30_000);
  }
  test("the subscriber saw at least one of the three copies still running at receive", () => {
    expect(incompleteSeen).toBeGreaterThanOrEqual(1);
  });

  test("deterministic: a copy that waits for its publisher (testplug) — bytes throws FERRY_E_STATE, chunks follow once it copies", async () => {
    const name = uniqueName("pipe-plug");
    const ch = Channel.create(name, { capacity: 16 * MiB });
    try {
      const size = 8 * MiB + 5;
      const s = seedOf(21, 0, 0);
      const sub = await startSub(name, { count: 1, wait: "hybrid", chunks: MiB, emitReceived: true });
      const pub = spawnPeer("plug-pub.ts", { name, plugin: TESTPLUG, size, seed: s }, 30_000);
      const sent = await pub.waitFor("sent");
      expect(sent.pending).toBe(1);
      const rec = await sub.waitFor("received", 10_000);
      expect(rec.seq).toBe(sent.seq);
      expect(rec.progress).toBe(0); // nothing copied until the publisher polls its engine
      await sleep(100);
      expect(sub.msgs.some((m) => m.event === "result")).toBe(false); // still waiting in chunks()
      pub.send("collect");
      expect((await pub.waitFor("collected")).status).toBe(0);
      const g = (await sub.result<SubResult>(20_000)).got[0]!;
      expect(g.err).toBeUndefined();
      expect(g.progressAtReceive).toBe(0);
      expect(g.bytesWhileIncomplete.code).toBe("FERRY_E_STATE");
      expect(g.badChunk).toBeNull();
      expect(g.chunkedBytes).toBe(size);
      expect(g.chunkHash).toBe(sha256(makePayload(size, s)));
      expect(g.ok).toBe(true);
      expect(await pub.exited).toBe(0);
      expect(await sub.exited).toBe(0);
    } finally {
      ch.close();
    }
  }, 30_000);
});

/* ------------------------------------------------------------------ 4. failing engine */

describe("failing plugin engine (failplug)", () => {
  async function failRun(options: string | undefined) {
    const engName = loadPlugin(FAILPLUG, "failplug");
    using engine = new Engine(engName, options ? { options } : {});
    const name = uniqueName(`fail${options ? "-async" : ""}`);
    const ch = Channel.create(name, { capacity: 8 * MiB });
    try {
      const sub = await startSub(name, { emitEach: true, emitReceived: true, chunks: 256 * KiB, chunksOddOnly: true, wait: "hybrid" });
      const pub = ch.publisher({ engine });
      // offload: rejected, nothing published, the slot comes back
      const a = payload(30, 0, MiB);
      const err = await expectFerryRejection(pub.send(a.bytes, { mode: "offload", header: a.header }), "FERRY_E_SYS");
      expect(err).toBeInstanceOf(FerryError);
      await sleep(300);
      expect(sub.msgs.filter((m) => m.event === "received")).toEqual([]);
      expect(ch.stats().published).toBe(0);
      expect(pub.pending).toBe(0);
      pub.unloan(pub.loan(16)); // a publisher call after the failure
      expect(ch.stats().arenaUsed).toBe(0); // the failed send's slot is free
      // pipelined: published at once, then the readers learn the copy failed
      const msgs = [payload(30, 1, 3 * MiB + 7), payload(30, 2, 2 * MiB)];
      for (const m of msgs) {
        await expectFerryRejection(pub.send(m.bytes, { mode: "pipelined", header: m.header }), "FERRY_E_SYS");
      }
      const got = await Promise.all([1, 2].map((i) => sub.waitFor((m) => m.event === "got" && m.i === i, 5_000)));
      for (const g of got) {
        expect(g.pipelined).toBe(true);
        expect((g.err as any)?.errName).toBe("FerryError"); // ready() (i even) and chunks() (i odd) reject: no hang
        expect((g.err as any)?.code).toBe("FERRY_E_SYS");
        expect(g.released).toBe(true);
      }
      // the channel still works
      const ok = payload(30, 3, 100_000);
      const seq = pub.sendSync(ok.bytes, { header: ok.header });
      const g3 = await sub.waitFor((m) => m.event === "got" && m.i === 3, 5_000);
      expect({ seq: g3.seq, ok: g3.ok, hash: g3.hash }).toEqual({ seq, ok: true, hash: ok.hash });
      pub.close();
      const r = await sub.result<SubResult>(10_000);
      expect(r.end).toBe("FERRY_E_EOF");
      expect(r.got.map((x) => x.i)).toEqual([1, 2, 3]);
      expect(await sub.exited).toBe(0);
      expect(ch.stats().arenaUsed).toBe(0);
    } finally {
      ch.close();
    }
  }

  test("submit fails: offload rejects and publishes nothing; pipelined readers get the error", async () => {
    await failRun(undefined);
  }, 30_000);

  test('copy fails after half the bytes ("mode=async"): same', async () => {
    await failRun("mode=async");
  }, 30_000);

  test("arena space of a failed offload is free again after the next publisher call", async () => {
    const engName = loadPlugin(FAILPLUG, "failplug");
    using engine = new Engine(engName);
    const name = uniqueName("fail-arena");
    const ch = Channel.create(name, { capacity: 4 * MiB });
    try {
      const pub = ch.publisher({ engine });
      const big = new Uint8Array(3 * MiB);
      for (let k = 0; k < 5; k++) await expectFerryRejection(pub.send(big, { mode: "offload" }), "FERRY_E_SYS");
      pub.sendSync(new Uint8Array(10));
      expect(ch.stats().arenaUsed).toBe(0); // no subscriber: the inline message is dropped at once
      // a slot that leaked would make this 3 MiB loan impossible in a 4 MiB arena
      const loan = pub.loan(3 * MiB);
      pub.unloan(loan);
      expect(ch.stats().published).toBe(1);
    } finally {
      ch.close();
    }
  });
});

/* ------------------------------------------------------------------ 5. engine shutdown */

describe("engine closed with offload sends in flight", () => {
  async function shutdownRun(drain: boolean, n: number, afterFirst = false) {
    const name = uniqueName(`shut${drain ? "-drain" : ""}${afterFirst ? "-late" : ""}`);
    const ch = Channel.create(name, { capacity: (n * 16 + 16) * MiB });
    try {
      const msgs = Array.from({ length: n }, (_, i) => payload(drain ? 41 : 40, i, 16 * MiB));
      const engine = new Engine("sw", { threads: 1, drain });
      const pub = ch.publisher({ engine });
      const sub = await startSub(name, { wait: "hybrid" });
      const ps = msgs.map((m) => pub.send(m.bytes, { mode: "offload", header: m.header }));
      if (afterFirst) await ps[0];
      engine.close();
      const settled = await Promise.allSettled(ps);
      const sent: { i: number; seq: number; size: number; hash: string }[] = [];
      const rejected: string[] = [];
      for (const [i, s] of settled.entries()) {
        if (s.status === "fulfilled") sent.push({ i, seq: s.value, size: 16 * MiB, hash: msgs[i]!.hash });
        else {
          expect((s.reason as Error).name).toBe("FerryError");
          rejected.push((s.reason as FerryError).code);
        }
      }
      expect(new Set(rejected)).toEqual(new Set(rejected.length ? ["FERRY_E_CLOSED"] : []));
      if (drain) expect(rejected).toEqual([]);
      pub.close();
      const r = await sub.result<SubResult>(30_000);
      expect(r.end).toBe("FERRY_E_EOF");
      expectDelivered(r.got, sent); // everything resolved arrived intact; nothing else arrived
      expect(await sub.exited).toBe(0);
      expect(ch.stats().arenaUsed).toBe(0);
      return { resolved: sent.length, rejected: rejected.length };
    } finally {
      ch.close();
    }
  }

  test("default (cancel): each send resolves (and arrives intact) or rejects with FERRY_E_CLOSED", async () => {
    const r = await shutdownRun(false, 12);
    expect(r.resolved + r.rejected).toBe(12);
    expect(r.rejected).toBeGreaterThan(0); // 12 x 16 MiB on one copy thread cannot all be done at close
  }, 30_000);

  test("closed once the first send resolved: the finished ones arrive intact, the rest reject with FERRY_E_CLOSED", async () => {
    const r = await shutdownRun(false, 12, true);
    expect(r.resolved).toBeGreaterThanOrEqual(1);
    expect(r.resolved + r.rejected).toBe(12);
  }, 30_000);

  test("drain: true — every send resolves", async () => {
    const r = await shutdownRun(true, 6);
    expect(r).toEqual({ resolved: 6, rejected: 0 });
  }, 30_000);
});

/* ------------------------------------------------------------------ 6. publisher crash */

test("publisher killed (-9) mid pipelined copy: the subscriber's ready() rejects with FERRY_E_PEERDEAD within 1 s", async () => {
  const name = uniqueName("pipe-kill");
  const ch = Channel.create(name, { capacity: 16 * MiB });
  try {
    const size = 4 * MiB;
    const sub = await startSub(name, { count: 1, wait: "hybrid", emitEach: true, emitReceived: true });
    const pub = spawnPeer("plug-pub.ts", { name, plugin: TESTPLUG, size, seed: 99 }, 30_000);
    await pub.waitFor("sent");
    const rec = await sub.waitFor("received", 10_000);
    expect(rec.progress).toBe(0);
    await sleep(100); // the subscriber sleeps in ready()
    const t0 = Date.now();
    pub.kill(9);
    const g = await sub.waitFor("got", 5_000);
    const ms = (g.t as number) - t0;
    expect((g.err as any)?.code).toBe("FERRY_E_PEERDEAD");
    expect(ms).toBeLessThan(1000);
    expect(g.released).toBe(true);
    expect(await sub.exited).toBe(0);
    expect(await pub.exited).not.toBe(0);
  } finally {
    ch.close();
  }
}, 30_000);

/* ------------------------------------------------------------------ 7. copyTo */

test('copyTo(dst, { engine: "cpu", cache: "cold" }) and through an "sw" Engine: dst equals the payload', async () => {
  const name = uniqueName("copyto");
  const ch = Channel.create(name, { capacity: 64 * MiB });
  try {
    const sizes = [1, 4 * KiB + 3, MiB + 3, 16 * MiB];
    const sub = await startSub(name, { count: sizes.length + 1, copyTo: true });
    using engine = new Engine("sw", { threads: 1 });
    const pub = ch.publisher({ engine });
    const sent: { i: number; seq: number; size: number; hash: string }[] = [];
    for (const [i, size] of sizes.entries()) {
      const m = payload(50, i, size);
      sent.push({ i, seq: pub.sendSync(m.bytes, { header: m.header }), size, hash: m.hash });
    }
    const m = payload(50, sizes.length, 8 * MiB); // pipelined: copyTo waits for the copy
    sent.push({ i: sizes.length, seq: await pub.send(m.bytes, { mode: "pipelined", header: m.header }), size: 8 * MiB, hash: m.hash });
    const r = await sub.result<SubResult>(30_000);
    expectDelivered(r.got, sent);
    for (const g of r.got) expect({ i: g.i, cpu: g.copyCpuOk, sw: g.copySwOk }).toEqual({ i: g.i, cpu: true, sw: true });
    expect(await sub.exited).toBe(0);
    pub.close();
  } finally {
    ch.close();
  }
}, 30_000);

/* ------------------------------------------------------------------ 9. inline + cache */

test('inline sendSync with cache "hot" | "cold" | "auto" delivers intact bytes; an unknown cache is FERRY_E_INVAL', async () => {
  const name = uniqueName("cache");
  const ch = Channel.create(name, { capacity: 64 * MiB });
  try {
    const pub: Publisher = ch.publisher();
    const bad = new Uint8Array(10);
    expectFerryError(() => pub.sendSync(bad, { cache: "warm" as any }), "FERRY_E_INVAL");
    await expectFerryRejection(pub.send(bad, { mode: "inline", cache: "lukewarm" as any }), "FERRY_E_INVAL");
    await expectFerryRejection(pub.send(bad, { mode: "offload", engine: "cpu", cache: "tepid" as any }), "FERRY_E_INVAL");
    await expectFerryRejection(pub.send(bad, { mode: "pipelined", engine: "cpu", cache: "tepid" as any }), "FERRY_E_INVAL");
    expect(ch.stats().published).toBe(0);
    const cases: ["hot" | "cold" | "auto", number][] = [];
    for (const cache of ["hot", "cold", "auto"] as const) for (const size of [0, 1, 4 * KiB + 3, MiB + 1, 20 * MiB + 5]) cases.push([cache, size]);
    const sub = await startSub(name, { count: cases.length });
    const sent: { i: number; seq: number; size: number; hash: string }[] = [];
    for (const [i, [cache, size]] of cases.entries()) {
      const m = payload(60, i, size);
      sent.push({ i, seq: pub.sendSync(m.bytes, { mode: "inline", cache, header: m.header }), size, hash: m.hash });
    }
    const r = await sub.result<SubResult>(30_000);
    expectDelivered(r.got, sent);
    expect(await sub.exited).toBe(0);
  } finally {
    ch.close();
  }
}, 30_000);

test("plugins used here are built", () => {
  expect(existsSync(TESTPLUG)).toBe(true);
  expect(existsSync(FAILPLUG)).toBe(true);
});

/* ------------------------------------------------------------------ ready() timeout */

test("ready({ timeoutMs }) rejects with FERRY_E_TIMEOUT while the copy is still running, then completes", async () => {
  const name = uniqueName("ready-timeout");
  const ch = Channel.create(name, { capacity: 300 * MiB });
  const engine = new Engine("sw", { threads: 1, chunkBytes: MiB });
  try {
    const sub = ch.subscribe({ wait: "block" });
    const pub = ch.publisher({ engine });
    const data = new Uint8Array(256 * MiB).fill(7);
    const sent = pub.send(data, { mode: "pipelined" });
    const msg = await sub.receive({ timeoutMs: 5_000 });
    expect(msg.pipelined).toBe(true);
    let err: unknown;
    try {
      await msg.ready(undefined, { timeoutMs: 1 });
    } catch (e) {
      err = e;
    }
    // a 256 MiB copy takes tens of ms here: 1 ms is not enough (unless it already finished)
    if (msg.progress() < msg.length) expect((err as { code?: string })?.code).toBe("FERRY_E_TIMEOUT");
    await msg.ready(undefined, { timeoutMs: 10_000 });
    expect(msg.progress()).toBe(msg.length);
    expect(msg.bytes[msg.length - 1]).toBe(7);
    msg.release();
    await sent;
  } finally {
    engine.close();
    ch.close();
  }
}, 30_000);
