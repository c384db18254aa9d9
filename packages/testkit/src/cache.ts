/**
 * A private calibration cache for a test file: Coordinator.calibrate() measures
 * this machine and caches the profile per machine and libferry build in
 * $FERRY_CACHE_DIR (default ~/.cache/ferry). A profile measured while the test
 * suite loads both CPUs would be reused by everything run later on the machine
 * (the demo, the bench), with its crossovers skewed by that load. Call at the
 * top of a test file whose processes may calibrate (bun test only: it registers
 * an afterAll that removes the directory); child processes inherit it.
 */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function privateCalibrationCache(): string {
  const dir = mkdtempSync(join(tmpdir(), "ferry-test-cache-"));
  process.env.FERRY_CACHE_DIR = dir;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
