/**
 * A Bun process whose channel's segment is truncated under it. cfg: { name }.
 * Holds one received message (a view over the arena) and a loan, prints
 * "holding", and a second subscriber awaits receive() (its event loop asleep).
 * After "go" (the file was truncated meanwhile): reads the held message's
 * first and last bytes (past the new end: SIGBUS, contained by libferry's
 * handler), then the calls that must fail. Prints "result" and exits 0: a
 * Bus error would kill it instead.
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, errInfo, waitLine } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe();
const sleeper = ch.subscribe({ wait: "block" });
const pub = ch.publisher({ backpressure: "error" });
const msg = await sub.receive({ timeoutMs: 5_000 });
await sleeper.receive({ timeoutMs: 5_000 }).then((m) => m.release()); // the same message: the sleeper sleeps below
const loan = pub.loan(100_000);
loan.bytes.fill(7);
let tGo = 0; // set when "go" arrives: the sleeper's wake-up is timed from then
const asleep = sleeper.receive().then(
  () => ({ code: "none", ms: -1 }),
  (e) => ({ code: e.code, ms: performance.now() - tGo }),
);
emit("holding", { first: msg.bytes[0], length: msg.length });
await waitLine("go");
tGo = performance.now();
const code = (f: () => unknown) => {
  try {
    f();
    return "none";
  } catch (e) {
    return (errInfo(e).code as string) ?? "thrown";
  }
};
const first = msg.bytes[0]; // the arena's pages are gone: zeros now, not a signal
const last = msg.bytes[msg.length - 1];
const loanByte = loan.bytes[99_999];
const tryReceive = code(() => sub.tryReceive());
const publish = code(() => pub.publish(loan));
const newLoan = code(() => pub.loan(10));
const woke = await asleep;
emit("result", { first, last, loanByte, tryReceive, publish, newLoan, sleeper: woke.code, sleeperMs: woke.ms });
sub.close();
sleeper.close();
pub.close();
ch.close();
