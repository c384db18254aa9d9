/**
 * Where a round trip after idle goes, per transport, from the kernel's own
 * record (issue 7, section 6): runs `run.ts --only idle` with kernel tracing
 * (tracefs: scheduler wake-ups and switches, every system call) on during
 * one gap's steady rounds, then splits each request of the requester (the
 * bench process) into
 *
 *   send → peer runs:   its sendto until the echo peer is on a CPU
 *                       (and, apart, how long the requester ran on after its send before it slept)
 *   peer runs → reply:  the peer's code until its reply's sendto
 *   reply → requester:  until the requester runs again
 *
 * and prints medians (µs) per transport, how often the peer was woken on the
 * requester's CPU, and the system calls each side made in between. Needs root
 * and /sys/kernel/tracing; tracing adds a few µs per system call, so compare
 * transports within one trace, not with untraced runs.
 *
 *   bun run packages/bench/src/tools/idle-trace.ts [gapMs=10]
 *
 * A request the requester's hybrid spin answered without a wake-up has no
 * reply sendto to split at: it is counted apart ("no reply wake").
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const T = "/sys/kernel/tracing";
const gap = Number(process.argv[2] ?? 10);
const set = (f: string, v: string) => writeFileSync(join(T, f), v);

// tracefs is not always mounted (a fresh VM of this kind): mount it (root, as the rest of this tool)
if (!existsSync(join(T, "tracing_on"))) {
  const m = Bun.spawnSync(["mount", "-t", "tracefs", "nodev", T], { stderr: "pipe" });
  if (m.exitCode !== 0) throw new Error(`no ${T} and mounting tracefs failed: ${m.stderr.toString().trim()}`);
}
set("tracing_on", "0");
set("trace", "");
set("buffer_size_kb", "131072");
set("set_event", "sched:sched_waking sched:sched_switch raw_syscalls:sys_enter raw_syscalls:sys_exit");
const run = Bun.spawnSync(["bun", join(import.meta.dir, "..", "run.ts"), "--only", "idle"], {
  env: { ...process.env, FERRY_IDLE_TRACE: String(gap) },
  stdout: "pipe",
  stderr: "inherit",
});
set("tracing_on", "0");
const text = readFileSync(join(T, "trace"), "utf8");
set("set_event", "");
set("trace", "");
if (run.exitCode !== 0) throw new Error(`run.ts --only idle exited ${run.exitCode}`);
for (const l of run.stdout.toString().split("\n")) if (l.startsWith(`${gap} ms`) && l.includes("steady")) console.log(`bench: ${l.trim()}`);

interface Ev { ts: number; pid: string; cpu: number; ev: string; rest: string }
const LINE = /^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\w+): (.*)$/;
const evs: Ev[] = [];
const peers = new Map<string, string>(); // pid -> transport
let main = "";
for (const l of text.split("\n")) {
  const m = LINE.exec(l);
  if (!m) continue;
  const e: Ev = { ts: Number(m[4]) * 1e6, pid: m[2]!, cpu: Number(m[3]), ev: m[5]!, rest: m[6]! };
  const mk = /idle-peer (\S+) (\d+)/.exec(e.rest);
  if (e.ev === "tracing_mark_write" && mk) {
    peers.set(mk[2]!, mk[1]!);
    main = e.pid;
    continue;
  }
  evs.push(e);
}
if (!main) throw new Error("no idle-peer markers in the trace: is tracefs writable (root)?");

const nr = (e: Ev) => e.rest.split(" ")[1];
const med = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1]! : NaN);
type Row = { wake: number; sleepAfter: number; work: number; back: number; total: number; same: boolean; mainSys: string; peerSys: string };
const rows = new Map<string, Row[]>();
const unanswered = new Map<string, number>();
for (let i = 0; i < evs.length; i++) {
  const e = evs[i]!;
  if (e.pid !== main || e.ev !== "sys_enter" || nr(e) !== "44") continue;
  // the peer this send woke (inside the sendto)
  let j = i + 1;
  let peer = "";
  let same = false;
  for (; j < evs.length && !(evs[j]!.pid === main && evs[j]!.ev === "sys_exit"); j++) {
    const w = /pid=(\d+) .*target_cpu=(\d+)/.exec(evs[j]!.rest);
    if (evs[j]!.ev === "sched_waking" && w && peers.has(w[1]!)) {
      peer = w[1]!;
      same = Number(w[2]) === e.cpu;
    }
  }
  if (!peer) continue;
  let k = j;
  while (k < evs.length && !(evs[k]!.ev === "sched_switch" && evs[k]!.pid === main)) k++;
  const sleepAfter = k < evs.length ? evs[k]!.ts - e.ts : NaN;
  const mainSys = evs.slice(j, k).filter((x) => x.pid === main && x.ev === "sys_enter").map(nr).join(" ");
  let a = j;
  while (a < evs.length && evs[a]!.pid !== peer) a++;
  if (a >= evs.length) break;
  let b = a;
  while (b < evs.length && evs[b]!.ts - evs[a]!.ts < 3000 && !(evs[b]!.pid === peer && evs[b]!.ev === "sys_enter" && nr(evs[b]!) === "44")) b++;
  if (b >= evs.length || evs[b]!.ts - evs[a]!.ts >= 3000) {
    unanswered.set(peer, (unanswered.get(peer) ?? 0) + 1);
    continue;
  }
  const peerSys = evs.slice(a, b).filter((x) => x.pid === peer && x.ev === "sys_enter").map(nr).join(" ");
  let c = b + 1;
  while (c < evs.length && evs[c]!.pid !== main) c++;
  if (c >= evs.length) break;
  const r: Row = { wake: evs[a]!.ts - e.ts, sleepAfter, work: evs[b]!.ts - evs[a]!.ts, back: evs[c]!.ts - evs[b]!.ts, total: evs[c]!.ts - e.ts, same, mainSys, peerSys };
  (rows.get(peer) ?? rows.set(peer, []).get(peer)!).push(r);
  i = c;
}

const top = (xs: string[]) => {
  const m = new Map<string, number>();
  for (const x of xs) m.set(x || "-", (m.get(x || "-") ?? 0) + 1);
  return [...m].sort((p, q) => q[1] - p[1]).slice(0, 3).map(([s, n]) => `[${s}] x${n}`).join(", ");
};
console.log(`gap ${gap} ms, steady rounds, traced (µs, medians; system calls by number):`);
for (const [pid, key] of peers) {
  const r = rows.get(pid) ?? [];
  const f = (g: (x: Row) => number) => med(r.map(g)).toFixed(1);
  console.log(
    `  ${key.padEnd(22)} n=${r.length} (no reply wake: ${unanswered.get(pid) ?? 0}), peer on the requester's CPU ${((r.filter((x) => x.same).length / Math.max(1, r.length)) * 100).toFixed(0)}%\n` +
      `    send → peer runs ${f((x) => x.wake)} (requester sleeps ${f((x) => x.sleepAfter)} after its send) | peer runs → reply ${f((x) => x.work)} | reply → requester ${f((x) => x.back)} | total ${f((x) => x.total)}\n` +
      `    requester after its send: ${top(r.map((x) => x.mainSys))}\n    peer before its reply: ${top(r.map((x) => x.peerSys))}`,
  );
}
