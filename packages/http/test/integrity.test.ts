/**
 * Bodies of 0 B to 512 MiB through a gateway and a worker process, end to end:
 * the worker hashes the request body it reads in shared memory, echoes it back
 * through a loaned (in-place) response body, and the client hashes what comes back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerCleanup } from "@ferry/testkit";
import { MiB, body, expectDrained, expectNoShmLeft, hashStream, requireTool, sha256, startFront, type Front } from "./helpers";

const SIZES = [0, 1, MiB, 64 * MiB];
let f: Front;
let dir: string;

beforeAll(async () => {
  f = await startFront({ maxBodyBytes: 64 * MiB, workers: 1 });
  dir = mkdtempSync(join(tmpdir(), "ferry-http-"));
});
afterAll(async () => {
  await f.stop();
  rmSync(dir, { recursive: true, force: true });
  expectNoShmLeft();
});
registerCleanup(); // after our afterAll: it checks /dev/shm once the front is closed
afterEach(async () => {
  // every request's loans and replies were given back (a worker releases the request right after it replies)
  await expectDrained(f);
});

describe("fetch", () => {
  for (const n of SIZES)
    test(`${n} B, Content-Length, echoed through a loaned body`, async () => {
      const b = body(n, n + 7);
      const r = await fetch(`${f.base}/echo`, { method: "POST", body: b });
      expect(r.status).toBe(200);
      const back = await hashStream(r.body);
      expect(r.headers.get("x-sha256")).toBe(sha256(b)); // what the worker read in shared memory
      expect(back).toEqual({ sha: sha256(b), n });
    });

  for (const n of [1, 5 * MiB + 3])
    test(`${n} B, chunked (no Content-Length): the loan grows`, async () => {
      const b = body(n, 3);
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let o = 0; o < n; o += 300_000) c.enqueue(b.slice(o, o + 300_000));
          c.close();
        },
      });
      const r = await fetch(`${f.base}/echo-copy`, { method: "POST", body: stream });
      expect(r.status).toBe(200);
      expect(r.headers.get("x-sha256")).toBe(sha256(b));
      expect(await hashStream(r.body)).toEqual({ sha: sha256(b), n });
    });

  test("JSON in, JSON out, headers and method", async () => {
    const r = await fetch(`${f.base}/json?q=1`, { method: "PUT", body: JSON.stringify({ a: [1, 2] }), headers: { "x-test": "t" } });
    expect(await r.json()).toEqual({ method: "PUT", got: { a: [1, 2] }, h: "t" });
  });

  test("headers over 4 KiB travel in front of the body", async () => {
    const cookie = "c=" + "x".repeat(6000);
    const r = await fetch(`${f.base}/headers`, { headers: { cookie } });
    const h = (await r.json()) as Record<string, string>;
    expect(h.cookie).toBe(cookie);
  });
});

describe("curl", () => {
  for (const n of SIZES)
    test(`${n} B`, async () => {
      const curl = requireTool("curl");
      const b = body(n, n + 11);
      const src = join(dir, `in-${n}`);
      const out = join(dir, `out-${n}`);
      writeFileSync(src, b);
      const p = Bun.spawn([curl, "-sS", "-o", out, "-w", "%{http_code}", "--data-binary", `@${src}`,
        "-H", "content-type: application/octet-stream", `${f.base}/echo`], { stdout: "pipe", stderr: "pipe" });
      const code = await new Response(p.stdout).text();
      expect(await p.exited).toBe(0);
      expect(code).toBe("200");
      expect(sha256(await Bun.file(out).bytes())).toBe(sha256(b));
    });

  test("5 MiB chunked from stdin (curl -T -)", async () => {
    const curl = requireTool("curl");
    const b = body(5 * MiB, 5);
    const p = Bun.spawn([curl, "-sS", "-X", "POST", "-T", "-", "-o", "-", `${f.base}/echo`], { stdin: b, stdout: "pipe", stderr: "pipe" });
    const back = await hashStream(p.stdout as ReadableStream<Uint8Array>);
    expect(await p.exited).toBe(0);
    expect(back).toEqual({ sha: sha256(b), n: b.length });
  });
});

test("512 MiB once: fetch up, streamed back, hashed on both sides", async () => {
  const big = await startFront({ maxBodyBytes: 512 * MiB, capacity: 512 * MiB + 2 * MiB, replyCapacity: 512 * MiB + MiB, workers: 1 });
  try {
    const b = body(512 * MiB, 512);
    const want = sha256(b);
    const t0 = performance.now();
    const r = await fetch(`${big.base}/echo`, { method: "POST", body: b });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-sha256")).toBe(want);
    expect(await hashStream(r.body)).toEqual({ sha: want, n: b.length });
    console.log(`512 MiB echo round trip: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    await expectDrained(big);
  } finally {
    await big.stop();
  }
}, 180_000);
