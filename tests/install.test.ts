/**
 * Ferry installs the way users install packages:
 *   1. a copy of the repository (its git-tracked files and the built prebuilt
 *      library) goes through the release flow: `changeset version`, then
 *      scripts/release.ts packs and checks every public workspace package and
 *      `bun publish`es it to a verdaccio registry on loopback (fresh storage);
 *   2. a fresh project outside the repository runs `bun add @ferry/channel
 *      @ferry/sw-engine` from that registry and runs examples/producer-consumer
 *      there as two processes; the same consumer, `bun build --compile`d and
 *      moved away from node_modules, runs against the producer;
 *   3. without the platform package the import fails with FerryError
 *      FERRY_E_NOLIB whose advice (build:source) then works in the installed package;
 *   4. a second fresh project installs only @ferry/http and runs a gateway and a worker.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publicPackages } from "../scripts/release";

const ROOT = join(import.meta.dir, "..");
const BUN = process.execPath;
const work = mkdtempSync(join(tmpdir(), "ferry-install-"));
let registry = "";
let verdaccio: ReturnType<typeof Bun.spawn> | undefined;
let released: { name: string; version: string }[] = [];

function sh(cmd: string[], cwd: string, env: Record<string, string> = {}, check = true) {
  const p = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const r = { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
  if (check && r.code !== 0) throw new Error(`\`${cmd.join(" ")}\` in ${cwd} failed (${r.code}):\n${r.out}\n${r.err}`);
  return r;
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** A project outside the repository that installs from the test registry only. */
function project(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module" }));
  writeFileSync(join(dir, "bunfig.toml"), `[install]\nregistry = "${registry}"\n[install.cache]\ndir = "${join(work, "cache")}"\n`);
  return dir;
}

async function spawn(cmd: string[], cwd: string, env: Record<string, string>) {
  const p = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const timer = setTimeout(() => p.kill(9), 60_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { out, err, code };
}

beforeAll(async () => {
  // the repository as git would hand it out, plus the library `bun run build` made
  const copy = join(work, "repo");
  mkdirSync(copy);
  const files = sh(["git", "ls-files", "-co", "--exclude-standard", "-z"], ROOT).out.split("\0").filter(Boolean);
  for (const f of files) {
    mkdirSync(join(copy, f, ".."), { recursive: true });
    try {
      copyFileSync(join(ROOT, f), join(copy, f));
    } catch {} // deleted in the working tree
  }
  for (const p of publicPackages(ROOT))
    if (p.json.ferry?.library) copyFileSync(join(p.dir, p.json.ferry.library), join(copy, p.dir.slice(ROOT.length), p.json.ferry.library));
  sh([BUN, "install", "--frozen-lockfile"], copy);

  const port = await freePort();
  registry = `http://127.0.0.1:${port}/`;
  const cfg = join(work, "verdaccio.yaml");
  writeFileSync(cfg, [
    `storage: ${join(work, "storage")}`,
    `auth: { htpasswd: { file: ${join(work, "htpasswd")}, max_users: 10 } }`,
    "uplinks: {}", // nothing from the internet: only what the release published
    "packages: { '**': { access: $all, publish: $authenticated } }",
    "log: { type: stdout, format: pretty, level: error }",
  ].join("\n"));
  const bin = join(import.meta.dir, "node_modules", "verdaccio", "bin", "verdaccio");
  verdaccio = Bun.spawn(["node", bin, "--config", cfg, "--listen", `127.0.0.1:${port}`], { stdout: "ignore", stderr: "ignore" });
  let token = "";
  for (let i = 0; i < 300 && !token; i++) {
    try {
      const r = await fetch(`${registry}-/user/org.couchdb.user:ferry`, {
        method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "ferry", password: "release-test" }),
      });
      token = ((await r.json()) as { token?: string }).token ?? "";
    } catch {
      await Bun.sleep(100);
    }
  }
  if (!token) throw new Error("verdaccio did not start");
  const rel = sh([BUN, "scripts/release.ts", "--publish", "--registry", registry, "--out", join(work, "tarballs")], copy, { NPM_CONFIG_TOKEN: token });
  released = publicPackages(copy).map((p) => ({ name: p.name, version: p.version }));
  console.log(rel.out.trim());
}, 120_000);

afterAll(() => {
  if (verdaccio) verdaccio.kill(); // by its pid: the one this test started
  rmSync(work, { recursive: true, force: true });
});

test("the release flow published every public workspace package, versioned by changesets", async () => {
  const names = released.map((p) => p.name);
  for (const n of ["@ferry/native", "@ferry/native-linux-x64-gnu", "@ferry/channel", "@ferry/sw-engine", "@ferry/http"]) expect(names).toContain(n);
  for (const p of released) {
    const meta = (await (await fetch(`${registry}${p.name.replace("/", "%2f")}`)).json()) as { versions: Record<string, Record<string, unknown>> };
    expect(Object.keys(meta.versions)).toContain(p.version);
    expect(JSON.stringify(meta.versions[p.version])).not.toContain("workspace:");
  }
  const before = (await Bun.file(join(ROOT, "native", "package.json")).json()).version;
  expect(released.find((p) => p.name === "@ferry/native")!.version).not.toBe(before); // changesets bumped it
});

test("bun add @ferry/channel @ferry/sw-engine in a fresh project; two processes; compiled; from source", async () => {
  const dir = project("app");
  sh([BUN, "add", "@ferry/channel", "@ferry/sw-engine"], dir);
  for (const f of ["producer.ts", "consumer.ts"]) copyFileSync(join(ROOT, "examples", "producer-consumer", f), join(dir, f));
  const env = { FERRY_EXAMPLE_CHANNEL: `inst.${process.pid}`, FERRY_DEBUG_LOAD: "1" };
  const pair = async (consumer: string[], cwd = dir) => {
    const c = spawn(consumer, cwd, env);
    await Bun.sleep(200);
    const [p, r] = await Promise.all([spawn([BUN, "producer.ts"], dir, env), c]);
    expect({ code: p.code, out: p.out.trim() }).toEqual({ code: 0, out: "producer: sent 4 messages" });
    expect(r.code).toBe(0);
    expect(r.out).toContain(`consumer: done, ${11 * 2 ** 20} bytes`);
    return r;
  };
  const plain = await pair([BUN, "consumer.ts"]);
  expect(plain.err).toContain(join(dir, "node_modules", "@ferry", "native-linux-x64-gnu", "libferry.so"));

  // bun build --compile embeds the prebuilt library; the executable runs away from node_modules
  sh([BUN, "build", "--compile", "consumer.ts", "--outfile", "consumer-bin"], dir);
  const away = join(work, "elsewhere");
  mkdirSync(away);
  renameSync(join(dir, "consumer-bin"), join(away, "consumer-bin"));
  const compiled = await pair([join(away, "consumer-bin")], away);
  expect(compiled.err).toMatch(/loaded \/\$bunfs\/\S+\.so/);

  // no prebuilt (e.g. musl, or --no-optional): a FerryError naming what was tried and what to run
  const plat = join(dir, "node_modules", "@ferry", "native-linux-x64-gnu");
  renameSync(plat, `${plat}.hidden`);
  const miss = sh([BUN, "-e", `import("@ferry/channel").catch((e) => { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); })`], dir);
  const e = JSON.parse(miss.out) as { name: string; code: string; message: string };
  expect(e).toMatchObject({ name: "FerryError", code: "FERRY_E_NOLIB" });
  expect(e.message).toContain("@ferry/native-linux-x64-gnu");
  const advice = e.message.match(/`(bun run --cwd \S+ build:source)`/)?.[1];
  expect(advice).toBeDefined();
  sh(advice!.split(" ").map((a) => (a === "bun" ? BUN : a)), dir); // CMake without tests and benches
  const fromSource = await pair([BUN, "consumer.ts"]);
  expect(fromSource.err).toContain(join(dir, "node_modules", "@ferry", "native", "build", "libferry.so"));
}, 240_000);

test("bun add @ferry/http alone; a gateway and a worker answer a POST", async () => {
  const dir = project("web");
  sh([BUN, "add", "@ferry/http"], dir);
  const name = `inst-http-${process.pid}`;
  writeFileSync(join(dir, "worker.ts"), `import { serveWorker } from "@ferry/http";
serveWorker(process.env.NAME!, (req) => Response.json({ bytes: req.bytes.length, sum: req.bytes.reduce((a, b) => a + b, 0) }));
console.log("worker ready");`);
  writeFileSync(join(dir, "front.ts"), `import { gateway } from "@ferry/http";
const gw = gateway({ name: process.env.NAME!, maxBodyBytes: 4 * 2 ** 20 });
const server = Bun.serve({ port: 0, fetch: gw.fetch, maxRequestBodySize: gw.maxBodyBytes });
await gw.waitForWorkers(1, { timeoutMs: 30_000 });
const r = await fetch(\`http://127.0.0.1:\${server.port}/sum\`, { method: "POST", body: new Uint8Array(3 * 2 ** 20).fill(1) });
console.log(r.status, await r.text());
server.stop(true);
gw.close();
process.exit(0);`);
  const worker = Bun.spawn([BUN, "worker.ts"], { cwd: dir, env: { ...process.env, NAME: name }, stdout: "pipe", stderr: "pipe" });
  try {
    const front = await spawn([BUN, "front.ts"], dir, { NAME: name });
    expect({ code: front.code, err: front.err }).toEqual({ code: 0, err: "" });
    expect(front.out.trim()).toBe(`200 {"bytes":${3 * 2 ** 20},"sum":${3 * 2 ** 20}}`);
  } finally {
    worker.kill();
    await worker.exited;
  }
}, 60_000);
