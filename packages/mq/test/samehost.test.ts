/**
 * @ferry/mq on one host, against real brokers (nats-server -js, redis-server) started here.
 * Each case runs on both brokers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { gc } from "@ferry/native";
import { connect, type Bus, type Consumer, type Message, type MqError } from "../src/index";
import { brokerTools, startNats, startRedis, type Broker } from "../src/brokers";
import { Peer, pattern } from "./helpers";

const missing = brokerTools();
if (missing) console.error(`@ferry/mq tests: ${missing}`);

let n = 0;
const uniq = (what: string) => `${what}${process.pid}x${++n}`;
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Bun.hash.xxHash3(a) === Bun.hash.xxHash3(b);

/** The next k messages (each checked by `check` before the next is taken), with a bound. */
async function take(c: Consumer, k: number, ms = 60_000, check?: (m: Message) => void | Promise<void>): Promise<Message[]> {
  const out: Message[] = [];
  if (k === 0) return out;
  const it = c[Symbol.asyncIterator]();
  const end = performance.now() + ms;
  while (out.length < k) {
    const left = end - performance.now();
    if (left <= 0) throw new Error(`got ${out.length} of ${k} messages within ${ms} ms`);
    const r = await Promise.race([it.next(), Bun.sleep(left).then(() => null)]);
    if (!r) throw new Error(`got ${out.length} of ${k} messages within ${ms} ms`);
    if (r.done) break;
    await check?.(r.value);
    out.push(r.value);
  }
  await it.return?.();
  return out;
}

const kinds = [
  ["nats", startNats],
  ["redis", startRedis],
] as const;

describe.skipIf(missing !== null).each(kinds)("same host over %s", (kind, start) => {
  let broker: Broker;
  let bus: Bus;
  beforeAll(async () => {
    broker = await start();
    bus = await connect(broker.url);
  });
  afterAll(async () => {
    await bus?.close();
    await broker?.stop();
    gc(); // segments of producers the tests killed
  });

  test("1 B .. 256 MiB by reference: integrity, the broker carries only references, pins released after ack", async () => {
    const stream = uniq("sizes");
    const c = bus.consumer(stream, { group: "g" });
    await c.ready();
    await Bun.sleep(1200); // producers see the consumer (presence, cached 1 s)
    const p = bus.producer(stream, { capacity: 300 * 2 ** 20 });
    const sizes = [1, 1000, 65537, 2 ** 20 + 3, 16 * 2 ** 20, 64 * 2 ** 20, 256 * 2 ** 20];
    const before = await broker.bytes();
    let total = 0;
    for (const [i, size] of sizes.entries()) {
      const data = pattern(size, i);
      total += size;
      await p.send(data, { header: { i, size } });
      const [m] = await take(c, 1);
      expect(m!.local).toBe(true);
      expect(m!.header).toEqual({ i, size });
      expect(same(m!.bytes, data)).toBe(true);
      await m!.ack();
    }
    const after = await broker.bytes();
    const carried = after.in - before.in;
    // ~300-500 B per message of fields and protocol, against 337 MiB of payload
    expect(carried).toBeLessThan(sizes.length * 4096);
    expect(total).toBeGreaterThan(300 * 2 ** 20);
    expect(p.stats()).toMatchObject({ sent: sizes.length, byReference: sizes.length, pinned: 0 });
    expect(c.stats()).toMatchObject({ received: sizes.length, local: sizes.length, deadLettered: 0 });
    await p.close();
    await c.close();
  }, 120_000);

  test("the payload through the broker (path: payload): chunked, digest checked, integrity", async () => {
    const stream = uniq("payload");
    const p = bus.producer(stream, { path: "payload" }); // producer first: created on demand
    const sizes = [0, 1, 3 * 2 ** 20 + 5, 9 * 2 ** 20];
    for (const [i, size] of sizes.entries()) await p.send(pattern(size, i), { header: { i } });
    const c = bus.consumer(stream, { group: "g" });
    const got = await take(c, sizes.length, 60_000, async (m) => {
      const i = (m.header as { i: number }).i;
      expect(m.local).toBe(false);
      expect(same(m.bytes, pattern(sizes[i]!, i))).toBe(true);
      await m.ack();
    });
    expect(got.length).toBe(sizes.length);
    await p.close();
    await c.close();
  }, 60_000);

  test("TTL: a reference whose pin expired is dead-lettered loudly and counted, never dropped silently", async () => {
    const stream = uniq("ttl");
    const errors: MqError[] = [];
    const c = bus.consumer(stream, { group: "g", onError: (e) => errors.push(e) });
    await c.ready();
    await Bun.sleep(1200);
    const p = bus.producer(stream, { ttlMs: 200, capacity: 2 ** 20 });
    await p.send(pattern(1000, 1), { header: { i: 1 } });
    await Bun.sleep(600); // expired, and the producer's sweep reclaimed it
    expect(p.stats().pinned).toBe(0);
    await p.send(pattern(1000, 2), { header: { i: 2 } });
    const [m] = await take(c, 1); // the second; the first went to the dead letters
    expect((m!.header as { i: number }).i).toBe(2);
    await m!.ack();
    expect(errors.map((e) => e.code)).toEqual(["UNPINNED"]);
    expect(c.stats()).toMatchObject({ deadLettered: 1, errors: { UNPINNED: 1 } });
    await p.close();
    await c.close();
  }, 30_000);

  test("consumer killed (-9) before its ack: redelivered to another member, the pin released after its ack", async () => {
    const stream = uniq("ckill");
    const victim = new Peer("consumer.ts", [broker.url, stream, "g", "die", "1000"]);
    await victim.waitFor(/^ready/);
    await Bun.sleep(1200);
    const p = bus.producer(stream, { capacity: 32 * 2 ** 20 });
    const data = pattern(5 * 2 ** 20, 7);
    await p.send(data, { header: { i: 7 } });
    await victim.waitFor(/^got 7 true true/);
    await victim.proc.exited;
    expect(p.stats().pinned).toBe(1);
    const c = bus.consumer(stream, { group: "g", ackWaitMs: 1000 });
    const [m] = await take(c, 1, 20_000);
    expect(m!.local).toBe(true);
    expect(same(m!.bytes, data)).toBe(true);
    expect(m!.redelivered).toBeGreaterThanOrEqual(1);
    await m!.ack();
    expect(p.stats().pinned).toBe(0);
    await p.close();
    await c.close();
  }, 40_000);

  test("producer killed (-9): consumers get a clear error for each of its references (dead-lettered, counted)", async () => {
    const stream = uniq("pkill");
    const errors: MqError[] = [];
    const c = bus.consumer(stream, { group: "g", onError: (e) => errors.push(e) });
    await c.ready();
    const prod = new Peer("producer.ts", [broker.url, stream, "3", "100000", "die", "reference"]);
    await prod.waitFor(/^done/);
    await prod.proc.exited;
    const canary = bus.producer(stream, { capacity: 2 ** 20, path: "reference" });
    await canary.send(pattern(10, 99), { header: { i: 99 } });
    const [m] = await take(c, 1, 20_000);
    expect((m!.header as { i: number }).i).toBe(99);
    await m!.ack();
    expect(errors.map((e) => e.code)).toEqual(["PUBLISHER_GONE", "PUBLISHER_GONE", "PUBLISHER_GONE"]);
    expect(errors[0]!.message).toMatch(/producer of this message died/);
    expect(c.stats().deadLettered).toBe(3);
    // the consumer lets go of the dead producer's channel (its next announce), which makes it collectable
    const left = () => readdirSync("/dev/shm").filter((f) => f.startsWith(`ferry.mq${prod.proc.pid}x`));
    expect(left().length).toBe(1);
    await Bun.sleep(3500);
    gc();
    expect(left()).toEqual([]);
    await canary.close();
    await c.close();
  }, 40_000);

  test("broker restart mid-stream: nothing acked is lost, every message arrives with integrity", async () => {
    const stream = uniq("restart");
    const c = bus.consumer(stream, { group: "g", ackWaitMs: 2000 });
    await c.ready();
    await Bun.sleep(1200);
    const p = bus.producer(stream, { capacity: 64 * 2 ** 20 });
    const N = 20;
    const seen = new Set<number>();
    const sending = (async () => {
      for (let i = 0; i < N; i++) {
        await p.send(pattern(200_000 + i, i), { header: { i } });
        if (i === N / 2) await broker.restart();
      }
    })();
    const it = c[Symbol.asyncIterator]();
    const end = performance.now() + 60_000;
    while (seen.size < N && performance.now() < end) {
      const r = await Promise.race([it.next(), Bun.sleep(2000).then(() => null)]);
      if (!r || r.done) continue;
      const m = r.value;
      const i = (m.header as { i: number }).i;
      expect(same(m.bytes, pattern(200_000 + i, i))).toBe(true);
      await m.ack().catch(() => m.nak().catch(() => {})); // an ack lost in the restart: it comes again
      seen.add(i);
    }
    await sending;
    expect(seen.size).toBe(N);
    await it.return?.();
    await p.close();
    await c.close();
  }, 90_000);
});
