/**
 * Who may touch the FFI directly (grep-style, over the TS/JS files git
 * tracks or would track; comment lines are skipped):
 *   - only wrapper modules read the dlopen table's `.symbols`: everything else
 *     goes through the classes that own native handles;
 *   - only native/js/symbols.ts calls dlopen(): one table for libferry, none
 *     for libc or anything else.
 * The bench is checked too: its shared clock is @ferry/native's nowNs()
 * (ferry_now_ns), not a second table on libc.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(import.meta.dir, "..");
const SELF = relative(ROOT, import.meta.path); // this checker names the patterns it looks for

/** Files allowed to read `.symbols`, as globs from the repo root. */
const SYMBOLS_READERS = [
  "native/js/*.ts", // @ferry/native: the table (symbols.ts), errors, constants, structs, Engine, NativeHandle
  "packages/channel/src/**/*.ts", // @ferry/channel: Channel, Publisher, Subscriber, Message
  "packages/mq/src/local.ts", // @ferry/mq: LocalStore (pinning publisher) and PinReader, the wrapper of pin readers
  "packages/testkit/src/raw.ts", // RawPublisher: raw C-API sends for tests, with the ptr() discipline
  "tests/native-symbols.test.ts", // reads the table's keys only, to compare them with ferry.h and nm -D
  "tests/native-binding.test.ts", // @ferry/native's own checks against its library (struct sizes)
  "packages/bench/src/tools/idle-floor.ts", // measures the idle round trip WITHOUT the library's JS: raw calls are its point
  "packages/bench/src/tools/cold-calls.ts", // times one bare native call after an idle gap: the raw call is its point
].map((g) => new Bun.Glob(g));

/** Files allowed to call dlopen(. */
const DLOPEN_CALLERS = ["native/js/symbols.ts"];


function sourceFiles(): string[] {
  const git = Bun.spawnSync(["git", "ls-files", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (git.exitCode !== 0) throw new Error(`git ls-files failed: ${git.stderr.toString()}`);
  return git.stdout
    .toString()
    .split("\n")
    .filter((f) => /\.(c|m)?[jt]sx?$/.test(f) && f !== SELF);
}

/** "file:line: text" for every non-comment line of `files` that matches `re`. */
function grep(files: string[], re: RegExp): string[] {
  const hits: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, f), "utf8");
    } catch {
      continue; // deleted in the working tree but still in the index
    }
    for (const [i, line] of text.split("\n").entries()) {
      const t = line.trim();
      if (t.startsWith("//") || t.startsWith("/*") || t.startsWith("*")) continue;
      if (re.test(line)) hits.push(`${f}:${i + 1}: ${t}`);
    }
  }
  return hits;
}

const files = sourceFiles();

test("the scan sees the packages' sources and tests", () => {
  for (const f of ["native/js/symbols.ts", "packages/channel/src/index.ts", "packages/testkit/src/raw.ts"]) expect(files).toContain(f);
  expect(files).toContain("packages/bench/src/run.ts");
});

test("only wrapper modules read .symbols of the FFI library", () => {
  const hits = grep(files, /\.symbols\b|\[\s*["'`]symbols["'`]\s*\]/);
  expect(hits.length).toBeGreaterThan(0); // the wrappers themselves are found
  const outside = hits.filter((h) => !SYMBOLS_READERS.some((g) => g.match(h.slice(0, h.indexOf(":")))));
  expect(outside).toEqual([]);
});

test("only native/js/symbols.ts calls dlopen(", () => {
  const hits = grep(files, /\bdlopen\s*\(/);
  expect(hits.map((h) => h.slice(0, h.indexOf(":")))).toContain("native/js/symbols.ts");
  expect(hits.filter((h) => !DLOPEN_CALLERS.includes(h.slice(0, h.indexOf(":"))))).toEqual([]);
});
