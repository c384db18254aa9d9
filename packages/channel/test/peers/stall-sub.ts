/**
 * A subscriber that takes `take` messages, never releases them and stops
 * receiving: it pins the ring until it is killed. cfg: { name, take }
 */
import { Channel } from "@ferry/channel";
import { cfg, emit } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: "block" });
emit("ready", { pid: process.pid });
const held = [];
for (let i = 0; i < cfg.take; i++) held.push(await sub.receive({ timeoutMs: 30_000 }));
emit("stalled", { seqs: held.map((m) => m.seq) });
(globalThis as any).keep = { ch, sub, held }; // reachable: no finalizer may close them
setInterval(() => {}, 1000); // stay alive, holding everything, until SIGKILL
