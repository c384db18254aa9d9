/**
 * Small messages (layout v8): a payload + header of at most INLINE_MAX bytes
 * travels inside its ring descriptor, takes no arena space, and is copied at
 * receive into the subscriber's private read-only copy area. What the user
 * sees must not change: contents, headers, 64-byte aligned typed views,
 * checksums, loans (private staging memory), and sizes just over the limit
 * going through the arena as before.
 */
import { expect, test } from "bun:test";
import { Channel, INLINE_MAX, MAX_HELD } from "@ferry/channel";
import { expectFerryError, registerCleanup, uniqueName } from "@ferry/testkit";

registerCleanup();

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);

test("INLINE_MAX is 64", () => {
  expect(INLINE_MAX).toBe(64);
});

for (const size of [0, 1, 63, 64, 65, 256]) {
  test(`sendSync + tryReceive of ${size} B: same bytes; inline (no arena) up to ${INLINE_MAX} B`, () => {
    using ch = Channel.create(uniqueName("inl"), { capacity: 64 * 1024 });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    const src = pattern(size, size);
    pub.sendSync(src);
    const m = sub.tryReceive()!;
    expect(m.length).toBe(size);
    expect([...m.bytes]).toEqual([...src]);
    expect(m.bytes.byteOffset % 64).toBe(0);
    // held, unreleased: an inline message keeps no arena space
    expect(ch.stats().arenaUsed).toBe(size <= INLINE_MAX ? 0 : Math.ceil(size / ch.granule) * ch.granule);
    m.release();
  });
}

test("headers: payload + header within the limit inline, beyond it through the arena; both read back", () => {
  using ch = Channel.create(uniqueName("inlhdr"), { capacity: 64 * 1024 });
  const pub = ch.publisher();
  const sub = ch.subscribe();
  pub.sendSync(pattern(16, 1), { header: { a: 1 } }); // 16 + 7 bytes: inline
  pub.sendSync(pattern(60, 2), { header: { tag: "over the line" } }); // 60 + 23: arena
  const a = sub.tryReceive()!;
  const b = sub.tryReceive()!;
  expect(ch.stats().arenaUsed).toBe(2 * ch.granule); // b's payload and header only
  expect([...a.bytes]).toEqual([...pattern(16, 1)]);
  expect(a.header).toEqual({ a: 1 });
  expect([...b.bytes]).toEqual([...pattern(60, 2)]);
  expect(b.header).toEqual({ tag: "over the line" });
  a.release();
  b.release();
});

test("loans of at most 64 B: private staging memory, typed views, publish with a small or a big header, unloan", () => {
  using ch = Channel.create(uniqueName("inlloan"), { capacity: 64 * 1024 });
  const pub = ch.publisher();
  const sub = ch.subscribe();
  const l1 = pub.loan(64);
  expect(l1.bytes.byteOffset % 64).toBe(0);
  l1.view(Float64Array).set([1.5, -2.25, 3, 4, 5, 6, 7, 8]);
  expect(ch.stats().arenaUsed).toBe(0); // a staging loan takes no arena space
  pub.publish(l1, { header: { n: 8 } }); // 64 + 7 > 64: through the arena
  const l2 = pub.loan(24);
  l2.write(new Float32Array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]));
  pub.publish(l2); // inline
  const l3 = pub.loan(8);
  pub.unloan(l3);
  expectFerryError(() => pub.publish(l3), "FERRY_E_STATE");
  const m1 = sub.tryReceive()!;
  const m2 = sub.tryReceive()!;
  expect([...m1.view(Float64Array)]).toEqual([1.5, -2.25, 3, 4, 5, 6, 7, 8]);
  expect(m1.header).toEqual({ n: 8 });
  expect([...m2.view(Float32Array)]).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
  expect(m2.bytes.byteOffset % 64).toBe(0);
  m1.release();
  m2.release();
  expect(sub.tryReceive()).toBeNull();
});

test("held inline messages keep their own bytes (one private slot each) until released", () => {
  using ch = Channel.create(uniqueName("inlheld"), { capacity: 64 * 1024, slots: 256 });
  const pub = ch.publisher();
  const sub = ch.subscribe();
  const held = [];
  for (let i = 0; i < 100; i++) pub.sendSync(pattern(40, i));
  for (let i = 0; i < 100; i++) held.push(sub.tryReceive()!);
  for (let i = 0; i < 100; i++) expect([...held[i]!.bytes]).toEqual([...pattern(40, i)]);
  for (const m of held) m.release();
  // the ring wraps many times over with nothing held
  for (let i = 0; i < 2000; i++) {
    pub.sendSync(pattern(33, i));
    const m = sub.tryReceive()!;
    expect(m.bytes[5]).toBe((5 * 31 + i) & 255);
    m.release();
  }
  expect(ch.stats().head).toBeGreaterThan(1000); // reclaimed as the ring filled
});

test("small loans and held inline messages: at most MAX_HELD each; a release frees its slot for the next receive, with no call", () => {
  using ch = Channel.create(uniqueName("inllim"), { capacity: 64 * 1024, slots: 512 });
  const pub = ch.publisher();
  const sub = ch.subscribe();
  // loans: 128 small ones at most (staging slots), each with its own bytes
  const loans = Array.from({ length: MAX_HELD }, (_, i) => {
    const l = pub.loan(8);
    l.bytes.fill(i & 255);
    return l;
  });
  expect(new Set(loans.map((l) => l.bytes.byteOffset)).size).toBe(MAX_HELD);
  expectFerryError(() => pub.loan(1), "FERRY_E_LIMIT");
  pub.unloan(loans.pop()!); // a slot back: one more loan fits
  const again = pub.loan(8);
  again.bytes.fill(MAX_HELD - 1);
  loans.push(again);
  for (const l of loans) pub.publish(l);
  // held: 128 at most; the 129th receive fails until one is released
  const held = Array.from({ length: MAX_HELD }, () => sub.tryReceive()!);
  held.forEach((m, i) => expect(m.bytes[7]).toBe(i & 255));
  pub.sendSync(pattern(8, 9));
  expectFerryError(() => sub.tryReceive(), "FERRY_E_LIMIT");
  const freed = held[3]!.bytes.byteOffset;
  held[3]!.release(); // inline: marked, applied by the next receive
  const m = sub.tryReceive()!;
  expect([...m.bytes]).toEqual([...pattern(8, 9)]);
  expect(m.bytes.byteOffset).toBe(freed); // the released record's copy slot
  held.forEach((h, i) => {
    if (i !== 3) expect(h.bytes[7]).toBe(i & 255); // the others keep their bytes
  });
  expectFerryError(() => held[3]!.bytes, "FERRY_E_STATE");
  for (const h of held) h.release();
  m.release();
  // far more receives than records, each released at once
  for (let i = 0; i < 4 * MAX_HELD; i++) {
    const l = pub.loan(16);
    l.bytes.set(pattern(16, i));
    pub.publish(l);
    const r = sub.tryReceive()!;
    expect([...r.bytes]).toEqual([...pattern(16, i)]);
    r.release();
  }
  expect(sub.tryReceive()).toBeNull();
});

test("subscribe({ verify }) checks checksums of inline messages", () => {
  using ch = Channel.create(uniqueName("inlsum"), { capacity: 64 * 1024 });
  const pub = ch.publisher();
  const sub = ch.subscribe({ verify: "required" });
  pub.sendSync(pattern(20, 3), { checksum: true, header: { k: 1 } });
  const m = sub.tryReceive()!;
  expect(ch.stats().arenaUsed).toBe(0); // it was inline, checksum envelope included
  expect(m.verify()).toBe(true);
  expect(m.header).toEqual({ k: 1 });
  m.release();
  pub.sendSync(pattern(20, 3)); // no checksum: refused
  expectFerryError(() => sub.tryReceive(), "FERRY_E_CORRUPT");
});

test("groups and late broadcast subscribers with history get inline messages", () => {
  using ch = Channel.create(uniqueName("inlgrp"), { capacity: 64 * 1024, slots: 64, history: 4 });
  const pub = ch.publisher();
  const w1 = ch.subscribe({ group: "w" });
  const w2 = ch.subscribe({ group: "w" });
  for (let i = 0; i < 10; i++) pub.sendSync(pattern(8, i));
  const seen: number[] = [];
  for (;;) {
    const m = w1.tryReceive() ?? w2.tryReceive();
    if (!m) break;
    seen.push(m.bytes[0]!);
    m.release();
  }
  expect(seen).toEqual([...Array(10).keys()].map((i) => i & 255));
  const late = ch.subscribe(); // joins now: the last 4 from the history
  const got: number[] = [];
  for (let m = late.tryReceive(); m; m = late.tryReceive()) {
    got.push(m.bytes[0]!);
    m.release();
  }
  expect(got).toEqual([6, 7, 8, 9]);
});
