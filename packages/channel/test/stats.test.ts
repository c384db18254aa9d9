/**
 * channel.stats().backlog: the most messages any live subscriber or group has
 * not received yet (released-but-not-reclaimed messages do not count, history
 * held for late joiners does not count for readers already past it). The
 * coordinator reads it to tell whether a receiver is waiting.
 */
import { expect, test } from "bun:test";
import { Channel } from "@ferry/channel";
import { registerCleanup, uniqueName } from "@ferry/testkit";

registerCleanup();

test("backlog counts what the slowest reader has not received, not what was released", () => {
  using ch = Channel.create(uniqueName("stats-backlog"), { capacity: 1 << 20, history: 2 });
  const pub = ch.publisher();
  const a = ch.subscribe({ wait: "spin" });
  const g1 = ch.subscribe({ wait: "spin", group: "g" });
  const g2 = ch.subscribe({ wait: "spin", group: "g" });
  expect(ch.stats().backlog).toBe(0);
  for (let i = 0; i < 3; i++) pub.sendSync(new Uint8Array(100).fill(i));
  expect(ch.stats().backlog).toBe(3);
  a.tryReceive()!.release();
  expect(ch.stats().backlog).toBe(3); // the group has taken nothing yet
  g1.tryReceive()!.release();
  g2.tryReceive()!.release();
  g1.tryReceive()!.release();
  expect(ch.stats().backlog).toBe(2); // the group is done; a has 2 left
  a.tryReceive()!.release();
  a.tryReceive()!.release();
  const s = ch.stats();
  expect(s.backlog).toBe(0);
  expect(s.tail - s.head).toBeGreaterThan(0); // released, not reclaimed yet: no backlog for all that
  // a late joiner starts at the history: those are its backlog until it takes them
  const late = ch.subscribe({ wait: "spin" });
  expect(ch.stats().backlog).toBe(2);
  late.tryReceive()!.release();
  late.tryReceive()!.release();
  expect(ch.stats().backlog).toBe(0);
  // a closed subscriber's unread messages are nobody's backlog
  pub.sendSync(new Uint8Array(1));
  expect(ch.stats().backlog).toBe(1);
  late.tryReceive()!.release();
  (g1.tryReceive() ?? g2.tryReceive())!.release();
  expect(ch.stats().backlog).toBe(1); // a's, unread
  a.close();
  expect(ch.stats().backlog).toBe(0);
});
