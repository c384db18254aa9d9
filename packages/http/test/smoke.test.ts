import { expect, test } from "bun:test";
import { join } from "node:path";
import { gateway } from "@ferry/http";
import { peerSpawner, registerCleanup, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

test("smoke", async () => {
  const name = uniqueName("http");
  const gw = gateway({ name, maxBodyBytes: 8 * 2 ** 20, timeoutMs: 5000 });
  const server = Bun.serve({ port: 0, fetch: gw.fetch, maxRequestBodySize: gw.maxBodyBytes });
  const w = spawnPeer("worker.ts", { name });
  await w.waitFor("ready");
  await gw.waitForWorkers(1);
  const base = `http://127.0.0.1:${server.port}`;
  const r = await fetch(`${base}/json`, { method: "POST", body: JSON.stringify({ a: 1 }), headers: { "x-test": "yes" } });
  expect(await r.json()).toEqual({ method: "POST", got: { a: 1 }, h: "yes" });
  const body = new Uint8Array(3 * 2 ** 20).map((_, i) => i * 13);
  const e = await fetch(`${base}/echo`, { method: "POST", body });
  const back = new Uint8Array(await e.arrayBuffer());
  expect(back.length).toBe(body.length);
  expect(Bun.hash(back)).toBe(Bun.hash(body));
  w.kill(15);
  await w.exited;
  server.stop(true);
  gw.close();
});
