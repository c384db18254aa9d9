/**
 * Regression: engine sends must not read the sender's bytes through an
 * address JSC may move. A small Uint8Array lives in GC-managed storage that
 * moves the first time `.buffer` is materialised; an engine that copies it
 * later would read freed memory. A subscriber in another process checks
 * every byte.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Channel, Engine } from "@ferry/channel";
import { peerSpawner, registerCleanup, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const MiB = 2 ** 20;

describe("engine sends copy bytes that JSC may move", () => {
  for (const mode of ["offload", "pipelined"] as const) {
    test(`${mode}: small arrays moved by .buffer + GC arrive intact in another process`, async () => {
      const name = uniqueName(`ptr-${mode}`);
      using ch = Channel.create(name, { capacity: 320 * MiB });
      const sub = spawnPeer("ptr-sub.ts", { name }, 90_000);
      await sub.waitFor("ready");
      using engine = new Engine("sw", { threads: 1 });
      const pub = ch.publisher({ engine });
      const big = new Uint8Array(256 * MiB).fill(1);
      const ROUNDS = 10;
      const sizes = [64, 1000, 4096];
      const sends: Promise<number>[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        // keep the single copy thread busy, so the small copies run later
        sends.push(pub.send(big.subarray(0, 16 * MiB), { mode, header: { fill: 1 } }));
        for (const size of sizes) {
          const fill = 7 + (r % 100);
          const small = new Uint8Array(size).fill(fill);
          sends.push(pub.send(small, { mode, header: { fill } }));
          void small.buffer; // moves a fast typed array's storage
        }
        Bun.gc(true);
        const junk: Uint8Array[] = [];
        for (let i = 0; i < 20_000; i++) junk.push(new Uint8Array(64).fill(0xee));
        await Promise.all(sends.splice(0));
      }
      pub.close();
      const res = await sub.result<{ n: number; bad: { seq: number; fill: number; sample: number[] }[] }>(90_000);
      expect(res.bad).toEqual([]);
      expect(res.n).toBe(ROUNDS * (1 + sizes.length));
    }, 120_000);
  }
});
