/**
 * Small frames through the real app: every frame's CRC-32 matches in every
 * consumer; with the recorder slowed down, it loses its oldest frames
 * (counted) while the thumbnailer and the motion consumer still get all.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import type { PhaseResult } from "../src/main";
import { Pattern } from "../src/frames";

test("frames reach every consumer intact; a slow consumer drops, the others do not", async () => {
  const out = mkdtempSync(join(tmpdir(), "vf-test-"));
  const json = join(out, "result.json");
  const p = Bun.spawn(
    [process.execPath, new URL("../src/main.ts", import.meta.url).pathname,
      "--width", "320", "--height", "180", "--fps", "40", "--frames", "40", "--slow", "120", "--arena", "4", "--ring", "3", "--out", out, "--json", json],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [text, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  expect(text).toContain("all matched");
  const { results } = (await Bun.file(json).json()) as { results: PhaseResult[] };
  const [normal, slow] = results;
  expect(normal!.phase).toBe("normal");
  for (const c of normal!.consumers) {
    expect(c.mismatches).toBe(0);
    expect(c.received).toBe(40);
    expect(c.dropped).toBe(0);
    expect(c.lastFrame).toBe(39);
  }
  for (const c of slow!.consumers) {
    expect(c.mismatches).toBe(0);
    expect(c.received + c.dropped).toBe(40); // every frame is either seen or counted as dropped
    expect(c.lastFrame).toBe(39); // the newest frame is never the one dropped
    if (c.role === "recorder") {
      expect(c.dropped).toBeGreaterThan(0);
      expect(c.out.framesWritten).toBe(c.received);
    } else expect(c.dropped).toBe(0);
  }
  // what the consumers made
  const thumb = await sharp(join(out, "normal", "thumb.jpg")).metadata();
  expect([thumb.width, thumb.height, thumb.format]).toEqual([320, 180, "jpeg"]);
  expect(statSync(join(out, "normal", "recording.rgba")).size).toBe(3 * 320 * 180 * 4);
  const motion = normal!.consumers.find((c) => c.role === "motion")!;
  expect(motion.out.meanMotion as number).toBeGreaterThan(1); // the pattern moves
  rmSync(out, { recursive: true, force: true });
  expect(readdirSync("/dev/shm").filter((f) => f.startsWith(`ferry.vf${p.pid}-`))).toEqual([]);
}, 60_000);

test("the generator is deterministic and frames differ", () => {
  const g = new Pattern(64, 32);
  const a = new Uint8Array(g.bytes), b = new Uint8Array(g.bytes), c = new Uint8Array(g.bytes);
  g.fill(5, a);
  g.fill(5, b);
  g.fill(6, c);
  expect(Bun.hash.crc32(a)).toBe(Bun.hash.crc32(b));
  expect(Bun.hash.crc32(a)).not.toBe(Bun.hash.crc32(c));
  expect(a[4 * 10 + 3]).toBe(255); // alpha (the first 8 bytes hold the frame number)
});
