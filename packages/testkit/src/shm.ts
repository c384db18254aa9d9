/** Channel names unique to this test process, and the /dev/shm segments behind them. */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

export const SHM = "/dev/shm";
/** libferry's segment prefix in /dev/shm (FERRY_SHM_PREFIX). */
const PREFIX = "ferry.";

let counter = 0;
/** Every name uniqueName() handed out in this process (registerCleanup checks them). */
export const usedNames = new Set<string>();

/** A channel name unique to this test process: "t<pid>-<n>-<tag>" (valid, <= 64 bytes). */
export function uniqueName(tag: string): string {
  const name = `t${process.pid}-${++counter}-${tag}`.slice(0, 64);
  usedNames.add(name);
  return name;
}

/** The prefix every uniqueName() of this process starts with. */
export const namePrefix = () => `t${process.pid}-`;

export const shmPath = (name: string) => join(SHM, `${PREFIX}${name}`);
export const shmExists = (name: string) => existsSync(shmPath(name));

/** Every /dev/shm/ferry.* entry (names without the prefix). */
export function listFerryShm(): string[] {
  return readdirSync(SHM)
    .filter((f) => f.startsWith(PREFIX))
    .map((f) => f.slice(PREFIX.length));
}
