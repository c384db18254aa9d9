/**
 * Creates a channel (plus a publisher and a subscriber on it) and stays alive
 * until killed: used to leave a stale segment behind with kill -9. cfg: { name, capacity }
 */
import { Channel } from "@ferry/channel";
import { cfg, emit } from "@ferry/testkit/peer";

const ch = Channel.create(cfg.name, { capacity: cfg.capacity ?? 1 << 20 });
const pub = ch.publisher();
const sub = ch.subscribe();
pub.sendSync(new Uint8Array(100));
emit("ready", { pid: process.pid, stats: ch.stats() });
// keep the handles reachable: the Channel's FinalizationRegistry backstop would
// otherwise close (and, as creator, unlink) the channel when GC finds it unreferenced
(globalThis as any).keep = { ch, pub, sub };
setInterval(() => {}, 1000);
