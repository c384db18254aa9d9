/**
 * Consumes until end of stream and reports when (Date.now()) and how it ended.
 * cfg: { name, wait, how: "receive" | "iterate" | "poll", pollMs? }
 * Prints "receiving" after its 3rd message, "result" { code, t, received } at the end.
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, errInfo } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: cfg.wait ?? "hybrid" });
emit("ready", { pid: process.pid });
let received = 0;
const got = () => {
  if (++received === 3) emit("receiving");
};
let result: Record<string, unknown>;
try {
  if (cfg.how === "iterate") {
    for await (const m of sub) {
      m.release();
      got();
    }
    result = { code: null, ended: "iteration finished" };
  } else if (cfg.how === "receive") {
    for (;;) {
      const m = await sub.receive();
      m.release();
      got();
    }
  } else {
    for (;;) {
      const m = sub.tryReceive();
      if (m) {
        m.release();
        got();
      } else await Bun.sleep(cfg.pollMs ?? 1);
    }
  }
} catch (e) {
  result = errInfo(e);
}
emit("result", { ...result!, t: Date.now(), received });
sub.close();
ch.close();
