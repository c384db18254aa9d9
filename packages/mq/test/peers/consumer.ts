/**
 * A consumer in its own process: receives from (stream, group), checks each payload against the
 * pattern its header names, prints "got <i> <local> <ok>"; with "die" it SIGKILLs itself after
 * the first message without acking it; with "n=<k>" it acks k messages and exits.
 */
import { connect } from "../../src/index";
import { pattern } from "../helpers";

const [url, stream, group, mode, ackWait] = process.argv.slice(2) as [string, string, string, string, string?];
const bus = await connect(url);
const c = bus.consumer(stream, { group, ackWaitMs: Number(ackWait ?? 30_000), onError: (e) => console.log(`error ${e.code}`) });
await c.ready();
console.log("ready");
let n = 0;
const want = mode.startsWith("n=") ? Number(mode.slice(2)) : Infinity;
for await (const m of c) {
  const i = (m.header as { i: number }).i;
  const ok = Bun.hash.xxHash3(m.bytes) === Bun.hash.xxHash3(pattern(m.bytes.length, i));
  console.log(`got ${i} ${m.local} ${ok}`);
  if (mode === "die") process.kill(process.pid, "SIGKILL");
  await m.ack();
  if (++n >= want) break;
}
await c.close();
await bus.close();
