// Copy modes: `bun main.ts` sends a 32 MiB payload inline (CPU copy in this
// thread), offload (an engine copies; the promise resolves once published) and
// pipelined (published at once; the reader consumes chunks as they land).
import { Channel } from "@ferry/channel";
import { swEngine } from "@ferry/sw-engine";
import { detect as dsaDetect } from "@ferry/dsa-engine";

const name = process.env.FERRY_EXAMPLE_CHANNEL ?? `example.offload.${process.pid}`;
const d = dsaDetect();
console.log(`dsa: ${d.available ? "available" : "not available"} (${d.reason})`);

using ch = Channel.create(name, { capacity: 128 * 2 ** 20 });
using engine = swEngine({ threads: 2 });
const pub = ch.publisher({ backpressure: "block", engine });
const sub = ch.subscribe();
const payload = new Uint8Array(32 * 2 ** 20).fill(7);
for (const mode of ["inline", "offload", "pipelined"] as const) {
  const t0 = performance.now();
  await pub.send(payload, { mode, cache: "cold" });
  const msg = await sub.receive();
  if (msg.pipelined) await msg.ready(); // chunks may still be landing: msg.chunks() reads them as they do
  const ok = msg.bytes.byteLength === payload.byteLength && msg.bytes[msg.bytes.length - 1] === 7;
  console.log(`${mode}: ${msg.bytes.byteLength} bytes ${ok ? "ok" : "WRONG"} in ${(performance.now() - t0).toFixed(1)} ms`);
  msg.release();
}
sub.close();
pub.close();
