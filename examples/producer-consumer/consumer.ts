// Start with `bun consumer.ts`; it waits for the producer's channel to appear.
import { Channel } from "@ferry/channel";

const name = process.env.FERRY_EXAMPLE_CHANNEL ?? "example.frames";
using ch = await Channel.waitFor(name, { timeoutMs: 30_000 });
const sub = ch.subscribe({ wait: "hybrid" });
let sum = 0;
for await (const msg of sub) {
  // msg.bytes: a read-only view of shared memory, valid until release()
  console.log(`consumer: #${msg.seq} ${msg.bytes.byteLength} bytes, first byte ${msg.bytes[0]}, header ${JSON.stringify(msg.header)}`);
  sum += msg.bytes.byteLength;
  msg.release();
}
console.log(`consumer: done, ${sum} bytes`);
