/**
 * Runs one sequence of public calls that used to crash Bun (SIGSEGV) or touch
 * memory that was no longer ours, and reports what each step did: a value, or
 * the error it threw ({ errName, code }). cfg: { name, case }. The test side
 * asserts the exit status is 0 (no signal) and checks the steps.
 *
 * Cases:
 *  - "read-after-close": an unreleased message and a view of it, then ch.close()
 *  - "loan-after-close": a loan and a view of it, then ch.close()
 *  - "gc": only msg.bytes kept while the channel, publisher and subscriber are collected
 *  - "transferred": the program takes the arena buffer over (transfer()), then ch.close(); /proc/self/maps shows what is mapped there
 *  - "copyto-close": an engine copies out of a message (copyTo) while the channel closes
 *  - "receive-close": receive() pending when the subscriber closes (cfg.how: "sub" | "channel", cfg.wait)
 *  - "ready-close": msg.ready() pending on a pipelined copy that never progresses when the subscriber closes (cfg.plugin)
 */
import { readFileSync } from "node:fs";
import { ptr } from "bun:ffi";
import { Channel, Engine } from "@ferry/channel";
import { RawPublisher, cfg, emit, errInfo } from "@ferry/testkit/peer";

const steps: Record<string, unknown> = {};
/** Record what `fn` returned, or the error it threw. */
function step(name: string, fn: () => unknown) {
  try {
    const v = fn();
    steps[name] = { value: v === undefined ? "undefined" : v };
  } catch (e) {
    steps[name] = errInfo(e);
  }
}
async function stepAsync(name: string, p: Promise<unknown>) {
  try {
    const v = await p;
    steps[name] = { value: v === undefined ? "undefined" : v };
  } catch (e) {
    steps[name] = errInfo(e);
  }
}

/** The /proc/self/maps line of the mapping holding `addr`, or null. */
function mappingAt(addr: number): string | null {
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const [range] = line.split(" ");
    if (!range) continue;
    const [lo, hi] = range.split("-").map((h) => Number.parseInt(h, 16));
    if (addr >= lo! && addr < hi!) return line;
  }
  return null;
}

async function collect(until: () => boolean, ms = 5000): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    Bun.gc(true);
    await Bun.sleep(10);
    if (until()) return true;
  }
  return until();
}

const name: string = cfg.name;
const MiB = 2 ** 20;

switch (cfg.case) {
  case "read-after-close": {
    const ch = Channel.create(name, { capacity: MiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    pub.sendSync(new Uint8Array(100).fill(0xab), { header: { a: 1 } });
    const msg = sub.tryReceive()!;
    const view = msg.bytes;
    const sub2 = view.subarray(10, 20);
    steps.before = view[0];
    ch.close();
    step("bytes", () => msg.bytes);
    step("header", () => msg.header);
    step("headerBytes", () => msg.headerBytes);
    step("length", () => msg.length);
    step("progress", () => msg.progress());
    step("verify", () => msg.verify());
    await stepAsync("ready", msg.ready());
    step("release", () => msg.release());
    step("viewLength", () => view.length);
    step("viewRead", () => view[0]);
    step("subarrayRead", () => sub2[0]);
    step("viewIndexWrite", () => {
      view[0] = 1;
      return view[0];
    });
    step("viewFill", () => view.fill(1));
    break;
  }
  case "loan-after-close": {
    const ch = Channel.create(name, { capacity: MiB });
    const pub = ch.publisher();
    const loan = pub.loan(4096);
    const view = loan.bytes;
    view.fill(7);
    ch.close();
    step("bytes", () => loan.bytes);
    step("active", () => loan.active);
    step("publish", () => pub.publish(loan));
    step("unloan", () => pub.unloan(loan));
    step("viewLength", () => view.length);
    step("viewIndexWrite", () => {
      for (let i = 0; i < 4096; i++) view[i] = 9;
      return view[0];
    });
    step("viewSet", () => view.set([1, 2, 3]));
    break;
  }
  case "gc": {
    const keep = (() => {
      const ch = Channel.create(name, { capacity: MiB });
      const pub = ch.publisher();
      const sub = ch.subscribe();
      pub.sendSync(new Uint8Array(64).fill(0x5a));
      const msg = sub.tryReceive()!;
      const loan = pub.loan(64);
      return { read: msg.bytes, write: loan.bytes };
    })();
    steps.before = keep.read[0];
    // the channel's backstop closes it, and, being its creator, removes the name
    steps.collected = await collect(() => !readFileSync("/proc/self/maps", "utf8").includes(`ferry.${name}`));
    step("readLength", () => keep.read.length);
    step("read", () => keep.read[0]);
    step("write", () => {
      keep.write[0] = 1;
      return keep.write[0];
    });
    break;
  }
  case "transferred": {
    const ch = Channel.create(name, { capacity: MiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    // over 64 bytes: in the arena (smaller messages travel inline, in private memory)
    pub.sendSync(new Uint8Array(256).fill(0xcd));
    const msg = sub.tryReceive()!;
    const at = msg.bytes.byteOffset;
    let ro: ArrayBuffer | null = (msg.bytes.buffer as ArrayBuffer).transfer(); // the program owns the read-only arena buffer now
    const loan = pub.loan(256);
    let rw: ArrayBuffer | null = (loan.bytes.buffer as ArrayBuffer).transfer(); // and the read-write one
    const roAddr = ptr(new Uint8Array(ro!));
    const rwAddr = ptr(new Uint8Array(rw!));
    steps.mapBefore = [mappingAt(roAddr), mappingAt(rwAddr)];
    steps.before = new Uint8Array(ro!)[at];
    // the subscriber goes on with a fresh buffer of its own
    pub.sendSync(new Uint8Array(8).fill(0xee));
    const m2 = sub.tryReceive()!;
    steps.after = [m2.bytes.length, m2.bytes[0]];
    ch.close();
    steps.mapAfterClose = [mappingAt(roAddr), mappingAt(rwAddr)];
    step("readAfterClose", () => new Uint8Array(ro!)[at]);
    step("writeAfterClose", () => {
      const w = new Uint8Array(rw!);
      w.fill(3, 0, 4096);
      return w[0];
    });
    ro = rw = null;
    steps.unmapped = await collect(() => !mappingAt(roAddr)?.includes(" 00:00 0") && !mappingAt(rwAddr)?.includes(" 00:00 0"));
    break;
  }
  case "copyto-close": {
    using engine = new Engine("sw", { threads: 1 });
    const size = 192 * MiB;
    const ch = Channel.create(name, { capacity: size + MiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    const loan = pub.loan(size);
    loan.bytes.fill(0x11);
    pub.publish(loan);
    const msg = sub.tryReceive()!;
    const dst = new Uint8Array(size);
    const copy = msg.copyTo(dst, { engine });
    await new Promise((r) => setImmediate(r)); // the copy is submitted and running
    const t0 = performance.now();
    ch.close();
    steps.closeMs = performance.now() - t0;
    await stepAsync("copyTo", copy);
    break;
  }
  case "receive-close": {
    const ch = Channel.create(name, { capacity: MiB });
    const sub = ch.subscribe({ wait: cfg.wait ?? "hybrid" });
    const t0 = performance.now();
    const pending = sub.receive(cfg.timeoutMs === undefined ? undefined : { timeoutMs: cfg.timeoutMs });
    setTimeout(() => (cfg.how === "channel" ? ch.close() : sub.close()), cfg.afterMs ?? 50);
    await stepAsync("receive", pending);
    steps.settledMs = performance.now() - t0;
    if (cfg.how !== "channel") ch.close();
    break;
  }
  case "ready-close": {
    let engineName: string;
    try {
      engineName = Engine.load(cfg.plugin);
    } catch {
      engineName = "testplug";
    }
    const engine = new Engine(engineName);
    const ch = Channel.create(name, { capacity: 4 * MiB });
    const sub = ch.subscribe({ wait: cfg.wait ?? "hybrid" });
    const pub = new RawPublisher(ch);
    pub.sendEngine(engine, new Uint8Array(MiB).fill(3), { mode: "pipelined" }); // testplug copies only when polled: never here
    const msg = await sub.receive({ timeoutMs: 5000 });
    const t0 = performance.now();
    const pending = msg.ready();
    setTimeout(() => sub.close(), 50);
    await stepAsync("ready", pending);
    steps.settledMs = performance.now() - t0;
    pub.close();
    engine.close();
    ch.close();
    break;
  }
  default:
    throw new Error(`unknown case ${cfg.case}`);
}
emit("result", { steps });
// no process.exit(): the process must end by itself (nothing left that keeps it alive)
