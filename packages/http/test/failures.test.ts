/**
 * What goes wrong, with real processes: oversize (Content-Length and chunked), a client that
 * aborts mid-upload, a worker killed with -9 mid-request, no worker, a timeout with a late reply,
 * a handler that throws, /dev/shm too small, a slow reader. Error bodies never name a segment,
 * and nothing is left in shared memory afterwards.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { gateway } from "@ferry/http";
import { registerCleanup, uniqueName } from "@ferry/testkit";
import {
  MiB, body, expectDrained, expectNoShmLeft, expectNoShmNames, requireTool, spawnPeer, startFront, until, type Front,
} from "./helpers";

const fronts: Front[] = [];
async function front(o: Parameters<typeof startFront>[0] = {}) {
  const f = await startFront(o);
  fronts.push(f);
  return f;
}
afterEach(async () => {
  for (const f of fronts.splice(0)) await f.stop();
  expectNoShmLeft();
});
afterAll(() => expectNoShmLeft());
registerCleanup();

/** A raw HTTP/1.1 upload that sends `send` bytes of the body, then closes the connection. */
async function abortedUpload(port: number, path: string, send: number, declared: number | "chunked") {
  const { promise, resolve } = Promise.withResolvers<void>();
  const sock = await Bun.connect({
    hostname: "127.0.0.1", port,
    socket: { data() {}, close() { resolve(); }, error() { resolve(); } },
  });
  sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n` +
    (declared === "chunked" ? "Transfer-Encoding: chunked\r\n\r\n" : `Content-Length: ${declared}\r\n\r\n`));
  const piece = new Uint8Array(64 * 1024).fill(7);
  for (let sent = 0; sent < send; sent += piece.length) {
    if (declared === "chunked") sock.write(`${piece.length.toString(16)}\r\n`);
    sock.write(piece);
    if (declared === "chunked") sock.write("\r\n");
    await Bun.sleep(1);
  }
  await Bun.sleep(100);
  sock.end();
  await promise;
}

describe("413", () => {
  test("Content-Length over the limit: refused before the body is read", async () => {
    // Bun's own limit set above the gateway's, so the gateway's check answers
    const f = await front({ maxBodyBytes: MiB, serveLimit: 64 * MiB });
    const r = await fetch(`${f.base}/hash`, { method: "POST", body: body(MiB + 1) });
    expect(r.status).toBe(413);
    const text = await r.text();
    expect(text).toContain("1048576");
    expectNoShmNames(text, f);
    expect(f.workers[0]!.msgs.filter((m) => m.event === "got")).toEqual([]);
    await expectDrained(f);
  });

  test("chunked body growing past the limit: 413, its loan released", async () => {
    const f = await front({ maxBodyBytes: 3 * MiB, serveLimit: 64 * MiB, initialChunkBytes: 256 * 1024 });
    const b = body(4 * MiB);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let o = 0; o < b.length; o += 128 * 1024) c.enqueue(b.slice(o, o + 128 * 1024));
        c.close();
      },
    });
    const r = await fetch(`${f.base}/slow?ms=1`, { method: "POST", body: stream }).catch((e) => e as Error);
    // Bun may close the connection as it stops reading the body: a 413, or a reset after it
    if (r instanceof Response) {
      expect(r.status).toBe(413);
      expectNoShmNames(await r.text(), f);
    }
    await expectDrained(f);
    expect(f.workers[0]!.msgs.filter((m) => m.event === "got")).toEqual([]);
    // the gateway still serves
    const ok = await fetch(`${f.base}/hash`, { method: "POST", body: body(2 * MiB) });
    expect(ok.status).toBe(200);
  });

  test("curl: oversize upload gets 413", async () => {
    const curl = requireTool("curl");
    const f = await front({ maxBodyBytes: MiB });
    const p = Bun.spawn([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "content-length: 5000000",
      "--data-binary", "@-", `${f.base}/hash`], { stdin: body(5_000_000), stdout: "pipe", stderr: "pipe" });
    expect(await new Response(p.stdout).text()).toBe("413");
    await p.exited;
    await expectDrained(f);
  });
});

describe("client abort mid-upload", () => {
  for (const declared of [32 * MiB, "chunked"] as const)
    test(`${declared === "chunked" ? "chunked" : "Content-Length"}: loan released, the worker never sees the half body`, async () => {
      const f = await front({ maxBodyBytes: 64 * MiB });
      await abortedUpload(f.server.port!, "/slow?ms=1", 4 * MiB, declared);
      await expectDrained(f);
      await Bun.sleep(200);
      expect(f.workers[0]!.msgs.filter((m) => m.event === "got")).toEqual([]);
      const ok = await fetch(`${f.base}/hash`, { method: "POST", body: "x" });
      expect(ok.status).toBe(200);
    });
});

describe("worker crash", () => {
  test("kill -9 mid-request: 502 saying so, its space reclaimed, the other worker goes on", async () => {
    const f = await front({ maxBodyBytes: 16 * MiB, workers: 2 });
    const t0 = performance.now();
    const pending = fetch(`${f.base}/slow?ms=30000`, { method: "POST", body: body(8 * MiB) });
    await until(() => f.workers.some((w) => w.msgs.some((m) => m.event === "got")), 10_000, "a worker to get the request");
    const victim = f.workers.find((w) => w.msgs.some((m) => m.event === "got"))!;
    victim.kill(9);
    const r = await pending;
    expect(r.status).toBe(502);
    const text = await r.text();
    expect(text).toContain("exited");
    expectNoShmNames(text, f);
    expect(performance.now() - t0).toBeLessThan(10_000);
    await expectDrained(f);
    // the survivor serves the next requests
    const survivor = f.workers.find((w) => w !== victim)!;
    for (let i = 0; i < 3; i++) {
      const ok = await fetch(`${f.base}/hash`, { method: "POST", body: body(MiB, i) });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { pid: number }).pid).toBe(survivor.pid);
    }
  });

  test("the only worker killed: then 503 at once", async () => {
    const f = await front({ workers: 1 });
    f.workers[0]!.kill(9);
    await f.workers[0]!.exited;
    const r = await fetch(`${f.base}/hash`, { method: "POST", body: "x" });
    expect(r.status).toBe(503);
    expectNoShmNames(await r.text(), f);
  });
});

describe("no worker, timeout, handler error", () => {
  test("no live worker: 503", async () => {
    const f = await front({ workers: 0 });
    const r = await fetch(`${f.base}/hash`, { method: "POST", body: body(MiB) });
    expect(r.status).toBe(503);
    const text = await r.text();
    expect(text).toContain("no live worker");
    expectNoShmNames(text, f);
    await expectDrained(f);
  });

  test("timeout: 504, the late reply discarded cleanly", async () => {
    const f = await front({ workers: 1, timeoutMs: 400 });
    const r = await fetch(`${f.base}/slow?ms=1200`, { method: "POST", body: body(2 * MiB) });
    expect(r.status).toBe(504);
    expectNoShmNames(await r.text(), f);
    await until(() => f.gw.stats().late === 1, 5000, "the late reply");
    await expectDrained(f);
    // and the next request is answered normally (not by the late reply)
    const ok = await fetch(`${f.base}/json`, { method: "POST", body: JSON.stringify({ n: 2 }) });
    expect(((await ok.json()) as { got: unknown }).got).toEqual({ n: 2 });
  });

  test("a handler that throws: 500 without details", async () => {
    const f = await front({ workers: 1 });
    const r = await fetch(`${f.base}/throw`, { method: "POST", body: "x" });
    expect(r.status).toBe(500);
    const text = await r.text();
    expect(text).not.toContain("boom");
    expectNoShmNames(text, f);
    await expectDrained(f);
  });

  test("a worker started before its gateway joins once it appears", async () => {
    const name = uniqueName("late");
    const w = spawnPeer("worker.ts", { name }, 60_000);
    await Bun.sleep(300);
    const gw = gateway({ name, timeoutMs: 5000 });
    try {
      await w.waitFor("ready", 10_000);
      await gw.waitForWorkers(1, { timeoutMs: 5000 });
      const r = await gw.fetch(new Request("http://x/json", { method: "POST", body: "[1]" }));
      expect(((await r.json()) as { got: unknown }).got).toEqual([1]);
    } finally {
      w.kill(15);
      await w.exited;
      gw.close();
    }
  });
});

describe("startup and backpressure", () => {
  test("/dev/shm too small: the error says what to pass", () => {
    let err: Error | null = null;
    try {
      gateway({ name: uniqueName("huge"), maxBodyBytes: 2 ** 45, capacity: 2 ** 46 });
    } catch (e) {
      err = e as Error;
    }
    expect(err).not.toBeNull();
    expect(err!.message).toContain("--shm-size");
    expect(err!.message).toContain("--ipc=host");
  });

  test("a slow reader of a 32 MiB reply (written in place by the worker): streamed from shared memory as the socket drains", async () => {
    const curl = requireTool("curl");
    const f = await front({ maxBodyBytes: 32 * MiB, workers: 1 });
    const anon = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
    Bun.gc(true);
    const before = anon();
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, anon())), 20);
    const p = Bun.spawn([curl, "-sS", "--limit-rate", "24M", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
      `${f.base}/gen?n=${32 * MiB}`], { stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    clearInterval(timer);
    expect(out).toBe(`200 ${32 * MiB}`);
    // the reply streams from shared memory as the socket drains: private memory grows by far less than the body
    console.log(`slow reader: private memory grew ${((peak - before) / MiB).toFixed(1)} MiB for a 32 MiB reply`);
    expect(peak - before).toBeLessThan(8 * MiB);
    await expectDrained(f);
  }, 60_000);
});
