/**
 * Publisher process that sends pattern payloads (@ferry/testkit) through a
 * copy engine. cfg: { name, pubId, run, sizes: number[],
 *   mode: "offload" | "pipelined" (or modes: the same per message, cycled),
 *   engine: "cpu" | "sw" | SwEngineOptions (a @ferry/sw-engine swEngine of its own),
 *   waitGo?, maxInflight? (default 8), maxInflightBytes? (default 48 MiB) }
 * Header of message i: { p: pubId, i, s: seed, size }. Several sends are in
 * flight at once (each with its own source buffer; all sends settle before the
 * mode changes). Checks that promises
 * settle in send order with growing seqs, and that a resolved offload message
 * is already published. Result: sent[] = { i, seq, size, hash, mode },
 * problems[], the engine's stats.
 */
import { Channel } from "@ferry/channel";
import { swEngine } from "@ferry/sw-engine";
import { cfg, emit, errInfo, makePayload, seedOf, sha256, waitLine } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const engine = typeof cfg.engine === "object" ? swEngine(cfg.engine) : cfg.engine;
const pub = ch.publisher({ engine, timeoutMs: 60_000 });
emit("ready", { pid: process.pid });
if (cfg.waitGo) await waitLine("go");

const pubId: number = cfg.pubId ?? 0;
const maxInflight: number = cfg.maxInflight ?? 8;
const maxBytes: number = cfg.maxInflightBytes ?? 48 * 2 ** 20;
const sent: { i: number; seq: number; size: number; hash: string; mode: string }[] = [];
const modeOf = (i: number): "offload" | "pipelined" => (cfg.modes ? cfg.modes[i % cfg.modes.length] : cfg.mode);
const problems: string[] = [];
const inflight: { i: number; size: number; p: Promise<void> }[] = [];
let inflightBytes = 0;
let settled = 0;
let lastSeq = -1;
const t0 = performance.now();

for (const [i, size] of (cfg.sizes as number[]).entries()) {
  const mode = modeOf(i);
  // a pipelined send publishes at once, an offload one when copied: drain before switching
  // modes so seqs keep the send order
  const modeSwitch = i > 0 && mode !== modeOf(i - 1);
  while (inflight.length && (modeSwitch || inflight.length >= maxInflight || inflightBytes + size > maxBytes)) {
    const j = inflight.shift()!;
    await j.p;
    inflightBytes -= j.size;
  }
  const s = seedOf(cfg.run ?? 0, pubId, i);
  const payload = makePayload(size, s);
  const hash = sha256(payload);
  const p = pub.send(payload, { mode, header: { p: pubId, i, s, size } }).then(
    (seq) => {
      if (settled !== i) problems.push(`send ${i} settled as number ${settled}`);
      settled++;
      if (seq <= lastSeq) problems.push(`send ${i}: seq ${seq} after ${lastSeq}`);
      lastSeq = seq;
      if (ch.stats().published < seq + 1) problems.push(`send ${i}: resolved with seq ${seq} before it was published`);
      void payload; // the source stays referenced (and untouched) until the send settles
      sent.push({ i, seq, size, hash, mode });
    },
    (e) => {
      settled++;
      problems.push(`send ${i} rejected: ${JSON.stringify(errInfo(e))}`);
    },
  );
  inflight.push({ i, size, p });
  inflightBytes += size;
}
await Promise.all(inflight.map((j) => j.p));
const stats = typeof engine === "object" ? engine.stats() : null;
emit("result", { sent, problems, stats, ms: performance.now() - t0 });
pub.close();
if (typeof engine === "object") engine.close();
ch.close();
