/**
 * Finds libferry. Order: $FERRY_LIB, the packaged prebuilt for this platform,
 * the local CMake build. The error lists every path tried; FERRY_DEBUG_LOAD=1
 * prints each candidate.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { suffix } from "bun:ffi";

const here = import.meta.dir;
const root = resolve(here, "..");

export function candidates(): string[] {
  const out: string[] = [];
  if (process.env.FERRY_LIB) out.push(resolve(process.env.FERRY_LIB));
  out.push(join(root, "prebuilds", `${process.platform}-${process.arch}`, `libferry.${suffix}`));
  out.push(join(root, "build", `libferry.${suffix}`));
  return out;
}

export function findLibrary(): string {
  const tried = candidates();
  for (const p of tried) {
    const ok = existsSync(p);
    if (process.env.FERRY_DEBUG_LOAD) console.error(`[ferry] ${ok ? "found" : "missing"} ${p}`);
    if (ok) return p;
  }
  throw new Error(
    `libferry not found. Tried:\n${tried.map((p) => `  - ${p}`).join("\n")}\n` +
      `Build it with \`bun run build\` (CMake + a C compiler), or set FERRY_LIB to its path.`,
  );
}
