/**
 * ferry explain <size>: what the coordinator would do for a message of that
 * size (mode, engine, chunk size, cache, wait, and why). A hook: it needs
 * @ferry/coordinator, imported dynamically, and says so when it is missing.
 */
import type { Command } from "commander";
import { optional } from "../lib/native";
import { CliError, emit, parseSize } from "../lib/output";

interface CoordinatorModule {
  Coordinator: { calibrate(o?: { objective?: string }): Promise<{ explain(bytes: number): Record<string, unknown> & { reasons?: string[] } }> };
}

export function register(program: Command): void {
  program
    .command("explain")
    .description("ask @ferry/coordinator how it would send a message of <size> (needs @ferry/coordinator)")
    .argument("<size>", "message size: 4096, 64KiB, 16MiB, 1GiB")
    .option("--objective <o>", "latency | throughput | cpu", "latency")
    .option("--json", "print JSON")
    .action(async (size: string, o: { objective: string; json?: boolean }) => {
      const bytes = parseSize(size);
      const { mod, why } = await optional<CoordinatorModule>("@ferry/coordinator");
      if (!mod?.Coordinator?.calibrate) throw new CliError(`ferry explain needs the coordinator: ${why ?? "@ferry/coordinator exports no Coordinator.calibrate"}`, 1, "no-coordinator");
      const co = await mod.Coordinator.calibrate({ objective: o.objective });
      const d = co.explain(bytes);
      emit(o.json, { bytes, ...d }, () =>
        [`${bytes} bytes:`, ...Object.entries(d).filter(([k]) => k !== "reasons").map(([k, v]) => `  ${k}: ${v}`), ...(d.reasons ?? []).map((r) => `  - ${r}`)].join("\n"),
      );
    });
}
