/** Suite-level cleanup: no peer process and no segment of this process outlives a test file. */
import { unlinkSync } from "node:fs";
import { afterAll, expect } from "bun:test";
import { killAllPeers } from "./spawn";
import { listFerryShm, namePrefix, shmPath, usedNames } from "./shm";

/**
 * Register the suite-level cleanup: kill leftover peers, then assert that no
 * /dev/shm/ferry.<name> created under one of this process's names remains
 * (removing any so the machine stays clean).
 */
export function registerCleanup() {
  afterAll(async () => {
    await killAllPeers();
    const prefix = namePrefix();
    const left = listFerryShm().filter((n) => usedNames.has(n) || n.startsWith(prefix));
    for (const n of left) {
      try {
        unlinkSync(shmPath(n));
      } catch {}
    }
    expect(left).toEqual([]);
  });
}
