#!/usr/bin/env bun
/**
 * ferry — inspect and clean up ferry channels on this machine.
 *
 *   ferry ls [--json]          channels in /dev/shm with their state
 *   ferry stat <name> [--json] one channel's counters
 *   ferry gc [--dry-run]       remove channels no live process uses
 *   ferry doctor               check this machine: library, /dev/shm, CPU features
 */
import { parseArgs } from "node:util";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { Channel, FerryError } from "@ferry/channel";
import { findLibrary, version } from "@ferry/native";

const PREFIX = "ferry.";

interface Row {
  name: string;
  bytes: number;
  state: "ok" | "stale" | "unreadable";
  detail: string;
  publishers?: number;
  subscribers?: number;
  inFlight?: number;
  arenaUsed?: number;
}

/** Segments in /dev/shm, skipping temporary ones under construction. */
function segments(): string[] {
  return readdirSync("/dev/shm")
    .filter((f) => f.startsWith(PREFIX) && !f.startsWith(`${PREFIX}~tmp.`))
    .map((f) => f.slice(PREFIX.length))
    .sort();
}

function inspect(name: string): Row {
  const bytes = statSync(`/dev/shm/${PREFIX}${name}`).size;
  try {
    using ch = Channel.open(name);
    const s = ch.stats();
    const live = s.publishers + s.subscribers;
    return {
      name, bytes, state: "ok", detail: `${s.published} published, ${s.dropped} dropped`,
      publishers: s.publishers, subscribers: s.subscribers, inFlight: s.tail - s.head, arenaUsed: s.arenaUsed,
      ...(live === 0 ? { detail: `${s.published} published; no participant attached` } : {}),
    };
  } catch (e) {
    const code = e instanceof FerryError ? e.code : "error";
    return { name, bytes, state: "unreadable", detail: `${code}: ${(e as Error).message}` };
  }
}

const fmtBytes = (n: number) =>
  n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;

function table(rows: Row[]) {
  if (!rows.length) return console.log("no ferry channels in /dev/shm");
  const head = ["name", "size", "pubs", "subs", "in flight", "arena used", "state"];
  const body = rows.map((r) => [
    r.name, fmtBytes(r.bytes), String(r.publishers ?? "-"), String(r.subscribers ?? "-"),
    String(r.inFlight ?? "-"), r.arenaUsed === undefined ? "-" : fmtBytes(r.arenaUsed), `${r.state} (${r.detail})`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  for (const line of [head, ...body]) console.log(line.map((c, i) => c.padEnd(w[i]!)).join("  "));
}

function doctor(): number {
  let bad = 0;
  const say = (ok: boolean, what: string) => {
    if (!ok) bad++;
    console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  };
  try {
    say(true, `libferry ${version} at ${findLibrary()}`);
  } catch (e) {
    say(false, (e as Error).message);
  }
  try {
    const df = statSync("/dev/shm");
    say(df.isDirectory(), "/dev/shm is present");
  } catch {
    say(false, "/dev/shm is missing: POSIX shared memory is unavailable");
  }
  const cpu = readFileSync("/proc/cpuinfo", "utf8");
  const flags = new Set((cpu.match(/^flags\s*:(.*)$/m)?.[1] ?? "").trim().split(/\s+/));
  console.log(`info CPU: ${cpu.match(/^model name\s*:(.*)$/m)?.[1]?.trim() ?? "unknown"}; ${["avx2", "avx512f", "movdir64b", "enqcmd"].map((f) => `${f}=${flags.has(f) ? "yes" : "no"}`).join(" ")}`);
  let dsa = false;
  try {
    dsa = readdirSync("/sys/bus/dsa/devices").length > 0;
  } catch {}
  console.log(`info Intel DSA devices: ${dsa ? "present (/sys/bus/dsa/devices)" : "none"}`);
  return bad ? 1 : 0;
}

export function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: "boolean" }, "dry-run": { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  const [cmd, arg] = positionals;
  switch (cmd) {
    case "ls": {
      const rows = segments().map(inspect);
      if (values.json) console.log(JSON.stringify(rows));
      else table(rows);
      return 0;
    }
    case "stat": {
      if (!arg) throw new Error("usage: ferry stat <name>");
      using ch = Channel.open(arg);
      const s = { name: arg, capacity: ch.capacity, slots: ch.slots, granule: ch.granule, ...ch.stats() };
      console.log(values.json ? JSON.stringify(s) : Object.entries(s).map(([k, v]) => `${k.padEnd(12)} ${v}`).join("\n"));
      return 0;
    }
    case "gc": {
      if (values["dry-run"]) {
        const stale = segments().map(inspect).filter((r) => r.state !== "ok" || (r.publishers === 0 && r.subscribers === 0));
        console.log(stale.length ? `candidates (gc also checks the creator is dead): ${stale.map((r) => r.name).join(", ")}` : "nothing to collect");
        return 0;
      }
      const n = Channel.gc();
      console.log(`removed ${n} segment(s) no live process uses`);
      return 0;
    }
    case "doctor":
      return doctor();
    default:
      console.log("usage: ferry ls [--json] | stat <name> [--json] | gc [--dry-run] | doctor");
      return cmd && !values.help ? 2 : 0;
  }
}

if (import.meta.main) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error(`ferry: ${e instanceof FerryError ? `${e.code}: ` : ""}${(e as Error).message}`);
    process.exitCode = 1;
  }
}
