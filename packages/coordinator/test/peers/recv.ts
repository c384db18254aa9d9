/**
 * Receiver of the coordinator's tests: checks every payload against the
 * pattern its header names ({ p, i, s, size }, @ferry/testkit) until the
 * publishers are gone (or cfg.count messages). Pipelined messages are awaited
 * with ready(). Result: got[] = { i, seq, len, ok, pipelined, err? }.
 * cfg: { name, wait?, count? }
 */
import { Channel, type FerryError } from "@ferry/channel";
import { cfg, checkPayload, emit, errInfo, type PatternHeader } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: cfg.wait ?? "hybrid" });
emit("ready", { pid: process.pid });
const got: Record<string, unknown>[] = [];
let end = "count";
for (let n = 0; cfg.count === undefined || n < cfg.count; n++) {
  let msg;
  try {
    msg = await sub.receive({ timeoutMs: cfg.timeoutMs ?? 120_000 });
  } catch (e) {
    end = (e as FerryError).code ?? String(e);
    break;
  }
  const h = msg.header as PatternHeader;
  const r: Record<string, unknown> = { i: h?.i, seq: msg.seq, len: msg.length, size: h?.size, pipelined: msg.pipelined };
  try {
    if (msg.pipelined) await msg.ready();
    r.ok = checkPayload(msg.bytes, h).ok && msg.length === h.size;
  } catch (e) {
    r.err = errInfo(e);
  }
  msg.release();
  got.push(r);
}
emit("result", { got, end });
sub.close();
ch.close();
