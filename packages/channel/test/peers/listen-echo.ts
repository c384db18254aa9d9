/**
 * A service answering requests with subscriber.listen(): every message on
 * cfg.in is answered on cfg.out with its first byte and its length. cfg:
 * { in, out }. Prints "ready"; when the listener ends (end of stream) prints
 * "result" with how it ended and the count, then exits by itself: nothing
 * but the listener kept this process alive.
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, errInfo } from "@ferry/testkit/peer";

const sub = Channel.open(cfg.in).subscribe();
const pub = Channel.open(cfg.out).publisher({ backpressure: "block", timeoutMs: 10_000 });
let n = 0;
const l = sub.listen((m) => {
  const b = m.bytes;
  const loan = pub.loan(8);
  loan.bytes[0] = b[0]!;
  new DataView(loan.bytes.buffer, loan.bytes.byteOffset, 8).setUint32(4, b.length, true);
  m.release();
  pub.publish(loan);
  n++;
});
emit("ready");
try {
  await l.done;
  emit("result", { ended: "done", count: n });
} catch (e) {
  emit("result", { ended: "error", count: n, ...errInfo(e) });
}
pub.close();
