/**
 * One consumer process: subscribes to the frame channel (broadcast: it sees
 * every frame unless it falls behind and the producer drops the oldest),
 * checks each frame's CRC-32, does its work on the frame in shared memory,
 * and at the end of the stream prints one JSON line of statistics.
 *
 *   thumbnailer  sharp: raw RGBA → 320×180 JPEG (the last one is kept on disk)
 *   motion       mean luma and mean absolute luma change against the previous
 *                frame, on every 4th pixel of every 4th row
 *   recorder     writes each frame into a ring of --ring frame slots in a file
 *
 * --slow MS adds MS milliseconds per frame (a slower disk or encoder).
 */
import { Channel } from "@ferry/channel";
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { now, type FrameHeader } from "./frames";

export type Role = "thumbnailer" | "motion" | "recorder";

export interface ConsumerStats {
  role: Role;
  pid: number;
  received: number;
  /** Frames this consumer lost to drop-oldest. */
  dropped: number;
  /** Frames whose CRC-32 did not match the producer's. */
  mismatches: number;
  /** Publish → received, and publish → work done (ms). */
  latencyP50: number;
  latencyP95: number;
  doneP50: number;
  doneP95: number;
  workP50: number;
  lastFrame: number;
  /** What the work produced (role specific). */
  out: Record<string, unknown>;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 100) / 100 : NaN;
};

export async function runConsumer(channel: string, role: Role, outDir: string, slowMs: number, ring: number) {
  using ch = await Channel.waitFor(channel, { timeoutMs: 30_000 });
  const sub = ch.subscribe({ wait: "hybrid" });
  const lat: number[] = [], done: number[] = [], work: number[] = [];
  let received = 0, dropped = 0, mismatches = 0, lastFrame = -1;
  const out: Record<string, unknown> = {};
  // role state
  let prev: Float32Array | null = null;
  const motion: number[] = [];
  let fd = -1, written = 0;
  let lastThumb: Buffer | null = null;
  if (role === "recorder") fd = openSync(join(outDir, "recording.rgba"), "w");

  for await (const msg of sub) {
    const at = now();
    const h = msg.header as FrameHeader;
    const bytes = msg.bytes;
    received++;
    dropped = msg.dropped;
    lastFrame = h.i;
    lat.push(at - h.t);
    if (Bun.hash.crc32(bytes) !== h.crc) mismatches++;
    const w0 = performance.now();
    if (role === "thumbnailer") {
      lastThumb = await sharp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { raw: { width: h.w, height: h.h, channels: 4 } })
        .resize(320, 180, { fit: "fill" })
        .jpeg({ quality: 80 })
        .toBuffer();
    } else if (role === "motion") {
      const cur = new Float32Array(Math.ceil(h.h / 4) * Math.ceil(h.w / 4));
      let k = 0, sum = 0, diff = 0;
      for (let y = 0; y < h.h; y += 4)
        for (let x = 0, p = (y * h.w) * 4; x < h.w; x += 4, p += 16) {
          const l = 0.299 * bytes[p]! + 0.587 * bytes[p + 1]! + 0.114 * bytes[p + 2]!;
          cur[k] = l;
          sum += l;
          if (prev) diff += Math.abs(l - prev[k]!);
          k++;
        }
      if (prev) motion.push(diff / k);
      out.meanLuma = Math.round((sum / k) * 10) / 10;
      prev = cur;
    } else {
      writeSync(fd, bytes, 0, bytes.length, (written % ring) * bytes.length);
      written++;
    }
    if (slowMs) await Bun.sleep(slowMs);
    work.push(performance.now() - w0);
    done.push(now() - h.t);
    msg.release();
  }
  sub.close();
  if (role === "thumbnailer" && lastThumb) {
    writeFileSync(join(outDir, "thumb.jpg"), lastThumb);
    out.thumbnail = join(outDir, "thumb.jpg");
    out.thumbnailBytes = lastThumb.length;
  }
  if (role === "motion") out.meanMotion = motion.length ? Math.round((motion.reduce((a, b) => a + b, 0) / motion.length) * 100) / 100 : 0;
  if (role === "recorder") {
    closeSync(fd);
    out.recording = join(outDir, "recording.rgba");
    out.framesWritten = written;
  }
  const stats: ConsumerStats = {
    role, pid: process.pid, received, dropped, mismatches,
    latencyP50: pct(lat, 50), latencyP95: pct(lat, 95), doneP50: pct(done, 50), doneP95: pct(done, 95), workP50: pct(work, 50),
    lastFrame, out,
  };
  console.log(JSON.stringify({ stats }));
}
