/** Subscriber for ptr-safety.test.ts: every byte of each message must equal header.fill. */
import { Channel } from "@ferry/channel";
import { cfg, emit } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: "block" });
emit("ready", { pid: process.pid });
let n = 0;
const bad: { seq: number; fill: number; sample: number[] }[] = [];
for await (const msg of sub) {
  await msg.ready();
  const fill = (msg.header as { fill: number }).fill;
  const b = msg.bytes;
  const i = b.findIndex((x) => x !== fill);
  if (i >= 0 && bad.length < 20) bad.push({ seq: msg.seq, fill, sample: [...b.subarray(i, i + 8)] });
  n++;
  msg.release();
}
emit("result", { n, bad });
sub.close();
ch.close();
