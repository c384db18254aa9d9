/** The kit's own checks: peer spawning and script resolution, names, patterns. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  checkPayload, firstMismatch, makePayload, peerSpawner, registerCleanup, resolvePeerScript, rng, seedOf, sha256,
  spawnPeer, uniqueName, verifyChunks,
} from "@ferry/testkit";

registerCleanup();

describe("peers", () => {
  const echo = join(import.meta.dir, "peers", "echo.ts");

  test("a peer script is found from a URL, an absolute path, or relative to the spawner's dir", () => {
    expect(resolvePeerScript(new URL("./peers/echo.ts", import.meta.url))).toBe(echo);
    expect(resolvePeerScript(echo)).toBe(echo);
    expect(resolvePeerScript("peers/echo.ts", import.meta.dir)).toBe(echo);
    expect(() => resolvePeerScript("peers/echo.ts")).toThrow(/is relative/);
    expect(() => resolvePeerScript("peers/nope.ts", import.meta.dir)).toThrow(/not found/);
  });

  test("a peer gets its config, talks JSON lines and reads stdin", async () => {
    const peer = peerSpawner(join(import.meta.dir, "peers"))("echo.ts", { n: 7 }, 20_000);
    expect((await peer.waitFor("cfg")).cfg).toEqual({ n: 7 });
    peer.send("go");
    expect((await peer.result()).bye).toBe(true);
    expect(await peer.exited).toBe(0);
    expect(peer.script).toBe("echo.ts");
  });

  test("waitFor rejects with the peer's stderr when it exits first", async () => {
    const peer = spawnPeer(echo, { n: 1 }, 20_000);
    await peer.waitFor("cfg");
    peer.kill(9);
    await expect(peer.waitFor("never")).rejects.toThrow(/exited/);
  });
});

test("uniqueName is unique, valid and carries the pid", () => {
  const a = uniqueName("x".repeat(100));
  const b = uniqueName("x");
  expect(a).not.toBe(b);
  expect(a.length).toBeLessThanOrEqual(64);
  expect(a.startsWith(`t${process.pid}-`)).toBe(true);
});

describe("patterns", () => {
  test("makePayload / firstMismatch agree at any offset and alignment; one flipped byte is found", () => {
    const s = seedOf(1, 2, 3);
    const p = makePayload(4099, s);
    expect(firstMismatch(p, 0, s)).toBe(-1);
    expect(firstMismatch(p.subarray(5, 4000), 5, s)).toBe(-1);
    expect(firstMismatch(p.subarray(5, 4000), 6, s)).toBe(0);
    p[1234]! ^= 1;
    expect(firstMismatch(p, 0, s)).toBe(1234);
    expect(checkPayload(p, { p: 2, i: 3, s, size: 4099 }).ok).toBe(false);
  });

  test("verifyChunks checks each chunk as yielded", async () => {
    const s = 42;
    const p = makePayload(10_000, s);
    async function* chunks(b: Uint8Array, step: number) {
      for (let at = 0; at < b.length; at += step) yield b.subarray(at, at + step);
    }
    expect(await verifyChunks(chunks(p, 3000), s, 3000, p.length)).toEqual({
      chunkHash: sha256(p), nChunks: 4, chunkedBytes: 10_000, badChunk: null, shortChunks: 0,
    });
    p[6001]! ^= 0xff;
    const r = await verifyChunks(chunks(p, 1000), s, 2000, p.length);
    expect(r.badChunk).toEqual({ chunk: 6, at: 6000, len: 1000, firstBadByte: 6001 });
    expect(r.shortChunks).toBe(9);
  });

  test("rng is deterministic", () => {
    const a = rng(5);
    const b = rng(5);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });
});
