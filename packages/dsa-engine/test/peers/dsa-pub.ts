/**
 * Publisher process: sends pattern payloads (@ferry/testkit) through a
 * dsaEngine() of its own. cfg: { name, run, sizes: number[], modes: ("offload" |
 * "pipelined")[] (cycled), engine: DsaEngineOptions }. One send in flight per
 * mode run (all settle before the mode changes). Result: sent[] = { i, seq,
 * size, hash, mode }, problems[], the engine's stats.
 */
import { Channel } from "@ferry/channel";
import { dsaEngine } from "@ferry/dsa-engine";
import { cfg, emit, errInfo, makePayload, seedOf, sha256 } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const engine = dsaEngine(cfg.engine);
const pub = ch.publisher({ engine, timeoutMs: 60_000 });
emit("ready", { pid: process.pid });
const sent: { i: number; seq: number; size: number; hash: string; mode: string }[] = [];
const problems: string[] = [];
const modes: ("offload" | "pipelined")[] = cfg.modes;
let pending: Promise<void>[] = [];
for (const [i, size] of (cfg.sizes as number[]).entries()) {
  const mode = modes[i % modes.length]!;
  if (i > 0 && mode !== modes[(i - 1) % modes.length] || pending.length >= 4) {
    await Promise.all(pending);
    pending = [];
  }
  const s = seedOf(cfg.run ?? 0, 0, i);
  const payload = makePayload(size, s);
  const hash = sha256(payload);
  pending.push(
    pub.send(payload, { mode, header: { p: 0, i, s, size } }).then(
      (seq) => void sent.push({ i, seq, size, hash, mode }),
      (e) => void problems.push(`send ${i} rejected: ${JSON.stringify(errInfo(e))}`),
    ),
  );
}
await Promise.all(pending);
sent.sort((a, b) => a.i - b.i);
emit("result", { sent, problems, stats: engine.stats() });
pub.close();
engine.close();
ch.close();
