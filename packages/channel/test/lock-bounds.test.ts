/**
 * A live process holds the channel lock and is stopped (issue 14, item 4).
 * Every call honours its own bound, and waiting never blocks the event loop:
 * receive({ timeoutMs }) returns on time while a setInterval keeps ticking
 * (before: the poll's reap waited 5 s for the lock on the JS thread, so
 * receive({ timeoutMs: 100 }) took 5 s and the loop froze); a publisher's
 * timeoutMs bounds its lock wait (before: BUSY after 5 s whatever the
 * timeout), and the error names the holder's pid. Once the holder is killed,
 * the subscriber's own polling takes the lock over.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { Channel, FerryError, type Publisher, type Subscriber } from "@ferry/channel";
import { peerSpawner, registerCleanup, shmPath, sleep, uniqueName, type Peer } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

const name = uniqueName("lockhold");
let ch: Channel;
let holder: Peer;
let holderPid = 0;
// joining takes the lock too: every subscriber and publisher joins before the holder takes it
const subs = {} as Record<"block" | "hybrid" | "poll" | "after", Subscriber>;
const pubs = {} as Record<"block" | "error" | "after", Publisher>;

beforeAll(async () => {
  ch = Channel.create(name, { capacity: 1 << 20, slots: 16 });
  subs.block = ch.subscribe({ wait: "block" });
  subs.hybrid = ch.subscribe({ wait: "hybrid" });
  subs.poll = ch.subscribe();
  subs.after = ch.subscribe({ wait: "block" });
  pubs.block = ch.publisher({ backpressure: "block", timeoutMs: 1000 });
  pubs.error = ch.publisher({ backpressure: "error", timeoutMs: 1000 });
  pubs.after = ch.publisher({ timeoutMs: 1000 });
  holder = spawnPeer("lock-holder.ts", { name }, 60_000);
  const m = await holder.waitFor((m) => m.event === "holding" || m.event === "failed");
  expect(m.event).toBe("holding");
  holderPid = m.pid as number;
  await sleep(50); // it is stopped now (SIGSTOP right after the line)
});

afterAll(async () => {
  holder.kill(9);
  await holder.exited;
  ch.close();
}, 20_000);
registerCleanup(); // after the afterAll above: it checks that the channel is gone

/** Run `body` while a 5 ms setInterval counts; return its result, the elapsed ms and the longest gap between ticks. */
async function whileTicking<T>(body: () => Promise<T>): Promise<{ value: T | Error; ms: number; ticks: number; maxGapMs: number }> {
  let ticks = 0;
  let last = performance.now();
  let maxGapMs = 0;
  const iv = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks++;
  }, 5);
  const t0 = performance.now();
  let value: T | Error;
  try {
    value = await body();
  } catch (e) {
    value = e as Error;
  }
  const ms = performance.now() - t0;
  clearInterval(iv);
  maxGapMs = Math.max(maxGapMs, performance.now() - last);
  return { value, ms, ticks, maxGapMs };
}

for (const wait of ["block", "hybrid"] as const) {
  test(`receive({ timeoutMs: 300, wait: "${wait}" }) times out on time and the event loop keeps ticking`, async () => {
    const sub = subs[wait];
    const r = await whileTicking(() => sub.receive({ timeoutMs: 300 }));
    console.log(`[lock-held] receive ${wait}: ${r.ms.toFixed(0)} ms, ${r.ticks} ticks of 5 ms, longest gap ${r.maxGapMs.toFixed(1)} ms`);
    expect(r.value).toBeInstanceOf(FerryError);
    expect((r.value as FerryError).code).toBe("FERRY_E_TIMEOUT");
    expect(r.ms).toBeGreaterThanOrEqual(295);
    expect(r.ms).toBeLessThan(300 + 250);
    expect(r.ticks).toBeGreaterThan(20);
    expect(r.maxGapMs).toBeLessThan(100); // generous for a loaded 2-core box; before: ~5000
  }, 20_000);
}

test("tryReceive() polls never wait for the lock", async () => {
  const sub = subs.poll;
  let worst = 0;
  const end = performance.now() + 300;
  let n = 0;
  while (performance.now() < end) {
    const t = performance.now();
    expect(sub.tryReceive()).toBeNull();
    worst = Math.max(worst, performance.now() - t);
    if (++n % 100 === 0) await sleep(1);
  }
  console.log(`[lock-held] ${n} tryReceive polls over 300 ms: slowest ${worst.toFixed(2)} ms`);
  expect(worst).toBeLessThan(50);
}, 20_000);

test("a publisher's timeoutMs bounds its lock wait: FERRY_E_BUSY naming the holder", async () => {
  for (const backpressure of ["block", "error"] as const) {
    const pub = pubs[backpressure];
    const t0 = performance.now();
    let err: unknown;
    try {
      pub.loan(100);
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    console.log(`[lock-held] loan (${backpressure}, timeoutMs 1000): ${ms.toFixed(0)} ms: ${(err as Error)?.message}`);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe("FERRY_E_BUSY");
    expect((err as Error).message).toContain(`pid ${holderPid}`);
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(1800);
  }
}, 20_000);

test("the holder is killed: the waiting subscriber's polling takes the lock over, and everything flows", async () => {
  const sub = subs.after;
  holder.kill(9);
  await holder.exited;
  // the receive's periodic reap (no lock wait) finds the holder dead and takes over
  await expect(sub.receive({ timeoutMs: 250 })).rejects.toMatchObject({ code: "FERRY_E_TIMEOUT" });
  const word = new Int32Array(Bun.mmap(shmPath(name)).buffer, 4096, 1);
  expect(Atomics.load(word, 0)).toBe(0); // taken over and released by the reap, not by the publisher below
  const t0 = performance.now();
  pubs.after.sendSync(new Uint8Array([7]));
  expect(performance.now() - t0).toBeLessThan(100);
  const m = await sub.receive({ timeoutMs: 1000 });
  expect([...m.bytes]).toEqual([7]);
  m.release();
}, 20_000);
