/**
 * 3. Peers a Bun user has today, same run: Bun IPC and a Unix socket, 64 MiB
 * round trip and 64 B latency, next to Ferry's equivalents.
 */
import type { WaitStrategy } from "@ferry/channel";
import { fmtNs, fmtRatio, table, type Grid, type Row } from "../lib/format";
import { target } from "../lib/target";
import { BIG, bunIpc, unixSocket } from "../measure/peers";
import { pingPong } from "../measure/pingpong";
import type { PeersResult, PingPong } from "../schema";
import { section } from "../section";

/** "12x lower" or, when ferry is slower, "3.2x HIGHER". */
function lower(peer: number, ferry: number) {
  return ferry <= peer ? `${fmtRatio(peer / ferry)} lower` : `${fmtRatio(ferry / peer)} HIGHER`;
}

const LABELS = {
  text: { head: ["transport", "64 MiB RTT (median)", "x faster than Bun IPC", "x faster than UDS", "64 B p50", "64 B p99"], ipc: "Bun IPC (advanced)", uds: "Unix socket", ferry: "ferry", all: "receiver reads all" },
  md: { head: ["transport", "64 MiB RTT", "× faster than Bun IPC", "× faster than UDS", "64 B p50", "64 B p99"], ipc: 'Bun IPC (`serialization: "advanced"`)', uds: "Unix domain socket (Bun.listen/connect)", ferry: "Ferry", all: "receiver reads all 64 MiB" },
};

/** The peers table (printed, and pasted by report.ts in its "md" wording); null without both peers. */
export function peersGrid(r: Partial<PeersResult>, style: keyof typeof LABELS): Grid | null {
  const L = LABELS[style];
  const ipc = r.others?.find((p) => p.impl === "bun-ipc");
  const uds = r.others?.find((p) => p.impl === "unix-socket");
  if (!ipc || !uds) return null;
  const rows: Row[] = [
    [L.ipc, fmtNs(ipc.rtt.median_ns), "1x", fmtRatio(uds.rtt.median_ns / ipc.rtt.median_ns), fmtNs(ipc.lat64.p50_ns), fmtNs(ipc.lat64.p99_ns)],
    [L.uds, fmtNs(uds.rtt.median_ns), fmtRatio(ipc.rtt.median_ns / uds.rtt.median_ns), "1x", fmtNs(uds.lat64.p50_ns), fmtNs(uds.lat64.p99_ns)],
  ];
  for (const f of r.ferry_rtt ?? []) {
    const l: PingPong | undefined = f.send === "loan" && !f.touch ? r.ferry_64B?.find((x) => x.wait === f.wait) : undefined;
    rows.push([
      `${L.ferry} ${f.send === "loan" ? "loan" : "inline copy"}, ${f.wait}${f.touch ? `, ${L.all}` : ""}`,
      fmtNs(f.rtt_p50_ns),
      fmtRatio(ipc.rtt.median_ns / f.rtt_p50_ns),
      fmtRatio(uds.rtt.median_ns / f.rtt_p50_ns),
      l ? fmtNs(l.p50_ns) : "",
      l ? fmtNs(l.p99_ns) : "",
    ]);
  }
  return { head: L.head, rows };
}

const loanRtt = (r: PeersResult | undefined, wait: WaitStrategy, touch = false) => r?.ferry_rtt.find((x) => x.send === "loan" && x.wait === wait && x.touch === touch);

export const peers = section({
  name: "peers",
  title: "3. peers a Bun user has today (same run)",
  alwaysTargets: true,
  empty: (): PeersResult => ({ payload_bytes: BIG, others: [], ferry_rtt: [], ferry_64B: [] }),
  config: (o, done) => {
    const Q = o.quick;
    return {
      bigSize: BIG,
      bigReps: Q ? 3 : 11,
      latIterations: Q ? 1000 : 20000,
      latWarmup: Q ? 50 : 300,
      maxMs: Q ? 600 : 3000,
      ferryRttIterations: Q ? 300 : 5000,
      ferryCopyIterations: Q ? 10 : 60,
      /** 64 B rows of the latency section; measured here (fewer iterations) when it gave none. */
      ferry64: (done.latency ?? []).filter((r) => r.size === 64),
      lat64Iterations: Q ? 2000 : 6000,
      lat64MaxMs: Q ? 600 : 3000,
    };
  },
  async run(cfg) {
    const r: PeersResult = { payload_bytes: BIG, others: [], ferry_rtt: [], ferry_64B: [...cfg.ferry64] };
    Bun.gc(true);
    r.others.push(await bunIpc(cfg));
    Bun.gc(true);
    r.others.push(await unixSocket(cfg));
    Bun.gc(true);
    const rtt = (wait: WaitStrategy, send: "loan" | "copy", touch: boolean, iterations: number) =>
      pingPong({ wait, size: BIG, replySize: 1, send, touch, iterations, warmup: send === "loan" && !touch ? 20 : 3, maxMs: cfg.maxMs });
    for (const wait of ["spin", "hybrid", "block"] as WaitStrategy[]) r.ferry_rtt.push(await rtt(wait, "loan", false, cfg.ferryRttIterations));
    r.ferry_rtt.push(await rtt("hybrid", "loan", true, cfg.ferryCopyIterations));
    r.ferry_rtt.push(await rtt("hybrid", "copy", false, cfg.ferryCopyIterations));
    if (!r.ferry_64B.length)
      for (const wait of ["spin", "block", "hybrid"] as WaitStrategy[])
        r.ferry_64B.push(await pingPong({ wait, size: 64, replySize: 64, send: "loan", iterations: cfg.lat64Iterations, warmup: 200, maxMs: cfg.lat64MaxMs }));
    return r;
  },
  table(r) {
    const g = peersGrid(r, "text");
    const ipc = r.others.find((p) => p.impl === "bun-ipc");
    const uds = r.others.find((p) => p.impl === "unix-socket");
    if (!g || !ipc || !uds) return "";
    const o = [
      table(g),
      "64 MiB RTT: payload one way, a 1-byte ack back on a second channel. ferry loan: loan + stamp + publish; the receiver",
      'checks the stamp byte and releases ("receiver reads all": it also reads every 64-byte line). Bun IPC / UDS: the',
      "receiver gets its own copy (deserialised / assembled into one buffer). 64 B: ping-pong, one way = RTT/2.",
    ];
    const faster = (what: string, x: PingPong | undefined) =>
      x && o.push(`=> ferry 64 MiB ${what} is ${fmtRatio(ipc.rtt.median_ns / x.rtt_p50_ns)} faster than Bun IPC and ${fmtRatio(uds.rtt.median_ns / x.rtt_p50_ns)} faster than a Unix socket`);
    faster("loan RTT (hybrid, the default)", loanRtt(r, "hybrid"));
    faster("inline-copy RTT", r.ferry_rtt.find((x) => x.send === "copy"));
    for (const w of ["spin", "block"] as WaitStrategy[]) {
      const l = r.ferry_64B.find((x) => x.wait === w);
      if (l) o.push(`=> ferry 64 B one-way p50 (${w}) is ${lower(ipc.lat64.p50_ns, l.p50_ns)} than Bun IPC and ${lower(uds.lat64.p50_ns, l.p50_ns)} than a Unix socket`);
    }
    return o.join("\n");
  },
  targets(r) {
    const ipc = r?.others.find((p) => p.impl === "bun-ipc");
    const rttX = (w: WaitStrategy, touch = false) => {
      const f = loanRtt(r, w, touch);
      return ipc && f ? fmtRatio(ipc.rtt.median_ns / f.rtt_p50_ns) : "n/a";
    };
    const loanH = loanRtt(r, "hybrid");
    return [
      target(">=", {
        id: "loan-vs-ipc",
        name: "64 MiB Bun->Bun round trip through a loan (hybrid) vs Bun IPC",
        limit: 1000,
        fmt: (x) => fmtRatio(x) + " faster",
        note: `same run: spin ${rttX("spin")}, block ${rttX("block")}; when the receiver also reads all 64 MiB: ${rttX("hybrid", true)}`,
      }, ipc && loanH ? ipc.rtt.median_ns / loanH.rtt_p50_ns : undefined),
    ];
  },
});
