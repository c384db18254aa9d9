/**
 * Subscriber for engine/mode tests: checks every payload against the pattern
 * named by its header { p, i, s, size } (@ferry/testkit patterns). cfg:
 *   { name, wait?, count? (stop after count; default: until end of stream),
 *     emitEach?: boolean (a "got" line per message),
 *     chunks?: number (pipelined: consume with chunks({ minBytes }) and check each chunk as yielded),
 *     chunksOddOnly?: boolean (chunks() only for odd i, ready() for even i),
 *     emitReceived?: boolean (a "received" line { seq, progress } right after each receive),
 *     copyTo?: boolean (also copyTo() through "cpu"/cold and an "sw" Engine and check the copies) }
 * Result: got[] = { p, i, seq, len, hash, ok, pipelined, err?, ... } and the end reason.
 */
import { Channel, Engine, FerryError } from "@ferry/channel";
import { cfg, checkPayload, emit, errInfo, firstMismatch, type PatternHeader, verifyChunks } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: cfg.wait ?? "hybrid" });
emit("ready", { pid: process.pid });
const sw = cfg.copyTo ? new Engine("sw", { threads: 1, chunkBytes: 64 * 1024 }) : null;

type Got = Record<string, unknown>;
const got: Got[] = [];
let end = "count";
for (let n = 0; cfg.count === undefined || n < cfg.count; n++) {
  let msg;
  try {
    msg = await sub.receive({ timeoutMs: cfg.timeoutMs ?? 50_000 });
  } catch (e) {
    end = (e as FerryError).code ?? String(e);
    break;
  }
  const h = msg.header as PatternHeader;
  const r: Got = { p: h?.p, i: h?.i, seq: msg.seq, len: msg.length, pipelined: msg.pipelined, headerSize: h?.size };
  if (cfg.emitReceived) {
    let progress: unknown;
    try {
      progress = msg.progress();
    } catch (e) {
      progress = errInfo(e);
    }
    emit("received", { seq: msg.seq, progress, t: Date.now() });
  }
  try {
    if (msg.pipelined && cfg.chunks && !(cfg.chunksOddOnly && h.i % 2 === 0)) {
      const p0 = msg.progress();
      r.progressAtReceive = p0;
      if (p0 < msg.length) {
        try {
          void msg.bytes;
          // bytes reads the progress again: the copy may have ended since p0 (then not an error); still short is one
          r.bytesWhileIncomplete = msg.progress() < msg.length ? "no error" : "completed meanwhile";
        } catch (e) {
          r.bytesWhileIncomplete = errInfo(e);
        }
      }
      // each chunk is checked at the moment it is yielded: every byte must already be final
      Object.assign(r, await verifyChunks(msg.chunks({ minBytes: cfg.chunks }), h.s, cfg.chunks, msg.length));
      await msg.ready();
    } else if (msg.pipelined) {
      await msg.ready();
    }
    const b = msg.bytes;
    Object.assign(r, checkPayload(b, h));
    if (cfg.copyTo) {
      const d1 = new Uint8Array(b.length);
      await msg.copyTo(d1, { engine: "cpu", cache: "cold" });
      r.copyCpuOk = firstMismatch(d1, 0, h.s) === -1;
      const d2 = new Uint8Array(b.length + 5).fill(0xee);
      await msg.copyTo(d2, { engine: sw! });
      r.copySwOk = firstMismatch(d2.subarray(0, b.length), 0, h.s) === -1 && d2.subarray(b.length).every((x) => x === 0xee);
    }
  } catch (e) {
    r.err = errInfo(e);
  }
  try {
    msg.release();
    r.released = true;
  } catch (e) {
    r.releaseErr = errInfo(e);
  }
  got.push(r);
  if (cfg.emitEach) emit("got", { ...r, t: Date.now() });
}
emit("result", { got, end });
sw?.close();
sub.close();
ch.close();
