/**
 * Publisher that starts a pipelined copy on the "testplug" engine (it copies
 * only when polled) through the raw C API and then does not collect it, so
 * the message stays half-done: readers see progress 0. cfg: { name, plugin,
 * size, seed }. Prints "sent" { seq }; then on stdin "collect" it collects the
 * job (the plugin copies), prints "collected" and exits cleanly. Kill it
 * instead to test a publisher that dies mid-copy.
 */
import { Channel, Engine } from "@ferry/channel";
import { cfg, emit, makePayload, RawPublisher, waitLine } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
let name: string;
try {
  name = Engine.load(cfg.plugin);
} catch (e) {
  if ((e as { code?: string }).code !== "FERRY_E_EXISTS") throw e;
  name = "testplug";
}
const engine = new Engine(name);
const pub = new RawPublisher(ch);
const payload = makePayload(cfg.size, cfg.seed);
const header = { p: 0, i: 0, s: cfg.seed, size: cfg.size };
const { seq } = pub.sendEngine(engine, payload, { mode: "pipelined", header });
emit("sent", { seq, pending: pub.pending, pid: process.pid });
await waitLine("collect");
const { status } = await pub.collectNext();
emit("collected", { status });
pub.close();
engine.close();
ch.close();
