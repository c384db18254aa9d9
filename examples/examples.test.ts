/**
 * Every example runs as documented (examples/README.md), on channel names of
 * its own, and leaves no segment behind.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";

const dir = import.meta.dir;
let n = 0;

async function run(file: string, channel: string, after?: Promise<unknown>) {
  if (after) await after;
  const p = Bun.spawn([process.execPath, join(dir, file)], {
    cwd: join(dir, file, ".."), stdout: "pipe", stderr: "pipe", env: { ...process.env, FERRY_EXAMPLE_CHANNEL: channel },
  });
  const timer = setTimeout(() => p.kill(9), 90_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { out, err, code };
}

const fresh = (what: string) => `ex.${what}.${process.pid}.${n++}`;

test("producer-consumer: two processes, either order", async () => {
  for (const first of ["consumer", "producer"]) {
    const ch = fresh("pc");
    const a = run(`producer-consumer/${first}.ts`, ch);
    const b = run(`producer-consumer/${first === "consumer" ? "producer" : "consumer"}.ts`, ch, Bun.sleep(300));
    const [ra, rb] = await Promise.all([a, b]);
    const cons = first === "consumer" ? ra : rb, prod = first === "consumer" ? rb : ra;
    expect({ code: prod.code, err: prod.err }).toEqual({ code: 0, err: "" });
    expect({ code: cons.code, err: cons.err }).toEqual({ code: 0, err: "" });
    expect(cons.out).toContain(`consumer: done, ${3 * 2 ** 20 + 8 * 2 ** 20} bytes`);
    expect(existsSync(`/dev/shm/ferry.${ch}`)).toBe(false);
  }
});

test("request-reply: listen() on both sides, a service process that idles between requests", async () => {
  const ch = fresh("rr");
  const r = await run("request-reply/main.ts", ch);
  expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: "" });
  expect(r.out).toContain("service: 20 requests answered");
  expect(r.out).toContain("client: 20 of 20 answers correct");
  for (const s of ["req", "rep"]) expect(existsSync(`/dev/shm/ferry.${ch}.${s}`)).toBe(false);
});

const single: [string, RegExp][] = [
  ["worker-group/main.ts", /main: 60 of 60 jobs done/],
  ["tensors/main.ts", /reader: int16 \[10, 100\] first=0 last=999/],
  ["offload/main.ts", /pipelined: 33554432 bytes ok/],
  ["engine-plugin/main.ts", /engine example: 4194304 bytes, last byte 3/],
];
for (const [file, expected] of single) {
  test(file, async () => {
    const ch = fresh(file.split("/")[0]!);
    const r = await run(file, ch);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: "" });
    expect(r.out).toMatch(expected);
    expect(existsSync(`/dev/shm/ferry.${ch}`)).toBe(false);
  });
}
