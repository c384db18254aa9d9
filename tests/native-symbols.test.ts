/**
 * The FFI surface is one list kept three times; this test keeps them equal:
 *   (a) every function declared FERRY_API in the public headers (native/include/**\/*.h),
 *   (b) the keys of the one dlopen table (native/js/symbols.ts, read as lib.symbols),
 *   (c) the functions libferry exports (`nm -D --defined-only`, T symbols named ferry_*).
 * A name missing from one of them fails with a row saying where it is and is not.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { findLibrary, lib } from "@ferry/native";

const ROOT = join(import.meta.dir, "..");
const INCLUDE = join(ROOT, "native", "include");
/** A path for messages: relative to the repo when inside it. */
const show = (p: string) => (p.startsWith(`${ROOT}/`) ? relative(ROOT, p) : p);

/** Every .h file below `dir`, recursively. */
function headers(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".h"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/**
 * Names of the functions a header declares with FERRY_API. Comments and
 * preprocessor lines (with their continuations, e.g. `#define FERRY_API ...`)
 * go first; then each FERRY_API is followed, across lines, to the first `(`:
 * the identifier right before it is the function's name, whatever the return
 * type (`const char *`, `int64_t`, other attribute macros).
 */
function ferryApiNames(source: string): string[] {
  const code = source
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/\/\/[^\n]*/g, " ")
    .replace(/^[ \t]*#(?:[^\n]*\\\n)*[^\n]*/gm, " ");
  return [...code.matchAll(/\bFERRY_API\b[^;{}()]*?\b([A-Za-z_]\w*)\s*\(/g)].map((m) => m[1]!);
}

/** ferry_* functions (T) a shared library exports. */
function exportedFunctions(path: string): string[] {
  const nm = Bun.spawnSync(["nm", "-D", "--defined-only", path], { stdout: "pipe", stderr: "pipe" });
  if (nm.exitCode !== 0) throw new Error(`nm -D ${path} failed (${nm.exitCode}): ${nm.stderr.toString()}`);
  return nm.stdout
    .toString()
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && f[1] === "T" && f[2]!.startsWith("ferry_"))
    .map((f) => f[2]!.replace(/@.*$/, "")); // ferry_x@@FERRY_0 (version script)
}

test("the parser reads multi-line declarations and any return type, and skips comments and #define", () => {
  const src = `
    #define FERRY_API __attribute__((visibility("default")))
    #define FERRY_OLD(x) \\
      FERRY_API int ferry_in_macro(void);
    /* FERRY_API int ferry_in_comment(void); */
    // FERRY_API int ferry_in_line_comment(void);
    FERRY_API const char *ferry_a(void);
    FERRY_API int64_t
    ferry_b(ferry_sub *sub,
            uint32_t token);
    FERRY_API void ferry_c (int x); typedef int (*ferry_cb)(int);
    FERRY_API FERRY_NODISCARD uint64_t *ferry_d(void);
    int ferry_not_api(void);`;
  expect(ferryApiNames(src)).toEqual(["ferry_a", "ferry_b", "ferry_c", "ferry_d"]);
});

test("FERRY_API functions in native/include == the dlopen table in native/js/symbols.ts == libferry's exports", () => {
  const lists = {
    headers: new Map<string, string>(), // name -> header that declares it
    table: new Set(Object.keys(lib.symbols)), // keys only: no symbol is called here
    exports: new Set<string>(),
  };
  const files = headers(INCLUDE);
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) for (const n of ferryApiNames(readFileSync(f, "utf8"))) lists.headers.set(n, show(f));
  const so = findLibrary();
  for (const n of exportedFunctions(so)) lists.exports.add(n);

  const all = [...new Set([...lists.headers.keys(), ...lists.table, ...lists.exports])].sort();
  const where = (n: string) =>
    [
      lists.headers.has(n) ? `declared in ${lists.headers.get(n)}` : "NOT declared FERRY_API in native/include",
      lists.table.has(n) ? "in symbols.ts" : "NOT in native/js/symbols.ts",
      lists.exports.has(n) ? "exported" : `NOT exported by ${show(so)}`,
    ].join(", ");
  const diff = all.filter((n) => !(lists.headers.has(n) && lists.table.has(n) && lists.exports.has(n))).map((n) => `${n}: ${where(n)}`);
  console.log(`[ffi surface] ${lists.headers.size} FERRY_API in ${files.length} header(s), ${lists.table.size} in symbols.ts, ${lists.exports.size} exported by ${show(so)}`);
  expect(diff).toEqual([]);
  expect(lists.headers.size).toBeGreaterThan(50); // a parser that finds nothing would make three empty lists "equal"
});
