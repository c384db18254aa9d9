/**
 * Calls Channel.create and then Channel.open on a name and reports how each
 * ended (the process lives only as long as that takes: a call that blocks
 * shows up as the test side's timeout). cfg: { name }
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, errInfo } from "@ferry/testkit/peer";

function attempt(fn: () => Channel) {
  const t0 = performance.now();
  try {
    fn().close();
    return { ok: true, ms: performance.now() - t0 };
  } catch (e) {
    return { ok: false, ms: performance.now() - t0, ...errInfo(e) };
  }
}

const create = attempt(() => Channel.create(cfg.name, { capacity: 1 << 16, slots: 8 }));
const open = attempt(() => Channel.open(cfg.name));
emit("result", { pid: process.pid, create, open });
