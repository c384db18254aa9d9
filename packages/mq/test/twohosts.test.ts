/**
 * Two hosts on this machine: host A is this network namespace, host B a new one, joined by a
 * veth pair; each host's processes run in a private mount namespace with a tmpfs of their own
 * on /dev/shm (so each has its own host identity and shared memory). One broker on A's veth
 * address. A producer on A, a consumer group on each host: A's gets references (local), B's the
 * payload through the broker, chosen automatically; integrity holds on both.
 * Needs root (ip netns, unshare -m, mount, nsenter: @ferry/testkit/hosts); skipped with the reason otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TwoHosts } from "@ferry/testkit/hosts";
import { brokerTools, startNats, startRedis, type Broker } from "../src/brokers";
import { Peer } from "./helpers";

const tools = brokerTools();
const hosts = tools ? tools : TwoHosts.setup("mq");
const why = typeof hosts === "string" ? hosts : null;
if (why) console.error(`@ferry/mq two-host test skipped: ${why}`);
const h = hosts as TwoHosts;

describe.skipIf(why !== null).each([
  ["nats", startNats],
  ["redis", startRedis],
] as const)("two hosts over %s", (_kind, start) => {
  let broker: Broker;
  beforeAll(async () => {
    await h.start();
    broker = await start({ host: h.a });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  test("a producer on A, a group on A and one on B: references on A, the payload on B, integrity on both", async () => {
    const stream = `two${process.pid}${_kind}`;
    const N = 6, SIZE = 3 * 2 ** 20 + 17;
    const ca = new Peer("consumer.ts", [broker.url, stream, "ga", `n=${N}`], h.hostA);
    const cb = new Peer("consumer.ts", [broker.url, stream, "gb", `n=${N}`], h.hostB);
    try {
      await ca.waitFor(/^ready/);
      await cb.waitFor(/^ready/);
      await Bun.sleep(1500);
      const p = new Peer("producer.ts", [broker.url, stream, String(N), String(SIZE), "close"], h.hostA);
      await p.waitFor(/^done/, 60_000);
      const stats = JSON.parse((await p.waitFor(/^stats /)).slice(6));
      expect(stats).toMatchObject({ sent: N, both: N }); // consumers on this host and elsewhere
      await ca.proc.exited;
      await cb.proc.exited;
      expect(ca.count(/^got \d+ true true$/)).toBe(N); // by reference, intact
      expect(cb.count(/^got \d+ false true$/)).toBe(N); // by payload, intact
      expect(await p.proc.exited).toBe(0);
    } finally {
      ca.kill();
      cb.kill();
    }
  }, 120_000);

  test("only a consumer on B: the payload alone; a consumer on A only: the reference alone", async () => {
    const stream = `one${process.pid}${_kind}`;
    const cb = new Peer("consumer.ts", [broker.url, stream, "gb", "n=2"], h.hostB);
    await cb.waitFor(/^ready/);
    await Bun.sleep(1500);
    const p = new Peer("producer.ts", [broker.url, stream, "2", "100000", "close"], h.hostA);
    const stats = JSON.parse((await p.waitFor(/^stats /, 60_000)).slice(6));
    expect(stats).toMatchObject({ sent: 2, byPayload: 2, both: 0, byReference: 0 });
    await cb.proc.exited;
    expect(cb.count(/^got \d+ false true$/)).toBe(2);

    const stream2 = `${stream}a`;
    const ca = new Peer("consumer.ts", [broker.url, stream2, "ga", "n=2"], h.hostA);
    await ca.waitFor(/^ready/);
    await Bun.sleep(1500);
    const p2 = new Peer("producer.ts", [broker.url, stream2, "2", "100000", "close"], h.hostA);
    const stats2 = JSON.parse((await p2.waitFor(/^stats /, 60_000)).slice(6));
    expect(stats2).toMatchObject({ sent: 2, byReference: 2, both: 0, byPayload: 0 });
    await ca.proc.exited;
    expect(ca.count(/^got \d+ true true$/)).toBe(2);
  }, 60_000);
});

afterAll(() => {
  if (!why) h.close(); // holders by pid (their tmpfs goes with the namespace), the veth pair, the namespace
});
