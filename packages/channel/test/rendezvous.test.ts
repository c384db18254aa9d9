/**
 * Rendezvous: Channel.waitFor waits (asynchronously: the event loop keeps
 * running) for a channel to appear, then opens it with Channel.open's trust
 * checks; it times out with FERRY_E_TIMEOUT. Channel.open stays synchronous
 * and refuses a timeoutMs.
 */
import { expect, test } from "bun:test";
import { Channel } from "@ferry/channel";
import { expectFerryError, expectFerryRejection, registerCleanup, uniqueName } from "@ferry/testkit";

registerCleanup();

test("waitFor opens a channel created later, without blocking the event loop", async () => {
  const name = uniqueName("rdv-late");
  let ticks = 0;
  const tick = setInterval(() => ticks++, 5);
  let created: Channel | undefined;
  setTimeout(() => (created = Channel.create(name, { capacity: 1 << 16 })), 150);
  const t0 = performance.now();
  const ch = await Channel.waitFor(name, { timeoutMs: 5000 });
  clearInterval(tick);
  expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  expect(ticks).toBeGreaterThan(5); // the timers ran while it waited
  expect(created).toBeDefined();
  const pub = created!.publisher();
  const sub = ch.subscribe();
  pub.sendSync(new Uint8Array([7]));
  const m = sub.tryReceive()!;
  expect([...m.bytes]).toEqual([7]);
  m.release();
  ch.close();
  created!.close();
});

test("waitFor opens an existing channel at once", async () => {
  using ch = Channel.create(uniqueName("rdv-now"), { capacity: 1 << 16 });
  const t0 = performance.now();
  const o = await Channel.waitFor(ch.name);
  expect(performance.now() - t0).toBeLessThan(100);
  expect(o.capacity).toBe(ch.capacity);
  o.close();
});

test("waitFor rejects FERRY_E_TIMEOUT when the channel does not appear", async () => {
  const name = uniqueName("rdv-none");
  const t0 = performance.now();
  const e = await expectFerryRejection(Channel.waitFor(name, { timeoutMs: 120 }), "FERRY_E_TIMEOUT");
  const dt = performance.now() - t0;
  expect(dt).toBeGreaterThanOrEqual(110);
  expect(dt).toBeLessThan(1000);
  expect(e.message).toContain(name);
  await expectFerryRejection(Channel.waitFor(name, { timeoutMs: 0 }), "FERRY_E_TIMEOUT");
});

test("waitFor keeps open's trust checks and argument checks", async () => {
  using ch = Channel.create(uniqueName("rdv-trust"), { capacity: 1 << 16, permissions: 0o660 });
  await expectFerryRejection(Channel.waitFor(ch.name, { timeoutMs: 1000 }), "FERRY_E_PERM"); // at once, no wait
  const o = await Channel.waitFor(ch.name, { trust: { groupWritable: true } });
  o.close();
  await expectFerryRejection(Channel.waitFor(ch.name, { timeoutMs: Number.NaN }), "FERRY_E_INVAL");
  await expectFerryRejection(Channel.waitFor("a/b"), "FERRY_E_NAME");
  await expectFerryRejection(Channel.waitFor(ch.name, { trust: { uids: [-1] } }), "FERRY_E_INVAL");
  // open() does not wait, and says what to use instead
  const e = expectFerryError(() => Channel.open(ch.name, { timeoutMs: 10 } as never), "FERRY_E_INVAL");
  expect(e.message).toContain("waitFor");
});

test("waitForSubscribers resolves once n subscribers are present; messages published after reach them", async () => {
  using ch = Channel.create(uniqueName("rdv-subs"), { capacity: 1 << 16 });
  const pub = ch.publisher();
  expect(await pub.waitForSubscribers(0)).toBe(0);
  const subs: ReturnType<Channel["subscribe"]>[] = [];
  let ticks = 0;
  const tick = setInterval(() => ticks++, 5);
  setTimeout(() => subs.push(ch.subscribe()), 60);
  setTimeout(() => subs.push(Channel.open(ch.name).subscribe({ group: "workers" })), 120);
  expect(await pub.waitForSubscribers(2, { timeoutMs: 5000 })).toBe(2);
  clearInterval(tick);
  expect(ticks).toBeGreaterThan(5);
  expect(subs.length).toBe(2);
  pub.sendSync(new Uint8Array([1]));
  for (const s of subs) {
    const m = s.tryReceive()!;
    expect(m.seq).toBe(0);
    m.release();
  }
  subs[1]!.channel.close();
});

test("waitForSubscribers with a group counts that group's members only", async () => {
  using ch = Channel.create(uniqueName("rdv-group"), { capacity: 1 << 16 });
  const pub = ch.publisher();
  ch.subscribe(); // broadcast: not a member of "workers"
  ch.subscribe({ group: "other" });
  await expectFerryRejection(pub.waitForSubscribers(1, { group: "workers", timeoutMs: 60 }), "FERRY_E_TIMEOUT");
  ch.subscribe({ group: "workers" });
  setTimeout(() => ch.subscribe({ group: "workers" }), 50);
  expect(await pub.waitForSubscribers(2, { group: "workers", timeoutMs: 5000 })).toBe(2);
  expect(await pub.waitForSubscribers(4)).toBe(4);
});

test("waitForSubscribers: FERRY_E_TIMEOUT, FERRY_E_CLOSED, bad arguments", async () => {
  using ch = Channel.create(uniqueName("rdv-subs-err"), { capacity: 1 << 16 });
  const pub = ch.publisher();
  const t0 = performance.now();
  const e = await expectFerryRejection(pub.waitForSubscribers(1, { timeoutMs: 100 }), "FERRY_E_TIMEOUT");
  expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
  expect(e.message).toContain("0 of 1");
  const pending = pub.waitForSubscribers(1, { timeoutMs: 5000 });
  setTimeout(() => pub.close(), 30);
  await expectFerryRejection(pending, "FERRY_E_CLOSED");
  await expectFerryRejection(pub.waitForSubscribers(1), "FERRY_E_CLOSED");
  const p2 = ch.publisher();
  await expectFerryRejection(p2.waitForSubscribers(-1), "FERRY_E_INVAL");
  await expectFerryRejection(p2.waitForSubscribers(1.5), "FERRY_E_INVAL");
  await expectFerryRejection(p2.waitForSubscribers(1, { group: "" }), "FERRY_E_INVAL");
  await expectFerryRejection(p2.waitForSubscribers(1, { timeoutMs: Number.NaN }), "FERRY_E_INVAL");
});

test("Channel.waitFor stops when its AbortSignal aborts: FERRY_E_CLOSED, and nothing keeps waiting", async () => {
  const name = uniqueName("wait-abort");
  const ac = new AbortController();
  const t0 = performance.now();
  const p = Channel.waitFor(name, { timeoutMs: 10_000, signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await expectFerryRejection(p, "FERRY_E_CLOSED");
  expect(performance.now() - t0).toBeLessThan(2_000);
  // an already aborted signal rejects at once; a non-signal is FERRY_E_INVAL
  await expectFerryRejection(Channel.waitFor(name, { signal: AbortSignal.abort() }), "FERRY_E_CLOSED");
  await expectFerryRejection(Channel.waitFor(name, { signal: {} as AbortSignal }), "FERRY_E_INVAL");
});
