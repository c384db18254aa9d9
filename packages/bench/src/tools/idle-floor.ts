/**
 * How much of the round trip after idle (issue 7, section 6) is the JS
 * layer's: the same 64 B request / reply every <gap> ms between two Bun
 * processes through the same libferry, wake sockets and truncation guards,
 * with each side's receive and send done either through the library
 * (`await receive()` + release, `loan()` + `publish()`), "lsn" for the
 * receive (subscriber.listen(): the library's Message, no promise), or "raw"
 * (the wake socket's callback calls ferry_sub_receive_or_arm and
 * ferry_sub_release directly, arming without the reap as the library does;
 * the send is one ferry_pub_send_hint: no Message, no promise per hop).
 * "uds" is a Unix socket echo with the same shape (the requester's data
 * callback settles the ping's promise).
 *
 *   bun run packages/bench/src/tools/idle-floor.ts [gapMs=3] [n=300]
 *
 * Every configuration has its own peer process, and they run interleaved
 * request by request (each round pings every configuration once, after its
 * own gap, in a rotating order), so the VM's drift hits all alike; RTT p50
 * and the ratio to "uds" per configuration.
 * CONFIGS="uds raw/raw,raw/raw lib/lib,lib/lib ..." overrides the set:
 * requester recv/send, then responder recv/send. WARM=n: n back-to-back
 * round trips first (no gap), so that the JIT has compiled the path as in a
 * service that has run a while (the 20 gapped warm-ups alone leave it in its
 * first tiers).
 */
import { Channel, type Publisher, type Subscriber } from "@ferry/channel";
import { ARM_NO_REAP, MsgInfoLayout, Wait, lib, nowNs, wordIndex } from "@ferry/native";
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { udsServer } from "../lib/uds";

const TOKEN = wordIndex(MsgInfoLayout).token;
const sym = lib.symbols;
type Side = { recv: "lib" | "lsn" | "raw"; send: "lib" | "raw" };
const keep: unknown[] = [];

/** Receive every message of `sub` and call onMsg after releasing it. */
async function receiver(sub: Subscriber, how: Side["recv"], onMsg: () => void): Promise<void> {
  if (how === "lib") {
    void (async () => {
      for (;;) {
        let m;
        try {
          m = await sub.receive();
        } catch {
          return; // closed at the end of the run
        }
        m.release();
        onMsg();
      }
    })();
    return;
  }
  if (how === "lsn") {
    sub.listen((m) => {
      m.release();
      onMsg();
    });
    return;
  }
  const h = (sub as unknown as { handle: Pointer }).handle;
  const info = new Uint32Array(toArrayBuffer(sym.ferry_sub_info(h) as Pointer, 0, MsgInfoLayout.size));
  const serve = () => {
    for (;;) {
      if (sym.ferry_sub_receive_or_arm(h, null, Wait.block | ARM_NO_REAP) !== 0) return; // armed (or an error: the run stops)
      sym.ferry_sub_release(h, info[TOKEN]!);
      onMsg();
    }
  };
  const sock = await Bun.connect({ fd: sym.ferry_sub_wake_socket(h), socket: { data: serve, error() {} } } as unknown as Parameters<typeof Bun.connect>[0]);
  keep.push(sock);
  serve();
}

function sender(pub: Publisher, how: Side["send"]): (b: Uint8Array) => void {
  if (how === "lib")
    return (b) => {
      const l = pub.loan(b.length);
      l.bytes.set(b);
      pub.publish(l);
    };
  const h = (pub as unknown as { handle: Pointer }).handle;
  return (b) => void sym.ferry_pub_send_hint(h, b, b.length, null, 0, 0, null);
}

const parse = (s: string): Side => {
  const [recv, send] = s.split("/") as [Side["recv"], Side["send"]];
  return { recv, send };
};

/** One configuration: a request / reply through its own peer. */
interface Pinger {
  ping(): Promise<void>;
  close(): Promise<void>;
}

async function waitReady(peer: ReturnType<typeof Bun.spawn>) {
  const out = (peer.stdout as ReadableStream<Uint8Array>).getReader();
  let s = "";
  while (!s.includes("READY")) s += new TextDecoder().decode((await out.read()).value);
  out.releaseLock();
}

async function ferryPinger(cfg: string, tag: string): Promise<Pinger> {
  const [req, rsp] = cfg.split(",").map(parse) as [Side, Side];
  const ping = Channel.create(`${tag}-ping`, { capacity: 1 << 22 });
  const pong = Channel.create(`${tag}-pong`, { capacity: 1 << 22 });
  const sub = pong.subscribe({ wait: "block" });
  const pub = ping.publisher({ backpressure: "block", timeoutMs: -1 });
  const peer = Bun.spawn(["bun", import.meta.path, "peer", `${tag}-ping`, `${tag}-pong`, `${rsp.recv}/${rsp.send}`], { stdout: "pipe", stderr: "inherit" });
  await waitReady(peer);
  let done: (() => void) | null = null;
  await receiver(sub, req.recv, () => {
    const d = done;
    done = null;
    d?.();
  });
  const send = sender(pub, req.send);
  const msg = new Uint8Array(64);
  return {
    ping() {
      const got = new Promise<void>((res) => (done = res));
      send(msg);
      return got;
    },
    async close() {
      peer.kill();
      await peer.exited;
      pub.close();
      sub.close();
      ping.close();
      pong.close();
    },
  };
}

async function socketPinger(tag: string): Promise<Pinger> {
  const u = udsServer(`/tmp/${tag}.sock`);
  const conn = u.accept();
  const peer = Bun.spawn(["bun", import.meta.path, "uds", u.path], { stdout: "pipe", stderr: "inherit" });
  const sock = await conn;
  await waitReady(peer);
  const msg = new Uint8Array(64);
  return {
    ping() {
      const got = new Promise<void>((res) => (u.on.data = () => res())); // 64 B arrive in one read here
      sock.write(msg);
      return got;
    },
    async close() {
      peer.kill();
      await peer.exited;
      u.stop();
    },
  };
}

const [role, a1, a2, a3] = process.argv.slice(2);
if (role === "uds") {
  await Bun.connect({ unix: a1!, socket: { data: (s, d) => void s.write(d), error() {} } });
  process.stdout.write("READY\n");
  setInterval(() => void keep, 1000);
} else if (role === "peer") {
  const me = parse(a3!);
  const sub = Channel.open(a1!).subscribe({ wait: "block" });
  const pub = Channel.open(a2!).publisher({ backpressure: "block", timeoutMs: -1 });
  keep.push(sub, pub);
  const send = sender(pub, me.send);
  const reply = new Uint8Array(64);
  await receiver(sub, me.recv, () => send(reply));
  process.stdout.write("READY\n");
  setInterval(() => void keep, 1000);
} else {
  const gap = Number(process.argv[2] ?? 3);
  const n = Number(process.argv[3] ?? 300);
  const warm = Number(process.env.WARM ?? 0);
  const configs = (process.env.CONFIGS ?? "uds raw/raw,raw/raw lsn/lib,lsn/lib lib/lib,lib/lib").split(" ");
  const pingers: Pinger[] = [];
  for (const [j, cfg] of configs.entries()) {
    const tag = `idle-floor-${process.pid}-${j}`;
    pingers.push(cfg === "uds" ? await socketPinger(tag) : await ferryPinger(cfg, tag));
  }
  // back to back, no gap: the JIT's tiers reach this code as they would in a service that has run a while
  for (let i = 0; i < warm; i++) for (const p of pingers) await p.ping();
  const rtt = configs.map(() => [] as number[]);
  for (let i = 0; i < n + 20; i++)
    for (let k = 0; k < pingers.length; k++) {
      const j = (i + k) % pingers.length;
      await Bun.sleep(gap);
      const t0 = nowNs();
      await pingers[j]!.ping();
      if (i >= 20) rtt[j]!.push(nowNs() - t0);
    }
  for (const p of pingers) await p.close();
  const p50 = rtt.map((x) => x.sort((a, b) => a - b)[x.length >> 1]! / 1e3);
  const base = configs.indexOf("uds");
  console.log(`gap ${gap} ms, ${n} round trips each, interleaved; RTT p50 (µs); requester recv/send, responder recv/send:`);
  for (const [j, cfg] of configs.entries())
    console.log(`  ${cfg.padEnd(16)} ${p50[j]!.toFixed(1).padStart(7)}${base >= 0 ? `  ${(p50[j]! / p50[base]!).toFixed(2)}x uds` : ""}`);
  process.exit(0);
}
