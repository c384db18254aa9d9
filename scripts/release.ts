#!/usr/bin/env bun
/**
 * The release flow: version with changesets, pack every public workspace
 * package with `bun pm pack` (scripts run: the platform package's prepack
 * checks its library), check each tarball, then `bun publish` it.
 *
 *   bun scripts/release.ts                      version + pack + check (nothing published)
 *   bun scripts/release.ts --publish            ... and publish to the configured registry
 *   bun scripts/release.ts --publish --registry http://127.0.0.1:4873/
 *   options: --no-version (skip `changeset version`), --out DIR (tarballs; default a temp dir)
 *
 * Auth for publishing: NPM_CONFIG_TOKEN (or the registry's entry in ~/.npmrc).
 *
 * "Every public package" is read from the root package.json's workspaces at
 * run time (every package without "private": true), so a package added later
 * is released without editing this file. Order: dependencies first.
 *
 * Checks on every tarball (a failure stops before anything is published):
 *   - no "workspace:" range is left, and every range on a workspace package
 *     is satisfied by the version released with it;
 *   - main / types / exports targets and README.md are inside it;
 *   - a package with "ferry": { "library": ... } carries that library,
 *     stripped, for x86-64, needing no newer glibc than its "ferry.glibc".
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { inspectLibrary } from "../native/scripts/prebuild";

export interface WorkspacePackage {
  name: string;
  version: string;
  dir: string;
  private: boolean;
  json: Record<string, unknown> & { ferry?: { library?: string; glibc?: string } };
}

const DEP_FIELDS = ["dependencies", "peerDependencies", "optionalDependencies"] as const;

/** Every workspace package of the repository at `root` (the globs of its package.json). */
export function workspacePackages(root: string): WorkspacePackage[] {
  const rootJson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { workspaces: string[] | { packages: string[] } };
  const globs = Array.isArray(rootJson.workspaces) ? rootJson.workspaces : rootJson.workspaces.packages;
  const out: WorkspacePackage[] = [];
  for (const g of globs) {
    for (const f of new Bun.Glob(`${g}/package.json`).scanSync({ cwd: root, onlyFiles: true })) {
      if (f.includes("node_modules")) continue;
      const json = JSON.parse(readFileSync(join(root, f), "utf8"));
      out.push({ name: json.name, version: json.version, dir: join(root, f, ".."), private: json.private === true, json });
    }
  }
  return out;
}

/** Public packages, each after the workspace packages it depends on. */
export function publicPackages(root: string): WorkspacePackage[] {
  const all = workspacePackages(root).filter((p) => !p.private);
  const byName = new Map(all.map((p) => [p.name, p]));
  const done = new Set<string>(), order: WorkspacePackage[] = [];
  const visit = (p: WorkspacePackage, path: string[]) => {
    if (done.has(p.name)) return;
    if (path.includes(p.name)) throw new Error(`release: dependency cycle ${[...path, p.name].join(" -> ")}`);
    for (const f of DEP_FIELDS)
      for (const dep of Object.keys((p.json[f] as Record<string, string>) ?? {})) {
        const d = byName.get(dep);
        if (d) visit(d, [...path, p.name]);
      }
    done.add(p.name);
    order.push(p);
  };
  for (const p of [...all].sort((a, b) => a.name.localeCompare(b.name))) visit(p, []);
  return order;
}

function sh(cmd: string[], cwd: string, env: Record<string, string | undefined> = {}): string {
  const p = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const out = p.stdout.toString(), err = p.stderr.toString();
  if (p.exitCode !== 0) throw new Error(`release: \`${cmd.join(" ")}\` in ${cwd} failed (${p.exitCode}):\n${out}${err}`);
  return out + err;
}

/** Problems of one packed tarball (empty when it may be published). */
export function checkTarball(tgz: string, pkg: WorkspacePackage, versions: Map<string, string>): string[] {
  const problems: string[] = [];
  const json = JSON.parse(sh(["tar", "-xzf", tgz, "-O", "package/package.json"], tmpdir())) as Record<string, unknown>;
  const files = new Set(sh(["tar", "-tzf", tgz], tmpdir()).split("\n").filter(Boolean).map((f) => f.replace(/^package\//, "")));
  const text = JSON.stringify(json);
  if (text.includes("workspace:")) problems.push(`a "workspace:" range is left in package.json`);
  for (const f of DEP_FIELDS)
    for (const [dep, range] of Object.entries((json[f] as Record<string, string>) ?? {})) {
      const want = versions.get(dep);
      if (want && !Bun.semver.satisfies(want, range)) problems.push(`${f}.${dep} is "${range}", which ${dep}@${want} (released with it) does not satisfy`);
    }
  const targets = new Set<string>();
  for (const k of ["main", "types", "module"]) if (typeof json[k] === "string") targets.add(json[k] as string);
  const walk = (e: unknown): void => {
    if (typeof e === "string") targets.add(e);
    else if (e && typeof e === "object") for (const v of Object.values(e)) walk(v);
  };
  walk(json.exports);
  if (json.bin) walk(json.bin);
  for (const t of targets) if (!files.has(t.replace(/^\.\//, ""))) problems.push(`${t} (main/types/exports/bin) is not in the tarball`);
  if (!files.has("README.md")) problems.push("README.md is not in the tarball");
  const lib = pkg.json.ferry?.library;
  if (lib) {
    if (!files.has(lib)) problems.push(`${lib} is not in the tarball (build it: \`bun run build\`)`);
    else {
      const dir = mkdtempSync(join(tmpdir(), "ferry-release-lib-"));
      try {
        sh(["tar", "-xzf", tgz, "-C", dir, `package/${lib}`], dir);
        problems.push(...inspectLibrary(join(dir, "package", lib), pkg.json.ferry?.glibc ?? "0").problems);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return problems;
}

/** Versions already on the registry (none when the package is new there). */
async function published(registry: string, name: string): Promise<Set<string>> {
  const r = await fetch(new URL(name.replace("/", "%2f"), registry));
  if (r.status === 404) return new Set();
  if (!r.ok) throw new Error(`release: ${registry} answered ${r.status} for ${name}`);
  return new Set(Object.keys(((await r.json()) as { versions?: object }).versions ?? {}));
}

export interface ReleaseOptions {
  root: string;
  version?: boolean;
  publish?: boolean;
  registry?: string;
  out?: string;
  log?: (line: string) => void;
}

/** Run the release flow; returns what was packed and published. */
export async function release(o: ReleaseOptions): Promise<{ packed: { name: string; version: string; tarball: string }[]; published: string[] }> {
  const log = o.log ?? ((l: string) => console.log(l));
  const root = resolve(o.root);
  if (o.version !== false) {
    log("release: changeset version");
    sh([process.execPath, "x", "--bun", "changeset", "version"], root);
    // the lockfile records workspace versions; bun pm pack rewrites workspace: ranges from it
    sh([process.execPath, "install"], root);
  }
  const pkgs = publicPackages(root);
  const versions = new Map(pkgs.map((p) => [p.name, p.version]));
  const out = o.out ?? mkdtempSync(join(tmpdir(), "ferry-release-"));
  mkdirSync(out, { recursive: true });
  const packed: { name: string; version: string; tarball: string }[] = [];
  const problems: string[] = [];
  for (const p of pkgs) {
    const before = new Set(new Bun.Glob("*.tgz").scanSync(out));
    sh([process.execPath, "pm", "pack", "--destination", out], p.dir);
    const tgz = [...new Bun.Glob("*.tgz").scanSync(out)].find((f) => !before.has(f));
    if (!tgz) throw new Error(`release: bun pm pack made no tarball for ${p.name}`);
    const tarball = join(out, tgz);
    problems.push(...checkTarball(tarball, p, versions).map((m) => `${p.name}@${p.version}: ${m}`));
    packed.push({ name: p.name, version: p.version, tarball });
    log(`release: packed ${p.name}@${p.version}`);
  }
  if (problems.length) throw new Error(`release: nothing published; fix:\n${problems.map((m) => `  - ${m}`).join("\n")}`);
  const done: string[] = [];
  if (o.publish) {
    const registry = o.registry ?? sh(["npm", "config", "get", "registry"], root).trim();
    for (const p of packed) {
      if ((await published(registry, p.name)).has(p.version)) {
        log(`release: ${p.name}@${p.version} is already on ${registry}: skipped`);
        continue;
      }
      sh([process.execPath, "publish", p.tarball, "--registry", registry, "--access", "public"], root);
      done.push(`${p.name}@${p.version}`);
      log(`release: published ${p.name}@${p.version} to ${registry}`);
    }
  }
  return { packed, published: done };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const val = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  try {
    const r = await release({
      root: join(import.meta.dir, ".."),
      version: !args.includes("--no-version"),
      publish: args.includes("--publish"),
      registry: val("--registry"),
      out: val("--out"),
    });
    console.log(`release: ${r.packed.length} packed, ${r.published.length} published`);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
