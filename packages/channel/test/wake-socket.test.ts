/**
 * The direct wake socket adopted by Bun's event loop (waker.ts SocketWaker):
 * a pending receive() keeps its process alive until a publisher in another
 * process wakes it (wait.test.ts covers that), and a subscriber that is not
 * waiting does not: its process exits on its own, leaving no segment behind.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Channel } from "@ferry/channel";
import { peerSpawner, registerCleanup, sleep, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

test("a process whose subscriber is not waiting exits on its own after a receive()", async () => {
  const name = uniqueName("wake-exit");
  const ch = Channel.create(name, { capacity: 1 << 20 });
  try {
    const peer = spawnPeer("recv-then-idle.ts", { name }, 20_000);
    await peer.waitFor("ready");
    await sleep(50); // inside receive(), asleep on the wake socket
    ch.publisher().sendSync(new Uint8Array([7, 9]));
    expect((await peer.result<{ bytes: number[] }>(10_000)).bytes).toEqual([7, 9]);
    const code = await Promise.race([peer.exited, sleep(5_000).then(() => "still running")]);
    expect(code).toBe(0);
  } finally {
    ch.close();
  }
}, 30_000);

test("many receive() waits on one subscriber reuse one socket: no descriptor leak", async () => {
  const name = uniqueName("wake-fds");
  const ch = Channel.create(name, { capacity: 1 << 20 });
  const sub = ch.subscribe({ wait: "block" });
  const pub = ch.publisher();
  const fds = () => require("node:fs").readdirSync("/proc/self/fd").length as number;
  try {
    const first = sub.receive();
    pub.sendSync(new Uint8Array([1]));
    (await first).release();
    const before = fds();
    for (let i = 0; i < 200; i++) {
      const p = sub.receive({ timeoutMs: 5_000 });
      setTimeout(() => pub.sendSync(new Uint8Array([i & 255])), 0);
      const m = await p;
      expect(m.bytes[0]).toBe(i & 255);
      m.release();
    }
    await expect(sub.receive({ timeoutMs: 20 })).rejects.toMatchObject({ code: "FERRY_E_TIMEOUT" });
    expect(fds()).toBe(before);
  } finally {
    sub.close();
    ch.close();
  }
  // closing the subscriber closes the adopted duplicate too
  await sleep(10);
}, 30_000);

test("concurrent receive() calls on one subscriber are served in call order, one message each", async () => {
  const name = uniqueName("wake-conc");
  const ch = Channel.create(name, { capacity: 1 << 20 });
  const sub = ch.subscribe({ wait: "block" });
  const pub = ch.publisher();
  try {
    const pending = [sub.receive(), sub.receive({ timeoutMs: 5_000 }), sub.receive()];
    await sleep(20); // all three parked
    for (let i = 0; i < 3; i++) pub.sendSync(new Uint8Array([10 + i]));
    const got = await Promise.all(pending);
    expect(got.map((m) => m.bytes[0])).toEqual([10, 11, 12]);
    for (const m of got) m.release();
    // a timed-out receive leaves the others parked
    const a = sub.receive({ timeoutMs: 30 });
    const b = sub.receive();
    await expect(a).rejects.toMatchObject({ code: "FERRY_E_TIMEOUT" });
    pub.sendSync(new Uint8Array([99]));
    const mb = await b;
    expect(mb.bytes[0]).toBe(99);
    mb.release();
  } finally {
    sub.close();
    ch.close();
  }
});

test("closing a subscriber rejects its pending receive() calls with FERRY_E_CLOSED", async () => {
  const name = uniqueName("wake-close");
  const ch = Channel.create(name, { capacity: 1 << 20 });
  const sub = ch.subscribe({ wait: "hybrid" });
  try {
    const p1 = sub.receive();
    const p2 = sub.receive({ timeoutMs: 10_000 });
    await sleep(20);
    sub.close();
    await expect(p1).rejects.toMatchObject({ code: "FERRY_E_CLOSED" });
    await expect(p2).rejects.toMatchObject({ code: "FERRY_E_CLOSED" });
    await expect(sub.receive()).rejects.toMatchObject({ code: "FERRY_E_CLOSED" });
  } finally {
    ch.close();
  }
});
