/**
 * The README's usage example runs as it is written, as two processes started
 * in either order: the two code blocks after the `<!-- readme-example: FILE -->`
 * markers are extracted from README.md (so this fails when the README
 * drifts), written next to this file (*.tmp.ts, git-ignored) and run with
 * bun. Asserts: both exit 0, the consumer printed both messages (the loaned
 * frame with its header, then the copied one) and its loop ended at the
 * producer's close, and no /dev/shm/ferry.frames is left.
 */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "bun:test";

const README = join(import.meta.dir, "..", "README.md");
const SEGMENT = "/dev/shm/ferry.frames";

function snippets(): Map<string, string> {
  const md = readFileSync(README, "utf8");
  const out = new Map<string, string>();
  for (const m of md.matchAll(/<!-- readme-example: (\S+) -->\n```ts\n([\s\S]*?)```/g)) out.set(m[1]!, m[2]!);
  return out;
}

const files: string[] = [];
afterAll(() => {
  for (const f of files) if (existsSync(f)) unlinkSync(f);
});

function write(name: string, code: string): string {
  const f = join(import.meta.dir, `readme-${name.replace(/\.ts$/, "")}.${process.pid}.tmp.ts`);
  writeFileSync(f, code);
  files.push(f);
  return f;
}

async function run(file: string) {
  const p = Bun.spawn([process.execPath, file], { cwd: import.meta.dir, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill(9), 60_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { out, err, code };
}

test("README.md holds the producer and consumer snippets", () => {
  const s = snippets();
  expect([...s.keys()].sort()).toEqual(["consumer.ts", "producer.ts"]);
});

for (const first of ["producer.ts", "consumer.ts"] as const) {
  test(`README example: ${first} started first, the other 500 ms later`, async () => {
    expect(existsSync(SEGMENT)).toBe(false); // "frames" must be free for the example to own it
    const s = snippets();
    const second = first === "producer.ts" ? "consumer.ts" : "producer.ts";
    const a = run(write(first, s.get(first)!));
    await Bun.sleep(500);
    const b = run(write(second, s.get(second)!));
    const byName = Object.fromEntries([[first, await a], [second, await b]]);
    const prod = byName["producer.ts"]!, cons = byName["consumer.ts"]!;
    expect({ code: prod.code, err: prod.err }).toEqual({ code: 0, err: "" });
    expect({ code: cons.code, err: cons.err }).toEqual({ code: 0, err: "" });
    expect(cons.out.trim().split("\n")).toEqual([
      `0 ${3 * 224 * 224 * 4} {"shape":[3,224,224],"dtype":"float32"}`,
      "1 3 undefined",
    ]);
    expect(existsSync(SEGMENT)).toBe(false);
  }, 90_000);
}
