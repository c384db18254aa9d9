/**
 * ferry gc [--dry-run]: remove the segments no live process uses. The dry run
 * prints exactly what a real run would remove: both come from one plan
 * (lib/segments.ts plan()); the real run re-checks each entry right before it
 * removes it, so a channel re-created meanwhile is left alone.
 */
import type { Command } from "commander";
import { emit } from "../lib/output";
import { collect, plan } from "../lib/segments";

export function register(program: Command): void {
  program
    .command("gc")
    .description("remove ferry segments whose creator and participants are all dead (only your own)")
    .option("--dry-run", "list what would be removed, remove nothing")
    .option("--json", "print JSON")
    .action((o: { dryRun?: boolean; json?: boolean }) => {
      const planned = plan();
      const todo = planned.filter((j) => j.collect);
      if (o.dryRun) {
        emit(o.json, { dryRun: true, wouldRemove: todo.map((j) => ({ name: j.name, bytes: j.bytes, reason: j.detail })) }, () =>
          todo.length ? `would remove ${todo.length} segment(s):\n${todo.map((j) => `  ${j.name}: ${j.detail}`).join("\n")}` : "nothing to collect",
        );
        return;
      }
      const { removed, skipped } = collect(planned);
      emit(o.json, { removed: removed.map((j) => ({ name: j.name, bytes: j.bytes, reason: j.detail })), skipped }, () =>
        [`removed ${removed.length} segment(s) no live process uses${removed.length ? ":" : ""}`, ...removed.map((j) => `  ${j.name}: ${j.detail}`), ...skipped.map((s) => `  kept ${s.name}: ${s.why}`)].join("\n"),
      );
    });
}
