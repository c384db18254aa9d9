/**
 * Regression: a hole the fuzz/chaos work found, fixed by the per-handle arena
 * buffers and leases (docs/channel.md, "Views"). It crashed the process before.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { peerSpawner, registerCleanup, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

// A Message's bytes view kept past sub.close() and ch.close(): it used to read
// unmapped memory (SIGSEGV, Bun: "panic: Segmentation fault"); now the view is
// detached (or inert zero pages) and the peer exits 0.
test("a message view read after the channel closed does not crash the process", async () => {
  const peer = spawnPeer("read-after-close.ts", { name: uniqueName("uaf") }, 20_000);
  const code = await peer.exited;
  expect({ code, stderr: code === 0 ? "" : peer.stderr.slice(-400) }).toEqual({ code: 0, stderr: "" });
});
