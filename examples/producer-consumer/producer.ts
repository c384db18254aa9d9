// Two processes: run `bun consumer.ts` and `bun producer.ts` (either order).
// The producer loans 1 MiB frames straight in shared memory (zero-copy) and
// sends the last message through a copy engine (@ferry/sw-engine: copy threads).
import { Channel } from "@ferry/channel";
import { swEngine } from "@ferry/sw-engine";

const name = process.env.FERRY_EXAMPLE_CHANNEL ?? "example.frames";
using ch = Channel.create(name, { capacity: 64 * 2 ** 20 });
using engine = swEngine({ threads: 1 });
const pub = ch.publisher({ backpressure: "block", engine });
await pub.waitForSubscribers(1, { timeoutMs: 30_000 });
for (let i = 0; i < 3; i++) {
  const loan = pub.loan(2 ** 20);
  loan.bytes.fill(i + 1);                      // build the frame in place
  pub.publish(loan, { header: { frame: i } });
}
await pub.send(new Uint8Array(8 * 2 ** 20).fill(9), { mode: "offload" }); // the engine copies it
pub.close(); // end of stream: the consumer's loop ends after what was sent
console.log("producer: sent 4 messages");
