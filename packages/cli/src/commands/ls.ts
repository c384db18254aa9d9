/** ferry ls: every ferry channel in /dev/shm, its counters, and whether its creator and participants are alive. */
import type { Command } from "commander";
import { loadFerry } from "../lib/native";
import { emit, fmtBytes, table } from "../lib/output";
import { plan, type Judgement } from "../lib/segments";

export interface LsRow extends Judgement {
  publishers?: number;
  subscribers?: number;
  inFlight?: number;
  arenaUsed?: number;
  published?: number;
}

export async function lsRows(): Promise<LsRow[]> {
  const judged = plan();
  if (!judged.some((j) => j.state !== "foreign")) return judged;
  const { channel } = await loadFerry();
  return judged.map((j) => {
    if (j.state === "foreign" || j.name.startsWith("~tmp.")) return j;
    try {
      using ch = channel.Channel.open(j.name);
      const s = ch.stats();
      return { ...j, publishers: s.publishers, subscribers: s.subscribers, inFlight: s.tail - s.head, arenaUsed: s.arenaUsed, published: s.published };
    } catch (e) {
      const code = (e as { code?: string }).code ?? "error";
      return { ...j, detail: `${j.detail}; open: ${code}` };
    }
  });
}

export function register(program: Command): void {
  program
    .command("ls")
    .description("list ferry channels in /dev/shm: size, publishers, subscribers, in flight, arena used, and who is alive")
    .option("--json", "print a JSON array")
    .action(async (o: { json?: boolean }) => {
      const rows = await lsRows();
      emit(o.json, rows, () =>
        rows.length === 0
          ? "no ferry channels in /dev/shm"
          : table(
              ["name", "size", "pubs", "subs", "in flight", "arena used", "creator", "state"],
              rows.map((r) => [
                r.name, fmtBytes(r.bytes), r.publishers ?? "-", r.subscribers ?? "-", r.inFlight ?? "-",
                r.arenaUsed === undefined ? "-" : fmtBytes(r.arenaUsed),
                r.creatorPid === undefined ? "-" : `${r.creatorPid} (${r.creatorAlive ? "alive" : "dead"})`,
                `${r.state}${r.collect ? ": ferry gc removes it" : ""}`,
              ]),
            ),
      );
    });
}
