/**
 * Data integrity across real processes: large payloads, ordering under load,
 * broadcast fan-out and worker groups.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Channel } from "@ferry/channel";
import { peerSpawner, registerCleanup, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const MiB = 2 ** 20;

describe("large payloads between two processes", () => {
  async function bigTransfer(size: number, capacity: number) {
    const name = uniqueName(`big${size / MiB}`);
    const ch = Channel.create(name, { capacity });
    try {
      const msgs = [
        { size, method: "loan" },
        { size, method: "send" },
      ];
      const sub = spawnPeer("big-sub.ts", { name, count: msgs.length, wait: "hybrid" }, 90_000);
      await sub.waitFor("ready");
      const pub = spawnPeer("big-pub.ts", { name, msgs }, 90_000);
      await pub.waitFor("ready");
      pub.send("go");
      const sent = (await pub.result<{ sent: { seq: number; size: number; method: string; hash: string }[] }>(90_000)).sent;
      const got = (await sub.result<{ got: { seq: number; length: number; hash: string; header: any }[] }>(90_000)).got;
      expect(sent.length).toBe(2);
      expect(got.length).toBe(2);
      for (let i = 0; i < 2; i++) {
        expect(got[i]!.length).toBe(size);
        expect(got[i]!.seq).toBe(sent[i]!.seq);
        expect(got[i]!.header).toEqual({ i, method: msgs[i]!.method, size });
        expect(got[i]!.hash).toBe(sent[i]!.hash);
      }
      expect(sent[0]!.hash).not.toBe(sent[1]!.hash); // really random, really two payloads
      expect(await pub.exited).toBe(0);
      expect(await sub.exited).toBe(0);
      const st = ch.stats();
      expect(st.published).toBe(2);
      expect(st.publishers).toBe(0);
      expect(st.subscribers).toBe(0);
    } finally {
      ch.close();
    }
  }

  test("64 MiB random payload, loan/publish and send(), hashes match", async () => {
    await bigTransfer(64 * MiB, 160 * MiB);
  }, 120_000);

  test("256 MiB random payload, loan/publish and send(), hashes match", async () => {
    await bigTransfer(256 * MiB, 300 * MiB);
  }, 120_000);
});

test("100k small messages from 2 publisher processes arrive complete and in order per publisher", async () => {
  const name = uniqueName("order");
  // small ring and arena: publishers must really wait for the subscriber (backpressure "block")
  const ch = Channel.create(name, { capacity: 256 * 1024, slots: 1024 });
  try {
    const N = 50_000;
    const sub = spawnPeer("collect-sub.ts", { name, check: "order", wait: "hybrid" }, 120_000);
    await sub.waitFor("ready");
    const pubs = [0, 1].map((pubId) =>
      spawnPeer(
        "seq-pub.ts",
        { name, pubId, count: N, minSize: 8, maxSize: 256, method: pubId === 0 ? "send" : "mix", header: true, backpressure: "block", waitGo: true },
        120_000,
      ),
    );
    await Promise.all(pubs.map((p) => p.waitFor("ready")));
    expect(ch.stats().publishers).toBe(2); // both attached before either starts: no early end of stream
    for (const p of pubs) p.send("go");
    const pres = await Promise.all(pubs.map((p) => p.result<{ sent: number }>(120_000)));
    const r = await sub.result<{
      count: number; perPub: Record<string, number>; outOfOrder: number; headerMismatch: number;
      maxDropped: number; error: unknown;
    }>(120_000);
    expect(pres.map((p) => p.sent)).toEqual([N, N]);
    expect(r.error).toBeNull();
    expect(r.count).toBe(2 * N);
    expect(r.perPub).toEqual({ "0": N, "1": N });
    expect(r.outOfOrder).toBe(0);
    expect(r.headerMismatch).toBe(0);
    expect(r.maxDropped).toBe(0);
    const st = ch.stats();
    expect(st.published).toBe(2 * N);
    expect(st.dropped).toBe(0);
  } finally {
    ch.close();
  }
}, 150_000);

test("fan-out: 3 subscriber processes each see every message; hashes match", async () => {
  const name = uniqueName("fanout");
  const ch = Channel.create(name, { capacity: 4 * MiB, slots: 256 });
  try {
    const N = 2000;
    const subs = [0, 1, 2].map((i) =>
      spawnPeer("collect-sub.ts", { name, check: "hash", wait: (["block", "hybrid", "hybrid"] as const)[i] }, 60_000),
    );
    await Promise.all(subs.map((s) => s.waitFor("ready")));
    expect(ch.stats().subscribers).toBe(3);
    const pub = spawnPeer("seq-pub.ts", { name, pubId: 7, count: N, minSize: 0, maxSize: 64 * 1024, method: "mix" }, 60_000);
    const p = await pub.result<{ sent: number; hash: string }>(60_000);
    const rs = await Promise.all(subs.map((s) => s.result<{ count: number; hash: string; error: unknown; perPub: Record<string, number> }>(60_000)));
    expect(p.sent).toBe(N);
    for (const r of rs) {
      expect(r.error).toBeNull();
      expect(r.count).toBe(N);
      expect(r.hash).toBe(p.hash);
    }
    expect(ch.stats().unheard).toBe(0);
  } finally {
    ch.close();
  }
}, 90_000);

test("worker group of 3 processes: 10k messages, each delivered to exactly one worker", async () => {
  const name = uniqueName("group");
  const ch = Channel.create(name, { capacity: 2 * MiB, slots: 512 });
  try {
    const N = 10_000;
    const workers = [0, 1, 2].map(() =>
      spawnPeer("collect-sub.ts", { name, check: "ids", group: "workers", wait: "hybrid" }, 60_000),
    );
    await Promise.all(workers.map((w) => w.waitFor("ready")));
    expect(ch.stats().subscribers).toBe(3);
    const pub = spawnPeer("seq-pub.ts", { name, pubId: 1, count: N, size: 64, method: "mix" }, 60_000);
    expect((await pub.result<{ sent: number }>(60_000)).sent).toBe(N);
    const rs = await Promise.all(workers.map((w) => w.result<{ ids: number[]; error: unknown; count: number }>(60_000)));
    const counts = rs.map((r) => r.count);
    console.log(`[group] messages per worker: ${counts.join(", ")} (total ${counts.reduce((a, b) => a + b, 0)})`);
    const seen = new Uint8Array(N);
    let dup = 0;
    for (const r of rs) {
      expect(r.error).toBeNull();
      for (const id of r.ids) if (seen[id]!++) dup++;
    }
    expect(dup).toBe(0);
    expect(seen.every((x) => x === 1)).toBe(true);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(N);
  } finally {
    ch.close();
  }
}, 90_000);
