/**
 * The prebuilt library of a platform package (native/npm/<target>/):
 *
 *   bun scripts/prebuild.ts [target]          strip build/libferry.so into npm/<target>/libferry.so, then check it
 *   bun scripts/prebuild.ts --check [target]  only check (the platform package's prepack; the release script)
 *
 * The check fails loudly (exit 1, saying what to run) when the library is
 * missing, not stripped, for another machine, or needs a newer glibc than
 * the package's `ferry.glibc` states (measured: the highest GLIBC_x.y of
 * `objdump -T`). target defaults to linux-x64-gnu, the one built here.
 */
import { copyFileSync, existsSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";

const NATIVE = join(import.meta.dir, "..");

export interface LibraryReport {
  path: string;
  stripped: boolean;
  machine: string;
  /** The highest GLIBC_ symbol version the library needs, e.g. "2.34". */
  glibcFloor: string;
  problems: string[];
}

const cmp = (a: string, b: string) => {
  const x = a.split(".").map(Number), y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

function run(cmd: string[]): string {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${p.stderr.toString().trim()}`);
  return p.stdout.toString();
}

/** Inspect a built libferry: stripped? machine? glibc floor? Problems against `declaredGlibc`. */
export function inspectLibrary(path: string, declaredGlibc: string): LibraryReport {
  const problems: string[] = [];
  if (!existsSync(path)) return { path, stripped: false, machine: "", glibcFloor: "", problems: [`${path} is missing`] };
  const headers = run(["objdump", "-h", path]);
  const stripped = !/\s\.symtab\s|\s\.debug_info\s/.test(headers) && !run(["objdump", "-t", path]).includes(".text\t");
  const machine = run(["objdump", "-f", path]).match(/architecture: ([^,\s]+)/)?.[1] ?? "?";
  const versions = [...new Set(run(["objdump", "-T", path]).match(/GLIBC_\d+(\.\d+)+/g) ?? [])].map((v) => v.slice(6)).sort(cmp);
  const glibcFloor = versions.at(-1) ?? "none";
  if (!stripped) problems.push(`${path} is not stripped (has .symtab or debug info)`);
  if (machine !== "i386:x86-64") problems.push(`${path} is for ${machine}, not x86-64`);
  if (glibcFloor !== "none" && cmp(glibcFloor, declaredGlibc) > 0)
    problems.push(`${path} needs glibc ${glibcFloor} (objdump -T), above the ${declaredGlibc} that package.json's ferry.glibc states`);
  return { path, stripped, machine, glibcFloor, problems };
}

function target(arg: string | undefined) {
  const name = arg ?? "linux-x64-gnu";
  const dir = join(NATIVE, "npm", name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { ferry: { glibc: string; library: string } };
  return { name, dir, lib: join(dir, pkg.ferry.library), glibc: pkg.ferry.glibc };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const t = target(args.find((a) => !a.startsWith("--")));
  if (!check) {
    const built = join(NATIVE, "build", "libferry.so");
    if (!existsSync(built)) {
      console.error(`prebuild: ${built} is missing: run \`bun run build\` in native/ first`);
      process.exit(1);
    }
    copyFileSync(realpathSync(built), t.lib);
    run(["strip", "--strip-unneeded", t.lib]);
  }
  const r = inspectLibrary(t.lib, t.glibc);
  if (r.problems.length) {
    console.error(
      `prebuild: @ferry/native-${t.name} cannot be packed:\n${r.problems.map((p) => `  - ${p}`).join("\n")}\n` +
        `  fix: \`bun run build\` in the repository (it strips the library into ${t.lib}), then pack again`,
    );
    process.exit(1);
  }
  console.log(`prebuild: ${t.lib}: stripped, ${r.machine}, needs glibc ${r.glibcFloor} (stated: >= ${t.glibc})`);
}
