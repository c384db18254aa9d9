import { expect, test } from "bun:test";
import { Channel } from "@ferry/channel";
import { detect } from "@ferry/dsa-engine";
import { privateCalibrationCache, registerCleanup, shmExists, uniqueName } from "@ferry/testkit";
import { shmCheck } from "../src/commands/doctor";
import { parseSize, table } from "../src/lib/output";

registerCleanup();
privateCalibrationCache(); // `ferry explain` may calibrate: not into the machine's cache, under the suite's load

const main = new URL("../src/main.ts", import.meta.url).pathname;
const NOLIB = { FERRY_LIB: "/nonexistent/libferry.so" };

function ferry(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawnSync(["bun", main, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}
const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);

/** A channel created by a child process that is then killed (its creator is dead). */
async function orphan(name: string) {
  // the child keeps its Channel referenced: an unreferenced one may be closed (and unlinked) by the FinalizationRegistry before the kill
  const child = Bun.spawn(["bun", "-e", `import { Channel } from "@ferry/channel"; globalThis.keep = Channel.create(${JSON.stringify(name)}, { capacity: 65536 }); console.log("ready"); setInterval(() => {}, 1000);`], { stdout: "pipe", cwd: import.meta.dir });
  await child.stdout.getReader().read();
  return async () => {
    child.kill(9);
    await child.exited;
  };
}

test("--help and --version work without the native library; usage errors exit 2", () => {
  const help = ferry(["--help"], NOLIB);
  expect(help.code).toBe(0);
  for (const c of ["ls", "stat", "gc", "doctor", "explain", "bench"]) expect(help.out).toContain(`  ${c} `);
  const v = ferry(["--version"], NOLIB);
  expect({ code: v.code, out: v.out.trim() }).toEqual({ code: 0, out: require("../package.json").version });
  expect(ferry(["gc", "--help"], NOLIB).code).toBe(0);
  for (const bad of [["frobnicate"], ["ls", "--bogus"], ["stat", "x", "--interval", "abc"], ["explain", "12 parsecs"]]) {
    const r = ferry(bad, NOLIB);
    expect({ bad, code: r.code }).toEqual({ bad, code: 2 });
    noStack(r.err);
  }
});

test("without the library every command answers in one clear message, no stack trace", () => {
  const doc = ferry(["doctor"], NOLIB);
  expect(doc.code).toBe(1);
  expect(doc.out).toMatch(/FAIL\s+libferry\s+libferry could not be loaded/);
  expect(doc.out).toContain("/nonexistent/libferry.so");
  noStack(doc.out + doc.err);
  const docJson = JSON.parse(ferry(["doctor", "--json"], NOLIB).out) as { ok: boolean; checks: { check: string; status: string }[] };
  expect(docJson.ok).toBe(false);
  expect(docJson.checks.find((c) => c.check === "libferry")?.status).toBe("fail");
  const st = ferry(["stat", "whatever"], NOLIB);
  expect(st.code).toBe(1);
  expect(st.err).toStartWith("ferry: libferry could not be loaded");
  noStack(st.err);
  for (const args of [["ls", "--json"], ["gc", "--dry-run", "--json"]]) {
    const r = ferry(args, NOLIB); // these read /dev/shm themselves: they work, or say why in one line
    noStack(r.err);
    if (r.code === 0) JSON.parse(r.out);
    else expect(r.err).toStartWith("ferry: ");
  }
});

test("ls and stat show a live channel with its participants; --json everywhere", () => {
  const name = uniqueName("live");
  using ch = Channel.create(name, { capacity: 1 << 20 });
  const pub = ch.publisher();
  const sub = ch.subscribe();
  pub.sendSync(new Uint8Array(100));
  const ls = ferry(["ls", "--json"]);
  expect(ls.code).toBe(0);
  const row = (JSON.parse(ls.out) as Record<string, unknown>[]).find((r) => r.name === name)!;
  expect(row).toMatchObject({ publishers: 1, subscribers: 1, inFlight: 1, state: "in use", creatorPid: process.pid, creatorAlive: true, collect: false });
  expect(ferry(["ls"]).out).toMatch(new RegExp(`${name.replace(/\./g, "\\.")}\\s.*${process.pid} \\(alive\\)\\s+in use`));
  const st = ferry(["stat", name, "--json"]);
  const sj = JSON.parse(st.out);
  expect(sj).toMatchObject({ name, published: 1, publishers: 1, creatorAlive: true });
  expect(Array.isArray(sj.coordinator)).toBe(true); // @ferry/coordinator's per-process statistics
  expect(ferry(["stat", name]).out).toMatch(/published\s+1/);
  const w = ferry(["stat", name, "--watch", "--interval", "50", "--count", "3", "--json"]);
  expect(w.code).toBe(0);
  const lines = w.out.trim().split("\n").map((l) => JSON.parse(l) as { name: string });
  expect(lines.map((l) => l.name)).toEqual([name, name, name]);
  expect(ferry(["stat", name, "--watch", "--interval", "50", "--count", "2"]).out).toMatch(/messages\/s\s+0\.0/);
  sub.close();
  pub.close();
});

test("ls shows a channel whose creator is dead; gc --dry-run lists exactly what gc removes", async () => {
  const stale = uniqueName("dead");
  const kept = uniqueName("orphan-in-use");
  const live = uniqueName("keep");
  using keep = Channel.create(live, { capacity: 1 << 16 });
  const kill1 = await orphan(stale);
  const kill2 = await orphan(kept);
  using other = Channel.open(kept);
  const sub = other.subscribe(); // a live participant keeps the orphan in use
  await kill1();
  await kill2();
  const rows = JSON.parse(ferry(["ls", "--json"]).out) as { name: string; state: string; creatorAlive: boolean; collect: boolean }[];
  const by = (n: string) => rows.find((r) => r.name === n)!;
  expect(by(stale)).toMatchObject({ state: "stale", creatorAlive: false, collect: true });
  expect(by(kept)).toMatchObject({ state: "creator dead", creatorAlive: false, collect: false });
  expect(by(live)).toMatchObject({ state: "in use", creatorAlive: true, collect: false });
  expect(ferry(["ls"]).out).toMatch(new RegExp(`${stale.replace(/\./g, "\\.")}.*\\(dead\\)\\s+stale: ferry gc removes it`));

  const mine = (names: string[]) => names.filter((n) => [stale, kept, live].includes(n)).sort();
  const dry = JSON.parse(ferry(["gc", "--dry-run", "--json"]).out) as { wouldRemove: { name: string }[] };
  expect(mine(dry.wouldRemove.map((r) => r.name))).toEqual([stale]);
  expect(shmExists(stale)).toBe(true); // a dry run removes nothing
  const gc = ferry(["gc", "--json"]);
  expect(gc.code).toBe(0);
  expect(mine((JSON.parse(gc.out) as { removed: { name: string }[] }).removed.map((r) => r.name))).toEqual([stale]);
  expect([shmExists(stale), shmExists(kept), shmExists(live)]).toEqual([false, true, true]);

  // the same decision as libferry's own ferry_gc(): once the last participant leaves, both collect the orphan
  sub.close();
  other.close();
  expect(mine((JSON.parse(ferry(["gc", "--dry-run", "--json"]).out) as { wouldRemove: { name: string }[] }).wouldRemove.map((r) => r.name))).toEqual([kept]);
  Channel.gc();
  expect([shmExists(kept), shmExists(live)]).toEqual([false, true]);
  expect(keep.closed).toBe(false);
});

test("stat of a missing channel fails with FERRY_E_NOTFOUND; explain and stat without a name ask @ferry/coordinator", () => {
  const r = ferry(["stat", "no-such-channel-for-cli"]);
  expect(r.code).toBe(1);
  expect(r.err).toContain("FERRY_E_NOTFOUND");
  noStack(r.err);
  // the coordinator is a workspace package here: explain answers with a decision and its reasons
  const ex = ferry(["explain", "64MiB", "--json"]);
  expect(ex.code).toBe(0);
  const d = JSON.parse(ex.out);
  expect(["inline", "offload", "pipelined"]).toContain(d.mode);
  expect(d.reasons.length).toBeGreaterThan(0);
  expect(ferry(["explain", "64MiB", "--objective", "fastest"]).code).toBe(2);
  const st = ferry(["stat"]);
  expect(st.code).toBe(0);
  expect(st.out).toContain("coordinator");
});

test("doctor: library, engines through their probes, /dev/shm against a default channel", () => {
  const r = ferry(["doctor"]);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/ok +libferry/);
  const j = JSON.parse(ferry(["doctor", "--json"]).out) as { ok: boolean; checks: { check: string; status: string; detail: string; advice?: string }[] };
  const dsa = j.checks.find((c) => c.check === "engine dsa")!;
  expect(dsa.detail).toContain(detect().reason);
  expect(j.checks.find((c) => c.check === "engine sw")?.status).toBe("ok");
  for (const c of ["/dev/shm", "permissions", "/dev/shm size", "huge pages", "C library", "CPU"]) expect(j.checks.map((x) => x.check)).toContain(c);

  // Docker's default 64 MB /dev/shm: a default channel does not fit; the advice names the flags
  const small = ferry(["doctor", "--json"], { FERRY_DOCTOR_SHM_BYTES: String(64 * 2 ** 20) });
  expect(small.code).toBe(1);
  const size = (JSON.parse(small.out) as typeof j).checks.find((c) => c.check === "/dev/shm size")!;
  expect(size.status).toBe("fail");
  expect(size.advice).toContain("--shm-size=1g");
  expect(size.advice).toContain("--ipc=host");
});

test("shmCheck, parseSize and the table routine", () => {
  expect(shmCheck(64 * 2 ** 20, 64 * 2 ** 20, 65 * 2 ** 20).status).toBe("fail");
  expect(shmCheck(2 ** 30, 32 * 2 ** 20, 65 * 2 ** 20).status).toBe("warn");
  expect(shmCheck(2 ** 30, 2 ** 30, 65 * 2 ** 20).status).toBe("ok");
  expect(shmCheck(64e6, 64e6, 3 * 2 ** 30).advice).toContain("--shm-size=8g");
  expect([parseSize("4096"), parseSize("64KiB"), parseSize("16 MiB"), parseSize("1g")]).toEqual([4096, 65536, 16 * 2 ** 20, 2 ** 30]);
  expect(table(["a", "n"], [["x", 1], ["yy", 10]])).toBe("a    n\nx    1\nyy  10");
});
