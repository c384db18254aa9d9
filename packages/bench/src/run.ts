/**
 * Ferry benchmark harness.
 *
 *   bun run packages/bench/src/run.ts [--quick] [--only latency|throughput|peers|c|modes|idle[,...]] [--wait-idle[=seconds]] [--callgrind]
 *
 * Every Ferry number is measured between two separate Bun processes (this
 * one and a peer spawned with Bun.spawn; nothing is pinned). Runs the
 * selected sections (sections/index.ts) in order, prints their tables and the
 * targets with PASS/MISS, and writes bench-results/<timestamp>.json (typed by
 * schema.ts) and .md, bench-results/latest.*, and the plots (a full run also
 * rewrites docs/bench-throughput.svg; a run without --quick that includes
 * modes rewrites docs/bench-modes.svg).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { cleanup, installCleanup, leftoverSegments } from "./lib/cleanup";
import { table } from "./lib/format";
import { REPO_ROOT, libferryStamp, machine } from "./lib/machine";
import { foreignCpu, sample, snapshot, waitIdle } from "./lib/noise";
import { markdown } from "./report";
import type { Result, Results, SectionName } from "./schema";
import type { Context, Options } from "./section";
import { scale } from "./sections/c";
import { SECTIONS, TARGET_ORDER } from "./sections/index";

/* ------------------------------------------------------------------ CLI */

const NAMES = SECTIONS.map((s) => s.name);
const USAGE = `usage: bun run packages/bench/src/run.ts [--quick] [--only ${NAMES.join("|")}[,...]] [--wait-idle[=seconds]] [--callgrind]
  --quick      fewer iterations and sizes (~10 s; budget 90 s)
  --only       run only these sections, comma-separated
  --wait-idle  first wait (default up to 120 s) until other processes use < 10% of the CPUs
  --callgrind  modes: also count instructions per message of native/build/bench/bench_modes under valgrind (slow)`;

/** The options of the command line; on a bad one, print it with the usage and exit 2. */
function cli(argv: string[]) {
  try {
    return parse(argv);
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : e}\n${USAGE}`);
    process.exit(2);
  }
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    // --wait-idle takes an optional value, which parseArgs has no form for
    args: argv.map((a) => (a === "--wait-idle" ? "--wait-idle=120" : a)),
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      "wait-idle": { type: "string" },
      callgrind: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  let only: SectionName[] | null = null;
  if (values.only !== undefined) {
    only = values.only.split(",").map((s) => s.trim()) as SectionName[];
    for (const s of only) if (!NAMES.includes(s)) throw new Error(`--only: unknown section "${s}" (${NAMES.join("|")})`);
  }
  const waitIdleS = values["wait-idle"] === undefined ? 0 : Number(values["wait-idle"]);
  if (!Number.isFinite(waitIdleS) || waitIdleS < 0) throw new Error(`--wait-idle: not a number of seconds: ${values["wait-idle"]}`);
  return { quick: values.quick, only, callgrind: values.callgrind, waitIdleS };
}

/* ------------------------------------------------------------------ main */

async function main() {
  const args = cli(process.argv.slice(2));
  const Q = args.quick;
  installCleanup();
  const log = (s = "") => console.log(s);
  const before = args.waitIdleS > 0 ? await waitIdle(args.waitIdleS, log) : await sample(500);
  const started = new Date();
  const t0 = performance.now();
  const mach = machine();
  /** The whole run should stay inside this (the C benches get what is left, within their own limit). */
  const opts: Options = { quick: Q, only: args.only, callgrind: args.callgrind, deadline: t0 + (Q ? 85 : 340) * 1000 };
  const want = (n: SectionName) => !args.only || args.only.includes(n);
  const heading = (s: string) => log(`\n== ${s} ${"=".repeat(Math.max(0, 70 - s.length))}`);

  log(`Ferry bench${Q ? " (--quick)" : ""} — ${started.toISOString()}`);
  log(`machine: ${mach.cpu}, ${mach.cores} cores${mach.virtualized ? " (VM)" : ""}, L3 ${mach.l3 || "?"}, ${mach.memory_gib} GiB, Linux ${mach.kernel}; Bun ${mach.bun}, libferry ${mach.ferry}`);
  log(`CPU used by other processes before the run: ${(before.foreign * 100).toFixed(0)}% of ${mach.cores} cores`);
  if (before.foreign > 0.1) {
    log(`WARNING: the machine is not idle; the numbers below are skewed by other work:`);
    for (const l of before.busiest) log(`  ${l}`);
  }

  const results: Partial<Results> = {};
  const seconds: Record<string, number> = {};
  const noise: Result["other_cpu_during"] = {};
  const errors: Record<string, string> = {};
  const chosen = SECTIONS.filter((s) => want(s.name));
  for (const [i, s] of chosen.entries()) {
    heading(`[${i + 1}/${chosen.length}, ${((performance.now() - t0) / 1000).toFixed(0)} s] ${s.title}`);
    // a failure is reported and recorded, and the other sections still run
    const start = performance.now();
    const snap = snapshot();
    let r: Results[SectionName] | undefined;
    try {
      r = await s.run(s.config(opts, results), log);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      errors[s.name] = e instanceof Error && e.stack ? e.stack : msg;
      log(`FAILED: section "${s.name}": ${msg}`);
      process.exitCode = 1;
    }
    seconds[s.name] = +((performance.now() - start) / 1000).toFixed(2);
    const n = foreignCpu(snap, snapshot());
    noise[s.name] = { foreign: +n.foreign.toFixed(3), busiest: n.busiest };
    if (n.foreign > 0.1) log(`WARNING: other processes used ${(n.foreign * 100).toFixed(0)}% of the CPUs during "${s.name}": ${n.busiest.join("; ")}`);
    (results as Record<SectionName, unknown>)[s.name] = r ?? s.empty();
    const text = r !== undefined ? s.table(r) : "";
    if (text) log(text);
    log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }

  heading("6. targets");
  const ctx: Context = { results, machine: mach, options: opts, date: started.toISOString() };
  const targets = TARGET_ORDER.flatMap((name) => {
    const s = SECTIONS.find((x) => x.name === name)!;
    return s.alwaysTargets || want(name) ? s.targets(results[name], ctx) : [];
  });
  log(table(["target", "goal", "measured", "status", "gap"], targets.map((t) => [t.name, t.goal, t.measured, t.status, t.gap])));
  for (const t of targets) if (t.note && t.status !== "not measured") log(`  ${t.id}: ${t.note}`);
  const sc = scale(results.c ?? []);
  log(sc.line);

  /* ---------------- output */
  const libNow = libferryStamp();
  const rebuilt = libNow.mtime !== mach.libferry.mtime || libNow.size !== mach.libferry.size;
  if (rebuilt) {
    log(`WARNING: ${mach.libferry.path} was rebuilt during the run (${mach.libferry.mtime} -> ${libNow.mtime}); peers spawned later loaded another build, so mixed-build numbers (or hangs) are possible: run again`);
    process.exitCode = 1;
  }
  const total = (performance.now() - t0) / 1000;
  const result: Result = {
    schema: 1,
    date: started.toISOString(),
    quick: Q,
    only: args.only,
    machine: mach,
    other_cpu_before: { foreign: +before.foreign.toFixed(3), busiest: before.busiest },
    other_cpu_during: noise,
    libferry_rebuilt_during_run: rebuilt,
    errors,
    seconds: { total: +total.toFixed(1), ...seconds },
    ...(Object.fromEntries(SECTIONS.map((s) => [s.name, results[s.name] ?? s.empty()])) as unknown as Results),
    targets,
    scale: sc.scale,
  };
  const stamp = started.toISOString().replace(/[:.]/g, "-");
  const outDir = join(REPO_ROOT, "bench-results");
  mkdirSync(outDir, { recursive: true });
  const write = (name: string, text: string) => {
    writeFileSync(join(outDir, `${stamp}${name}`), text);
    writeFileSync(join(outDir, `latest${name}`), text);
  };
  write(".json", JSON.stringify(result, null, 2));
  write(".md", markdown(result));
  const wrote = [".md"];
  const docs: string[] = [];
  for (const s of SECTIONS) {
    const p = s.plot?.(results[s.name], ctx);
    if (!p) continue;
    write(`-${p.tag}.svg`, p.svg);
    wrote.push(`-${p.tag}.svg`);
    if (p.docs) {
      mkdirSync(dirname(join(REPO_ROOT, p.docs)), { recursive: true });
      writeFileSync(join(REPO_ROOT, p.docs), p.svg);
      docs.push(p.docs);
    }
  }

  cleanup();
  const left = leftoverSegments();
  log(`\nwrote bench-results/${stamp}.json (+ ${wrote.join(", ")}) and bench-results/latest.*${docs.length ? `; ${docs.join(", ")}` : ""}`);
  log(`total ${total.toFixed(1)} s${left.length ? `; LEFTOVER segments: ${left.join(", ")}` : "; no /dev/shm/ferry.* segments left"}`);
  if (left.length) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  cleanup();
  process.exit(1);
});
