/**
 * Every shared-memory segment the harness creates has a name unique to the
 * run and is unlinked on exit, on failure and on SIGINT/SIGTERM/SIGHUP;
 * modules that start processes register their kill here (onCleanup).
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Channel, type CreateOptions } from "@ferry/channel";

const RUN_ID = `fb${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
let nameCounter = 0;
const created = new Set<string>();

/** A channel name unique to this harness run. */
export function uniqueName(tag: string): string {
  return `${RUN_ID}-${tag}-${nameCounter++}`;
}

/** Create a channel with a unique name; it is unlinked on exit even if the run fails. */
export function createChannel(tag: string, opts: CreateOptions): Channel {
  const name = uniqueName(tag);
  created.add(name);
  return Channel.create(name, opts);
}

/** Segments of this run still present in /dev/shm. */
export function leftoverSegments(): string[] {
  if (!existsSync("/dev/shm")) return [];
  return readdirSync("/dev/shm").filter((f) => f.startsWith(`ferry.${RUN_ID}`));
}

const cleanups: (() => void)[] = [];
/** Run f on cleanup (before the segments are unlinked), e.g. to kill processes. */
export function onCleanup(f: () => void) {
  cleanups.push(f);
}

/** Kill what was registered and remove every segment this run created (idempotent). */
export function cleanup() {
  for (const f of cleanups) {
    try {
      f();
    } catch {}
  }
  for (const name of created) {
    if (existsSync(join("/dev/shm", `ferry.${name}`))) {
      try {
        Channel.unlink(name);
      } catch {}
    }
  }
}

let installed = false;
export function installCleanup() {
  if (installed) return;
  installed = true;
  process.on("exit", cleanup);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
}
