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
