/**
 * Subscriber that reads typed payloads. cfg: { name, count }
 * Result: per message its raw bytes (hex), its Float32 values read through
 * msg.view(Float32Array) (when the length allows), and msg.tensor() (dtype,
 * shape, the data's elements as strings) or the error code it gave.
 */
import { Channel } from "@ferry/channel";
import { cfg, emit, errInfo } from "@ferry/testkit/peer";

const ch = Channel.open(cfg.name);
const sub = ch.subscribe({ wait: "hybrid" });
emit("ready", { pid: process.pid });
const msgs: unknown[] = [];
let error: ReturnType<typeof errInfo> | null = null;
try {
  for await (const msg of sub) {
    const hex = Buffer.from(msg.bytes).toString("hex");
    const f32 = msg.length % 4 === 0 ? Array.from(msg.view(Float32Array)) : null;
    let tensor: unknown = null;
    try {
      const t = msg.tensor();
      tensor = { dtype: t.dtype, shape: t.shape, data: Array.from(t.data as ArrayLike<unknown>, String), ctor: t.data.constructor.name };
    } catch (e) {
      tensor = { code: (e as { code?: string }).code };
    }
    msgs.push({ hex, f32, tensor, aligned: msg.bytes.byteOffset % 64 });
    msg.release();
    if (msgs.length === cfg.count) break;
  }
} catch (e) {
  error = errInfo(e);
}
emit("result", { msgs, error });
sub.close();
ch.close();
