/**
 * ferry explain <size>: what the coordinator would do for a message of that
 * size (mode, engine, chunk size, cache, wait, and why). A hook: it needs
 * @ferry/coordinator, imported dynamically, and says so when it is missing.
 */
import type { Command } from "commander";
import { optional } from "../lib/native";
import { CliError, parseSize } from "../lib/output";

interface ExplainOptions {
  objective?: string;
  recalibrate?: boolean;
}
interface CoordinatorModule {
  explainText(size: number, o: ExplainOptions): Promise<string>;
  explainJson(size: number, o: ExplainOptions): Promise<unknown>;
}

export function register(program: Command): void {
  program
    .command("explain")
    .description("ask @ferry/coordinator how it would send a message of <size> (needs @ferry/coordinator)")
    .argument("<size>", "message size: 4096, 64KiB, 16MiB, 1GiB")
    .option("--objective <o>", "latency | throughput | cpu", "latency")
    .option("--recalibrate", "measure again (<= 1 s) instead of using the cached profile")
    .option("--json", "print JSON")
    .action(async (size: string, o: { objective: string; recalibrate?: boolean; json?: boolean }) => {
      const bytes = parseSize(size);
      if (!["latency", "throughput", "cpu"].includes(o.objective)) throw new CliError(`--objective ${o.objective}: latency, throughput or cpu`, 2, "usage");
      const { mod, why } = await optional<CoordinatorModule>("@ferry/coordinator");
      if (typeof mod?.explainText !== "function")
        throw new CliError(`ferry explain needs the coordinator: ${why ?? "@ferry/coordinator exports no explainText()"}`, 1, "no-coordinator");
      const opts = { objective: o.objective, recalibrate: o.recalibrate };
      if (o.json) console.log(JSON.stringify(await mod.explainJson(bytes, opts), null, 2));
      else console.log(await mod.explainText(bytes, opts));
    });
}
