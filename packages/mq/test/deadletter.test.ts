/**
 * References that do not resolve, forged onto the wire: each is dead-lettered with its own
 * code, counted and reported, and the stream goes on (both brokers).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Bus, type MqError } from "../src/index";
import { LocalStore, digestOf, formatRef, hostId } from "../src/local";
import { brokerTools, startNats, startRedis, type Broker } from "../src/brokers";
import { pattern } from "./helpers";

const missing = brokerTools();

describe.skipIf(missing !== null).each([
  ["nats", startNats],
  ["redis", startRedis],
] as const)("dead letters over %s", (_kind, start) => {
  let broker: Broker;
  let bus: Bus;
  beforeAll(async () => {
    broker = await start();
    bus = await connect(broker.url);
  });
  afterAll(async () => {
    await bus?.close();
    await broker?.stop();
  });

  test("digest, generation, offset/length, channel, host, malformed: each its own code; the good one gets through", async () => {
    const stream = `dl${process.pid}${_kind}`;
    const errors: MqError[] = [];
    const c = bus.consumer(stream, { group: "g", onError: (e) => errors.push(e) });
    await c.ready();
    const store = new LocalStore({ capacity: 2 ** 20, ttlMs: 60_000 });
    const t = bus.transport;
    const deadline = performance.now() + 10_000;
    const data = pattern(5000, 1);
    const base = (id: string, ref: string, dg = digestOf(data)) => ({ v: "1", id, len: "5000", dg, from: hostId, ref, hdr: JSON.stringify({ id }) });
    const r1 = store.put(data, 1)!;
    await t.publish(stream, base("digest", formatRef(r1), "0123456789abcdef"), deadline);
    const r2 = store.put(data, 1)!;
    await t.publish(stream, base("generation", formatRef({ ...r2, generation: "00000000000000aa" })), deadline);
    await t.publish(stream, base("mismatch", formatRef({ ...r2, length: 4999 })), deadline);
    await t.publish(stream, base("channel", formatRef({ ...r2, channel: "nosuchchannel" })), deadline);
    await t.publish(stream, base("host", formatRef({ ...r2, host: "f".repeat(32) })), deadline);
    await t.publish(stream, { v: "1", id: "malformed", len: "x" }, deadline);
    await t.publish(stream, base("good", formatRef(r2)), deadline);
    const it = c[Symbol.asyncIterator]();
    const r = await Promise.race([it.next(), Bun.sleep(20_000).then(() => null)]);
    expect(r && !r.done).toBe(true);
    const m = r!.value!;
    expect(m.header).toEqual({ id: "good" });
    expect(m.local).toBe(true);
    expect(Bun.hash.xxHash3(m.bytes)).toBe(Bun.hash.xxHash3(data));
    await m.ack();
    await it.return?.();
    expect(errors.map((e) => [e.messageId, e.code])).toEqual([
      ["digest", "DIGEST"],
      ["generation", "GENERATION"],
      ["mismatch", "MISMATCH"],
      ["channel", "CHANNEL_GONE"],
      ["host", "FOREIGN_HOST"],
      ["malformed", "MALFORMED"],
    ]);
    expect(c.stats()).toMatchObject({ deadLettered: 6, received: 1 });
    expect(store.pinned()).toBe(1); // r1: its message was never acked (only dead-lettered), the TTL takes it
    await c.close();
    store.close();
  }, 40_000);
});
