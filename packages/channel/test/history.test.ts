/**
 * History on create (Channel.create(name, { history: k })), across real processes: this process
 * creates the channel (so it outlives its publishers), a publisher peer (peers/hist-pub.ts)
 * publishes and exits, and subscriber peers (peers/hist-sub.ts) started later check what they
 * get: the last k messages with the right bytes, then live ones without gap or duplicate, then
 * end of stream. Also: history 0 is the old behaviour, a full arena with history never makes a
 * publisher wait, a publisher killed mid-publish leaves a repairable channel, groups get the
 * history once, and the option is checked.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Channel } from "@ferry/channel";
import { expectFerryError, expectFerryRejection, peerSpawner, registerCleanup, shmExists, sleep, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

const KiB = 1024;
type SubResult = { ids: number[]; bad: number; code: string | null; history: number };
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

/** Arena bytes one hist-pub message of `size` takes: payload granules + one header granule ({"i":n}). */
const footprint = (ch: Channel, size: number) => Math.ceil(size / ch.granule) * ch.granule + ch.granule;

async function publishAndExit(name: string, count: number, size: number, extra: Record<string, unknown> = {}) {
  const pub = spawnPeer("hist-pub.ts", { name, size, phases: [count], ...extra }, 60_000);
  const r = await pub.result<{ sent: number; error: unknown }>(30_000);
  expect(await pub.exited).toBe(0);
  return r;
}

async function lateSubscriber(name: string, extra: Record<string, unknown> = {}) {
  const sub = spawnPeer("hist-sub.ts", { name, ...extra }, 60_000);
  const r = await sub.result<SubResult>(30_000);
  expect(await sub.exited).toBe(0);
  return r;
}

test("a publisher publishes 5 messages on a history-3 channel and exits; a subscriber started afterwards gets 3, 4, 5 (bytes checked), then FERRY_E_EOF", async () => {
  const name = uniqueName("hist-eof");
  using ch = Channel.create(name, { capacity: 1 << 20, slots: 64, history: 3 });
  expect(ch.history).toBe(3);
  const p = await publishAndExit(name, 5, 3000);
  expect(p).toMatchObject({ sent: 5, error: null });
  const st = ch.stats();
  expect([st.publishers, st.history, st.published]).toEqual([0, 3, 5]);
  expect(st.arenaUsed).toBe(3 * footprint(ch, 3000)); // the history's space, nothing else

  for (const how of ["receive", "poll"]) {
    const r = await lateSubscriber(name, { how });
    expect(r).toMatchObject({ ids: [2, 3, 4], bad: 0, code: "FERRY_E_EOF", history: 3 }); // messages 3, 4, 5
  }
  expect(ch.stats().history).toBe(3); // each late subscriber gets it; it stays
  ch.close(); // the creator's close removes it, history and all
  expect(shmExists(name)).toBe(false);
}, 60_000);

test("a subscriber joining mid-stream gets the history, then the live messages, in order, without gap or duplicate", async () => {
  const name = uniqueName("hist-mid");
  using ch = Channel.create(name, { capacity: 1 << 20, slots: 64, history: 4 });
  // deterministic: 10 published, the subscriber joins, 30 more
  const pub = spawnPeer("hist-pub.ts", { name, size: 1500, phases: [10, 30] }, 60_000);
  await pub.waitFor("phase");
  const sub = spawnPeer("hist-sub.ts", { name }, 60_000);
  await sub.waitFor("ready");
  pub.send("go");
  expect((await pub.result<{ sent: number }>(30_000)).sent).toBe(40);
  const r = await sub.result<SubResult>(30_000);
  expect(r).toMatchObject({ ids: range(6, 40), bad: 0, code: "FERRY_E_EOF", history: 4 });
  await Promise.all([pub.exited, sub.exited]);

  // racing: subscribers join while a publisher is publishing (every ~4 ms for over a second)
  const N = 300;
  const racer = spawnPeer("hist-pub.ts", { name, size: 700, phases: [N], intervalMs: 4, first: 40 }, 60_000);
  await racer.waitFor("ready");
  const subs = [];
  for (let s = 0; s < 3; s++) {
    await sleep(150 + s * 150);
    subs.push(spawnPeer("hist-sub.ts", { name, how: s === 1 ? "poll" : "receive" }, 60_000));
  }
  expect((await racer.result<{ sent: number }>(30_000)).sent).toBe(N);
  const firsts: number[] = [];
  for (const s of subs) {
    const r2 = await s.result<SubResult>(30_000);
    firsts.push(r2.ids[0]!);
    const first = r2.ids[0]!;
    expect({ bad: r2.bad, code: r2.code }).toEqual({ bad: 0, code: "FERRY_E_EOF" });
    // the second publisher's ids run on from 40: contiguous from the first one received to the last
    expect(r2.ids).toEqual(range(first, 40 + N));
    expect(first).toBeGreaterThanOrEqual(36); // at most the 4 of history before it joined
  }
  console.log(`[hist-mid] racing subscribers started at message ${firsts.join(", ")} of 40..${40 + N - 1}`);
  await Promise.all([racer.exited, ...subs.map((s) => s.exited)]);
}, 90_000);

test("history 0 (the default) behaves as before: a late subscriber gets nothing old, the arena is empty", async () => {
  const name = uniqueName("hist-zero");
  using ch = Channel.create(name, { capacity: 1 << 20, slots: 64 });
  expect(ch.history).toBe(0);
  expect((await publishAndExit(name, 5, 3000)).sent).toBe(5);
  const st = ch.stats();
  expect([st.history, st.arenaUsed, st.unheard, st.head, st.tail]).toEqual([0, 0, 5, 5, 5]);
  expect(await lateSubscriber(name)).toMatchObject({ ids: [], bad: 0, code: "FERRY_E_EOF", history: 0 });
}, 60_000);

test("a full arena with history does not hang: a block publisher with a 50 ms timeout goes on because history is dropped", async () => {
  const name = uniqueName("hist-full");
  // 64 KiB arena: three 16 KiB messages (+ header granules) fit; the history wants 16
  using ch = Channel.create(name, { capacity: 64 * KiB, slots: 64, history: 16 });
  const t0 = performance.now();
  const p = await publishAndExit(name, 100, 16 * KiB, { backpressure: "block", timeoutMs: 50 });
  expect(p).toMatchObject({ sent: 100, error: null });
  expect(performance.now() - t0).toBeLessThan(20_000);
  const st = ch.stats();
  expect(st.history).toBe(3); // what fits
  expect(await lateSubscriber(name)).toMatchObject({ ids: [97, 98, 99], bad: 0, code: "FERRY_E_EOF", history: 16 });
  // the ring full of history (slots - 1): an in-process reader keeping up, a block publisher with timeout 0
  using small = Channel.create(uniqueName("hist-ring"), { capacity: 1 << 20, slots: 8, history: 7 });
  const pub = small.publisher({ backpressure: "block", timeoutMs: 0 });
  const sub = small.subscribe();
  for (let i = 0; i < 50; i++) {
    pub.sendSync(new Uint8Array([i]));
    const m = sub.tryReceive()!;
    expect(m.bytes[0]).toBe(i);
    m.release();
  }
  expect(small.stats().history).toBe(7);
}, 60_000);

test("a publisher killed mid-publish with history on: the channel is repaired, late subscribers get the history then FERRY_E_PEERDEAD, space is exact", async () => {
  const name = uniqueName("hist-crash");
  const K = 5;
  using ch = Channel.create(name, { capacity: 256 * KiB, slots: 32, history: K });
  // rounds 0 and 2: SIGKILL while publishing as fast as it can (inside a loan, a copy or a publish);
  // round 1: dies holding the channel lock with a loan out, after its last publish
  for (let round = 0; round < 3; round++) {
    const before = ch.stats().published;
    const size = 2000 + round * 1000;
    const holder = round === 1;
    const victim = spawnPeer(
      "hist-pub.ts",
      holder ? { name, size, phases: [50], dieHoldingLock: true } : { name, size, forever: true },
      60_000,
    );
    if (holder) {
      await victim.waitFor("holding");
    } else {
      await victim.waitFor((m) => m.event === "sent" && (m.sent as number) >= 200 + round * 37);
      victim.kill(9);
    }
    await victim.exited;
    const reaped = ch.reap(); // takes a dead holder's lock over (repair) and reaps
    const st = ch.stats();
    expect(st.publishers).toBe(0);
    expect(st.history).toBe(K);
    expect(st.arenaUsed).toBe(K * footprint(ch, size)); // its open loan came back, the history stays
    const r = await lateSubscriber(name);
    expect({ bad: r.bad, code: r.code, n: r.ids.length }).toEqual({ bad: 0, code: "FERRY_E_PEERDEAD", n: K });
    const last = st.published - before - 1; // the victim's ids start at 0
    if (holder) expect(last).toBe(49);
    expect(r.ids).toEqual(range(last - K + 1, last + 1));
    console.log(`[hist-crash] round ${round}: ${holder ? "died holding the lock" : "killed"} after ${last + 1} messages, reap() = ${reaped}, late subscriber got ${r.ids.join(",")}`);
  }
  expect(ch.stats().reclaimed).toBe(3);
  // the channel still works: a fresh publisher fills the ring many times over with a reader attached
  const pub = ch.publisher({ backpressure: "block", timeoutMs: 2000 });
  const sub = ch.subscribe();
  const old: number[] = [];
  for (let m = sub.tryReceive(); m; m = sub.tryReceive()) {
    old.push((m.header as { i: number }).i);
    m.release();
  }
  expect(old.length).toBe(K); // the history of the last victim
  for (let i = 0; i < 4 * 32; i++) {
    pub.sendSync(new Uint8Array(1000).fill(i & 255));
    const m = sub.tryReceive()!;
    expect([m.bytes.length, m.bytes[999]]).toEqual([1000, i & 255]);
    m.release();
  }
  sub.close();
  pub.close();
  expect(ch.stats().arenaUsed).toBe(K * Math.ceil(1000 / ch.granule) * ch.granule);
}, 90_000);

/** Every message until end of stream (tryReceive), by header id, and the error that ended it. */
function drain(sub: ReturnType<Channel["subscribe"]>): { ids: number[]; code: string | null } {
  const ids: number[] = [];
  try {
    for (let m = sub.tryReceive(); m; m = sub.tryReceive()) {
      ids.push((m.header as { i: number }).i);
      m.release();
    }
    return { ids, code: null };
  } catch (e) {
    return { ids, code: (e as { code?: string }).code ?? String(e) };
  }
}

describe("worker groups and options", () => {
  test("a group created after the messages were published gets the history once, shared by its members", async () => {
    const name = uniqueName("hist-group");
    using ch = Channel.create(name, { capacity: 1 << 20, slots: 64, history: 3 });
    expect((await publishAndExit(name, 6, 500)).sent).toBe(6);
    const id = (m: { header: unknown }) => (m.header as { i: number }).i;
    const w1 = ch.subscribe({ group: "workers" }); // creates the group: it starts at the history
    const w2 = ch.subscribe({ group: "workers" }); // joins it: shares its cursor
    const a = w1.tryReceive()!;
    const b = w2.tryReceive()!;
    const c = w1.tryReceive()!;
    expect([id(a), id(b), id(c)]).toEqual([3, 4, 5]);
    for (const m of [a, b, c]) m.release();
    expect(drain(w2)).toEqual({ ids: [], code: "FERRY_E_EOF" }); // the group had it once
    expect(drain(ch.subscribe({ group: "other" }))).toEqual({ ids: [3, 4, 5], code: "FERRY_E_EOF" }); // a new group
    expect(drain(ch.subscribe())).toEqual({ ids: [3, 4, 5], code: "FERRY_E_EOF" }); // a broadcast subscriber
    // a group whose members all left is gone: one created again under its name is new
    w1.close();
    w2.close();
    expect(drain(ch.subscribe({ group: "workers" }))).toEqual({ ids: [3, 4, 5], code: "FERRY_E_EOF" });
    expect(ch.stats().history).toBe(3);
  }, 60_000);

  test("history is an integer below the ring's slots (FERRY_E_INVAL otherwise), also for createAsync", async () => {
    for (const history of [-1, 1.5, "3", Number.NaN, Infinity, 2 ** 32, null])
      expectFerryError(() => Channel.create(uniqueName("hist-bad"), { slots: 64, history: history as number }), "FERRY_E_INVAL");
    expect(expectFerryError(() => Channel.create(uniqueName("hist-bad"), { slots: 64, history: 64 }), "FERRY_E_INVAL").message).toMatch(/history 64/);
    expectFerryError(() => Channel.create(uniqueName("hist-bad"), { capacity: 1 << 16, history: 4096 }), "FERRY_E_INVAL"); // default 4096 slots
    await expectFerryRejection(Channel.createAsync(uniqueName("hist-bad"), { slots: 8, history: 8 }), "FERRY_E_INVAL");
    await expectFerryRejection(Channel.createAsync(uniqueName("hist-bad"), { slots: 8, history: -1 }), "FERRY_E_INVAL");
    const name = uniqueName("hist-async");
    const ch = await Channel.createAsync(name, { capacity: 1 << 16, slots: 8, history: 7 });
    expect(ch.history).toBe(7);
    const opened = Channel.open(name);
    expect(opened.history).toBe(7); // openers read it from the segment
    const pub = ch.publisher();
    for (let i = 0; i < 10; i++) pub.sendSync(new Uint8Array([i]), { header: { i } });
    expect(drain(opened.subscribe()).ids).toEqual([3, 4, 5, 6, 7, 8, 9]);
    opened.close();
    ch.close();
    expect(shmExists(name)).toBe(false);
  });
});
