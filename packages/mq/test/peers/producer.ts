/**
 * A producer in its own process: sends `count` messages of `size` bytes (pattern by index) to `stream`
 * on broker `url`, prints "sent <i>" per message, then "done"; with "die" it SIGKILLs itself after
 * the last send (pins, channel and all left behind), else it closes (draining pins) and exits.
 */
import { connect } from "../../src/index";
import { pattern } from "../helpers";

const [url, stream, count, size, then, path] = process.argv.slice(2) as [string, string, string, string, string, string?];
const bus = await connect(url);
const p = bus.producer(stream, { capacity: 64 * 2 ** 20, path: (path as "auto") ?? "auto", drainMs: 60_000 });
for (let i = 0; i < Number(count); i++) {
  await p.send(pattern(Number(size), i), { header: { i } });
  console.log(`sent ${i}`);
}
console.log(`stats ${JSON.stringify(p.stats())}`);
console.log("done");
if (then === "die") process.kill(process.pid, "SIGKILL");
await p.close();
await bus.close();
