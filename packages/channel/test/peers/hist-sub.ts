/**
 * Late subscriber for the history tests: subscribes (cfg.group: a worker group), prints
 * "ready", then receives until an error (end of stream) and checks every message against
 * hist-pub.ts's pattern: header { i }, payload makePayload(length, i + 1). cfg:
 *   { name, group?, how?: "receive" | "poll" (tryReceive every 1 ms), wait?, timeoutMs? }
 * Result: ids (header i of each message, in order), bad (messages whose bytes or header did
 * not match), code (the error that ended it, e.g. FERRY_E_EOF), history (ch.history).
 */
import { Channel, type Message } from "@ferry/channel";
import { cfg, emit, errInfo, firstMismatch } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ group: cfg.group, wait: cfg.wait ?? "hybrid" });
emit("ready", { pid: process.pid });
const ids: number[] = [];
let bad = 0;
let code: string | null = null;

function take(m: Message) {
  const h = m.header as { i?: unknown } | undefined;
  const i = typeof h?.i === "number" ? h.i : -1;
  if (i < 0 || firstMismatch(m.bytes, 0, i + 1) !== -1) bad++;
  ids.push(i);
  m.release();
}

try {
  for (;;) {
    if (cfg.how === "poll") {
      const m = sub.tryReceive();
      if (m) take(m);
      else await Bun.sleep(1);
    } else {
      take(await sub.receive({ timeoutMs: cfg.timeoutMs ?? 20_000 }));
    }
  }
} catch (e) {
  code = errInfo(e).code;
}
emit("result", { ids, bad, code, history: ch.history });
sub.close();
ch.close();
