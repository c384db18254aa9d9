/**
 * Receives `count` messages after "go" and reports, per message, what
 * verify() said (or threw), its header and the sha256 of its payload.
 * cfg: { name, count, verify?: boolean | "required" } — with `verify`, the
 * subscriber checks on receive (subscribe({ verify })), and a receive that
 * throws is reported as such and counts as one message.
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, errInfo, sha256, waitLine } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: "hybrid", verify: cfg.verify ?? false });
emit("ready");
await waitLine("go");
const got: Record<string, unknown>[] = [];
for (let i = 0; i < cfg.count; i++) {
  try {
    const msg = await sub.receive({ timeoutMs: 20_000 });
    if (msg.pipelined) await msg.ready();
    let verified: unknown;
    try {
      verified = msg.verify();
    } catch (e) {
      verified = errInfo(e);
    }
    got.push({ seq: msg.seq, verified, header: msg.header, length: msg.length, hash: sha256(msg.bytes) });
    msg.release();
  } catch (e) {
    got.push({ receiveError: errInfo(e) });
  }
}
emit("result", { got });
sub.close();
ch.close();
