/**
 * Subscriber driven line by line from stdin: each "go" does one tryReceive and
 * prints "probe" { i, code | seq, length, head, header }; "quit" exits.
 * Used to feed it deliberately corrupted descriptors without risking the test runner.
 * cfg: { name }
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, errInfo } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: "block" });
emit("ready", { pid: process.pid });
let i = 0;
let buf = "";
const dec = new TextDecoder();
outer: for await (const chunk of Bun.stdin.stream()) {
  buf += dec.decode(chunk, { stream: true });
  let k: number;
  while ((k = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, k).trim();
    buf = buf.slice(k + 1);
    if (line === "quit") break outer;
    if (line !== "go") continue;
    try {
      const m = sub.tryReceive();
      if (!m) emit("probe", { i, code: null, empty: true });
      else {
        emit("probe", { i, code: null, seq: m.seq, length: m.length, head: [...m.bytes.subarray(0, 8)], header: m.header ?? null });
        m.release();
      }
    } catch (e) {
      emit("probe", { i, ...errInfo(e) });
    }
    i++;
  }
}
emit("result", { probes: i, stats: ch.stats() });
sub.close();
ch.close();
