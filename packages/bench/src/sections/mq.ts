/**
 * 8. Message queues (@ferry/mq): 1 / 16 / 128 MiB messages through a real
 * nats-server (JetStream, file storage) and redis-server (AOF) started here
 * on loopback. Per size: the same-host reference (claim check: the broker
 * carries ~400 B, the payload stays pinned in shared memory), the payload
 * through each broker in chunks (what a consumer on another host gets), and
 * the same bytes through @nats-io/obj (put, then get). The reference is
 * measured twice: built in place (producer.loan, zero-copy) and sent from
 * private bytes (one copy into shared memory per message).
 *
 * Method: producer and consumer in this one Bun process (one event loop, both
 * ends' CPU on it; a consumer verifies every payload's xxh3 digest on both
 * paths). p50: one message in flight, send → receive → ack. msgs/s: n
 * messages, up to 4 sends and 4 acks in flight while the consumer receives
 * (obj: put i+1 overlaps get i). Every cell checks the bytes it got.
 */
import { connect as natsConnect } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { connect, type Bus, type Consumer, type Message } from "@ferry/mq";
import { brokerTools, startNats, startRedis, type Broker } from "@ferry/mq/brokers";
import { MiB, fmtSize, table } from "../lib/format";
import { target } from "../lib/target";
import type { MqCell, MqImpl, MqResult } from "../schema";
import { section } from "../section";

const IMPLS: MqImpl[] = ["ref-nats", "ref-redis", "ref-nats-copy", "ref-nats-trust", "payload-nats", "payload-redis", "obj-nats"];
const LABEL: Record<MqImpl, string> = {
  "ref-nats": "same host: reference via NATS (loan)",
  "ref-redis": "same host: reference via Redis (loan)",
  "ref-nats-copy": "same host: reference via NATS (copy)",
  "ref-nats-trust": "same host: reference via NATS (loan, no digest check)",
  "payload-nats": "payload via JetStream (chunks)",
  "payload-redis": "payload via Redis (chunk keys)",
  "obj-nats": "@nats-io/obj put + get",
};
const WINDOW = 4;
const METHOD =
  "producer and consumer in one Bun process; p50: one message in flight (send → receive → ack); msgs/s: n messages, up to 4 sends and 4 acks in flight (obj: put i+1 overlaps get i); xxh3 digests checked on every payload; Redis with appendfsync everysec (its default)";

function fill(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  const block = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)));
  for (let o = 0; o < size; o += block.length) b.set(block.subarray(0, Math.min(block.length, size - o)), o);
  if (size >= 4) new DataView(b.buffer).setUint32(0, seed);
  return b;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

async function next(it: AsyncIterator<Message>, ms: number): Promise<Message> {
  const r = await Promise.race([it.next(), Bun.sleep(ms).then(() => null)]);
  if (!r || r.done) throw new Error(`no message within ${ms} ms`);
  return r.value;
}

interface Rig {
  bus: Bus;
  c: Consumer;
  it: AsyncIterator<Message>;
}

/**
 * loan: the producer builds each payload in place (producer.loan(size), an 8-byte stamp written,
 * the rest is whatever the block holds): the zero-copy case; the bytes are checked by the
 * digest the library verifies (a mismatch is dead-lettered and counted as bad here).
 */
async function mqCell(rig: Rig, stream: string, path: "reference" | "payload", loan: boolean, impl: MqImpl, size: number, n: number, lat: number): Promise<MqCell> {
  const p = rig.bus.producer(stream, { path, capacity: Math.max(64 * MiB, 8 * size + MiB), ttlMs: 120_000 });
  const data = fill(size, 1);
  const dg = Bun.hash.xxHash3(data);
  const dead0 = rig.c.stats().deadLettered;
  let bad = 0, stamp = 0;
  const check = (m: Message) => {
    if (m.bytes.length !== size || m.local !== (path === "reference") || (!loan && Bun.hash.xxHash3(m.bytes) !== dg)) bad++;
  };
  const send = async () => {
    if (!loan) return p.send(data);
    const l = await p.loan(size);
    if (size >= 8) new DataView(l.bytes.buffer, l.bytes.byteOffset, 8).setFloat64(0, ++stamp);
    return p.send(l);
  };
  const lats: number[] = [];
  try {
    for (let i = 0; i < lat; i++) {
      const t0 = performance.now();
      await send();
      const m = await next(rig.it, 120_000);
      check(m);
      await m.ack();
      lats.push(performance.now() - t0);
    }
    // up to WINDOW sends and WINDOW acks in flight (the same for every path)
    const t0 = performance.now();
    const consume = (async () => {
      const acks = new Set<Promise<void>>();
      for (let i = 0; i < n; i++) {
        const m = await next(rig.it, 300_000);
        check(m);
        const a: Promise<void> = m.ack().finally(() => acks.delete(a));
        acks.add(a);
        if (acks.size >= WINDOW) await Promise.race(acks);
      }
      await Promise.all(acks);
    })();
    const sends = new Set<Promise<void>>();
    for (let i = 0; i < n; i++) {
      const s: Promise<void> = send().finally(() => sends.delete(s));
      sends.add(s);
      if (sends.size >= WINDOW) await Promise.race(sends);
    }
    await Promise.all(sends);
    await consume;
    const wall = (performance.now() - t0) / 1000;
    bad += rig.c.stats().deadLettered - dead0;
    if (p.stats().loanFallbacks) throw new Error(`${p.stats().loanFallbacks} loans fell back to private memory (channel too small)`);
    return { impl, size, n, msgs_s: n / wall, mb_s: (n * size) / wall / 1e6, p50_ms: median(lats), bad };
  } finally {
    await p.close();
  }
}

async function objCell(url: string, size: number, n: number, lat: number): Promise<MqCell> {
  const nc = await natsConnect({ servers: url.replace("nats://", "") });
  try {
    const os = await new Objm(nc).create(`bench${process.pid}x${size}`);
    const data = fill(size, 2);
    const dg = Bun.hash.xxHash3(data);
    let bad = 0;
    const get = async (name: string) => {
      const got = await os.getBlob(name);
      if (!got || got.length !== size || Bun.hash.xxHash3(got) !== dg) bad++;
      await os.delete(name);
    };
    const lats: number[] = [];
    for (let i = 0; i < lat; i++) {
      const t0 = performance.now();
      await os.putBlob({ name: `l${i}` }, data);
      await get(`l${i}`);
      lats.push(performance.now() - t0);
    }
    const t0 = performance.now();
    let gets = Promise.resolve();
    for (let i = 0; i < n; i++) {
      await os.putBlob({ name: `t${i}` }, data);
      const name = `t${i}`;
      gets = gets.then(() => get(name));
    }
    await gets;
    const wall = (performance.now() - t0) / 1000;
    await os.destroy().catch(() => {});
    return { impl: "obj-nats", size, n, msgs_s: n / wall, mb_s: (n * size) / wall / 1e6, p50_ms: median(lats), bad };
  } finally {
    await nc.close();
  }
}

const find = (r: MqResult | undefined, impl: MqImpl, size: number) => r?.cells.find((c) => c.impl === impl && c.size === size);
const ratio = (r: MqResult | undefined, a: MqImpl, b: MqImpl, size: number) => {
  const x = find(r, a, size), y = find(r, b, size);
  return x && y ? x.msgs_s / y.msgs_s : undefined;
};

export const mq = section({
  name: "mq",
  title: "9. Message queues (@ferry/mq): same-host reference vs the payload through NATS JetStream / Redis Streams vs @nats-io/obj",
  alwaysTargets: true,
  empty: (): MqResult => ({ method: METHOD, brokers: "", cells: [], errors: [] }),
  config: (o) => {
    const sizes = o.quick ? [MiB, 16 * MiB] : [MiB, 16 * MiB, 128 * MiB];
    // messages per cell: the reference path is fast, the broker paths move every byte
    const n = (impl: MqImpl, size: number) =>
      impl.startsWith("ref") ? (size <= MiB ? 200 : size <= 16 * MiB ? 60 : 12) : size <= MiB ? (o.quick ? 16 : 48) : size <= 16 * MiB ? (o.quick ? 4 : 8) : 3;
    return { sizes, n, lat: o.quick ? 3 : 5 };
  },
  async run(cfg, log) {
    const r: MqResult = { method: METHOD, brokers: "", cells: [], errors: [] };
    const missing = brokerTools();
    if (missing) {
      r.errors.push(`brokers unavailable: ${missing}`);
      return r;
    }
    let nats: Broker | null = null, redis: Broker | null = null;
    const rigs: Rig[] = [];
    try {
      nats = await startNats();
      redis = await startRedis({ fsync: "everysec" });
      const v = Bun.spawnSync(["nats-server", "--version"]).stdout.toString().trim();
      const rv = Bun.spawnSync(["redis-server", "--version"]).stdout.toString().trim().split(" ").slice(0, 3).join(" ");
      r.brokers = `${v}; ${rv}; loopback, JetStream file storage / Redis AOF fsync everysec`;
      log(`brokers: ${r.brokers}`);
      log(`method: ${METHOD}`);
      const rig = async (b: Broker, stream: string, verifyReferences = true): Promise<Rig> => {
        const bus = await connect(b.url);
        const c = bus.consumer(stream, { group: "bench", prefetch: 4, verifyReferences });
        await c.ready();
        const x = { bus, c, it: c[Symbol.asyncIterator]() };
        rigs.push(x);
        return x;
      };
      const sn = `bench${process.pid}n`, sr = `bench${process.pid}r`;
      const rn = await rig(nats, sn), rr = await rig(redis, sr), rt = await rig(nats, `${sn}t`, false);
      for (const size of cfg.sizes) {
        for (const impl of IMPLS) {
          const n = cfg.n(impl, size);
          try {
            Bun.gc(true);
            const cell =
              impl === "obj-nats" ? await objCell(nats.url, size, n, cfg.lat)
              : await mqCell(impl === "ref-nats-trust" ? rt : impl.includes("nats") ? rn : rr, impl === "ref-nats-trust" ? `${sn}t` : impl.includes("nats") ? sn : sr,
                  impl.startsWith("ref") ? "reference" : "payload", impl === "ref-nats" || impl === "ref-redis" || impl === "ref-nats-trust", impl, size, n, cfg.lat);
            r.cells.push(cell);
            log(`  ${fmtSize(size).padStart(7)} ${impl.padEnd(14)} ${cell.msgs_s.toFixed(1).padStart(8)} msg/s ${cell.mb_s.toFixed(0).padStart(6)} MB/s  p50 ${cell.p50_ms.toFixed(2)} ms${cell.bad ? `  BAD ${cell.bad}` : ""}`);
          } catch (e) {
            r.errors.push(`${impl} ${fmtSize(size)}: ${e instanceof Error ? e.message : String(e)}`);
            log(`  ${impl} ${fmtSize(size)} FAILED: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
      }
    } finally {
      for (const x of rigs) await x.bus.close().catch(() => {});
      await nats?.stop();
      await redis?.stop();
    }
    return r;
  },
  table(r) {
    const sizes = [...new Set(r.cells.map((c) => c.size))];
    const rows = sizes.flatMap((size) =>
      IMPLS.map((impl) => find(r, impl, size))
        .filter((c): c is MqCell => !!c)
        .map((c) => [fmtSize(c.size), LABEL[c.impl], c.msgs_s.toFixed(1), c.mb_s.toFixed(0), c.p50_ms.toFixed(2), String(c.n), c.bad ? `BAD ${c.bad}` : "ok"]),
    );
    return [
      table(["size", "path", "msgs/s", "MB/s", "p50 ms", "n", "bytes"], rows),
      `brokers: ${r.brokers}`,
      `method: ${r.method}`,
      ...r.errors.map((e) => `FAILED: ${e}`),
    ].join("\n");
  },
  targets(r) {
    const x = (v: number) => `${v.toFixed(1)}x`;
    const note = (a: MqImpl, b: MqImpl) =>
      [MiB, 128 * MiB].map((s) => ratio(r, a, b, s)).some((v) => v !== undefined)
        ? `1 MiB: ${ratio(r, a, b, MiB)?.toFixed(1) ?? "n/a"}x, 128 MiB: ${ratio(r, a, b, 128 * MiB)?.toFixed(1) ?? "n/a"}x`
        : undefined;
    return [
      target(">=", { id: "mq-ref-vs-nats-16", name: "MQ 16 MiB, one host: reference (loan) msgs/s vs the payload through JetStream", limit: 100, fmt: x, note: `${note("ref-nats", "payload-nats") ?? ""}; copy send: ${ratio(r, "ref-nats-copy", "payload-nats", 16 * MiB)?.toFixed(1) ?? "n/a"}x; no digest check: ${ratio(r, "ref-nats-trust", "payload-nats", 16 * MiB)?.toFixed(1) ?? "n/a"}x` }, ratio(r, "ref-nats", "payload-nats", 16 * MiB)),
      target(">=", { id: "mq-ref-vs-redis-16", name: "MQ 16 MiB, one host: reference (loan) msgs/s vs the payload through Redis", limit: 100, fmt: x, note: note("ref-redis", "payload-redis") }, ratio(r, "ref-redis", "payload-redis", 16 * MiB)),
      target(">=", { id: "mq-payload-vs-obj-16", name: "MQ 16 MiB, across hosts: payload via JetStream chunks msgs/s vs @nats-io/obj", limit: 2, fmt: x, note: note("payload-nats", "obj-nats") }, ratio(r, "payload-nats", "obj-nats", 16 * MiB)),
    ];
  },
});
