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
