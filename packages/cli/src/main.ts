#!/usr/bin/env bun
/**
 * ferry — inspect and clean up ferry channels on this machine.
 *
 *   ferry ls                  channels in /dev/shm, their counters, who is alive
 *   ferry stat <name> [-w]    one channel's counters; --watch: a live view
 *   ferry gc [--dry-run]      remove channels no live process uses
 *   ferry doctor              can ferry work here? (library, /dev/shm size, permissions, huge pages, engines)
 *   ferry explain <size>      what @ferry/coordinator would do (when installed)
 *   ferry bench               the benchmark harness (repository checkout)
 *
 * Every command takes --json. Exit codes: 0 ok, 1 failure, 2 usage error.
 * The parser is commander; each command is one file under commands/, and
 * the native packages are imported only by the commands that need them.
 */
import { Command, CommanderError } from "commander";
import pkg from "../package.json" with { type: "json" };
import { register as bench } from "./commands/bench";
import { register as doctor } from "./commands/doctor";
import { register as explain } from "./commands/explain";
import { register as gc } from "./commands/gc";
import { register as ls } from "./commands/ls";
import { register as stat } from "./commands/stat";
import { libraryError } from "./lib/native";
import { CliError } from "./lib/output";

export function program(): Command {
  const p = new Command("ferry")
    .description("Inspect and clean up ferry shared-memory channels on this machine")
    .version(pkg.version, "-v, --version", "print the version")
    .showHelpAfterError("(ferry --help lists the commands)")
    .exitOverride();
  for (const r of [ls, stat, gc, doctor, explain, bench]) r(p);
  for (const c of p.commands) c.exitOverride();
  return p;
}

/** Run the CLI; resolves to the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: string[]): Promise<number> {
  process.exitCode = 0;
  try {
    await program().parseAsync(argv, { from: "user" });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      return 2; // commander printed the message
    }
    const err = e instanceof CliError ? e : libraryError(e);
    if (err) {
      console.error(`ferry: ${err.message}`);
      return err.exitCode;
    }
    const f = e as { name?: string; code?: string; message?: string };
    console.error(`ferry: ${f?.name === "FerryError" ? `${f.code}: ` : ""}${f?.message ?? String(e)}`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
