/**
 * Chaos: a kill storm over a live channel. Publisher processes (inline,
 * offload and pipelined sends, the engine sends through swEngine()s of their
 * own; backpressure block and drop-oldest), broadcast subscribers and a
 * worker group all run at once (peers/chaos-pub.ts, peers/chaos-sub.ts),
 * while a killer SIGKILLs a random one every 30-150 ms and starts a new
 * incarnation in its place. Then everyone still alive is stopped, the
 * channel is reaped, and:
 *
 *  - no delivery is corrupt: every payload is the pattern its header names
 *    (a pipelined message may end in FERRY_E_PEERDEAD only if its publisher
 *    was killed);
 *  - per subscriber, seqs grow; per publisher incarnation, the message
 *    numbers a subscriber saw grow, and the numbers it skipped are no more
 *    than its drop-oldest count grew (plus sends its publisher reported as
 *    failed): no silent gaps;
 *  - a worker group never delivers a message twice;
 *  - every peer that was not killed stops cleanly when asked;
 *  - after everyone left and a reap: no publisher or subscriber is counted
 *    and the arena is back to 0 B; no segment is left in /dev/shm;
 *  - the wedge check: a fresh publisher with backpressure "error" can still
 *    publish slots + 1 messages (with no subscriber left), i.e. no descriptor
 *    leaked.
 *
 * Known open (native: shm/ring.c, subscriber.c): a subscriber killed between
 * its claim CAS and recording the claim leaks that message's descriptor and
 * space (docs/architecture.md, "The lock and crashes"). While it is open, a
 * leak seen after a storm that killed subscribers is reported as KNOWN and
 * does not fail the test; FERRY_CHAOS_STRICT=1 makes it fail. A leak after a
 * storm that killed no subscriber always fails.
 *
 * FERRY_CHAOS_MS sets the storm's length (default 45 s); stopping, reaping
 * and the checks take about a second more.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Channel } from "@ferry/channel";
import { listFerryShm, peerSpawner, registerCleanup, rng, sleep, uniqueName, type Peer } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

const STORM_MS = Number(process.env.FERRY_CHAOS_MS ?? 45_000);
const STRICT = process.env.FERRY_CHAOS_STRICT !== "0"; /* the claim/release window is repaired: a leak fails */
const SLOTS = 256;

type Role = {
  name: string;
  kind: "pub" | "sub" | "worker";
  script: string;
  cfg: Record<string, unknown>;
  g: number;
  peer?: Peer;
};
type Rec = [number, number, number, number, number, number, string];
type Incarnation = { role: Role; g: number; peer: Peer; killed: boolean };

test(`kill storm (${STORM_MS / 1000} s): no corrupt delivery, no silent gap, nothing leaked, not wedged`, async () => {
  const name = uniqueName("chaos");
  const ch = Channel.create(name, { capacity: 32 * 2 ** 20, slots: SLOTS });
  const run = 1 + (Date.now() % 1000);
  const pubs = [
    { mode: "inline", backpressure: "block" },
    { mode: "inline", backpressure: "drop-oldest" },
    { mode: "offload", backpressure: "block" },
    { mode: "pipelined", backpressure: "drop-oldest" },
  ];
  const roles: Role[] = [
    ...pubs.map((c, p): Role => ({ name: `pub${p}-${c.mode}-${c.backpressure}`, kind: "pub", script: "chaos-pub.ts", cfg: { ...c, p, run }, g: 0 })),
    ...[0, 1].map((k): Role => ({ name: `sub${k}`, kind: "sub", script: "chaos-sub.ts", cfg: { hold: 1 + k * 2 }, g: 0 })),
    ...[0, 1].map((k): Role => ({ name: `worker${k}`, kind: "worker", script: "chaos-sub.ts", cfg: { group: "w", hold: 2 }, g: 0 })),
  ];
  const incarnations: Incarnation[] = [];
  const start = (r: Role) => {
    r.g++;
    r.peer = spawnPeer(r.script, { ...r.cfg, name, g: r.g }, 120_000);
    incarnations.push({ role: r, g: r.g, peer: r.peer, killed: false });
  };
  for (const r of roles) start(r);
  await Promise.all(roles.map((r) => r.peer!.waitFor("ready", 30_000)));

  // the storm
  const rand = rng(run);
  const t0 = performance.now();
  let kills = 0;
  const killedKinds = { pub: 0, sub: 0, worker: 0 };
  while (performance.now() - t0 < STORM_MS) {
    await sleep(30 + (rand() % 121));
    const r = roles[rand() % roles.length]!;
    const inc = incarnations.findLast((c) => c.role === r)!;
    inc.killed = true;
    inc.peer.kill(9);
    kills++;
    killedKinds[r.kind]++;
    start(r);
  }
  const stormMs = performance.now() - t0;

  // everyone still alive stops cleanly (a hang here is a wedge)
  const live = roles.map((r) => incarnations.findLast((c) => c.role === r)!);
  await Promise.all(live.map((c) => c.peer.waitFor("ready", 30_000).catch(() => {})));
  for (const c of live) c.peer.send("stop");
  const stopProblems: string[] = [];
  await Promise.all(
    live.map(async (c) => {
      try {
        await c.peer.result(20_000);
        const code = await c.peer.exited;
        if (code !== 0) stopProblems.push(`${c.role.name}#${c.g} exited ${code}: ${c.peer.stderr.slice(-500)}`);
      } catch (e) {
        stopProblems.push(`${c.role.name}#${c.g} did not stop: ${String(e).slice(0, 800)}`);
        c.peer.kill(9);
      }
    }),
  );
  await Promise.all(incarnations.map((c) => c.peer.exited));

  // what everyone reported
  const killedPub = new Set<string>();
  const fails = new Map<string, Set<number>>(); // "p/g" -> the send numbers that failed
  for (const c of incarnations) {
    if (c.role.kind === "pub" && c.killed) killedPub.add(`${c.role.cfg.p}/${c.g}`);
    for (const m of c.peer.msgs) {
      if (m.event !== "fail") continue;
      const key = `${c.role.cfg.p}/${c.g}`;
      if (!fails.has(key)) fails.set(key, new Set());
      fails.get(key)!.add(m.i as number);
    }
  }
  const problems: string[] = [...stopProblems];
  // a publisher that was not killed and could not send: FERRY_E_TIMEOUT / FULL is what a
  // wedged ring looks like from the publishing side (judged with the wedge check below)
  const sendFailures: string[] = [];
  let delivered = 0, corrupt = 0, incomplete = 0, skipped = 0, dropsSeen = 0;
  const groupSeen = new Set<string>();
  for (const c of incarnations) {
    if (c.role.kind === "pub") {
      for (const m of c.peer.msgs) {
        if (m.event !== "fail" || c.killed) continue;
        const text = `${c.role.name}#${c.g}: send ${m.i} failed: ${m.code} ${m.message}`;
        if (m.code === "FERRY_E_TIMEOUT" || m.code === "FERRY_E_FULL") sendFailures.push(text);
        else problems.push(text);
      }
      continue;
    }
    const recs: Rec[] = c.peer.msgs.filter((m) => m.event === "seen").flatMap((m) => m.r as Rec[]);
    const res = c.peer.msgs.find((m) => m.event === "result");
    if (res && (res.problems as string[]).length) problems.push(`${c.role.name}#${c.g}: ${(res.problems as string[]).join("; ")}`);
    delivered += recs.length;
    let lastSeq = -1;
    const lastI = new Map<string, number>();
    let gaps = 0;
    for (const [p, g, i, seq, ok, , state] of recs) {
      const key = `${p}/${g}`;
      if (state) {
        incomplete++;
        if (!(state === "FERRY_E_PEERDEAD" && killedPub.has(key)))
          problems.push(`${c.role.name}#${c.g}: message ${key}/${i} (seq ${seq}) ended in ${state}`);
      } else if (!ok) {
        corrupt++;
        problems.push(`${c.role.name}#${c.g}: message ${key}/${i} (seq ${seq}) is corrupt`);
      }
      if (seq <= lastSeq) problems.push(`${c.role.name}#${c.g}: seq ${seq} after ${lastSeq}`);
      lastSeq = seq;
      if (c.role.kind === "worker") {
        if (groupSeen.has(`${key}/${i}`)) problems.push(`group delivered ${key}/${i} twice`);
        groupSeen.add(`${key}/${i}`);
      }
      const prev = lastI.get(key);
      if (prev !== undefined) {
        if (i <= prev) problems.push(`${c.role.name}#${c.g}: publisher ${key} message ${i} after ${prev}`);
        else {
          let accounted = 0;
          for (const f of fails.get(key) ?? []) if (f > prev && f < i) accounted++;
          gaps += i - prev - 1 - accounted;
        }
      }
      lastI.set(key, i);
    }
    if (c.role.kind === "sub" && recs.length) {
      const dropped = recs[recs.length - 1]![5] - recs[0]![5];
      dropsSeen += dropped;
      skipped += gaps;
      if (gaps > dropped)
        problems.push(`${c.role.name}#${c.g}: ${gaps} messages skipped but its drop count grew by ${dropped} only (silent gap)`);
    }
  }

  // everyone left: reap what the killed ones held, then count
  ch.reap();
  const st = ch.stats();
  const leaks: string[] = [];
  if (st.publishers || st.subscribers) problems.push(`after the storm ${st.publishers} publisher(s) and ${st.subscribers} subscriber(s) still counted`);
  if (st.arenaUsed !== 0) leaks.push(`arena holds ${st.arenaUsed} B after everyone left and a reap (head ${st.head}, tail ${st.tail})`);

  // the wedge check: no subscriber is left, so every message is reclaimed at once
  const fresh = ch.publisher({ backpressure: "error" });
  let published = 0;
  let wedge = "";
  for (let k = 0; k < SLOTS + 1; k++) {
    try {
      fresh.sendSync(new Uint8Array(64).fill(k & 255), { mode: "inline" });
      published++;
    } catch (e) {
      wedge = `a fresh publisher (backpressure "error", no subscriber) published ${published} of ${SLOTS + 1} messages, then ${(e as { code?: string }).code}: a descriptor leaked`;
      break;
    }
  }
  fresh.close();
  if (wedge) leaks.push(wedge);
  if (sendFailures.length) {
    const head = sendFailures.slice(0, 3).join("; ");
    if (leaks.length) leaks.push(`${sendFailures.length} send(s) of live publishers failed on the full ring: ${head}`);
    else problems.push(...sendFailures);
  }

  const summary = `chaos: storm ${(stormMs / 1000).toFixed(1)} s, ${kills} kills (${killedKinds.pub} publishers, ${killedKinds.sub} subscribers, ${killedKinds.worker} workers), ` +
    `${incarnations.length} processes; ${delivered} deliveries checked (${corrupt} corrupt, ${incomplete} ended by a dead publisher), ` +
    `${skipped} skipped / ${dropsSeen} dropped at subscribers, wedge check ${wedge ? "FAILED" : `ok (${published} published)`}`;
  console.log(summary);
  if (leaks.length) {
    const known = killedKinds.sub + killedKinds.worker > 0 && !STRICT;
    const text = `${known ? "KNOWN OPEN (claim/release window; FERRY_CHAOS_STRICT=1 fails on it)" : "LEAK"}: ${leaks.join("; ")}`;
    console.warn(`chaos: ${text}`);
    if (!known) problems.push(text);
  }
  ch.close();
  const left = listFerryShm().filter((n) => n.includes(name));
  if (left.length) problems.push(`segments left in /dev/shm: ${left.join(", ")}`);
  expect(problems).toEqual([]);
  expect(delivered).toBeGreaterThan(100);
}, STORM_MS + 90_000);
