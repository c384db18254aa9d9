import { expect, test } from "bun:test";
import { Channel } from "@ferry/channel";
import { registerCleanup, shmExists, uniqueName } from "@ferry/testkit";

registerCleanup();

const main = new URL("../src/main.ts", import.meta.url).pathname;

function ferry(...args: string[]) {
  const p = Bun.spawnSync(["bun", main, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

test("ls and stat show a live channel with its participants", () => {
  const name = uniqueName("live");
  using ch = Channel.create(name, { capacity: 1 << 20 });
  const pub = ch.publisher();
  const sub = ch.subscribe();
  pub.sendSync(new Uint8Array(100));
  const ls = ferry("ls", "--json");
  expect(ls.code).toBe(0);
  const row = (JSON.parse(ls.out) as { name: string; publishers: number; subscribers: number; inFlight: number }[]).find((r) => r.name === name)!;
  expect(row).toMatchObject({ publishers: 1, subscribers: 1, inFlight: 1 });
  const st = ferry("stat", name, "--json");
  expect(JSON.parse(st.out)).toMatchObject({ name, published: 1, publishers: 1 });
  sub.close();
  pub.close();
});

test("gc removes a channel whose creator was killed, and keeps a live one", async () => {
  const dead = uniqueName("dead");
  const live = uniqueName("keep");
  using keep = Channel.create(live, { capacity: 1 << 16 });
  // the child keeps its Channel referenced: an unreferenced one is closed (and, as the
  // creator's, unlinked) by the FinalizationRegistry backstop, sometimes before the kill
  const child = Bun.spawn(["bun", "-e", `import { Channel } from "@ferry/channel"; globalThis.keep = Channel.create(${JSON.stringify(dead)}, { capacity: 65536 }); console.log("ready"); setInterval(() => {}, 1000);`], { stdout: "pipe", cwd: import.meta.dir });
  const reader = child.stdout.getReader();
  await reader.read();
  child.kill(9);
  await child.exited;
  expect(shmExists(dead)).toBe(true);
  const gc = ferry("gc");
  expect(gc.code).toBe(0);
  expect(gc.out).toMatch(/removed [1-9]\d* segment/);
  expect(shmExists(dead)).toBe(false);
  expect(shmExists(live)).toBe(true);
  expect(keep.closed).toBe(false);
});

test("stat of a missing channel fails with FERRY_E_NOTFOUND; bad usage exits 2", () => {
  const r = ferry("stat", "no-such-channel-for-cli");
  expect(r.code).toBe(1);
  expect(r.err).toContain("FERRY_E_NOTFOUND");
  expect(ferry("frobnicate").code).toBe(2);
});

test("doctor finds the library", () => {
  const r = ferry("doctor");
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/ok +libferry/);
});
