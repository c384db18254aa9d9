/**
 * Publishes large random payloads. cfg: { name, msgs: [{ size, method: "loan" | "send" }], timeoutMs }
 * Prints "ready" once its publisher is open, waits for "go", then publishes each
 * message and prints "result" with the sha256 of every payload it produced.
 */
import { randomBytes, randomFillSync } from "node:crypto";
import { Channel } from "@ferry/channel";
import { cfg, emit, waitLine } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const pub = ch.publisher({ backpressure: "block", timeoutMs: cfg.timeoutMs ?? 60_000 });
emit("ready");
await waitLine("go");
const sent: { seq: number; size: number; method: string; hash: string }[] = [];
for (const [i, m] of (cfg.msgs as { size: number; method: string }[]).entries()) {
  let seq: number;
  let hash: string;
  if (m.method === "loan") {
    const loan = pub.loan(m.size);
    randomFillSync(loan.bytes); // build the payload in place, in shared memory
    hash = new Bun.CryptoHasher("sha256").update(loan.bytes).digest("hex");
    seq = pub.publish(loan, { header: { i, method: m.method, size: m.size } });
  } else {
    const buf = randomBytes(m.size);
    hash = new Bun.CryptoHasher("sha256").update(buf).digest("hex");
    seq = await pub.send(buf, { mode: "inline", header: { i, method: m.method, size: m.size } });
  }
  sent.push({ seq, size: m.size, method: m.method, hash });
}
emit("result", { sent });
pub.close();
ch.close();
