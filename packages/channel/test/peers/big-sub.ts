/**
 * Receives `count` messages and hashes each payload straight from shared memory.
 * cfg: { name, count, wait }
 */
import { Channel } from "@ferry/channel";
import { cfg, emit } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: cfg.wait ?? "hybrid" });
emit("ready");
const got: { seq: number; length: number; hash: string; header: unknown }[] = [];
for (let i = 0; i < cfg.count; i++) {
  const msg = await sub.receive({ timeoutMs: 60_000 });
  const hash = new Bun.CryptoHasher("sha256").update(msg.bytes).digest("hex");
  got.push({ seq: msg.seq, length: msg.length, hash, header: msg.header });
  msg.release();
}
emit("result", { got });
sub.close();
ch.close();
