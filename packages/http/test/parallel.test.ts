/** 100 parallel 8 MiB uploads over 2 worker processes: each request goes to exactly one worker, every body intact. */
import { afterAll, expect, test } from "bun:test";
import { registerCleanup } from "@ferry/testkit";
import { MiB, body, expectDrained, expectNoShmLeft, sha256, startFront, type Front } from "./helpers";

let f: Front | null = null;
afterAll(async () => {
  await f?.stop();
  expectNoShmLeft();
});
registerCleanup();

test("100 × 8 MiB in parallel, 2 workers", async () => {
  f = await startFront({ maxBodyBytes: 8 * MiB, workers: 2, timeoutMs: 120_000 });
  const pids = new Set(f.workers.map((w) => w.pid));
  const N = 100;
  const bodies = Array.from({ length: N }, (_, i) => body(8 * MiB, 1000 + i));
  const t0 = performance.now();
  const res = await Promise.all(
    bodies.map(async (b, i) => {
      const r = await fetch(`${f!.base}/hash?i=${i}`, { method: "POST", body: b });
      expect(r.status).toBe(200);
      return (await r.json()) as { sha256: string; n: number; pid: number };
    }),
  );
  const ms = performance.now() - t0;
  const byPid = new Map<number, number>();
  res.forEach((r, i) => {
    expect(r.n).toBe(8 * MiB);
    expect(r.sha256).toBe(sha256(bodies[i]!));
    expect(pids.has(r.pid)).toBe(true);
    byPid.set(r.pid, (byPid.get(r.pid) ?? 0) + 1);
  });
  console.log(`100 × 8 MiB: ${(ms / 1000).toFixed(2)} s; per worker: ${JSON.stringify([...byPid.values()])}`);
  expect(byPid.size).toBe(2); // both workers took a share
  expect([...byPid.values()].reduce((a, b) => a + b, 0)).toBe(N); // each request exactly once
  await expectDrained(f);
}, 240_000);
