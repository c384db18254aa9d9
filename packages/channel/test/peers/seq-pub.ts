/**
 * Publishes numbered messages. Payload bytes 0..3 = publisher id (u32 LE),
 * 4..7 = counter (u32 LE), the rest deterministic filler. cfg:
 *   { name, pubId, count, size | minSize+maxSize (random per message, seeded by pubId),
 *     method: "loan" | "send" | "mix", header?: boolean, backpressure?, timeoutMs?,
 *     waitGo?: boolean, intervalMs?: number (pause between messages), forever?: boolean }
 * Prints "ready", then (after "go" if waitGo) publishes and prints "result" with a
 * running sha256 over (length, payload) of everything it sent.
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, rng, waitLine } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const pub = ch.publisher({ backpressure: cfg.backpressure ?? "block", timeoutMs: cfg.timeoutMs ?? 30_000 });
emit("ready", { pid: process.pid });
if (cfg.waitGo) await waitLine("go");

const pubId: number = cfg.pubId ?? 0;
const rand = rng(0x9e3779b9 ^ (pubId + 1));
const hasher = new Bun.CryptoHasher("sha256");
const lenBuf = new Uint8Array(4);
const lenView = new DataView(lenBuf.buffer);
const scratch = new Uint8Array(cfg.maxSize ?? cfg.size ?? 64);
const t0 = performance.now();
let sent = 0;
const total = cfg.forever ? Infinity : cfg.count;

function fill(b: Uint8Array, counter: number) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length >= 8) {
    v.setUint32(0, pubId, true);
    v.setUint32(4, counter, true);
  }
  for (let i = 8; i < b.length; i++) b[i] = (counter * 31 + i * 7 + pubId) & 255;
}

for (let c = 0; c < total; c++) {
  const size = cfg.size ?? cfg.minSize + (rand() % (cfg.maxSize - cfg.minSize + 1));
  const header = cfg.header ? { p: pubId, c } : undefined;
  const useLoan = cfg.method === "loan" || (cfg.method === "mix" && c % 2 === 0);
  let payload: Uint8Array;
  if (useLoan) {
    const loan = pub.loan(size);
    fill(loan.bytes, c);
    payload = loan.bytes;
    lenView.setUint32(0, size, true);
    hasher.update(lenBuf).update(payload);
    pub.publish(loan, { header });
  } else {
    payload = scratch.subarray(0, size);
    fill(payload, c);
    lenView.setUint32(0, size, true);
    hasher.update(lenBuf).update(payload);
    await pub.send(payload, { mode: "inline", header });
  }
  sent++;
  if (cfg.intervalMs) await Bun.sleep(cfg.intervalMs);
}
emit("result", { sent, hash: hasher.digest("hex"), ms: performance.now() - t0 });
pub.close();
ch.close();
