/**
 * Views that outlive their memory. No sequence of public calls may crash the
 * process or reach memory that is no longer ours: messages and loans of a
 * closed handle throw FERRY_E_CLOSED, raw views taken from them become
 * zero-length (their handle's arena buffer is detached), and an arena buffer
 * the program took over itself reads private zero pages once the channel has
 * unmapped. The sequences that used to end in SIGSEGV run in a child process
 * (peers/misuse.ts) that must exit 0 by itself, not by a signal.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Channel } from "@ferry/channel";
import { expectFerryError, peerSpawner, registerCleanup, shmExists, uniqueName, type Peer } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const TESTPLUG = join(import.meta.dir, "../../../native/build/tests/libferry_engine_testplug.so");

type Step = { value?: unknown; errName?: string; code?: string | null; message?: string };
type Steps = Record<string, Step & Record<string, unknown>> & Record<string, any>;

/**
 * Run one case of peers/misuse.ts: it must report, then exit 0 by itself (no
 * signal, no process.exit) within `exitMs` of its result line.
 */
async function runCase(cfg: Record<string, unknown>, exitMs = 5_000): Promise<Steps> {
  const name = uniqueName(String(cfg.case));
  const peer: Peer = spawnPeer("misuse.ts", { name, ...cfg }, 60_000);
  let r: { steps: Steps };
  try {
    r = await peer.result<{ steps: Steps }>(55_000);
  } catch (e) {
    await peer.exited;
    throw new Error(`${(e as Error).message}\nexit ${peer.exitCode}, signal ${peer.proc.signalCode}`);
  }
  const code = await Promise.race([peer.exited, Bun.sleep(exitMs).then(() => "still running after its result")]);
  peer.kill();
  expect(peer.proc.signalCode, peer.stderr.slice(-3000)).toBeNull();
  expect(code, peer.stderr.slice(-3000)).toBe(0);
  expect(shmExists(name)).toBe(false);
  return r.steps;
}

const closed = (s: Step | undefined) => {
  expect(s?.errName).toBe("FerryError");
  expect(s?.code).toBe("FERRY_E_CLOSED");
};

describe("in a child process: what used to crash Bun with SIGSEGV", () => {
  test("an unreleased message after ch.close(): its accessors throw FERRY_E_CLOSED, views of it read as empty", async () => {
    const s = await runCase({ case: "read-after-close" });
    expect(s.before).toBe(0xab);
    for (const k of ["bytes", "header", "headerBytes", "length", "progress", "verify", "ready"]) closed(s[k]);
    expect(s.release).toEqual({ value: "undefined" }); // release after close: nothing to do, no error
    expect(s.viewLength).toEqual({ value: 0 });
    expect(s.viewRead).toEqual({ value: "undefined" });
    expect(s.subarrayRead).toEqual({ value: "undefined" });
    expect(s.viewIndexWrite).toEqual({ value: "undefined" });
    expect(s.viewFill?.errName).toBe("TypeError"); // a detached buffer: TypedArray methods throw, by the standard
  });

  test("a loan's view written after ch.close(): nothing is written anywhere; the loan throws FERRY_E_CLOSED", async () => {
    const s = await runCase({ case: "loan-after-close" });
    closed(s.bytes);
    closed(s.publish);
    closed(s.unloan);
    expect(s.active).toEqual({ value: false });
    expect(s.viewLength).toEqual({ value: 0 });
    expect(s.viewIndexWrite).toEqual({ value: "undefined" });
    expect(s.viewSet?.errName).toBe("TypeError");
  });

  test("only msg.bytes and a loan's bytes kept while the channel, publisher and subscriber are garbage-collected", async () => {
    const s = await runCase({ case: "gc" });
    expect(s.before).toBe(0x5a);
    expect(s.collected).toBe(true); // the backstops closed every handle: nothing of the segment is mapped any more
    expect(s.readLength).toEqual({ value: 0 });
    expect(s.read).toEqual({ value: "undefined" });
    expect(s.write).toEqual({ value: "undefined" });
  });

  test("an arena buffer the program took over (transfer()): private zero pages after close, unmapped once collected", async () => {
    const s = await runCase({ case: "transferred" });
    const [roBefore, rwBefore] = s.mapBefore as string[];
    expect(roBefore).toContain("r--s"); // shared, read-only
    expect(rwBefore).toContain("rw-s"); // shared, read-write
    expect(roBefore).toContain("/dev/shm/ferry.");
    expect(s.before).toBe(0xcd);
    expect(s.after).toEqual([8, 0xee]); // the subscriber went on with a buffer of its own
    for (const line of s.mapAfterClose as string[]) {
      expect(line).toContain("rw-p"); // private now
      expect(line).not.toContain("/dev/shm"); // anonymous: not the shared arena
    }
    expect(s.readAfterClose).toEqual({ value: 0 });
    expect(s.writeAfterClose).toEqual({ value: 3 }); // into private memory
    expect(s.unmapped).toBe(true); // the buffers' deallocator gave the range back
  });

  test("an engine copying out of a message (copyTo) while the channel closes: no fault, copyTo rejects with FERRY_E_CLOSED", async () => {
    const s = await runCase({ case: "copyto-close" });
    closed(s.copyTo);
  }, 60_000);
});

describe("in a child process: a pending wait and close", () => {
  for (const [how, wait, timeoutMs] of [
    ["sub", "hybrid", undefined],
    ["sub", "block", 60_000],
    ["channel", "hybrid", undefined],
    ["channel", "block", undefined],
  ] as const) {
    test(`receive({ wait: "${wait}"${timeoutMs ? `, timeoutMs: ${timeoutMs}` : ""} }) pending when its ${how === "sub" ? "subscriber" : "channel"} closes: FERRY_E_CLOSED at once, and the process exits by itself`, async () => {
      const t0 = performance.now();
      const s = await runCase({ case: "receive-close", how, wait, timeoutMs, afterMs: 50 });
      closed(s.receive);
      expect(s.settledMs).toBeLessThan(50 + 300);
      expect(performance.now() - t0).toBeLessThan(10_000); // spawn + run + exit, with room for a loaded machine
    });
  }

  for (const wait of ["hybrid", "block"] as const) {
    test(`msg.ready() (wait "${wait}") pending on a copy that never progresses when the subscriber closes: FERRY_E_CLOSED, the process exits`, async () => {
      const s = await runCase({ case: "ready-close", plugin: TESTPLUG, wait });
      closed(s.ready);
      expect(s.settledMs).toBeLessThan(50 + 500);
    });
  }
});

describe("a closed publisher or subscriber, its channel still open", () => {
  test("a loan's view kept past pub.close() writes nothing: another publisher's message at the same place arrives intact", () => {
    using ch = Channel.create(uniqueName("pubclose"), { capacity: 2 ** 20 });
    const sub = ch.subscribe();
    const pub = ch.publisher();
    const loan = pub.loan(64);
    const stale = loan.bytes;
    pub.close(); // its loan goes back to the arena
    const pub2 = ch.publisher();
    pub2.sendSync(new Uint8Array(64).fill(0xaa)); // first fit: the same granules
    for (let i = 0; i < 64; i++) stale[i] = 0x55; // a detached view: ignored
    expect(() => stale.fill(0x55)).toThrow(TypeError);
    expect(stale.length).toBe(0);
    const msg = sub.tryReceive()!;
    expect([...msg.bytes]).toEqual(new Array(64).fill(0xaa));
    expectFerryError(() => loan.bytes, "FERRY_E_CLOSED");
    expect(loan.active).toBe(false);
    msg.release();
  });

  test("a message's view kept past sub.close() reads as empty, never the space the message had; the message throws FERRY_E_CLOSED", () => {
    using ch = Channel.create(uniqueName("subclose"), { capacity: 2 ** 20 });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    const other = ch.subscribe();
    pub.sendSync(new Uint8Array(32).fill(1), { header: { k: 1 } });
    const msg = sub.tryReceive()!;
    const view = msg.bytes;
    sub.close();
    expect(view.length).toBe(0);
    expect(view[0]).toBeUndefined();
    for (const get of [() => msg.bytes, () => msg.header, () => msg.headerBytes, () => msg.length, () => msg.verify()])
      expectFerryError(get, "FERRY_E_CLOSED");
    msg.release(); // closing released it already: a no-op
    // the other subscriber and the publisher are untouched
    const m2 = other.tryReceive()!;
    expect([...m2.bytes]).toEqual(new Array(32).fill(1));
    expect(m2.header).toEqual({ k: 1 });
  });

  test("a program that detaches a subscriber's or publisher's buffer itself (transfer(0)) only empties its own views; later messages are intact", () => {
    using ch = Channel.create(uniqueName("detach"), { capacity: 2 ** 20 });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    pub.sendSync(new Uint8Array([1, 2, 3]));
    const m1 = sub.tryReceive()!;
    (m1.bytes.buffer as ArrayBuffer).transfer(0);
    expect(m1.bytes.length).toBe(0);
    expect(m1.length).toBe(3);
    m1.release();
    (pub.loan(8).bytes.buffer as ArrayBuffer).transfer(0);
    for (let i = 0; i < 3; i++) {
      const loan = pub.loan(3);
      loan.bytes.set([4 + i, 5, 6]);
      pub.publish(loan);
      const m = sub.tryReceive()!;
      expect([...m.bytes]).toEqual([4 + i, 5, 6]);
      m.release();
    }
  });
});
