/** What the coordinator's tests share: a temp calibration cache, the test plugins, payloads, synthetic profiles. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine, type FerryError } from "@ferry/channel";
import { makePayload, seedOf } from "@ferry/testkit";
import { linear, syntheticProfile, type Series } from "../src/index";

/** Calibration cache and stats snapshots of this test process: a temp dir (never the user's ~/.cache). */
export const TMP = mkdtempSync(join(tmpdir(), "ferry-coord-test-"));
process.env.FERRY_CACHE_DIR = join(TMP, "cache");
process.env.FERRY_STATS_DIR = join(TMP, "stats");
process.env.FERRY_COORD_QUIET = "1";

export const KiB = 1024;
export const MiB = 2 ** 20;

const PLUGINS = join(import.meta.dir, "../../../native/build/tests");
export const SLOWPLUG = join(PLUGINS, "libferry_engine_slowplug.so");

/** Load slowplug once per process; its name. */
export function loadSlowplug(): string {
  try {
    return Engine.load(SLOWPLUG);
  } catch (e) {
    if ((e as FerryError).code !== "FERRY_E_EXISTS") throw e;
    return "slowplug";
  }
}

/** Payload i of run r, with the header peers/recv.ts checks it against. */
export function payload(run: number, i: number, size: number) {
  const s = seedOf(run, 0, i);
  return { bytes: makePayload(size, s), header: { p: 0, i, s, size } };
}

/** inline at `cpuGbps` (1 µs fixed); one engine per entry: fixed µs and GB/s (offload = pipelined). */
export function profileOf(cpuGbps: number, engines: { label: string; fixedUs: number; gbps: number; async?: boolean }[], llc = 32 * MiB) {
  return syntheticProfile({
    inlineHot: linear(1000, cpuGbps),
    inlineCold: linear(1000, cpuGbps),
    llcBytes: llc,
    engines: engines.map((e) => ({ label: e.label, async: e.async ?? true, offload: linear(e.fixedUs * 1000, e.gbps) as Series })),
  });
}
