/**
 * Crashes (kill -9) of real peer processes: a subscriber dying mid-stream must
 * not wedge the publisher and its space must come back; a publisher dying must
 * end the stream for its subscribers with FERRY_E_PEERDEAD within 1 s; stale
 * segments left by a killed creator are replaced by create() and removed by gc().
 */
import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { Channel } from "@ferry/channel";
import { peerSpawner, registerCleanup, shmExists, shmPath, sleep, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const KiB = 1024;

async function pollUntil(cond: () => boolean, timeoutMs: number, stepMs = 10): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (cond()) return true;
    await sleep(stepMs);
  }
  return cond();
}

test("kill -9 of a subscriber mid-stream: the blocked publisher goes on, the dead subscriber's space comes back", async () => {
  const name = uniqueName("subkill");
  // 16 descriptors, 256 KiB: a subscriber that stops receiving stalls a "block" publisher quickly
  const ch = Channel.create(name, { capacity: 256 * KiB, slots: 16 });
  try {
    const N = 400;
    const good = spawnPeer("collect-sub.ts", { name, check: "hash", wait: "hybrid" }, 60_000);
    const victim = spawnPeer("stall-sub.ts", { name, take: 4 }, 60_000);
    await Promise.all([good.waitFor("ready"), victim.waitFor("ready")]);
    expect(ch.stats().subscribers).toBe(2);

    const pub = spawnPeer(
      "seq-pub.ts",
      { name, pubId: 3, count: N, size: 8 * KiB, method: "mix", backpressure: "block", timeoutMs: 30_000 },
      60_000,
    );
    await victim.waitFor("stalled");
    // the victim holds 4 messages and claims no more: the publisher must be stuck now
    expect(await pollUntil(() => ch.stats().published >= 16, 5_000)).toBe(true);
    const before = ch.stats();
    await sleep(300);
    const stuck = ch.stats();
    expect(stuck.published).toBe(before.published);
    expect(stuck.published).toBeLessThan(N);
    expect(stuck.subscribers).toBe(2);
    expect(stuck.arenaUsed).toBeGreaterThan(0);

    const tKill = performance.now();
    victim.kill(9);
    await victim.exited; // reaped: no zombie left to look alive
    const p = await pub.result<{ sent: number; hash: string }>(30_000);
    const resumedMs = performance.now() - tKill;
    const g = await good.result<{ count: number; hash: string; error: unknown }>(30_000);
    expect(p.sent).toBe(N);
    expect(g.error).toBeNull();
    expect(g.count).toBe(N);
    expect(g.hash).toBe(p.hash);
    expect(resumedMs).toBeLessThan(10_000);
    expect(await good.exited).toBe(0);
    expect(await pub.exited).toBe(0);

    const after = ch.stats();
    expect(after.subscribers).toBe(0);
    expect(after.publishers).toBe(0);
    expect(after.reclaimed).toBeGreaterThanOrEqual(1);
    expect(after.published).toBe(N);
    console.log(`[subkill] publisher finished ${resumedMs.toFixed(0)} ms after the kill; stats after drain: ${JSON.stringify(after)}`);

    // every byte is free again: the whole arena can be loaned, and accounting returns to 0
    const probe = ch.publisher({ backpressure: "error" });
    const loan = probe.loan(ch.capacity);
    expect(loan.size).toBe(ch.capacity);
    probe.unloan(loan);
    expect(ch.stats().arenaUsed).toBe(0);
    probe.close();
  } finally {
    ch.close();
  }
}, 90_000);

test("after the remaining subscriber drains, stats().arenaUsed is back to ~0 without a further publish", async () => {
  // Same crash as above; checks the accounting the user sees (stats) rather than what a new loan can get.
  const name = uniqueName("subkill-acct");
  const ch = Channel.create(name, { capacity: 256 * KiB, slots: 16 });
  try {
    const N = 100;
    const good = spawnPeer("collect-sub.ts", { name, check: "hash", wait: "block" }, 60_000);
    const victim = spawnPeer("stall-sub.ts", { name, take: 2 }, 60_000);
    await Promise.all([good.waitFor("ready"), victim.waitFor("ready")]);
    const pub = spawnPeer("seq-pub.ts", { name, pubId: 4, count: N, size: 4 * KiB, method: "send", timeoutMs: 30_000 }, 60_000);
    await victim.waitFor("stalled");
    expect(await pollUntil(() => ch.stats().published >= 16, 5_000)).toBe(true);
    victim.kill(9);
    await victim.exited;
    expect((await pub.result<{ sent: number }>(30_000)).sent).toBe(N);
    expect((await good.result<{ count: number }>(30_000)).count).toBe(N);
    await Promise.all([pub.exited, good.exited]);
    ch.reap(); // nothing left to reap, but the explicit reclamation entry point was called
    const st = ch.stats();
    console.log(`[subkill-acct] stats after drain + reap(): ${JSON.stringify(st)}`);
    expect(st.subscribers).toBe(0);
    expect(st.reclaimed).toBeGreaterThanOrEqual(1);
    // every message was released by the surviving subscriber and the dead one was reaped
    expect(st.arenaUsed).toBeLessThanOrEqual(ch.granule * 2);
  } finally {
    ch.close();
  }
}, 90_000);

describe("kill -9 of the publisher", () => {
  const variants = [
    { label: "receive/block", how: "receive", wait: "block" },
    { label: "receive/hybrid", how: "receive", wait: "hybrid" },
    { label: "iterate/block", how: "iterate", wait: "block" },
    { label: "iterate/hybrid", how: "iterate", wait: "hybrid" },
    { label: "tryReceive tight loop", how: "poll", wait: "hybrid", pollMs: 0 }, // yields with setTimeout 0
    { label: "tryReceive every 2 ms", how: "poll", wait: "hybrid", pollMs: 2 },
  ];

  test(`subscriber processes (${variants.map((v) => v.label).join(", ")}) get FERRY_E_PEERDEAD within 1 s`, async () => {
    const name = uniqueName("pubkill");
    const ch = Channel.create(name, { capacity: 1 << 20, slots: 256 });
    try {
      const subs = variants.map((v) => spawnPeer("eos-sub.ts", { name, ...v }, 30_000));
      await Promise.all(subs.map((s) => s.waitFor("ready")));
      const pub = spawnPeer("seq-pub.ts", { name, pubId: 9, forever: true, size: 64, method: "mix", intervalMs: 5 }, 30_000);
      await Promise.all(subs.map((s) => s.waitFor("receiving")));
      expect(ch.stats().publishers).toBe(1);
      const tKill = Date.now();
      pub.kill(9);
      await pub.exited;
      // "never hang": every subscriber must report well within 10 s
      const results = await Promise.all(subs.map((s) => s.result<{ code: string | null; t: number; received: number }>(10_000)));
      const report = results.map((r, i) => ({ variant: variants[i]!.label, code: r.code, ms: r.t - tKill, received: r.received }));
      console.log(`[pubkill] ${JSON.stringify(report)}`);
      for (const r of report) {
        expect({ variant: r.variant, code: r.code, within1s: r.ms < 1000 }).toEqual({ variant: r.variant, code: "FERRY_E_PEERDEAD", within1s: true });
        expect(r.received).toBeGreaterThanOrEqual(3);
      }
      expect((await Promise.all(subs.map((s) => s.exited))).every((c) => c === 0)).toBe(true);
      const st = ch.stats();
      expect(st.publishers).toBe(0);
      expect(st.subscribers).toBe(0);
      expect(st.reclaimed).toBeGreaterThanOrEqual(1);
    } finally {
      ch.close();
    }
  }, 60_000);
  // Alone, a tryReceive poller has nobody else reaping the dead publisher for it.
  for (const pollMs of [0, 2]) {
    test(`a lone tryReceive poller (every ${pollMs} ms) gets FERRY_E_PEERDEAD within 1 s`, async () => {
      const name = uniqueName(`pubkill-poll${pollMs}`);
      const ch = Channel.create(name, { capacity: 1 << 20, slots: 256 });
      try {
        const sub = spawnPeer("eos-sub.ts", { name, how: "poll", pollMs }, 30_000);
        await sub.waitFor("ready");
        const pub = spawnPeer("seq-pub.ts", { name, pubId: 9, forever: true, size: 64, method: "send", intervalMs: 5 }, 30_000);
        await sub.waitFor("receiving");
        const tKill = Date.now();
        pub.kill(9);
        await pub.exited;
        const r = await sub.result<{ code: string | null; t: number }>(15_000);
        const ms = r.t - tKill;
        console.log(`[pubkill lone poller ${pollMs} ms] ${r.code} after ${ms} ms`);
        expect(r.code).toBe("FERRY_E_PEERDEAD");
        expect(ms).toBeLessThan(1000);
        expect(await sub.exited).toBe(0);
      } finally {
        ch.close();
      }
    }, 30_000);
  }
});

describe("stale segments left by a kill -9'd creator", () => {
  async function makeStale(tag: string) {
    const name = uniqueName(tag);
    const creator = spawnPeer("creator.ts", { name, capacity: 1 << 20 }, 30_000);
    await creator.waitFor("ready");
    expect(shmExists(name)).toBe(true);
    creator.kill(9);
    await creator.exited;
    expect(shmExists(name)).toBe(true); // nobody removed it: it is stale now
    return name;
  }

  test("Channel.create replaces a stale segment", async () => {
    const name = await makeStale("stale-create");
    const inoBefore = statSync(shmPath(name)).ino;
    const ch = Channel.create(name, { capacity: 1 << 16 });
    try {
      expect(statSync(shmPath(name)).ino).not.toBe(inoBefore);
      const st = ch.stats();
      expect(st.published).toBe(0);
      expect(st.publishers).toBe(0);
      expect(st.subscribers).toBe(0);
      expect(ch.capacity).toBe(1 << 16);
    } finally {
      ch.close();
    }
    expect(shmExists(name)).toBe(false);
  }, 30_000);

  test("Channel.gc removes a stale segment and keeps live ones", async () => {
    const stale = await makeStale("stale-gc");
    const liveName = uniqueName("live-gc");
    const live = Channel.create(liveName, { capacity: 1 << 16 });
    try {
      const removed = Channel.gc();
      expect(removed).toBeGreaterThanOrEqual(1);
      expect(shmExists(stale)).toBe(false);
      expect(shmExists(liveName)).toBe(true);
    } finally {
      live.close();
    }
    expect(shmExists(liveName)).toBe(false);
  }, 30_000);
});
