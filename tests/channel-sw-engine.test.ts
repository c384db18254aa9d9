/**
 * @ferry/channel x @ferry/sw-engine across processes: publisher processes
 * (peers/sw-pub.ts) send offload and pipelined messages through swEngine()s
 * of their own; this process subscribes and checks every byte against the
 * pattern each header names (@ferry/testkit), pipelined chunks at the moment
 * they are yielded.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Channel, type Subscriber } from "@ferry/channel";
import { checkPayload, peerSpawner, registerCleanup, rng, uniqueName, verifyChunks, type PatternHeader } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const KiB = 1024;
const MiB = 2 ** 20;

type Sent = { i: number; seq: number; size: number; hash: string; mode: string };
type PubResult = { sent: Sent[]; problems: string[]; stats: { jobs: number; bytes: number; chunks: number } };
type Got = {
  p: number; i: number; seq: number; len: number; pipelined: boolean; hash?: string; ok?: boolean; err?: string;
  badChunk?: unknown; shortChunks?: number; chunkHash?: string;
};

/** Receive `count` messages on `sub`, checking each (pipelined ones chunk by chunk, `minBytes` at a time). */
async function receiveChecked(sub: Subscriber, count: number, minBytes: number): Promise<Got[]> {
  const got: Got[] = [];
  for (let n = 0; n < count; n++) {
    const msg = await sub.receive({ timeoutMs: 60_000 });
    const h = msg.header as PatternHeader;
    const g: Got = { p: h.p, i: h.i, seq: msg.seq, len: msg.length, pipelined: msg.pipelined };
    try {
      if (msg.pipelined) Object.assign(g, await verifyChunks(msg.chunks({ minBytes }), h.s, minBytes, msg.length));
      Object.assign(g, checkPayload(msg.bytes, h));
    } catch (e) {
      g.err = String(e);
    }
    msg.release();
    got.push(g);
  }
  return got;
}

/** Expect `got` (one publisher's messages, in arrival order) to be exactly `sent`, each intact. */
function expectDelivered(got: Got[], sent: Sent[], p: number) {
  expect(got.map((g) => g.i)).toEqual(sent.map((s) => s.i));
  for (const [k, s] of sent.entries()) {
    const g = got[k]!;
    expect({ k, p: g.p, seq: g.seq, len: g.len, hash: g.hash, ok: g.ok, err: g.err, pipelined: g.pipelined })
      .toEqual({ k, p, seq: s.seq, len: s.size, hash: s.hash, ok: true, err: undefined, pipelined: s.mode === "pipelined" });
    if (g.pipelined) expect({ k, badChunk: g.badChunk, shortChunks: g.shortChunks, chunkHash: g.chunkHash }).toEqual({ k, badChunk: null, shortChunks: 0, chunkHash: s.hash });
  }
}

describe("publisher processes with their own swEngine()", () => {
  test("offload and pipelined sends (0 B .. 12 MiB, 68 KiB chunks) arrive intact and in order", async () => {
    const name = uniqueName("sw-e2e");
    using ch = Channel.create(name, { capacity: 64 * MiB });
    const sub = ch.subscribe({ wait: "hybrid" });
    const sizes = [0, 7, 64 * KiB + 1, 5 * MiB + 3, 12 * MiB];
    const all = [...sizes, ...sizes];
    const modes = [...sizes.map(() => "offload"), ...sizes.map(() => "pipelined")];
    const pub = spawnPeer("sw-pub.ts", { name, run: 70, sizes: all, modes, engine: { threads: 1, chunkBytes: 68 * KiB } }, 60_000);
    const got = await receiveChecked(sub, all.length, MiB);
    const r = await pub.result<PubResult>(30_000);
    expect(r.problems).toEqual([]);
    expectDelivered(got, r.sent, 0);
    expect(r.stats.jobs).toBe(all.length);
    expect(r.stats.bytes).toBe(all.reduce((a, b) => a + b, 0));
    expect(await pub.exited).toBe(0);
    sub.close();
  }, 60_000);

  test("3 publishers (odd chunk sizes, 0 B .. 8 MiB, one 256 MiB): per-publisher order and every byte", async () => {
    const name = uniqueName("sw-conc");
    using ch = Channel.create(name, { capacity: 400 * MiB });
    const sub = ch.subscribe({ wait: "hybrid" });
    const rand = rng(777);
    const N = 20;
    const pubsCfg = [
      { engine: { threads: 1, chunkBytes: 4 * KiB + (rand() % 4096) }, mode: "offload" },
      { engine: { threads: 1, chunkBytes: 64 * KiB }, mode: "offload" },
      { engine: { threads: 1, chunkBytes: MiB }, mode: "pipelined" },
    ].map((c, pubId) => {
      const sizes = Array.from({ length: N }, () => (rand() % 5 === 0 ? rand() % 64 : rand() % (8 * MiB + 1)));
      sizes[3] = 0;
      if (pubId === 0) sizes.splice(N / 2, 0, 256 * MiB);
      return { ...c, sizes, pubId };
    });
    const total = pubsCfg.reduce((a, c) => a + c.sizes.length, 0);
    const pubs = pubsCfg.map((c) => spawnPeer("sw-pub.ts", { name, run: 10, waitGo: true, ...c }, 90_000));
    await Promise.all(pubs.map((p) => p.waitFor("ready")));
    for (const p of pubs) p.send("go");
    const got = await receiveChecked(sub, total, 4 * MiB);
    const results = await Promise.all(pubs.map((p) => p.result<PubResult>(90_000)));
    for (const [pubId, res] of results.entries()) {
      expect(res.problems).toEqual([]);
      expect(res.sent.length).toBe(pubsCfg[pubId]!.sizes.length);
      expect(res.stats.jobs).toBeGreaterThanOrEqual(pubsCfg[pubId]!.sizes.length);
      expectDelivered(got.filter((g) => g.p === pubId), res.sent, pubId);
    }
    // seqs are global and strictly increasing at the subscriber
    for (let k = 1; k < got.length; k++) expect(got[k]!.seq).toBeGreaterThan(got[k - 1]!.seq);
    for (const p of pubs) expect(await p.exited).toBe(0);
    sub.close();
    expect(ch.stats().arenaUsed).toBe(0);
  }, 90_000);
});
