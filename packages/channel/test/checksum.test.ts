/**
 * Optional per-message integrity: send / publish `{ checksum: true }` stores a
 * CRC-32 of the payload and header in a 16-byte envelope in front of the
 * header (header.ts); msg.verify() and subscribe({ verify }) check it in the
 * receiving process and answer FERRY_E_CORRUPT on a mismatch. Messages sent
 * without it carry no envelope.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Channel, Engine, HEADER_MAX } from "@ferry/channel";
import { expectFerryError, makePayload, peerSpawner, registerCleanup, sha256, uniqueName } from "@ferry/testkit";
import { ENVELOPE_SIZE, encodeHeader, splitHeader } from "../src/header";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const KiB = 1024;
const MiB = 2 ** 20;

type Got = { seq?: number; verified?: unknown; header?: unknown; length?: number; hash?: string; receiveError?: { code: string } };

test("the envelope: magic 00 66 79 01, flag bit 0, then the CRC-32 (IEEE, little endian) of payload + user header", () => {
  const payload = new TextEncoder().encode("123456789");
  const env = encodeHeader(undefined, payload)!;
  expect(env.length).toBe(ENVELOPE_SIZE);
  expect([...env.subarray(0, 8)]).toEqual([0x00, 0x66, 0x79, 0x01, 1, 0, 0, 0]);
  expect(new DataView(env.buffer).getUint32(8, true)).toBe(0xcbf43926); // the standard CRC-32 check value
  const withHeader = encodeHeader({ a: 1 }, payload)!;
  const { user, crc } = splitHeader(withHeader);
  expect(new TextDecoder().decode(user!)).toBe('{"a":1}');
  const all = new Uint8Array([...payload, ...new TextEncoder().encode('{"a":1}')]);
  expect(crc).toBe(Bun.hash.crc32(all));
  // without a checksum nothing changes: the JSON itself, or no header at all
  expect(new TextDecoder().decode(encodeHeader({ a: 1 })!)).toBe('{"a":1}');
  expect(encodeHeader(undefined)).toBeNull();
});

test(`a header with a checksum may hold ${HEADER_MAX - ENVELOPE_SIZE} bytes of its own (FERRY_E_TOOBIG beyond); without one, ${HEADER_MAX}`, () => {
  using ch = Channel.create(uniqueName("sumhdr"), { capacity: 64 * KiB });
  const pub = ch.publisher();
  const sub = ch.subscribe({ verify: true });
  pub.sendSync(new Uint8Array(3), { header: new Uint8Array(HEADER_MAX - ENVELOPE_SIZE).fill(7), checksum: true });
  pub.sendSync(new Uint8Array(3), { header: new Uint8Array(HEADER_MAX).fill(8) });
  const e = expectFerryError(() => pub.sendSync(new Uint8Array(3), { header: new Uint8Array(HEADER_MAX - ENVELOPE_SIZE + 1), checksum: true }), "FERRY_E_TOOBIG");
  expect(e.message).toContain(String(HEADER_MAX - ENVELOPE_SIZE));
  const a = sub.tryReceive()!;
  expect(a.verify()).toBe(true);
  expect(a.headerBytes!.length).toBe(HEADER_MAX - ENVELOPE_SIZE);
  const b = sub.tryReceive()!;
  expect(b.verify()).toBe(false);
  expect(b.headerBytes!.length).toBe(HEADER_MAX);
});

describe("across processes", () => {
  test("every way of sending (sendSync, inline, offload, pipelined, loan) carries a checksum that verifies in the subscriber process; headers and payloads intact", async () => {
    const name = uniqueName("sumall");
    using ch = Channel.create(name, { capacity: 64 * MiB });
    const sub = spawnPeer("checksum-sub.ts", { name, count: 7, verify: true }, 60_000);
    await sub.waitFor("ready");
    sub.send("go");
    using engine = new Engine("sw", { threads: 1 });
    const pub = ch.publisher({ engine });
    const sent: { hash: string; header: unknown; sum: boolean }[] = [];
    const payload = (i: number, size: number) => makePayload(size, 1000 + i);
    let i = 0;
    const next = (size: number, sum = true) => {
      const p = payload(i, size);
      const header = { i: i++, size, sum };
      sent.push({ hash: sha256(p), header, sum });
      return { p, header };
    };
    let m = next(1000);
    pub.sendSync(m.p, { header: m.header, checksum: true });
    m = next(5000);
    await pub.send(m.p, { mode: "inline", header: m.header, checksum: true });
    m = next(3 * MiB + 3);
    await pub.send(m.p, { mode: "offload", header: m.header, checksum: true });
    m = next(8 * MiB + 1);
    await pub.send(m.p, { mode: "pipelined", header: m.header, checksum: true, chunkBytes: 256 * KiB });
    m = next(777);
    const loan = pub.loan(1000);
    loan.bytes.set(m.p);
    pub.publish(loan, { header: m.header, checksum: true, length: 777 });
    m = next(64, false);
    pub.sendSync(m.p, { header: m.header }); // none: passes verify: true, verify() answers false
    m = next(0);
    pub.sendSync(m.p, { header: m.header, checksum: true }); // an empty payload
    const r = await sub.result<{ got: Got[] }>(60_000);
    expect(r.got.length).toBe(sent.length);
    for (const [k, g] of r.got.entries()) {
      expect(g.receiveError).toBeUndefined();
      expect(g.verified).toBe(sent[k]!.sum);
      expect(g.header).toEqual(sent[k]!.header);
      expect(g.hash).toBe(sent[k]!.hash);
    }
    expect(await sub.exited).toBe(0);
  }, 60_000);

  for (const verify of [false, true] as const) {
    test(`a payload byte or a header byte changed after publish → FERRY_E_CORRUPT in the subscriber process (${verify ? "subscribe({ verify: true }): receive throws, the message is released, the next one flows" : "msg.verify()"})`, async () => {
      const name = uniqueName(`sumbad-${verify}`);
      using ch = Channel.create(name, { capacity: MiB });
      const sub = spawnPeer("checksum-sub.ts", { name, count: 3, verify }, 30_000);
      await sub.waitFor("ready");
      const pub = ch.publisher();
      // raw views are raw: a view kept after publish still reaches the published message
      const a = pub.loan(100);
      const arena = new Uint8Array(a.bytes.buffer);
      const payloadView = a.bytes;
      payloadView.fill(1);
      pub.publish(a, { header: { tag: "payload-victim" }, checksum: true });
      payloadView[50] = 2;
      const b = pub.loan(100);
      b.bytes.fill(3);
      pub.publish(b, { header: { tag: "header-victim" }, checksum: true });
      const at = Buffer.from(arena).indexOf("header-victim");
      expect(at).toBeGreaterThanOrEqual(0);
      arena[at] = "H".charCodeAt(0); // still valid JSON: only the checksum notices
      pub.sendSync(new Uint8Array(10).fill(4), { header: { tag: "fine" }, checksum: true });
      sub.send("go");
      const r = await sub.result<{ got: Got[] }>(30_000);
      if (verify) {
        expect(r.got[0]!.receiveError?.code).toBe("FERRY_E_CORRUPT");
        expect(r.got[1]!.receiveError?.code).toBe("FERRY_E_CORRUPT");
      } else {
        expect((r.got[0]!.verified as { code: string }).code).toBe("FERRY_E_CORRUPT");
        expect((r.got[1]!.verified as { code: string }).code).toBe("FERRY_E_CORRUPT");
        expect(r.got[1]!.header).toEqual({ tag: "Header-victim" });
      }
      expect(r.got[2]!.verified).toBe(true);
      expect(r.got[2]!.header).toEqual({ tag: "fine" });
      expect(await sub.exited).toBe(0);
    }, 30_000);
  }
});

test('subscribe({ verify: "required" }) refuses a message without a checksum (FERRY_E_CORRUPT, released); a pipelined one is verified once complete', async () => {
  using ch = Channel.create(uniqueName("sumreq"), { capacity: 32 * MiB });
  using engine = new Engine("sw", { threads: 1 });
  const pub = ch.publisher({ engine });
  const sub = ch.subscribe({ verify: "required" });
  pub.sendSync(new Uint8Array(8));
  expectFerryError(() => sub.tryReceive(), "FERRY_E_CORRUPT");
  // small messages (payload + header <= 64 B) travel inside the descriptor: no arena space at all
  pub.sendSync(new Uint8Array(8), { checksum: true });
  expect(ch.stats().arenaUsed).toBe(0);
  expect(sub.tryReceive()!.verify()).toBe(true);
  const big = makePayload(16 * MiB, 5);
  const sending = pub.send(big, { mode: "pipelined", checksum: true, chunkBytes: 64 * KiB });
  const msg = await sub.receive({ timeoutMs: 10_000 });
  expect(msg.pipelined).toBe(true);
  await msg.ready();
  await sending;
  expect(msg.verify()).toBe(true);
  expect(sha256(msg.bytes)).toBe(sha256(big));
});
