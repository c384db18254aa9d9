/**
 * How much of the round trip after idle (issue 7, section 6) is the JS
 * layer's: the same 64 B request / reply every <gap> ms between two Bun
 * processes through the same libferry, wake sockets and truncation guards,
 * with each side's receive and send done either through the library
 * (`await receive()` + release, `loan()` + `publish()`) or "raw" (the wake
 * socket's callback calls ferry_sub_receive_or_arm and ferry_sub_release
 * directly, the send is one ferry_pub_send_hint: no Message, no promise per
 * hop). Configurations run interleaved, `rounds` times each; RTT p50 per run.
 *
 *   bun run packages/bench/src/tools/idle-floor.ts [gapMs=3] [n=300] [rounds=3]
 *
 * CONFIGS="raw/raw,raw/raw lib/lib,lib/lib ..." overrides the set: requester
 * recv/send, then responder recv/send. WARM=n: n back-to-back round trips
 * first (no gap), so that the JIT has compiled the path as in a service that
 * has run a while (the 20 gapped warm-ups alone leave it in its first tiers).
 */
import { Channel, type Publisher, type Subscriber } from "@ferry/channel";
import { MsgInfoLayout, Wait, lib, nowNs, wordIndex } from "@ferry/native";
import { toArrayBuffer, type Pointer } from "bun:ffi";

const TOKEN = wordIndex(MsgInfoLayout).token;
const sym = lib.symbols;
type Side = { recv: "lib" | "raw"; send: "lib" | "raw" };
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
  const h = (sub as unknown as { handle: Pointer }).handle;
  const info = new Uint32Array(toArrayBuffer(sym.ferry_sub_info(h) as Pointer, 0, MsgInfoLayout.size));
  const serve = () => {
    for (;;) {
      if (sym.ferry_sub_receive_or_arm(h, null, Wait.block) !== 0) return; // armed (or an error: the run stops)
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

const [role, a1, a2, a3] = process.argv.slice(2);
if (role === "peer") {
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
  const rounds = Number(process.argv[4] ?? 3);
  const warm = Number(process.env.WARM ?? 0);
  const configs = (process.env.CONFIGS ?? "raw/raw,raw/raw lib/lib,raw/raw raw/raw,lib/lib lib/lib,lib/lib").split(" ");
  const results = new Map<string, number[]>(configs.map((c) => [c, []]));
  for (let r = 0; r < rounds; r++)
    for (const cfg of configs) {
      const [req, rsp] = cfg.split(",").map(parse) as [Side, Side];
      const tag = `idle-floor-${process.pid}-${r}`;
      const ping = Channel.create(`${tag}-ping`, { capacity: 1 << 22 });
      const pong = Channel.create(`${tag}-pong`, { capacity: 1 << 22 });
      const sub = pong.subscribe({ wait: "block" });
      const pub = ping.publisher({ backpressure: "block", timeoutMs: -1 });
      const peer = Bun.spawn(["bun", import.meta.path, "peer", `${tag}-ping`, `${tag}-pong`, `${rsp.recv}/${rsp.send}`], { stdout: "pipe", stderr: "inherit" });
      const out = (peer.stdout as ReadableStream<Uint8Array>).getReader();
      let s = "";
      while (!s.includes("READY")) s += new TextDecoder().decode((await out.read()).value);
      out.releaseLock();
      let done: (() => void) | null = null;
      await receiver(sub, req.recv, () => {
        const d = done;
        done = null;
        d?.();
      });
      const send = sender(pub, req.send);
      const msg = new Uint8Array(64);
      const rtt: number[] = [];
      for (let i = 0; i < warm; i++) {
        // back to back, no gap: the JIT's tiers reach this code as they would in a service that has run a while
        const got = new Promise<void>((res) => (done = res));
        send(msg);
        await got;
      }
      for (let i = 0; i < n + 20; i++) {
        await Bun.sleep(gap);
        const got = new Promise<void>((res) => (done = res));
        const t0 = nowNs();
        send(msg);
        await got;
        if (i >= 20) rtt.push(nowNs() - t0);
      }
      rtt.sort((x, y) => x - y);
      results.get(cfg)!.push(rtt[rtt.length >> 1]! / 1e3);
      peer.kill();
      await peer.exited;
      pub.close();
      sub.close();
      ping.close();
      pong.close();
    }
  console.log(`gap ${gap} ms, ${n} round trips per run, RTT p50 per run (µs); requester recv/send, responder recv/send:`);
  for (const [cfg, xs] of results) console.log(`  ${cfg.padEnd(16)} ${xs.map((x) => x.toFixed(1)).join("  ")}`);
  process.exit(0);
}
