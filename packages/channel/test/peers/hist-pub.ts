/**
 * Publisher for the history tests. Message i (0-based, counted across phases) has header
 * { i } and the payload makePayload(size, i + 1). cfg:
 *   { name, size, phases: number[] (messages per phase; before every phase but the first it
 *     prints "phase" { sent } and waits for "go"), intervalMs?, backpressure?, timeoutMs?,
 *     forever?: boolean (one endless phase, for a kill), first?: number (i of the first message, default 0),
 *     dieHoldingLock?: boolean (after the phases: loan and fill one more message, take the channel
 *     lock the way libferry does, print "holding" and SIGKILL itself inside that critical section) }
 * Prints "ready", "sent" { sent } every 64 messages when forever, "result" { sent, errors } at
 * the end, then closes (the creator is someone else: the channel stays).
 */
import { Channel } from "@ferry/channel";
import { shmPath } from "@ferry/testkit";
import { cfg, emit, errInfo, makePayload, waitLine } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const pub = ch.publisher({ backpressure: cfg.backpressure ?? "block", timeoutMs: cfg.timeoutMs ?? 30_000 });
emit("ready", { pid: process.pid });
const phases: number[] = cfg.forever ? [Infinity] : cfg.phases;
const first: number = cfg.first ?? 0;
let i = first;
let error: ReturnType<typeof errInfo> | null = null;
try {
  for (let p = 0; p < phases.length; p++) {
    if (p > 0) {
      emit("phase", { sent: i });
      await waitLine("go");
    }
    for (let n = 0; n < phases[p]!; n++, i++) {
      pub.sendSync(makePayload(cfg.size, i + 1), { header: { i } });
      if (cfg.forever && ((i - first) & 63) === 63) emit("sent", { sent: i - first + 1 });
      if (cfg.intervalMs) await Bun.sleep(cfg.intervalMs);
    }
  }
} catch (e) {
  error = errInfo(e);
}
emit("result", { sent: i - first, error });
if (cfg.dieHoldingLock) {
  const loan = pub.loan(cfg.size);
  loan.bytes.set(makePayload(cfg.size, i + 1));
  // the lock word: the first word of the control block, after the 4 KiB header page (see lock-holder.ts)
  const seg = Bun.mmap(shmPath(cfg.name));
  const word = new Int32Array(seg.buffer, seg.byteOffset + 4096, 1);
  while (Atomics.compareExchange(word, 0, 0, process.pid) !== 0) await Bun.sleep(1);
  emit("holding", { pid: process.pid });
  process.kill(process.pid, "SIGKILL");
}
pub.close();
ch.close();
