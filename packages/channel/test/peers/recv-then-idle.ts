/**
 * Receives one message with `await sub.receive()`, reports it, then leaves
 * the subscriber and channel open and returns: the process must exit on its
 * own (the wake socket is held by the event loop only while a receive() waits).
 * cfg: { name }
 */
import { Channel } from "@ferry/channel";
import { cfg, emit } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: "block" });
emit("ready", { pid: process.pid });
const msg = await sub.receive();
emit("result", { bytes: [...msg.bytes] });
msg.release();
// no close: nothing pending, so the event loop has nothing to wait for
