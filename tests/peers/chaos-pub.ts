/**
 * Chaos publisher (tests/chaos.test.ts): sends pattern payloads until told
 * "stop" (or killed). cfg: { name, p, g (incarnation), run, mode: "inline" |
 * "offload" | "pipelined", backpressure, maxInflight }.
 * Message i has header { p, g, i, s, size } (PatternHeader plus g) and the
 * payload makePayload(size, s). i grows by one per send; every send that
 * fails is reported ({"event":"fail", i, code}) and the first one ends
 * sending (sends already in flight still settle), so every i below the last
 * one delivered was published unless a "fail" names it.
 * Result: { sent (sends that settled ok), fails }.
 */
import { Channel, type Publisher } from "@ferry/channel";
import { swEngine } from "@ferry/sw-engine";
import { cfg, emit, errInfo, makePayload, seedOf, waitLine } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const engine = cfg.mode === "inline" ? undefined : swEngine({ threads: 1, chunkBytes: 16 * 1024 });
const pub: Publisher = ch.publisher({ backpressure: cfg.backpressure, engine, timeoutMs: 10_000 });
emit("ready", { pid: process.pid });

let stop = false;
void waitLine("stop").then(() => (stop = true), () => (stop = true));

const p: number = cfg.p, g: number = cfg.g;
const maxInflight: number = cfg.maxInflight ?? 4;
let x = (cfg.run * 7919 + p * 104729 + g * 1299709) >>> 0 || 1;
const rand = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>>= 0));
const size = () => (rand() % 16 === 0 ? rand() % (512 * 1024) : rand() % 3 === 0 ? rand() % 64 : rand() % (32 * 1024));

let sent = 0;
let failed = false;
const inflight: Promise<void>[] = [];
for (let i = 0; !stop && !failed; i++) {
  const s = seedOf(cfg.run, p * 1000 + g, i);
  const n = size();
  const payload = makePayload(n, s);
  const header = { p, g, i, s, size: n };
  const fail = (e: unknown) => {
    emit("fail", { i, ...errInfo(e) });
    failed = true;
  };
  if (cfg.mode === "inline") {
    try {
      pub.sendSync(payload, { mode: "inline", header });
      sent++;
    } catch (e) {
      fail(e);
    }
    if (i % 4 === 3) await Bun.sleep(1); // leave the event loop (stdin) and the CPU some air
  } else {
    inflight.push(pub.send(payload, { mode: cfg.mode, header }).then(() => void sent++, fail));
    if (inflight.length >= maxInflight) await inflight.shift();
    if (i % 8 === 7) await Bun.sleep(1);
  }
}
await Promise.all(inflight);
emit("result", { sent, failed });
pub.close();
engine?.close();
ch.close();
process.exit(0);
