/**
 * What the coordinator knows about this machine without measuring: the LLC
 * size (sysfs), the CPUs this process may use, the identity of the machine
 * and of the loaded libferry (the calibration cache key), and the thread CPU
 * clock used to measure sender CPU.
 *
 * The LLC probe moved here from @ferry/bench (which re-exports it): the
 * coordinator is the one that decides with it.
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { availableParallelism, cpus, hostname, release, totalmem } from "node:os";
import { abiVersion, findLibrary, version } from "@ferry/native";

const KiB = 1024;
const MiB = 1024 * KiB;

/** The LLC (L3) size as sysfs states it for cpu0 ("266240K"), or "" when unknown. */
export function llcText(): string {
  try {
    return readFileSync("/sys/devices/system/cpu/cpu0/cache/index3/size", "utf8").trim();
  } catch {
    return "";
  }
}

/**
 * Where libferry's cache "auto" turns cold for an LLC of `llc` bytes (0: unknown): half the LLC, at most
 * 16 MiB, or 4 MiB when the LLC is unknown — the rule of ferry__default_cold_threshold (native/src/engine/copy.c;
 * change both together). The cap matters on VMs: sysconf and sysfs report the host's whole L3 (300 MiB on a
 * 16-core Xeon VM), of which a guest's share is far smaller; with LLC/2 uncapped, 16 and 64 MiB sends counted
 * as "fits comfortably" and were sent hot, 1.5-1.9x slower end to end there than cold (docs/benchmarks.md).
 */
export function coldFromBytes(llc: number): number {
  return llc > 0 ? Math.min(llc / 2, 16 * MiB) : 4 * MiB;
}

/** The LLC (L3) size in bytes, 0 when unknown. */
export function llcBytes(): number {
  const m = /^(\d+)\s*([KMG]?)/i.exec(llcText());
  if (!m) return 0;
  return Number(m[1]) * ({ "": 1, K: KiB, M: MiB, G: 1024 * MiB } as Record<string, number>)[m[2]!.toUpperCase()]!;
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

export interface MachineKey {
  /** sha256 of everything below: the cache key. */
  id: string;
  host: string;
  cpu: string;
  cpus: number;
  memBytes: number;
  kernel: string;
  llcBytes: number;
}

/** This machine: /etc/machine-id (or the host name), CPU model and count, memory, kernel, LLC. */
export function machineKey(): MachineKey {
  const cpu = cpus()[0]?.model ?? "unknown";
  const n = availableParallelism();
  const mem = totalmem();
  const kernel = release();
  const llc = llcBytes();
  const host = readText("/etc/machine-id") || hostname();
  const id = createHash("sha256").update(JSON.stringify([host, cpu, n, Math.round(mem / MiB), kernel, llc])).digest("hex").slice(0, 16);
  return { id, host: hostname(), cpu, cpus: n, memBytes: mem, kernel, llcBytes: llc };
}

export interface LibraryKey {
  /** sha256 of the below: the cache key. */
  id: string;
  version: string;
  abi: number;
  /** The loaded libferry's path, size and mtime: a rebuild is another library. */
  path: string;
  build: string;
}

/** The loaded libferry: its version, ABI and build (file size + mtime). */
export function libraryKey(): LibraryKey {
  let path = "";
  let build = "";
  try {
    path = findLibrary();
    const st = statSync(path);
    build = `${st.size}@${Math.round(st.mtimeMs)}`;
  } catch {
    // a library found some other way: its version alone identifies it
  }
  const id = createHash("sha256").update(JSON.stringify([version, abiVersion, build])).digest("hex").slice(0, 16);
  return { id, version, abi: abiVersion, path, build };
}

/** CPU time of the calling thread in ns (/proc/thread-self/schedstat), or NaN where unreadable. */
export function threadCpuNs(): number {
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]);
  } catch {
    return NaN;
  }
}
