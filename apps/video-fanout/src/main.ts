/**
 * Video fan-out: a producer writes raw RGBA frames (4K: 3840×2160×4 ≈ 33 MB)
 * straight into loans of one Ferry channel at a target frame rate and
 * publishes each once; three consumer processes (thumbnailer, motion
 * statistics, recorder) read every frame in place. The publisher's
 * backpressure is drop-oldest: a consumer that falls behind loses its oldest
 * unread frames (counted) instead of holding up the producer or the others.
 *
 * The run has two phases with the same frames: every consumer at full speed,
 * then the recorder slowed down by --slow MS per frame.
 *
 *   bun run src/main.ts [--width 3840 --height 2160 --fps 10 --frames 40 --slow 250 --arena 8 --out DIR --json FILE]
 */
import { Channel } from "@ferry/channel";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runConsumer, type ConsumerStats, type Role } from "./consumer";
import { Pattern, now, type FrameHeader } from "./frames";

const { values: v } = parseArgs({
  options: {
    role: { type: "string" },
    channel: { type: "string" },
    width: { type: "string", default: "3840" },
    height: { type: "string", default: "2160" },
    fps: { type: "string", default: "10" },
    frames: { type: "string", default: "40" },
    slow: { type: "string", default: "250" },
    "slow-ms": { type: "string", default: "0" },
    arena: { type: "string", default: "8" },
    ring: { type: "string", default: "4" },
    out: { type: "string" },
    json: { type: "string" },
    phases: { type: "string", default: "normal,slow" },
  },
});

const int = (s: string | undefined, name: string, min = 0) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min} (got ${s})`);
    process.exit(2);
  }
  return n;
};

export const ROLES: Role[] = ["thumbnailer", "motion", "recorder"];

export interface PhaseResult {
  phase: string;
  published: number;
  /** Producer: frames that started late (behind the target rate), and its achieved rate. */
  late: number;
  fps: number;
  /** Producer: time to fill + hash + publish one frame (p50, ms). */
  produceP50: number;
  consumers: ConsumerStats[];
}

async function phase(name: string, o: { width: number; height: number; fps: number; frames: number; slowRecorder: number; arena: number; ring: number; out: string }): Promise<PhaseResult> {
  const pattern = new Pattern(o.width, o.height);
  const frameBytes = pattern.bytes;
  const channel = `vf${process.pid}-${name}`;
  using ch = Channel.create(channel, { capacity: o.arena * frameBytes + 2 ** 20, slots: 64 });
  const pub = ch.publisher({ backpressure: "drop-oldest", timeoutMs: 10_000 });
  const dir = join(o.out, name);
  mkdirSync(dir, { recursive: true });
  const procs = ROLES.map((role) =>
    Bun.spawn(
      [process.execPath, import.meta.path, "--role", role, "--channel", channel, "--out", dir, "--ring", String(o.ring),
        "--slow-ms", String(role === "recorder" ? o.slowRecorder : 0)],
      { stdout: "pipe", stderr: "inherit", stdin: "ignore" },
    ),
  );
  const outputs = procs.map((p) => new Response(p.stdout).text());
  try {
    await pub.waitForSubscribers(ROLES.length, { timeoutMs: 30_000 });
    const produce: number[] = [];
    let late = 0;
    const period = 1000 / o.fps;
    const t0 = performance.now() + 50;
    for (let i = 0; i < o.frames; i++) {
      const due = t0 + i * period;
      const wait = due - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      else if (wait < -period / 2) late++;
      const p0 = performance.now();
      const loan = pub.loan(frameBytes); // drop-oldest: a full arena drops a slow consumer's oldest unread frame
      pattern.fill(i, loan.bytes);
      const crc = Bun.hash.crc32(loan.bytes);
      pub.publish(loan, { header: { i, w: o.width, h: o.height, t: now(), crc } satisfies FrameHeader });
      produce.push(performance.now() - p0);
    }
    const fps = (o.frames - 1) / ((performance.now() - t0) / 1000);
    pub.close(); // end of stream: consumers drain what they hold and exit
    const consumers = (await Promise.all(outputs)).map((text, k) => {
      const line = text.split("\n").find((l) => l.startsWith('{"stats"'));
      if (!line) throw new Error(`${ROLES[k]} ended without statistics`);
      return (JSON.parse(line) as { stats: ConsumerStats }).stats;
    });
    const codes = await Promise.all(procs.map((p) => p.exited));
    if (codes.some((c) => c !== 0)) throw new Error(`a consumer exited with ${codes.join(",")}`);
    produce.sort((a, b) => a - b);
    return { phase: name, published: o.frames, late, fps: Math.round(fps * 100) / 100, produceP50: Math.round(produce[produce.length >> 1]! * 100) / 100, consumers };
  } finally {
    for (const p of procs) p.kill();
    pub.close();
  }
}

function print(rs: PhaseResult[], o: { width: number; height: number; fps: number; slow: number }) {
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
  const head = ["phase", "consumer", "received", "dropped", "crc bad", "latency p50 ms", "done p50 ms", "done p95 ms", "work p50 ms"];
  const rows: string[][] = [];
  for (const r of rs)
    for (const c of r.consumers)
      rows.push([r.phase, c.role + (r.phase === "slow" && c.role === "recorder" ? ` (+${o.slow} ms)` : ""), `${c.received}/${r.published}`, String(c.dropped), String(c.mismatches), f(c.latencyP50, 2), f(c.doneP50), f(c.doneP95), f(c.workP50)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  console.log(line(head));
  console.log(w.map((n) => "-".repeat(n)).join("  "));
  for (const r of rows) console.log(line(r));
  console.log();
  for (const r of rs)
    console.log(`${r.phase}: producer ${r.fps} fps of ${o.fps} target, ${r.late} late frame(s), fill + CRC + publish p50 ${r.produceP50} ms per frame`);
}

if (v.role) {
  await runConsumer(v.channel!, v.role as Role, v.out!, int(v["slow-ms"], "slow-ms"), int(v.ring, "ring", 1));
} else {
  const o = {
    width: int(v.width, "width", 8), height: int(v.height, "height", 8), fps: int(v.fps, "fps", 1), frames: int(v.frames, "frames", 2),
    slow: int(v.slow, "slow"), arena: int(v.arena, "arena", 4), ring: int(v.ring, "ring", 1),
  };
  const tmp = !v.out;
  const out = v.out ?? mkdtempSync(join(tmpdir(), "ferry-video-"));
  const MB = (o.width * o.height * 4) / 1e6;
  console.log(
    `video fan-out: ${o.width}×${o.height} RGBA frames (${MB.toFixed(1)} MB each) at ${o.fps} fps, ${o.frames} frames per phase, ` +
      `one channel (arena ${o.arena} frames, drop-oldest) → ${ROLES.join(", ")}\n`,
  );
  const results: PhaseResult[] = [];
  try {
    for (const name of v.phases!.split(","))
      results.push(await phase(name, { ...o, frames: o.frames, slowRecorder: name === "slow" ? o.slow : 0, out }));
  } finally {
    if (tmp) rmSync(out, { recursive: true, force: true });
  }
  print(results, o);
  const norm = results.find((r) => r.phase === "normal"), slow = results.find((r) => r.phase === "slow");
  if (norm && slow) {
    const others = ROLES.filter((r) => r !== "recorder").map((role) => {
      const a = norm.consumers.find((c) => c.role === role)!, b = slow.consumers.find((c) => c.role === role)!;
      return `${role} ${a.received}→${b.received} frames, done p50 ${a.doneP50.toFixed(1)}→${b.doneP50.toFixed(1)} ms`;
    });
    const rec = slow.consumers.find((c) => c.role === "recorder")!;
    console.log(`\nwith the recorder slowed by ${o.slow} ms a frame it got ${rec.received} of ${slow.published} frames (${rec.dropped} dropped, oldest first); the others: ${others.join("; ")}`);
  }
  const bad = results.flatMap((r) => r.consumers).reduce((a, c) => a + c.mismatches, 0);
  console.log(`every frame's CRC-32 checked by every consumer: ${bad ? `${bad} MISMATCHES` : "all matched"}`);
  if (v.json) writeFileSync(v.json, JSON.stringify({ options: o, results }, null, 2));
  if (bad) process.exitCode = 1;
}
