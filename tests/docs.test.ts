/**
 * Documentation that cannot drift: the generated API reference and error
 * table are current, every FERRY_E_* code has a row, relative links in the
 * docs resolve inside the repository, architecture.md links nowhere outside
 * it, and every example folder is listed.
 */
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { errorList } from "../scripts/docs";

const ROOT = join(import.meta.dir, "..");

test("docs/api and docs/errors.md are what `bun run docs` generates", () => {
  const p = Bun.spawnSync([process.execPath, "scripts/docs.ts", "--check"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect({ code: p.exitCode, err: p.stderr.toString() }).toEqual({ code: 0, err: "" });
}, 60_000);

test("the error table has every code of errors.h, and the library agrees with errors.h", async () => {
  const md = readFileSync(join(ROOT, "docs/errors.md"), "utf8");
  const list = errorList();
  expect(list.length).toBeGreaterThanOrEqual(20);
  for (const e of list) expect(md).toContain(`| \`FERRY_E_${e.name}\` | ${e.errno} |`);
  const { libraryErrorNames } = await import("@ferry/native");
  expect([...libraryErrorNames()].map(([code, name]) => `${name}=${code}`)).toEqual(list.map((e) => `FERRY_E_${e.name}=${e.errno}`));
});

const docs = ["README.md", "examples/README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

test("relative links in README and docs resolve to files in the repository", () => {
  const broken: string[] = [];
  for (const f of docs) {
    const md = readFileSync(join(ROOT, f), "utf8").replace(/```[\s\S]*?```/g, "");
    for (const m of md.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!.split("#")[0]!;
      if (!target || /^[a-z]+:/i.test(target)) continue;
      const abs = resolve(dirname(join(ROOT, f)), target);
      if (relative(ROOT, abs).startsWith("..") || !existsSync(abs)) broken.push(`${f}: ${m[1]}`);
    }
  }
  expect(broken).toEqual([]);
});

test("docs/architecture.md links nowhere outside the repository", () => {
  const md = readFileSync(join(ROOT, "docs/architecture.md"), "utf8");
  expect(md.match(/https?:\/\/\S+/g) ?? []).toEqual([]);
  expect(md.match(/\.\.\/(shared|\.\.)\S*/g) ?? []).toEqual([]);
});

test("every examples/ folder is listed in examples/README.md", () => {
  const md = readFileSync(join(ROOT, "examples/README.md"), "utf8");
  const dirs = readdirSync(join(ROOT, "examples"), { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== "node_modules" && !d.name.startsWith(".")).map((d) => d.name);
  expect(dirs.length).toBeGreaterThanOrEqual(5);
  for (const d of dirs) expect(md).toContain(`](${d}`);
});
