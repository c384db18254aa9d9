/**
 * A wait strategy per call: receive({ wait }) and message.ready(n, { wait })
 * override the subscriber's. "spin" holds the JS thread (a timer cannot fire
 * meanwhile), "block" leaves the event loop free. The pipelined message comes
 * from peers/plug-pub.ts: its "testplug" engine copies only when the
 * publisher collects, so the copy stands still until the test says "collect".
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Channel } from "@ferry/channel";
import {
  expectFerryError,
  expectFerryRejection,
  makePayload, sha256,
  peerSpawner,
  registerCleanup,
  uniqueName,
} from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const MiB = 2 ** 20;
const TESTPLUG = join(import.meta.dir, "../../../native/build/tests/libferry_engine_testplug.so");

/** Run `fn` with a 5 ms interval ticking; returns its result (or error) and the ticks counted while it ran. */
async function ticking<T>(fn: () => Promise<T>): Promise<{ ticks: number; value?: T; error?: unknown }> {
  let ticks = 0;
  const iv = setInterval(() => ticks++, 5);
  try {
    return { value: await fn(), ticks };
  } catch (error) {
    return { error, ticks };
  } finally {
    clearInterval(iv);
  }
}

describe("receive({ wait })", () => {
  test('"spin" on a "block" subscriber holds the JS thread; "block" on a "spin" subscriber leaves it free', async () => {
    using ch = Channel.create(uniqueName("rcv-wait"), { capacity: MiB });
    const blocker = ch.subscribe({ wait: "block" });
    const spinner = ch.subscribe({ wait: "spin" });
    const spun = await ticking(() => blocker.receive({ wait: "spin", timeoutMs: 200 }));
    expect((spun.error as { code?: string }).code).toBe("FERRY_E_TIMEOUT");
    expect(spun.ticks).toBeLessThanOrEqual(1);
    const slept = await ticking(() => spinner.receive({ wait: "block", timeoutMs: 200 }));
    expect((slept.error as { code?: string }).code).toBe("FERRY_E_TIMEOUT");
    expect(slept.ticks).toBeGreaterThan(5);
    // and both still receive
    ch.publisher().sendSync(new Uint8Array([9]));
    for (const [sub, wait] of [[blocker, "spin"], [spinner, "hybrid"]] as const) {
      const m = await sub.receive({ wait, timeoutMs: 1000 });
      expect([...m.bytes]).toEqual([9]);
      m.release();
    }
  });

  test("an unknown wait is FERRY_E_INVAL (per call and per subscriber)", async () => {
    using ch = Channel.create(uniqueName("rcv-inval"), { capacity: MiB });
    const sub = ch.subscribe();
    await expectFerryRejection(sub.receive({ wait: "nope" as never }), "FERRY_E_INVAL");
    expectFerryError(() => ch.subscribe({ wait: "nope" as never }), "FERRY_E_INVAL");
  });
});

describe("receiveSync()", () => {
  for (const wait of ["spin", "block", "hybrid"] as const)
    test(`${wait}: every message of a publisher process in order, the JS thread held meanwhile, then FERRY_E_EOF`, async () => {
      const name = uniqueName(`rsync-${wait}`);
      using ch = Channel.create(name, { capacity: MiB, slots: 64 });
      const sub = ch.subscribe({ wait });
      const N = 300;
      // small (inline) and arena messages, ~1 ms apart, so receiveSync really waits for each
      const pub = spawnPeer("seq-pub.ts", { name, pubId: 3, count: N, minSize: 8, maxSize: 200, method: "mix", waitGo: true, intervalMs: 1 }, 30_000);
      await pub.waitFor("ready");
      pub.send("go");
      let ticks = 0;
      const iv = setInterval(() => ticks++, 1);
      let got = 0;
      for (; ; got++) {
        let m;
        try {
          m = sub.receiveSync({ timeoutMs: 10_000 });
        } catch (e) {
          expect((e as { code?: string }).code).toBe("FERRY_E_EOF");
          break;
        }
        const v = m.view(Uint8Array);
        expect(new DataView(v.buffer, v.byteOffset).getUint32(4, true)).toBe(got);
        m.release();
      }
      clearInterval(iv);
      expect(got).toBe(N);
      expect(ticks).toBe(0); // no timer ran: the loop never yielded to the event loop
      await pub.exited;
    });

  test("timeout, and per-call wait overrides", () => {
    using ch = Channel.create(uniqueName("rsync-to"), { capacity: MiB });
    const sub = ch.subscribe({ wait: "block" });
    const t0 = performance.now();
    expectFerryError(() => sub.receiveSync({ timeoutMs: 30 }), "FERRY_E_TIMEOUT");
    expectFerryError(() => sub.receiveSync({ timeoutMs: 30, wait: "spin" }), "FERRY_E_TIMEOUT");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    expectFerryError(() => sub.receiveSync({ wait: "nope" as never }), "FERRY_E_INVAL");
    ch.publisher().sendSync(new Uint8Array([4, 2]));
    const m = sub.receiveSync({ wait: "spin", timeoutMs: 1000 });
    expect([...m.bytes]).toEqual([4, 2]);
    m.release();
  });
});

describe("message.ready(n, { wait }) on a pipelined copy that stands still until collected", () => {
  async function held(wait: "spin" | "block") {
    const name = uniqueName(`ready-${wait}`);
    const ch = Channel.create(name, { capacity: 16 * MiB });
    const sub = ch.subscribe({ wait });
    const size = 2 * MiB + 3;
    const pub = spawnPeer("plug-pub.ts", { name, plugin: TESTPLUG, size, seed: 77 }, 30_000);
    await pub.waitFor("sent");
    const msg = sub.tryReceive()!;
    expect(msg.pipelined).toBe(true);
    expect(msg.progress()).toBe(0);
    return { ch, pub, msg, size };
  }

  test('"block" on a "spin" subscriber leaves the event loop free: a timer collects, then it resolves', async () => {
    const { ch, pub, msg, size } = await held("spin");
    try {
      const t0 = performance.now();
      setTimeout(() => pub.send("collect"), 200); // could not fire while this thread spins
      const r = await ticking(() => msg.ready(undefined, { wait: "block", timeoutMs: 10_000 }));
      expect(r.error).toBeUndefined();
      expect(performance.now() - t0).toBeLessThan(5_000);
      expect(r.ticks).toBeGreaterThan(5);
      expect(sha256(msg.bytes)).toBe(sha256(makePayload(size, 77)));
      msg.release();
      expect((await pub.waitFor("collected")).status).toBe(0);
      expect(await pub.exited).toBe(0);
    } finally {
      ch.close();
    }
  }, 30_000);

  test('"spin" on a "block" subscriber holds the JS thread until its timeout; an unknown wait is FERRY_E_INVAL', async () => {
    const { ch, pub, msg, size } = await held("block");
    try {
      await expectFerryRejection(msg.ready(undefined, { wait: "nope" as never }), "FERRY_E_INVAL");
      const r = await ticking(() => msg.ready(MiB, { wait: "spin", timeoutMs: 200 }));
      expect((r.error as { code?: string }).code).toBe("FERRY_E_TIMEOUT");
      expect(r.ticks).toBeLessThanOrEqual(1);
      pub.send("collect");
      await msg.ready(undefined, { timeoutMs: 10_000 }); // the subscriber's own "block"
      expect(sha256(msg.bytes)).toBe(sha256(makePayload(size, 77)));
      msg.release();
      expect(await pub.exited).toBe(0);
    } finally {
      ch.close();
    }
  }, 30_000);
});
