/** The machine and build a run measures on (recorded in every results JSON). */
import { readFileSync, statSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { resolve } from "node:path";
import { findLibrary, version as ferryVersion } from "@ferry/native";
import type { Machine } from "../schema";
import { llcText } from "./probes";

export const REPO_ROOT = resolve(import.meta.dir, "../../../..");

const read = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};

/** The libferry.so peers load: path, mtime and size (to detect a rebuild during the run). */
export function libferryStamp(): Machine["libferry"] {
  try {
    const path = findLibrary();
    const st = statSync(path);
    return { path, mtime: st.mtime.toISOString(), size: st.size };
  } catch {
    return { path: "", mtime: "", size: 0 };
  }
}

export function machine(): Machine {
  return {
    libferry: libferryStamp(),
    cpu: (cpus()[0]?.model ?? "unknown").trim(),
    cores: cpus().length,
    l3: llcText(),
    memory_gib: Math.round(totalmem() / 2 ** 30),
    kernel: read("/proc/sys/kernel/osrelease").trim(),
    virtualized: /\bhypervisor\b/.test(read("/proc/cpuinfo")),
    bun: Bun.version,
    ferry: ferryVersion,
    platform: `${process.platform}-${process.arch}`,
  };
}
