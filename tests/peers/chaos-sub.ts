/**
 * Chaos subscriber or worker (tests/chaos.test.ts): receives until told
 * "stop" (or killed), checks every payload against the pattern its header
 * names, holds up to `hold` messages at a time, and reports what it saw in
 * batches every 20 ms, so a kill loses at most the newest ones (what was
 * reported is always a prefix of what was received).
 * cfg: { name, group? (worker), hold }.
 * Each record: [p, g, i, seq, ok, dropped, state] where ok is 1 when the
 * bytes are the pattern, state is "" or the error code that ended a
 * pipelined message's copy (its publisher died).
 */
import { Channel, type Message } from "@ferry/channel";
import { cfg, emit, errInfo, firstMismatch, waitLine } from "@ferry/testkit/peer";

type Rec = [number, number, number, number, number, number, string];

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: "hybrid", group: cfg.group });
emit("ready", { pid: process.pid });

let stop = false;
void waitLine("stop").then(() => (stop = true), () => (stop = true));

let batch: Rec[] = [];
const flush = () => {
  if (batch.length) emit("seen", { r: batch });
  batch = [];
};
const timer = setInterval(flush, 20);
const held: Message[] = [];
const hold: number = cfg.hold ?? 2;
const problems: string[] = [];
let received = 0;

while (!stop) {
  let msg: Message;
  try {
    msg = await sub.receive({ timeoutMs: 100 });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "FERRY_E_TIMEOUT") continue;
    if (code === "FERRY_E_EOF" || code === "FERRY_E_PEERDEAD") {
      await Bun.sleep(5); // between a publisher's death and its respawn: no publisher at all
      continue;
    }
    problems.push(`receive: ${JSON.stringify(errInfo(e))}`);
    await Bun.sleep(5);
    continue;
  }
  received++;
  const h = msg.header as { p: number; g: number; i: number; s: number; size: number };
  let ok = 0;
  let state = "";
  try {
    if (msg.pipelined) await msg.ready(undefined, { timeoutMs: 10_000 });
    const b = msg.bytes;
    ok = b.length === h.size && firstMismatch(b, 0, h.s) === -1 ? 1 : 0;
  } catch (e) {
    state = (e as { code?: string }).code ?? String(e);
  }
  batch.push([h.p, h.g, h.i, msg.seq, ok, msg.dropped, state]);
  held.push(msg);
  while (held.length > hold) held.shift()!.release();
}
for (const m of held) m.release();
clearInterval(timer);
flush();
emit("result", { received, problems });
sub.close();
ch.close();
process.exit(0);
