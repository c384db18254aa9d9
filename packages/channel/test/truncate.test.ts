/**
 * A segment truncated under live Bun processes (anyone with write access can
 * ftruncate /dev/shm/ferry.*): touching a page past the new end raises SIGBUS.
 * libferry's fault handler contains it for every handle Bun opens: the touch
 * reads zeros, the handle's calls fail with FERRY_E_CORRUPT, a sleeping
 * receive() wakes with it, the process goes on and exits normally, and
 * nothing is left in /dev/shm.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Channel, FerryError } from "@ferry/channel";
import { peerSpawner, registerCleanup, shmExists, shmPath, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

test("truncated under a live Bun process: reads of held views give zeros, calls fail with FERRY_E_CORRUPT, a sleeping receive() wakes with it, no signal, no segment left", async () => {
  const name = uniqueName("trunc");
  const ch = Channel.create(name, { capacity: 1 << 20 });
  const mine = ch.subscribe(); // this process's own handle is covered too
  const pub = ch.publisher();
  const peer = spawnPeer("trunc-sub.ts", { name }, 30_000);
  await pub.waitForSubscribers(3, { timeoutMs: 5_000 });
  const payload = new Uint8Array(200_000).fill(9); // in the arena, past the first page
  pub.sendSync(payload);
  const held = await peer.waitFor("holding");
  expect(held).toMatchObject({ first: 9, length: 200_000 });
  const m = mine.tryReceive()!;
  expect(m.bytes[0]).toBe(9);

  // another process shrinks the file to its header page
  const t = Bun.spawnSync(["truncate", "-s", "4096", shmPath(name)]);
  expect(t.exitCode).toBe(0);
  peer.send("go");
  const r = await peer.result<Record<string, unknown>>(20_000);
  expect(r).toMatchObject({
    first: 0,
    last: 0,
    loanByte: 0,
    tryReceive: "FERRY_E_CORRUPT",
    publish: "FERRY_E_CORRUPT",
    newLoan: "FERRY_E_CORRUPT",
    sleeper: "FERRY_E_CORRUPT",
  });
  expect(r.sleeperMs as number).toBeLessThan(2_000); // its 100 ms re-arm tick
  expect(await peer.exited).toBe(0);

  // and here: the held view reads zeros, the next call fails
  expect(m.bytes[0]).toBe(0);
  expect(() => mine.tryReceive()).toThrow(FerryError);
  expect(() => mine.tryReceive()).toThrow(expect.objectContaining({ code: "FERRY_E_CORRUPT" }));
  mine.close();
  pub.close();
  ch.close();
  expect(shmExists(name)).toBe(false);
}, 40_000);
