/**
 * Waits for one message with `await sub.receive()` and reports it. cfg: { name, wait }
 */
import { Channel } from "@ferry/channel";
import { cfg, emit } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: cfg.wait ?? "block" });
emit("ready", { pid: process.pid });
const msg = await sub.receive();
emit("result", { seq: msg.seq, bytes: [...msg.bytes], t: Date.now() });
msg.release();
sub.close();
ch.close();
