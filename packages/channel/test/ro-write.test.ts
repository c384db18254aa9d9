/**
 * Received messages are read-only shared memory. A process that writes to
 * one ends with a message naming the cause (libferry's fault guard,
 * native/src/fault.c) and exit status FAULT_EXIT; its peers reap it (its
 * space comes back), and it leaves nothing in /dev/shm, also when it created
 * the channel. Faults that are not Ferry's still reach Bun's own handler.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Channel, FAULT_EXIT } from "@ferry/channel";
import { peerSpawner, registerCleanup, shmExists, sleep, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

const CAUSE = /ferry: this process wrote to a received message \(msg\.bytes is read-only shared memory, channel "([^"]+)"\) — copy it first \(msg\.bytes\.slice\(\)\)/;

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

// 4096 B: the payload is in the arena; 16 B: a small message, copied at receive into the subscriber's
// private copy area, which JS sees through a read-only mapping guarded the same way
for (const [how, size] of [["bytes", 4096], ["view", 4096], ["bytes", 16], ["view", 16]] as const) {
  test(`a subscriber process writing msg.${how === "bytes" ? "bytes[0]" : "view(Float32Array)[0]"} (${size} B${size <= 64 ? ", inline" : ""}): clear message, exit ${FAULT_EXIT}, reaped, space reclaimed`, async () => {
    const name = uniqueName("rowrite");
    using ch = Channel.create(name, { capacity: 256 * 1024 });
    using pub = ch.publisher();
    const w = spawnPeer("ro-writer.ts", { name, how }, 30_000);
    await w.waitFor("ready");
    pub.sendSync(new Uint8Array(size).fill(7));
    expect(await w.exited).toBe(FAULT_EXIT);
    expect(w.msgs.some((m) => m.event === "got")).toBe(true);
    expect(w.msgs.some((m) => m.event === "survived")).toBe(false);
    expect(w.stderr).toMatch(CAUSE);
    expect(w.stderr.match(CAUSE)![1]).toBe(name);
    expect(w.stderr).not.toContain("panic");
    // the message it held comes back: the peer reaps the dead subscriber
    expect(await until(() => (ch.reap(), ch.stats().subscribers === 0 && ch.stats().arenaUsed === 0), 5_000)).toBe(true);
    const loan = pub.loan(ch.capacity); // every byte free again
    pub.unloan(loan);
    expect(shmExists(name)).toBe(true); // not its segment to remove: the creator is alive
  });
}

test("the writer created the channel: it removes the segment on its way out; the surviving publisher goes on", async () => {
  const name = uniqueName("rocreator");
  const w = spawnPeer("ro-writer.ts", { name, create: 256 * 1024 }, 30_000);
  await w.waitFor("ready");
  using ch = Channel.open(name);
  using pub = ch.publisher();
  pub.sendSync(new Uint8Array(64));
  expect(await w.exited).toBe(FAULT_EXIT);
  expect(w.stderr).toMatch(CAUSE);
  expect(w.stderr).toContain(`removed /dev/shm/`);
  expect(shmExists(name)).toBe(false);
  expect(await until(() => (ch.reap(), ch.stats().subscribers === 0 && ch.stats().arenaUsed === 0), 5_000)).toBe(true);
  pub.sendSync(new Uint8Array(64)); // still works on the surviving mapping (no subscriber: dropped)
});

test("a fault that is not Ferry's still reaches Bun's own crash handler", async () => {
  const name = uniqueName("rochain");
  using ch = Channel.create(name, { capacity: 64 * 1024 });
  const w = spawnPeer("ro-writer.ts", { name, how: "ffi-null" }, 30_000);
  const code = await w.exited;
  expect(code).not.toBe(0);
  expect(code).not.toBe(FAULT_EXIT);
  expect(w.stderr).not.toMatch(/ferry: this process wrote/);
  expect(w.stderr).toMatch(/Segmentation fault|panic/i);
  expect(await until(() => (ch.reap(), ch.stats().subscribers === 0), 5_000)).toBe(true);
});
