/**
 * Subscriber that checks what it receives. cfg:
 *   { name, wait?, group?, check: "order" | "hash" | "ids", via?: "iterate" | "drain",
 *     waitGo?: boolean, expect?: number }
 * "iterate": for-await until end of stream; "drain": after "go", tryReceive until empty.
 * Result: count, per-publisher counts, order violations, running sha256, ids, max dropped.
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, errInfo, waitLine } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: cfg.wait ?? "hybrid", group: cfg.group });
emit("ready", { pid: process.pid });
if (cfg.waitGo) await waitLine("go");

const hasher = new Bun.CryptoHasher("sha256");
const lenBuf = new Uint8Array(4);
const lenView = new DataView(lenBuf.buffer);
const perPub: Record<number, number> = {};
const next: Record<number, number> = {};
let outOfOrder = 0;
let headerMismatch = 0;
let count = 0;
let maxDropped = 0;
const ids: number[] = [];
const seqs: number[] = [];
let error: ReturnType<typeof errInfo> | null = null;

function take(msg: import("@ferry/channel").Message) {
  const b = msg.bytes;
  count++;
  if (msg.dropped > maxDropped) maxDropped = msg.dropped;
  if (cfg.keepSeqs) seqs.push(msg.seq);
  if (b.length >= 8) {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const p = v.getUint32(0, true);
    const c = v.getUint32(4, true);
    perPub[p] = (perPub[p] ?? 0) + 1;
    if (cfg.check === "order") {
      if ((next[p] ?? 0) !== c) outOfOrder++;
      next[p] = c + 1;
      const h = msg.header as { p: number; c: number } | undefined;
      if (h && (h.p !== p || h.c !== c)) headerMismatch++;
    }
    if (cfg.check === "ids") ids.push(c);
  }
  if (cfg.check === "hash") {
    lenView.setUint32(0, b.length, true);
    hasher.update(lenBuf).update(b);
  }
  msg.release();
}

try {
  if (cfg.via === "drain") {
    for (let m = sub.tryReceive(); m; m = sub.tryReceive()) take(m);
  } else {
    for await (const msg of sub) take(msg);
  }
} catch (e) {
  error = errInfo(e);
}
emit("result", {
  count, perPub, outOfOrder, headerMismatch, maxDropped, error,
  hash: cfg.check === "hash" ? hasher.digest("hex") : undefined,
  ids: cfg.check === "ids" ? ids : undefined,
  seqs: cfg.keepSeqs ? seqs : undefined,
});
sub.close();
ch.close();
