/**
 * Channel.createAsync: the same channel as Channel.create, made on a native
 * thread (the event loop stays free while a large segment is reserved and
 * pre-faulted). It works across processes, every error rejects with a
 * FerryError carrying libferry's detail, and nothing is left behind.
 */
import { describe, expect, test } from "bun:test";
import { Channel } from "@ferry/channel";
import { expectFerryRejection, registerCleanup, uniqueName } from "@ferry/testkit";

registerCleanup();

const MiB = 2 ** 20;

describe("Channel.createAsync", () => {
  test("creates a channel another process opens and receives from", async () => {
    const name = uniqueName("casync");
    using ch = await Channel.createAsync(name, { capacity: 256 * MiB, slots: 64 });
    expect(ch.capacity).toBeGreaterThanOrEqual(256 * MiB);
    expect(ch.slots).toBe(64);
    const child = Bun.spawn(
      ["bun", "-e", `
        import { Channel } from "@ferry/channel";
        const ch = Channel.open(${JSON.stringify(name)});
        const sub = ch.subscribe({ wait: "block" });
        console.log("ready");
        const m = await sub.receive({ timeoutMs: 20000 });
        console.log("got", m.length, m.bytes[0], m.bytes[m.length - 1]);
        m.release(); sub.close(); ch.close();`],
      { cwd: import.meta.dir, stdout: "pipe", stderr: "inherit" },
    );
    const reader = child.stdout.getReader();
    const dec = new TextDecoder();
    let out = "";
    while (!out.includes("ready")) out += dec.decode((await reader.read()).value);
    const pub = ch.publisher();
    await pub.waitForSubscribers(1, { timeoutMs: 10_000 });
    const bytes = new Uint8Array(64 * MiB).fill(7);
    bytes[bytes.length - 1] = 9;
    await pub.send(bytes, { mode: "inline" });
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      out += dec.decode(r.value);
    }
    expect(await child.exited).toBe(0);
    expect(out).toContain(`got ${64 * MiB} 7 9`);
  }, 60_000);

  test("every error rejects, with libferry's detail", async () => {
    await expectFerryRejection(Channel.createAsync("bad name"), "FERRY_E_NAME");
    await expectFerryRejection(Channel.createAsync(uniqueName("casync-cap"), { capacity: 0 }), "FERRY_E_INVAL");
    const name = uniqueName("casync-dup");
    using first = await Channel.createAsync(name, { capacity: MiB });
    const err = await expectFerryRejection(Channel.createAsync(name, { capacity: MiB }), "FERRY_E_EXISTS");
    expect(err.message).toContain(name);
    expect(first.closed).toBe(false);
  });

  test("many at once: each resolves to its own working channel", async () => {
    const names = Array.from({ length: 8 }, (_, i) => uniqueName(`casync-many${i}`));
    const chans = await Promise.all(names.map((n) => Channel.createAsync(n, { capacity: 4 * MiB })));
    try {
      for (const [i, ch] of chans.entries()) {
        expect(ch.name).toBe(names[i]!);
        const pub = ch.publisher();
        const sub = ch.subscribe({ wait: "spin" });
        pub.sendSync(new Uint8Array([i]));
        const m = sub.tryReceive()!;
        expect(m.bytes[0]).toBe(i);
        m.release();
      }
    } finally {
      for (const ch of chans) ch.close();
    }
  });
});
