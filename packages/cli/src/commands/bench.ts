/** ferry bench: runs the benchmark harness (@ferry/bench, from a checkout of the repository). */
import type { Command } from "commander";
import { CliError } from "../lib/output";

export function register(program: Command): void {
  program
    .command("bench")
    .description("run the benchmarks (needs a checkout of the ferry repository: @ferry/bench is not published)")
    .option("--quick", "the short run")
    .option("--json", "print one JSON line with the exit code (the report goes to stderr)")
    .allowUnknownOption(true)
    .action(async (o: { quick?: boolean; json?: boolean }, cmd: Command) => {
      let run: string;
      try {
        run = Bun.resolveSync("@ferry/bench/package.json", import.meta.dir).replace(/package\.json$/, "src/run.ts");
      } catch {
        throw new CliError("ferry bench: @ferry/bench is not installed; it lives in the ferry repository: `bun run bench` there", 1, "no-bench");
      }
      const args = [...(o.quick ? ["--quick"] : []), ...cmd.args];
      // with --json the harness's report goes to stderr and stdout gets one JSON line
      const p = Bun.spawn([process.execPath, run, ...args], { stdio: ["inherit", o.json ? 2 : "inherit", "inherit"] } as never);
      const exitCode = await (p as { exited: Promise<number> }).exited;
      if (o.json) console.log(JSON.stringify({ exitCode, args }));
      process.exitCode = exitCode;
    });
}
