/**
 * Runs as another user: creates a channel with the given permissions, then
 * publishes "evil payload" on a "send" line, and closes on "exit" (or when
 * stdin ends). cfg: { name, permissions }
 */
import { Channel } from "@ferry/channel";
import { cfg, emit } from "@ferry/testkit/peer";

const ch = Channel.create(cfg.name, { capacity: 1 << 16, slots: 8, permissions: cfg.permissions });
const pub = ch.publisher({ backpressure: "error" });
emit("ready", { pid: process.pid, uid: process.getuid?.() });
let buf = "";
read: for await (const chunk of Bun.stdin.stream()) {
  buf += new TextDecoder().decode(chunk);
  let i: number;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (line === "send") {
      pub.sendSync(new TextEncoder().encode("evil payload"));
      emit("sent");
    } else if (line === "exit") break read;
  }
}
pub.close();
ch.close();
emit("result", { ok: true });
