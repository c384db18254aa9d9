/**
 * A subscriber that writes to a received message (read-only shared memory).
 * cfg: { name, create?: capacity (create the channel itself), how?: "bytes" | "view" | "ffi-null" }
 * "ffi-null": instead, a fault that is not Ferry's (a read of address 8 through
 * bun:ffi), which must reach Bun's own crash handler.
 */
import { read, type Pointer } from "bun:ffi";
import { Channel } from "@ferry/channel";
import { cfg, emit } from "@ferry/testkit/peer";

const ch = cfg.create ? Channel.create(cfg.name, { capacity: cfg.create }) : Channel.open(cfg.name);
const sub = ch.subscribe({ wait: "hybrid" });
emit("ready", { pid: process.pid });
if (cfg.how === "ffi-null") {
  await Bun.sleep(10);
  read.u8(8 as unknown as Pointer);
}
for await (const msg of sub) {
  emit("got", { seq: msg.seq, first: msg.bytes[0] });
  if (cfg.how === "view") msg.view(Float32Array)[0] = 1.5;
  else msg.bytes[0] = 1;
  emit("survived");
  break;
}
