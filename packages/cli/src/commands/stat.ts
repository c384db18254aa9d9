/** ferry stat <name> [--watch]: one channel's counters, once or as a live view. */
import type { Command } from "commander";
import { loadFerry, optional } from "../lib/native";
import { emit, fmtBytes, table, usage } from "../lib/output";
import { judge, PREFIX } from "../lib/segments";

/**
 * @ferry/coordinator's statistics (per process: decisions per mode and engine,
 * latency histograms, fallbacks), when it is installed; otherwise the reason.
 * Imported dynamically: the CLI does not depend on it.
 */
async function coordinatorStats(): Promise<{ stats?: unknown; text?: string; why?: string }> {
  const { mod, why } = await optional<{ statsJson?: () => unknown; statsText?: () => string }>("@ferry/coordinator");
  if (!mod) return { why };
  if (typeof mod.statsJson !== "function" || typeof mod.statsText !== "function")
    return { why: "@ferry/coordinator is installed but exports no statsJson()/statsText()" };
  return { stats: mod.statsJson(), text: mod.statsText() };
}

async function sample(name: string) {
  const { channel } = await loadFerry();
  using ch = channel.Channel.open(name);
  const s = ch.stats();
  const j = judge(`${PREFIX}${name}`);
  return {
    name, capacity: ch.capacity, slots: ch.slots, granule: ch.granule, ...s, inFlight: s.tail - s.head,
    creatorPid: j?.creatorPid, creatorAlive: j?.creatorAlive, state: j?.state, at: new Date().toISOString(),
  };
}

type Sample = Awaited<ReturnType<typeof sample>>;

function render(s: Sample, prev: Sample | undefined, dtMs: number, co: { stats?: unknown; text?: string; why?: string }): string {
  const rate = prev ? ((s.published - prev.published) * 1000) / dtMs : undefined;
  const rows: (string | number)[][] = [
    ["capacity", fmtBytes(s.capacity)], ["arena used", fmtBytes(s.arenaUsed)], ["slots", s.slots], ["published", s.published],
    ["in flight", s.inFlight], ["dropped", s.dropped], ["publishers", s.publishers], ["subscribers", s.subscribers],
    ["reclaimed", s.reclaimed], ["history", s.history], ["creator", `${s.creatorPid ?? "?"} (${s.creatorAlive ? "alive" : "dead"})`],
  ];
  if (rate !== undefined) rows.push(["messages/s", rate.toFixed(1)]);
  return `${s.name}  ${s.at}\n${table(["counter", "value"], rows.map(([k, v]) => [String(k), String(v)]))}\n\n${co.text ?? `coordinator: ${co.why ?? "-"}`}`;
}

export function register(program: Command): void {
  program
    .command("stat")
    .description("one channel's counters, and the coordinator's statistics (when @ferry/coordinator is installed); without a name, only the coordinator's")
    .argument("[name]", "channel name")
    .option("--json", "print JSON (with --watch: one JSON object per line)")
    .option("-w, --watch", "live view: print again every --interval")
    .option("--interval <ms>", "with --watch: milliseconds between samples", "1000")
    .option("--count <n>", "with --watch: stop after n samples (default: until Ctrl-C)")
    .action(async (name: string | undefined, o: { json?: boolean; watch?: boolean; interval: string; count?: string }) => {
      const interval = Number(o.interval), count = o.count === undefined ? Infinity : Number(o.count);
      if (!(interval >= 10)) throw usage(`--interval ${o.interval}: a number of milliseconds >= 10`);
      if (!(count >= 1)) throw usage(`--count ${o.count}: a positive number`);
      const co = await coordinatorStats();
      if (name === undefined) {
        emit(o.json, { coordinator: co.stats ?? null, why: co.why }, () => co.text ?? `coordinator: ${co.why ?? "-"}`);
        return;
      }
      if (!o.watch) {
        const s = await sample(name);
        emit(o.json, { ...s, coordinator: co.stats ?? null }, () => render(s, undefined, 0, co));
        return;
      }
      const tty = process.stdout.isTTY && !o.json;
      let prev: Sample | undefined, t = performance.now();
      for (let i = 0; i < count; i++) {
        if (i > 0) await Bun.sleep(interval);
        const s = await sample(name);
        const now = performance.now();
        if (o.json) console.log(JSON.stringify({ ...s, coordinator: co.stats ?? null }));
        else console.log(`${tty ? "\x1b[H\x1b[2J" : i > 0 ? "\n" : ""}${render(s, prev, now - t, co)}`);
        prev = s;
        t = now;
      }
    });
}
