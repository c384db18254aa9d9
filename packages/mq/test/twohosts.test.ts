/**
 * Two hosts on this machine: host A is this network namespace, host B a new one, joined by a
 * veth pair; each host's processes run in a private mount namespace with a tmpfs of their own
 * on /dev/shm (so each has its own host identity and shared memory). One broker on A's veth
 * address. A producer on A, a consumer group on each host: A's gets references (local), B's the
 * payload through the broker, chosen automatically; integrity holds on both.
 * Needs root (ip netns, unshare -m, mount); skipped with the reason otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type Subprocess } from "bun";
import { brokerTools, startNats, startRedis, type Broker } from "../src/brokers";
import { Peer } from "./helpers";

const id = process.pid % 10000;
const NS = `ferrymq${id}`;
const VA = `fmq${id}a`, VB = `fmq${id}b`;
const NET = `10.${200 + (id % 50)}.${(id >> 4) % 250}`;
const A = `${NET}.1`, B = `${NET}.2`;

const sh = (cmd: string[]) => spawnSync(cmd, { stderr: "pipe", stdout: "pipe" });

function setup(): string | null {
  if (process.getuid?.() !== 0) return "not root: network and mount namespaces need root";
  for (const tool of ["ip", "unshare", "mount"]) if (sh(["which", tool]).exitCode !== 0) return `${tool} is missing`;
  const steps = [
    ["ip", "netns", "add", NS],
    ["ip", "link", "add", VA, "type", "veth", "peer", "name", VB],
    ["ip", "link", "set", VB, "netns", NS],
    ["ip", "addr", "add", `${A}/24`, "dev", VA],
    ["ip", "link", "set", VA, "up"],
    ["ip", "netns", "exec", NS, "ip", "addr", "add", `${B}/24`, "dev", VB],
    ["ip", "netns", "exec", NS, "ip", "link", "set", VB, "up"],
    ["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"],
  ];
  for (const s of steps) {
    const r = sh(s);
    if (r.exitCode !== 0) {
      teardown();
      return `${s.join(" ")} failed: ${r.stderr.toString().trim()}`;
    }
  }
  return null;
}

function teardown() {
  sh(["ip", "link", "del", VA]);
  sh(["ip", "netns", "del", NS]);
}

/**
 * A host: a holder process in a private mount namespace with its own tmpfs on /dev/shm (and, for
 * B, in B's network namespace); the host's processes enter both namespaces with nsenter.
 */
const holders: Subprocess[] = [];
async function makeHost(netns: string | null): Promise<string[]> {
  const hold = ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs -o size=2g tmpfs /dev/shm && echo up && exec sleep 100000"];
  const h = spawn(netns ? ["ip", "netns", "exec", netns, ...hold] : hold, { stdout: "pipe", stderr: "inherit" });
  holders.push(h);
  const r = h.stdout.getReader();
  const { value } = await r.read();
  r.releaseLock();
  if (!value || !new TextDecoder().decode(value).includes("up")) throw new Error("host holder did not start");
  // the holder is `sh` exec'd into sleep: its pid is the namespaces' anchor
  return ["nsenter", "-t", String(h.pid), "-m", "-n", "--"];
}
let hostA: string[] = [], hostB: string[] = [];

const tools = brokerTools();
const why = tools ?? setup();
if (why) console.error(`@ferry/mq two-host test skipped: ${why}`);

describe.skipIf(why !== null).each([
  ["nats", startNats],
  ["redis", startRedis],
] as const)("two hosts over %s", (_kind, start) => {
  let broker: Broker;
  beforeAll(async () => {
    if (!hostA.length) {
      hostA = await makeHost(null);
      hostB = await makeHost(NS);
    }
    broker = await start({ host: A });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  test("a producer on A, a group on A and one on B: references on A, the payload on B, integrity on both", async () => {
    const stream = `two${process.pid}${_kind}`;
    const N = 6, SIZE = 3 * 2 ** 20 + 17;
    const ca = new Peer("consumer.ts", [broker.url, stream, "ga", `n=${N}`], hostA);
    const cb = new Peer("consumer.ts", [broker.url, stream, "gb", `n=${N}`], hostB);
    try {
      await ca.waitFor(/^ready/);
      await cb.waitFor(/^ready/);
      await Bun.sleep(1500);
      const p = new Peer("producer.ts", [broker.url, stream, String(N), String(SIZE), "close"], hostA);
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
    const cb = new Peer("consumer.ts", [broker.url, stream, "gb", "n=2"], hostB);
    await cb.waitFor(/^ready/);
    await Bun.sleep(1500);
    const p = new Peer("producer.ts", [broker.url, stream, "2", "100000", "close"], hostA);
    const stats = JSON.parse((await p.waitFor(/^stats /, 60_000)).slice(6));
    expect(stats).toMatchObject({ sent: 2, byPayload: 2, both: 0, byReference: 0 });
    await cb.proc.exited;
    expect(cb.count(/^got \d+ false true$/)).toBe(2);

    const stream2 = `${stream}a`;
    const ca = new Peer("consumer.ts", [broker.url, stream2, "ga", "n=2"], hostA);
    await ca.waitFor(/^ready/);
    await Bun.sleep(1500);
    const p2 = new Peer("producer.ts", [broker.url, stream2, "2", "100000", "close"], hostA);
    const stats2 = JSON.parse((await p2.waitFor(/^stats /, 60_000)).slice(6));
    expect(stats2).toMatchObject({ sent: 2, byReference: 2, both: 0, byPayload: 0 });
    await ca.proc.exited;
    expect(ca.count(/^got \d+ true true$/)).toBe(2);
  }, 60_000);
});

afterAll(() => {
  for (const h of holders) h.kill("SIGKILL"); // their tmpfs goes with the namespace
  if (!why) teardown();
});
