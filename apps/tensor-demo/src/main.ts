/**
 * Tensor demo: a producer process hands a 256 MiB fp32 tensor to a consumer
 * process through a ferry channel, four ways, and prints what each costs:
 *   1. zero-copy: the producer builds the tensor in a loan (in shared memory);
 *   2. inline:    the producer copies a private tensor into the channel;
 *   3. pipelined: a copy thread (sw engine) copies it in chunks while the
 *                 consumer already processes the chunks that have landed;
 *   4. Bun IPC:   the same bytes through Bun.spawn({ ipc }) (64 MiB, for scale).
 * The consumer hashes every byte (its "work") and acks on a second channel.
 */
import { Channel, type Message } from "@ferry/channel";
import { swEngine } from "@ferry/sw-engine";

const MiB = 2 ** 20;
const SIZE = Number(process.env.DEMO_MIB ?? 256) * MiB;
const IPC_SIZE = 64 * MiB;
const id = `demo-${process.pid}`;

const fmt = (ns: number) => (ns < 1e6 ? `${(ns / 1e3).toFixed(1)} µs` : `${(ns / 1e6).toFixed(1)} ms`);
const gbps = (bytes: number, ns: number) => `${(bytes / ns).toFixed(2)} GB/s`;

/** Fill like a real producer would: a simple per-element pattern. */
function fill(bytes: Uint8Array, seed: number) {
  const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  for (let i = 0; i < f.length; i++) f[i] = (i % 1000) * 0.5 + seed;
}

/** The consumer's work: hash the tensor block by block (blocks let it start before the end lands). */
const BLOCK = 16 * MiB;
function checksum(bytes: Uint8Array): string {
  let acc = "";
  for (let at = 0; at < bytes.length; at += BLOCK) acc += Bun.hash(bytes.subarray(at, at + BLOCK)).toString(16);
  return Bun.hash(acc).toString(16);
}
/** The same work on a message whose payload may still be landing (pipelined). */
async function checksumAsItLands(msg: Message): Promise<string> {
  let acc = "";
  let whole: Uint8Array | null = null;
  let done = 0;
  for await (const piece of msg.chunks({ minBytes: BLOCK })) {
    whole ??= new Uint8Array(piece.buffer, piece.byteOffset, msg.length); // pieces are consecutive views
    const landed = piece.byteOffset - whole.byteOffset + piece.length;
    while (done < landed && (landed - done >= BLOCK || landed === msg.length)) {
      const end = Math.min(done + BLOCK, msg.length);
      acc += Bun.hash(whole.subarray(done, end)).toString(16);
      done = end;
    }
  }
  return Bun.hash(acc).toString(16);
}

if (process.argv[2] === "consumer") {
  const data = Channel.open(`${id.replace(/-\d+$/, "")}-${process.argv[3]}-data`);
  const acks = Channel.open(`${id.replace(/-\d+$/, "")}-${process.argv[3]}-ack`);
  const sub = data.subscribe({ wait: "hybrid" });
  const ack = acks.publisher();
  ack.sendSync(new Uint8Array(0), { header: { ready: true } });
  for await (const msg of sub) {
    ack.sendSync(new Uint8Array(0), { header: { seq: msg.seq } }); // handed over
    const sum = msg.pipelined ? await checksumAsItLands(msg) : checksum(msg.bytes); // then read every byte
    ack.sendSync(new Uint8Array(0), { header: { seq: msg.seq, sum } });
    msg.release();
  }
  sub.close();
  ack.close();
  data.close();
  acks.close();
  process.exit(0);
}

// ---- producer (main) ----
const data = Channel.create(`${id}-data`, { capacity: SIZE + 16 * MiB, slots: 64 });
const acks = Channel.create(`${id}-ack`, { capacity: MiB, slots: 64 });
const pub = data.publisher({ backpressure: "block" });
const ackSub = acks.subscribe({ wait: "hybrid" });
const consumer = Bun.spawn(["bun", import.meta.path, "consumer", String(process.pid)], {
  stdio: ["ignore", "inherit", "inherit"],
});
const cleanup = () => {
  consumer.kill();
  data.close();
  acks.close();
};
process.on("SIGINT", () => (cleanup(), process.exit(130)));

try {
  (await ackSub.receive({ timeoutMs: 10_000 })).release(); // consumer attached
  console.log(`ferry tensor demo: ${SIZE / MiB} MiB fp32 tensor, producer pid ${process.pid} -> consumer pid ${consumer.pid}\n`);

  // warm up the whole path (JIT, FFI trampolines, page tables) with small messages
  for (let i = 0; i < 20; i++) {
    const w = pub.loan(4096);
    pub.publish(w, { header: { warmup: i } });
    (await ackSub.receive({ timeoutMs: 10_000 })).release();
    (await ackSub.receive({ timeoutMs: 10_000 })).release();
  }

  // 1. zero-copy: build the tensor in place, publish, wait for the verified ack
  const loan = pub.loan(SIZE);
  let t = Bun.nanoseconds();
  fill(loan.bytes, 1);
  const buildNs = Bun.nanoseconds() - t;
  const expect1 = checksum(loan.bytes);
  t = Bun.nanoseconds();
  pub.publish(loan, { header: { dtype: "float32", shape: [SIZE / 4] } });
  const publishNs = Bun.nanoseconds() - t;
  let a = await ackSub.receive({ timeoutMs: 30_000 });
  const rtt1 = Bun.nanoseconds() - t;
  a.release();
  a = await ackSub.receive({ timeoutMs: 30_000 });
  const verify1 = Bun.nanoseconds() - t;
  const ok1 = (a.header as { sum: string }).sum === expect1;
  a.release();

  // 2. inline copy of a private tensor
  const priv = new Uint8Array(SIZE);
  fill(priv, 2);
  const expect2 = checksum(priv);
  t = Bun.nanoseconds();
  pub.sendSync(priv, { mode: "inline", header: { dtype: "float32", shape: [SIZE / 4] } });
  const copyNs = Bun.nanoseconds() - t;
  a = await ackSub.receive({ timeoutMs: 30_000 });
  const rtt2 = Bun.nanoseconds() - t;
  a.release();
  a = await ackSub.receive({ timeoutMs: 30_000 });
  const verify2 = Bun.nanoseconds() - t;
  const ok2 = (a.header as { sum: string }).sum === expect2;
  a.release();

  // 3. pipelined: a copy thread copies in chunks, the consumer hashes the chunks that landed
  using engine = swEngine({ threads: 1, chunkBytes: 4 * MiB });
  t = Bun.nanoseconds();
  const sent = pub.send(priv, { mode: "pipelined", engine, header: { dtype: "float32", shape: [SIZE / 4] } });
  a = await ackSub.receive({ timeoutMs: 30_000 });
  const rtt3 = Bun.nanoseconds() - t;
  a.release();
  await sent;
  const copy3 = Bun.nanoseconds() - t;
  a = await ackSub.receive({ timeoutMs: 30_000 });
  const verify3 = Bun.nanoseconds() - t;
  const ok3 = (a.header as { sum: string }).sum === expect2;
  a.release();

  console.log(`zero-copy loan : handed over in ${fmt(rtt1)} round trip (publish ${fmt(publishNs)}); consumer hashed every byte, verified after ${fmt(verify1)}  ${ok1 ? "OK" : "CHECKSUM MISMATCH"}`);
  console.log(`                 (the producer built the tensor in place in ${fmt(buildNs)}: no copy at all)`);
  console.log(`inline copy    : copy+publish ${fmt(copyNs)} (${gbps(SIZE, copyNs)}), handed over in ${fmt(rtt2)}; consumer done after ${fmt(verify2)}  ${ok2 ? "OK" : "CHECKSUM MISMATCH"}`);
  console.log(`pipelined (sw) : published after ${fmt(rtt3)}, copy done after ${fmt(copy3)}; consumer hashed each chunk as it landed, done after ${fmt(verify3)}  ${ok3 ? "OK" : "CHECKSUM MISMATCH"}`);
  console.log(`                 (${(100 * (1 - verify3 / verify2)).toFixed(0)}% sooner than copy-then-process; this sending thread was free during the copy)`);

  // 3. Bun IPC for scale, 64 MiB
  if (!process.env.DEMO_SKIP_IPC) {
    const ipcNs = await bunIpc(priv.subarray(0, IPC_SIZE));
    console.log(`Bun.spawn IPC  : ${IPC_SIZE / MiB} MiB round trip ${fmt(ipcNs)} (${gbps(IPC_SIZE, ipcNs)}), for scale: the loan moved ${SIZE / IPC_SIZE}x the bytes ${(ipcNs / rtt1).toFixed(0)}x faster`);
  }
  console.log(`\nchannel stats: ${JSON.stringify(data.stats())}`);
  if (!ok1 || !ok2 || !ok3) process.exitCode = 1;
} finally {
  pub.close();
  await Promise.race([consumer.exited, Bun.sleep(5000)]);
  cleanup();
}

/** 64 MiB through Bun's own IPC (advanced serialization): payload there, small ack back. */
async function bunIpc(payload: Uint8Array): Promise<number> {
  let resolveAck: () => void = () => {};
  const child = Bun.spawn(["bun", "-e", "process.on('message', (m) => process.send(m.length))"], {
    ipc() {
      resolveAck();
    },
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit"],
  });
  const round = () =>
    new Promise<number>((resolve) => {
      const t0 = Bun.nanoseconds();
      resolveAck = () => resolve(Bun.nanoseconds() - t0);
      child.send(payload);
    });
  await round(); // warm up
  const ns = await round();
  child.kill();
  return ns;
}
