// Typed tensors: `bun main.ts` publishes a float32 image tensor built in place
// and a copied int16 one; a child process reads them back as typed views.
import { Channel, loanTensor, sendTensor } from "@ferry/channel";

const name = process.env.FERRY_EXAMPLE_CHANNEL ?? `example.tensors.${process.pid}`;

if (process.argv[2] === "reader") {
  using ch = await Channel.waitFor(name, { timeoutMs: 30_000 });
  for await (const msg of ch.subscribe()) {
    const t = msg.tensor(); // { dtype, shape, data }: data is a typed view of shared memory
    const data = Array.from(t.data as ArrayLike<number>);
    console.log(`reader: ${t.dtype} [${t.shape.join(", ")}] first=${data[0]} last=${data.at(-1)}`);
    msg.release();
  }
  process.exit(0);
}

using ch = Channel.create(name, { capacity: 16 * 2 ** 20 });
const pub = ch.publisher({ backpressure: "block" });
const reader = Bun.spawn([process.execPath, import.meta.path, "reader"], { env: { ...process.env, FERRY_EXAMPLE_CHANNEL: name }, stdout: "inherit" });
await pub.waitForSubscribers(1, { timeoutMs: 30_000 });
const img = loanTensor(pub, "float32", [3, 224, 224]); // written in place: no copy
img.data.fill(0.5);
img.publish();
await sendTensor(pub, Int16Array.from({ length: 1000 }, (_, i) => i), { shape: [10, 100] }); // copied
pub.close();
await reader.exited;
console.log("main: 2 tensors sent");
