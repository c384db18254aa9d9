/**
 * The same-host reference path (off by default): a client on this host publishes the body into
 * a channel of its own and sends a reference; the gateway validates it (host, channel,
 * sequence, length) and copies the payload into its request channel. Rejections are 4xx with
 * a clear message that names no segment.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { hostname } from "node:os";
import { Channel } from "@ferry/channel";
import { refClient } from "@ferry/http";
import { registerCleanup, uniqueName } from "@ferry/testkit";
import { MiB, body, expectDrained, expectNoShmLeft, expectNoShmNames, sha256, startFront, type Front } from "./helpers";

const fronts: Front[] = [];
afterEach(async () => {
  for (const f of fronts.splice(0)) await f.stop();
  expectNoShmLeft();
});
afterAll(() => expectNoShmLeft());
registerCleanup();

const ref = (o: Record<string, unknown>) => ({ "x-ferry-ref": JSON.stringify({ host: hostname(), ...o }) });

test("refClient: by reference to a local gateway that allows it, plain HTTP to one that does not", async () => {
  const on = await startFront({ references: true, maxBodyBytes: 16 * MiB });
  const off = await startFront({ maxBodyBytes: 16 * MiB });
  fronts.push(on, off);
  const c = refClient({ capacity: 64 * MiB });
  try {
    for (const f of [on, off])
      for (const n of [8 * MiB, 100 * 1024, 10]) {
        const b = body(n, n);
        const r = await c.fetch(`${f.base}/hash`, { body: b });
        expect(r.status).toBe(200);
        expect(((await r.json()) as { sha256: string }).sha256).toBe(sha256(b));
      }
    expect([...c.local]).toEqual([on.base]);
    await expectDrained(on);
  } finally {
    c.close();
  }
});

test("rejections: not enabled, unregistered, dangling, reused, wrong length, foreign host", async () => {
  const on = await startFront({ references: true, maxBodyBytes: 4 * MiB });
  const off = await startFront({});
  fronts.push(on, off);
  const name = uniqueName("cl");
  const ch = Channel.create(name, { capacity: 16 * MiB });
  try {
    const pub = ch.publisher();
    const expect4xx = async (f: Front, headers: Record<string, string>, status: number, words: string) => {
      const r = await fetch(`${f.base}/hash`, { method: "POST", headers });
      const text = await r.text();
      expect(r.status).toBe(status);
      expect(text).toContain(words);
      expectNoShmNames(text, f);
      expect(text).not.toContain(name);
    };
    await expect4xx(off, ref({ channel: name, seq: 1, length: 1 }), 400, "not enabled");
    await expect4xx(on, ref({ channel: name, seq: 1, length: 1 }), 400, "not registered");
    const reg = await fetch(`${on.base}/.ferry/register`, { method: "POST", body: JSON.stringify({ host: hostname(), channel: name }) });
    expect(reg.status).toBe(200);
    const foreign = await fetch(`${on.base}/.ferry/register`, { method: "POST", body: JSON.stringify({ host: "elsewhere", channel: name }) });
    expect(foreign.status).toBe(400);
    const missing = await fetch(`${on.base}/.ferry/register`, { method: "POST", body: JSON.stringify({ host: hostname(), channel: uniqueName("nope") }) });
    expect(missing.status).toBe(404);

    const b = body(MiB, 9);
    const seq = pub.sendSync(b);
    await expect4xx(on, { "x-ferry-ref": JSON.stringify({ host: "elsewhere", channel: name, seq, length: b.length }) }, 400, "foreign");
    await expect4xx(on, ref({ channel: name, seq: seq + 1000, length: b.length }), 410, "dangling");
    await expect4xx(on, ref({ channel: name, seq, length: b.length + 1 }), 400, "length");
    // the length mismatch consumed it: it is gone now
    await expect4xx(on, ref({ channel: name, seq, length: b.length }), 410, "dangling");
    await expect4xx(on, { "x-ferry-ref": "{nope" }, 400, "bad reference");
    await expect4xx(on, ref({ channel: name, seq, length: 5 * MiB }), 413, "too large");

    // a good one, then the same reference again
    const seq2 = pub.sendSync(b);
    const ok = await fetch(`${on.base}/hash`, { method: "POST", headers: ref({ channel: name, seq: seq2, length: b.length }) });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { sha256: string }).sha256).toBe(sha256(b));
    await expect4xx(on, ref({ channel: name, seq: seq2, length: b.length }), 410, "dangling");

    // the client goes away: its references dangle
    const seq3 = pub.sendSync(b);
    ch.close();
    await expect4xx(on, ref({ channel: name, seq: seq3 + 1, length: b.length }), 410, "gone");
    await Bun.sleep(1200); // and after the gateway's sweep let the registration go
    await expect4xx(on, ref({ channel: name, seq: seq3 + 1, length: b.length }), 410, "gone");
    await expectDrained(on);
  } finally {
    ch.close();
  }
});
