/**
 * Reads a message view after its subscriber and channel were closed
 * (tests/known-holes.test.ts). Today the arena is unmapped under the view and
 * the read kills the process with SIGSEGV; the fix makes the read throw (or
 * keeps the mapping alive while a view can reach it). cfg: { name }.
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, errInfo } from "@ferry/testkit/peer";

const ch = Channel.create(cfg.name, { capacity: 1 << 20 });
const sub = ch.subscribe();
const pub = ch.publisher();
pub.sendSync(new Uint8Array(1000).fill(7), { mode: "inline" });
const msg = sub.tryReceive()!;
const view = msg.bytes;
pub.close();
sub.close();
ch.close();
emit("closed");
let value: unknown;
try {
  value = view[0];
} catch (e) {
  value = errInfo(e);
}
emit("result", { value });
