/**
 * Finds and opens libferry. Candidates, in order:
 *   1. $FERRY_LIB (a path to libferry.so): when set, the only candidate;
 *   2. `build/libferry.so` of this package: a from-source build (the repo's
 *      `bun run build`, or `bun run build:source` inside an installed package);
 *   3. the prebuilt of the platform package for this machine
 *      (@ferry/native-linux-x64-gnu, an optional dependency installed only
 *      where its os/cpu/libc match). It exports its library's path through
 *      `import ... with { type: "file" }`, so `bun build --compile` embeds the
 *      library and it is found inside the executable (/$bunfs/...) too.
 * Each is dlopen'ed in turn (a file that exists but does not load, e.g. built
 * for a newer glibc, is skipped with its reason); when none loads, a
 * FerryError (code FERRY_E_NOLIB) lists every path tried and what to do.
 * FERRY_DEBUG_LOAD=1 prints each candidate.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { suffix } from "bun:ffi";
import { FerryError, NOLIB } from "./ferror";

const here = import.meta.dir;
const root = resolve(here, "..");

/** The platform package for this machine, or undefined where none is published. */
export function platformPackage(): string | undefined {
  if (process.platform !== "linux" || process.arch !== "x64") return undefined;
  return isMusl() ? "@ferry/native-linux-x64-musl" : "@ferry/native-linux-x64-gnu";
}

function isMusl(): boolean {
  // the same test detect-libc does: glibc reports its version in the process report header
  const report = (process as unknown as { report?: { getReport(): { header?: { glibcVersionRuntime?: string } } } }).report;
  try {
    return !report?.getReport().header?.glibcVersionRuntime && existsSync("/lib/ld-musl-x86_64.so.1");
  } catch {
    return false;
  }
}

interface Candidate {
  path: string;
  from: string;
  /** Why it is not usable before trying (e.g. the platform package is not installed). */
  skip?: string;
}

/** The platform package's library path. Literal specifiers: `bun build --compile` must see them to embed the file. */
function prebuilt(): Candidate {
  const pkg = platformPackage();
  if (!pkg) return { path: "(none)", from: "prebuilt", skip: `no prebuilt library is published for ${process.platform}-${process.arch}` };
  try {
    // plain require() with literal names: the bundler of `bun build --compile` follows these (not createRequire)
    const mod = pkg === "@ferry/native-linux-x64-gnu" ? require("@ferry/native-linux-x64-gnu") : require("@ferry/native-linux-x64-musl");
    return { path: String(mod.default ?? mod.path), from: pkg };
  } catch (e) {
    const msg = String((e as Error)?.message ?? e).split("\n")[0] ?? "";
    return { path: pkg, from: pkg, skip: /cannot find (module|package)/i.test(msg) && msg.includes(pkg) ? "not installed (an optional dependency: skipped when its os/cpu/libc do not match this machine, or with --no-optional)" : msg };
  }
}

function list(): Candidate[] {
  // FERRY_LIB is the only candidate when set: asking for one library and silently getting another hides mistakes
  if (process.env.FERRY_LIB) return [{ path: resolve(process.env.FERRY_LIB), from: "FERRY_LIB" }];
  const out: Candidate[] = [];
  out.push({ path: join(root, "build", `libferry.${suffix}`), from: "from-source build" });
  out.push(prebuilt());
  return out;
}

/** Every path the loader would try, in order. */
export function candidates(): string[] {
  return list().map((c) => c.path);
}

let loadedFrom: string | undefined;

/** The path of the library that was loaded (or would be: the first candidate that exists). */
export function findLibrary(): string {
  if (loadedFrom) return loadedFrom;
  const found = list().find((c) => !c.skip && existsSync(c.path));
  if (!found) throw noLibrary(list().map((c) => ({ ...c, why: c.skip ?? "missing" })));
  return found.path;
}

/** The advice when nothing loads: what works in an installed package, not only in the repo. */
function noLibrary(tried: { path: string; from: string; why: string }[]): FerryError {
  const inRepo = existsSync(join(root, "tests", "CMakeLists.txt"));
  const build = inRepo
    ? `build it: \`bun run build\` in the repository (CMake >= 3.20 and a C11 compiler)`
    : `build it from source: \`bun run --cwd ${root} build:source\` (CMake >= 3.20 and a C11 compiler; no tests or benches are built)`;
  return new FerryError(
    0,
    `libferry could not be loaded. Tried:\n${tried.map((t) => `  - ${t.path} (${t.from}): ${t.why}`).join("\n")}\n` +
      `Fix: install the prebuilt for this machine (@ferry/native-linux-x64-gnu: Linux x86-64, glibc >= 2.34), ` +
      `or ${build}, or set FERRY_LIB to a libferry.so. Details: docs/troubleshooting.md in the ferry repository.`,
    NOLIB,
  );
}

/**
 * Open libferry with `open` (symbols.ts's dlopen of the one table): the first
 * candidate that exists and loads wins. Throws FerryError FERRY_E_NOLIB
 * naming every path tried and why each failed.
 */
export function openLibrary<T>(open: (path: string) => T): T {
  const tried: { path: string; from: string; why: string }[] = [];
  for (const c of list()) {
    let why = c.skip;
    if (!why && !existsSync(c.path)) why = "missing";
    if (!why) {
      try {
        const lib = open(c.path);
        if (process.env.FERRY_DEBUG_LOAD) console.error(`[ferry] loaded ${c.path} (${c.from})`);
        loadedFrom = c.path;
        return lib;
      } catch (e) {
        why = `does not load: ${String((e as Error)?.message ?? e).split("\n")[0]}`;
      }
    }
    if (process.env.FERRY_DEBUG_LOAD) console.error(`[ferry] skipped ${c.path} (${c.from}): ${why}`);
    tried.push({ ...c, why });
  }
  throw noLibrary(tried);
}
