/**
 * Layering check of libferry's sources (run by `bun run test` through
 * native's test script): lower layers never include, and so never call, a
 * higher one. Every internal header of native/src belongs to one module, and
 * modules are ranked bottom-up below; a file may include only modules of a
 * lower rank (or its own header). Folders add a coarser rule: sys/ includes
 * only sys/; shm/ only sys/ and shm/; engine/ only sys/ and engine/ (engines
 * know nothing of channels). The compiler makes a call without its header an
 * error (-Werror=implicit-function-declaration), so includes are the call graph.
 *
 * The check runs twice: on the tree, and on the tree with a planted upward
 * include, which it must reject (so the check itself cannot rot into a no-op).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const SRC = join(import.meta.dir, "..", "src");

/** Bottom-up. A module is a path under src/ without its extension. */
export const RANKS = [
  "sys/error", "sys/version", "sys/sys", "sys/proc", "sys/wait", "sys/waiter",
  "shm/layout", "shm/segment", "shm/lock", "shm/alloc", "shm/wake", "shm/ring", "shm/members",
  "engine/copy", "engine/completion", "engine/builtin", "engine/engine", "engine/cpu", "engine/sw",
  "engine/dsa_hw", "engine/dsa_portal", "engine/dsa_emu", "engine/dsa_idxd", "engine/dsa",
  "channel", "publisher", "subscriber", "send", "fault",
];

const FOLDER_MAY_USE: Record<string, string[]> = {
  sys: ["sys"],
  shm: ["sys", "shm"],
  engine: ["sys", "engine"],
  "": ["sys", "shm", "engine", ""],
};

const folderOf = (m: string) => (m.includes("/") ? m.slice(0, m.indexOf("/")) : "");

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : /\.[ch]$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

export function check(files: Map<string, string>): string[] {
  const errors: string[] = [];
  for (const [path, text] of files) {
    const mod = path.replace(/\.[ch]$/, "");
    const rank = RANKS.indexOf(mod);
    if (rank < 0) {
      errors.push(`${path}: not in the layer list of native/scripts/check-layers.ts (add it where it belongs)`);
      continue;
    }
    for (const m of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
      const inc = m[1]!;
      if (inc === "ferry.h" || inc.startsWith("ferry/")) continue; // the public headers
      const target = inc.replace(/\.[ch]$/, "");
      const trank = RANKS.indexOf(target);
      if (trank < 0) {
        errors.push(`${path}: includes "${inc}", which is no module of native/src`);
        continue;
      }
      if (target !== mod && trank >= rank)
        errors.push(`${path}: includes "${inc}", a module at or above its own layer (${target} is #${trank}, ${mod} is #${rank})`);
      if (!FOLDER_MAY_USE[folderOf(mod)]!.includes(folderOf(target)))
        errors.push(`${path}: ${folderOf(mod) || "top level"}/ may not use ${folderOf(target) || "the top level"}/ ("${inc}")`);
    }
  }
  return errors;
}

const files = new Map(walk(SRC).map((p) => [relative(SRC, p), readFileSync(p, "utf8")]));
const errors = check(files);
const planted = new Map(files);
planted.set("shm/ring.c", `${files.get("shm/ring.c")}\n#include "publisher.h"\n`);
const caught = check(planted).some((e) => e.startsWith("shm/ring.c: includes \"publisher.h\""));
if (!caught) errors.push("self-test: a planted upward include (shm/ring.c -> publisher.h) was not caught");
if (errors.length) {
  console.error(`check-layers: ${errors.length} problem(s)\n${errors.map((e) => `  - ${e}`).join("\n")}`);
  process.exit(1);
}
console.log(`check-layers: ${files.size} files in ${RANKS.length} modules, no include runs upward or across (self-test ok)`);
