/**
 * subscriber.listen(): a handler per message straight from the wake-up, across
 * real processes: order and integrity, request / reply with idle gaps, the
 * end of the stream, a crashed publisher, a handler that throws or stops (no
 * message lost: the next receive gets it), and the misuse errors.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Channel, FerryError, type Message } from "@ferry/channel";
import { peerSpawner, registerCleanup, sleep, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

/** What seq-pub.ts hashes: (length u32 LE, payload) of every message, in order. */
function hashOf(msgs: Uint8Array[]): string {
  const h = new Bun.CryptoHasher("sha256");
  const len = new Uint8Array(4);
  for (const b of msgs) {
    new DataView(len.buffer).setUint32(0, b.length, true);
    h.update(len).update(b);
  }
  return h.digest("hex");
}

const counterOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, true);

test("listen() across processes: every message in order and intact (inline and arena sizes, with idle gaps), then the end of the stream", async () => {
  const name = uniqueName("listen");
  using ch = Channel.create(name, { capacity: 1 << 22, slots: 64 });
  const sub = ch.subscribe();
  const got: Uint8Array[] = [];
  const l = sub.listen((m) => {
    got.push(m.bytes.slice());
    m.release();
  });
  const pub = spawnPeer("seq-pub.ts", { name, pubId: 1, count: 400, minSize: 8, maxSize: 20_000, method: "mix", intervalMs: 0, waitGo: true });
  const idle = spawnPeer("seq-pub.ts", { name, pubId: 2, count: 30, size: 64, method: "loan", intervalMs: 3, waitGo: true });
  // both publishers open before either starts: the stream ends only when both have closed
  await Promise.all([pub.waitFor("ready"), idle.waitFor("ready")]);
  pub.send("go");
  idle.send("go");
  const [a, b] = await Promise.all([pub.result<{ hash: string; sent: number }>(), idle.result<{ hash: string; sent: number }>()]);
  await l.done; // both publishers closed: end of stream
  const from = (id: number) => got.filter((x) => new DataView(x.buffer).getUint32(0, true) === id);
  expect(from(1).length).toBe(a.sent);
  expect(from(2).length).toBe(b.sent);
  expect(from(1).map(counterOf)).toEqual([...Array(400).keys()]);
  expect(hashOf(from(1))).toBe(a.hash);
  expect(hashOf(from(2))).toBe(b.hash);
  sub.close();
}, 60_000);

test("listen() on both sides: request / reply with idle gaps; the service's listener ends at end of stream and its process exits", async () => {
  const req = uniqueName("lreq");
  const rep = uniqueName("lrep");
  using chReq = Channel.create(req, { capacity: 1 << 20 });
  using chRep = Channel.create(rep, { capacity: 1 << 20 });
  const replies = chRep.subscribe();
  const svc = spawnPeer("listen-echo.ts", { in: req, out: rep });
  await svc.waitFor("ready");
  const pub = chReq.publisher();
  await pub.waitForSubscribers(1, { timeoutMs: 5_000 });
  let onReply: (m: Message) => void = () => {};
  const l = replies.listen((m) => onReply(m));
  for (let i = 0; i < 40; i++) {
    if (i % 4 === 0) await sleep(3); // the service's event loop goes idle between some requests
    const size = i % 2 ? 64 : 50_000;
    const got = new Promise<Message>((r) => (onReply = r));
    const loan = pub.loan(size);
    loan.bytes.fill(0);
    loan.bytes[0] = i;
    pub.publish(loan);
    const m = await got;
    expect(m.bytes[0]).toBe(i);
    expect(new DataView(m.bytes.buffer, m.bytes.byteOffset, 8).getUint32(4, true)).toBe(size);
    m.release();
  }
  pub.close();
  const r = await svc.result<{ ended: string; count: number }>(10_000);
  expect(r).toMatchObject({ ended: "done", count: 40 });
  expect(await svc.exited).toBe(0);
  l.stop();
  await l.done;
  replies.close();
}, 30_000);

test("a publisher killed with -9: the listener ends with FERRY_E_PEERDEAD", async () => {
  const name = uniqueName("lkill");
  using ch = Channel.create(name, { capacity: 1 << 20 });
  const sub = ch.subscribe();
  let n = 0;
  const l = sub.listen((m) => {
    n++;
    m.release();
  });
  const pub = spawnPeer("seq-pub.ts", { name, pubId: 1, forever: true, size: 256, method: "loan", intervalMs: 5 });
  await pub.waitFor("ready");
  while (n < 5) await sleep(5);
  pub.kill(9);
  const t0 = performance.now();
  const err = await l.done.then(() => null, (e) => e);
  expect(err).toBeInstanceOf(FerryError);
  expect((err as FerryError).code).toBe("FERRY_E_PEERDEAD");
  expect(performance.now() - t0).toBeLessThan(2_000);
  sub.close();
}, 30_000);

test("a handler that throws or stops ends the listener; the messages after it go to the next receive(), none lost", async () => {
  const name = uniqueName("lstop");
  using ch = Channel.create(name, { capacity: 1 << 20 });
  const sub = ch.subscribe();
  const pub = ch.publisher();
  const send = (i: number) => {
    const loan = pub.loan(i % 2 ? 32 : 8192);
    loan.bytes[0] = i;
    pub.publish(loan);
  };
  for (let i = 0; i < 6; i++) send(i);
  // a throw at message 2: done rejects with it; 3.. stay receivable in order
  const boom = new Error("handler failed");
  const seen: number[] = [];
  const l1 = sub.listen((m) => {
    seen.push(m.bytes[0]!);
    m.release();
    if (seen.length === 3) throw boom;
  });
  expect(await l1.done.then(() => null, (e) => e)).toBe(boom);
  expect(seen).toEqual([0, 1, 2]);
  const m3 = sub.tryReceive()!;
  expect(m3.bytes[0]).toBe(3);
  m3.release();
  // stop() inside the handler at 4: 5 goes to the next receive()
  const l2 = sub.listen((m) => {
    seen.push(m.bytes[0]!);
    m.release();
    l2.stop();
  });
  await l2.done;
  expect(seen).toEqual([0, 1, 2, 4]);
  const m5 = await sub.receive({ timeoutMs: 1_000 });
  expect(m5.bytes[0]).toBe(5);
  m5.release();
  // a listener started later gets what was published meanwhile, and its promise rejection ends it
  for (let i = 6; i < 9; i++) send(i);
  const l3 = sub.listen(async (m) => {
    seen.push(m.bytes[0]!);
    m.release();
    if (seen.length === 7) throw new FerryError(-22, "async failure");
  });
  const e3 = await l3.done.then(() => null, (e) => e);
  expect((e3 as FerryError).message).toContain("async failure");
  expect(seen).toEqual([0, 1, 2, 4, 6, 7, 8]);
  expect(sub.tryReceive()).toBeNull();
  pub.close();
  sub.close();
});

test("misuse while listening: receive(), receiveSync(), tryReceive() and a second listen() throw FERRY_E_STATE; close() ends the listener", async () => {
  const name = uniqueName("lmisuse");
  using ch = Channel.create(name, { capacity: 1 << 20 });
  const sub = ch.subscribe();
  expect(() => sub.listen(42 as never)).toThrow(expect.objectContaining({ code: "FERRY_E_INVAL" }));
  const l = sub.listen((m) => m.release());
  expect(() => sub.tryReceive()).toThrow(expect.objectContaining({ code: "FERRY_E_STATE" }));
  expect(() => sub.receiveSync({ timeoutMs: 10 })).toThrow(expect.objectContaining({ code: "FERRY_E_STATE" }));
  expect(sub.receive()).rejects.toMatchObject({ code: "FERRY_E_STATE" });
  expect(() => sub.listen(() => {})).toThrow(expect.objectContaining({ code: "FERRY_E_STATE" }));
  sub.close();
  await l.done; // resolves: closing ends it
  expect(() => sub.listen(() => {})).toThrow(expect.objectContaining({ code: "FERRY_E_CLOSED" }));
});
