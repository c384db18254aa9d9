/**
 * C spin vs the C floor for several builds of libferry, same minute (issue 7's
 * "C spin 64 B one-way ≤ 2x the C floor"). Each argument is a folder holding a
 * bench_pingpong binary and the libferry.so* it was built with (copy them out
 * of native/build/ and native/build/bench/ per commit):
 *
 *   bun run packages/bench/src/tools/ab-pingpong.ts [--rounds N] [--size B] DIR [DIR ...]
 *
 * Per round: the C floor, then every build's spin row (the order rotated per
 * round), then the floor again; a round counts only when its two floors agree
 * within 6 ns, because this kind of VM moves the two pinned vCPUs between
 * cores, SMT siblings of one core and sockets from minute to minute (floors of
 * ~35, ~60 and ~230 ns here). Prints medians per placement (the floor rounded
 * to 5 ns) and each build's ratio to the floor of the same rounds.
 */
import { basename } from "node:path";
import { median } from "../lib/stats";

function parse(argv: string[]): { rounds: number; size: string; dirs: string[] } {
  let rounds = 20;
  let size = "64";
  const dirs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--rounds") rounds = Number(argv[++i]);
    else if (a === "--size") size = argv[++i] ?? "";
    else dirs.push(a);
  }
  if (!dirs.length || !(rounds > 0)) throw new Error("usage: ab-pingpong.ts [--rounds N] [--size B] DIR [DIR ...]");
  return { rounds, size, dirs };
}

function p50(dir: string, wait: "floor" | "spin", size: string): number {
  const r = Bun.spawnSync([`${dir}/bench_pingpong`, "--wait", wait, "--size", size, "-n", "200000", "--json"], {
    env: { ...process.env, LD_LIBRARY_PATH: dir },
  });
  if (r.exitCode !== 0) throw new Error(`${dir}/bench_pingpong --wait ${wait}: exit ${r.exitCode}: ${r.stderr.toString()}`);
  const last = r.stdout.toString().trim().split("\n").pop() ?? "";
  return JSON.parse(last).p50_ns as number;
}

const { rounds, size, dirs } = parse(Bun.argv.slice(2));
const first = dirs[0] ?? "";
const byFloor = new Map<number, { floor: number[]; spin: Map<string, number[]> }>();
const start = new Date().toISOString();
let kept = 0;
for (let k = 0; k < rounds; k++) {
  const f1 = p50(first, "floor", size);
  const order = [...dirs.slice(k % dirs.length), ...dirs.slice(0, k % dirs.length)];
  const spin = new Map(order.map((d) => [d, p50(d, "spin", size)] as const));
  const f2 = p50(first, "floor", size);
  if (Math.abs(f1 - f2) > 6) continue;
  kept++;
  const mode = Math.round((f1 + f2) / 2 / 5) * 5;
  let m = byFloor.get(mode);
  if (!m) byFloor.set(mode, (m = { floor: [], spin: new Map(dirs.map((d) => [d, [] as number[]])) }));
  m.floor.push((f1 + f2) / 2);
  for (const d of dirs) m.spin.get(d)!.push(spin.get(d)!);
}
console.log(`${start} .. ${new Date().toISOString()}: ${kept}/${rounds} rounds kept, ${size} B one-way p50`);
for (const mode of [...byFloor.keys()].sort((a, b) => a - b)) {
  const m = byFloor.get(mode)!;
  const fl = median(m.floor);
  const cells = dirs.map((d) => {
    const s = median(m.spin.get(d)!);
    return `${basename(d)} ${s.toFixed(1)} ns (${(s / fl).toFixed(2)}x)`;
  });
  console.log(`floor ${fl.toFixed(1)} ns, ${m.floor.length} rounds: ${cells.join("  ")}`);
}
