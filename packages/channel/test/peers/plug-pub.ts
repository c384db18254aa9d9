/**
 * Publisher that starts a pipelined copy on the "testplug" engine (it copies
 * only when polled) through the raw C API and then does not collect it, so
 * the message stays half-done: readers see progress 0. cfg: { name, plugin,
 * size, seed }. Prints "sent" { seq }; then on stdin "collect" it collects the
 * job (the plugin copies), prints "collected" and exits cleanly. Kill it
 * instead to test a publisher that dies mid-copy.
 */
import { ptr } from "bun:ffi";
import { Channel, Engine } from "@ferry/channel";
import { check, lib } from "@ferry/native";
import { cfg, emit, waitLine } from "./common";
import { makePayload } from "./pattern";

const sym = lib.symbols;
const ch = Channel.open(cfg.name);
let name: string;
try {
  name = Engine.load(cfg.plugin);
} catch (e) {
  if ((e as { code?: string }).code !== "FERRY_E_EXISTS") throw e;
  name = "testplug";
}
const engine = new Engine(name);
const out = new BigUint64Array(1);
check(sym.ferry_pub_open(ch.handle, 0, -1, out), "pub open");
const pub = Number(out[0]) as any;
const info = new BigUint64Array(7); // ferry_msg_info, 56 bytes
const payload = makePayload(cfg.size, cfg.seed);
const hdr = new TextEncoder().encode(JSON.stringify({ p: 0, i: 0, s: cfg.seed, size: cfg.size }));
// ptr() below is only safe for storage that never moves: materialise each
// ArrayBuffer first (the engine reads payload after the call returns)
void payload.buffer, void hdr.buffer, void info.buffer;
check(
  sym.ferry_pub_send_engine(pub, engine.handle, ptr(payload), payload.length, ptr(hdr), hdr.length, 2 /* pipelined */, 0, 0, ptr(info)),
  "send_engine",
);
emit("sent", { seq: Number(info[0]), pending: sym.ferry_pub_jobs_pending(pub), pid: process.pid });
await waitLine("collect");
let r = 0;
while ((r = sym.ferry_pub_collect(pub, ptr(info))) === 0) await Bun.sleep(1);
emit("collected", { status: new Int32Array(info.buffer)[12] });
sym.ferry_pub_close(pub);
engine.close();
ch.close();
void payload;
