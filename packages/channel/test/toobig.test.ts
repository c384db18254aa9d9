/**
 * A message that can never fit the arena (payload + header granules > the
 * arena) fails at once with FERRY_E_TOOBIG under every backpressure policy —
 * "block" with a 30 s timeout and a subscriber that never releases included —
 * for loan, publish, sendSync and send in every mode; nothing leaks after it.
 * A publish that fails so leaves the loan (and its bytes) with the caller.
 */
import { expect, test } from "bun:test";
import { Channel } from "@ferry/channel";
import { expectFerryError, expectFerryRejection, registerCleanup, uniqueName } from "@ferry/testkit";

registerCleanup();

for (const backpressure of ["block", "error", "drop-oldest"] as const) {
  test(`a message that can never fit fails at once with FERRY_E_TOOBIG (${backpressure})`, async () => {
    using ch = Channel.create(uniqueName(`toobig-${backpressure}`), { capacity: 64 * 1024, slots: 8 });
    const pub = ch.publisher({ backpressure, timeoutMs: 30_000 });
    const sub = ch.subscribe(); // never receives: a waiting publisher would wait out its timeout
    const t0 = performance.now();
    const cap = ch.capacity;
    const whole = new Uint8Array(cap);
    expectFerryError(() => pub.loan(cap + 1), "FERRY_E_TOOBIG");
    const e = expectFerryError(() => pub.sendSync(whole, { header: { a: 1 } }), "FERRY_E_TOOBIG");
    expect(e.message).toContain("can never fit");
    await expectFerryRejection(pub.send(whole, { mode: "inline", header: { a: 1 } }), "FERRY_E_TOOBIG");
    await expectFerryRejection(pub.send(whole, { mode: "offload", engine: "cpu", header: { a: 1 } }), "FERRY_E_TOOBIG");
    await expectFerryRejection(pub.send(whole, { mode: "pipelined", engine: "cpu", header: { a: 1 } }), "FERRY_E_TOOBIG");
    const loan = pub.loan(cap);
    loan.bytes[cap - 1] = 42;
    expectFerryError(() => pub.publish(loan, { header: { a: 1 } }), "FERRY_E_TOOBIG");
    expect(performance.now() - t0).toBeLessThan(2000);
    // the loan and its bytes stay the caller's: without the header it fits
    expect(loan.active).toBe(true);
    expect(loan.bytes[cap - 1]).toBe(42);
    pub.publish(loan);
    const m = sub.tryReceive()!;
    expect(m.bytes[cap - 1]).toBe(42);
    m.release();
    // nothing leaked: the whole arena can be loaned and published again
    pub.publish(pub.loan(cap));
    expect(ch.stats().arenaUsed).toBe(cap);
    sub.close();
  });
}

test('a publish that fails with FERRY_E_FULL ("error" backpressure) keeps the loan: publish it again once there is room', () => {
  using ch = Channel.create(uniqueName("full-keep"), { capacity: 64 * 1024, slots: 8 });
  const pub = ch.publisher({ backpressure: "error" });
  const sub = ch.subscribe();
  for (let i = 1; i <= 8; i++) pub.sendSync(new Uint8Array([i])); // the ring's 8 slots are taken
  const loan = pub.loan(3);
  loan.bytes.set([7, 8, 9]);
  expectFerryError(() => pub.publish(loan), "FERRY_E_FULL");
  expect(loan.active).toBe(true);
  sub.tryReceive()!.release(); // room for one
  pub.publish(loan);
  for (let i = 2; i <= 8; i++) sub.tryReceive()!.release();
  expect([...sub.tryReceive()!.bytes]).toEqual([7, 8, 9]);
  sub.close();
});
