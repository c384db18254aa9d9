/**
 * Arguments: every public method checks what it is given and throws a
 * FerryError (FERRY_E_INVAL, FERRY_E_NAME, FERRY_E_TOOBIG, FERRY_E_CORRUPT)
 * rather than a TypeError / RangeError / SyntaxError, and nothing is coerced
 * in silence (a NUL that cuts a name short, .length of a Float64Array, NaN
 * bytes, NaN ms).
 */
import { describe, expect, test } from "bun:test";
import { Channel, GROUP_MAX } from "@ferry/channel";
import { expectFerryError, expectFerryRejection, registerCleanup, shmExists, uniqueName } from "@ferry/testkit";

registerCleanup();

const KiB = 1024;
const bad = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : typeof v === "bigint" ? `${v}n` : String(v));

describe("names", () => {
  test("a NUL in a channel name → FERRY_E_NAME (create, open, unlink): it no longer opens the name before it", () => {
    const name = uniqueName("nul");
    using ch = Channel.create(name, { capacity: 64 * KiB });
    expectFerryError(() => Channel.open(`${name}\0b`), "FERRY_E_NAME");
    expectFerryError(() => Channel.create(`${name}\0b`), "FERRY_E_NAME");
    expectFerryError(() => Channel.unlink(`${name}\0b`), "FERRY_E_NAME");
    expect(shmExists(name)).toBe(true);
    void ch;
  });

  test("a channel name that is not a string → FERRY_E_NAME", () => {
    for (const n of [123, null, undefined, { toString: () => "x" }])
      expectFerryError(() => Channel.open(n as never), "FERRY_E_NAME");
  });

  test(`groups: "" → FERRY_E_INVAL ("omit group for broadcast"); NUL, non-strings and more than ${GROUP_MAX} bytes → FERRY_E_INVAL`, () => {
    using ch = Channel.create(uniqueName("groups"), { capacity: 64 * KiB });
    const e = expectFerryError(() => ch.subscribe({ group: "" }), "FERRY_E_INVAL");
    expect(e.message).toContain("omit group for broadcast");
    // "g\0x" and "g\0y" used to be one group, "g"
    expectFerryError(() => ch.subscribe({ group: "g\0x" }), "FERRY_E_INVAL");
    expectFerryError(() => ch.subscribe({ group: "g\0y" }), "FERRY_E_INVAL");
    for (const g of [1, null, {}, ["w"]]) expectFerryError(() => ch.subscribe({ group: g as never }), "FERRY_E_INVAL");
    expect(GROUP_MAX).toBe(31);
    const longest = "w".repeat(GROUP_MAX);
    const sub = ch.subscribe({ group: longest });
    expect(sub.group).toBe(longest);
    expectFerryError(() => ch.subscribe({ group: "w".repeat(GROUP_MAX + 1) }), "FERRY_E_INVAL");
    // bytes of UTF-8, not characters: 16 × "é" is 32 bytes
    expectFerryError(() => ch.subscribe({ group: "é".repeat(16) }), "FERRY_E_INVAL");
    ch.subscribe({ group: "é".repeat(15) });
    expect(ch.stats().subscribers).toBe(2);
  });
});

describe("payloads", () => {
  test("sendSync / send take any ArrayBufferView or ArrayBuffer by byteLength (a Float64Array used to send 1 byte)", async () => {
    using ch = Channel.create(uniqueName("views"), { capacity: 256 * KiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    const f64 = new Float64Array([1.5, -2.25]);
    const dv = new DataView(new ArrayBuffer(12), 2, 6);
    dv.setUint16(0, 0xbeef, true);
    const inputs: [unknown, Uint8Array][] = [
      [f64, new Uint8Array(f64.buffer)],
      [dv, new Uint8Array(dv.buffer, 2, 6)],
      [new Uint16Array([1, 2, 3]).subarray(1), new Uint8Array([2, 0, 3, 0])],
      [new Uint8Array([9, 8, 7]).buffer, new Uint8Array([9, 8, 7])],
      [Buffer.from("héllo"), new TextEncoder().encode("héllo")],
    ];
    for (const [data, want] of inputs) {
      pub.sendSync(data as never);
      await pub.send(data as never, { mode: "inline" });
      await pub.send(data as never, { mode: "offload", engine: "cpu" });
      for (let i = 0; i < 3; i++) {
        const m = sub.tryReceive()!;
        expect([...m.bytes]).toEqual([...want]);
        m.release();
      }
    }
  });

  test("sendSync / send of a string, a number, null, an object → FERRY_E_INVAL (was TypeError); nothing is published", async () => {
    using ch = Channel.create(uniqueName("nonbytes"), { capacity: 64 * KiB });
    const pub = ch.publisher();
    for (const v of ["abc", 42, null, undefined, {}, [1, 2]]) {
      expectFerryError(() => pub.sendSync(v as never), "FERRY_E_INVAL");
      await expectFerryRejection(pub.send(v as never), "FERRY_E_INVAL");
      await expectFerryRejection(pub.send(v as never, { mode: "offload" }), "FERRY_E_INVAL");
    }
    expect(ch.stats().published).toBe(0);
  });

  test("loan sizes: integers only — NaN, 1.5, -1, Infinity, \"10\", 10n → FERRY_E_INVAL (NaN used to loan 0 bytes, 1.5 one byte)", () => {
    using ch = Channel.create(uniqueName("loansize"), { capacity: 64 * KiB });
    const pub = ch.publisher();
    for (const n of [Number.NaN, 1.5, -1, Infinity, "10", 10n, null, undefined])
      expectFerryError(() => pub.loan(n as never), "FERRY_E_INVAL");
    expect(pub.loan(0).size).toBe(0);
    expect(pub.loan(10).size).toBe(10);
    expectFerryError(() => pub.loan(2 ** 40), "FERRY_E_TOOBIG");
  });

  test("publish length: an integer in 0..loan.size — NaN (used to publish 0 bytes), 1.5, -1, \"3\", size + 1 → FERRY_E_INVAL; the loan stays usable", () => {
    using ch = Channel.create(uniqueName("publen"), { capacity: 64 * KiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    const loan = pub.loan(8);
    loan.bytes.set([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const length of [Number.NaN, 1.5, -1, "3", 9, Infinity])
      expectFerryError(() => pub.publish(loan, { length: length as never }), "FERRY_E_INVAL");
    expect(loan.active).toBe(true);
    pub.publish(loan, { length: 3 });
    expect([...sub.tryReceive()!.bytes]).toEqual([1, 2, 3]);
  });

  test("publish / unloan of something that is not a Loan → FERRY_E_INVAL; another publisher's loan → FERRY_E_STATE", () => {
    using ch = Channel.create(uniqueName("notloan"), { capacity: 64 * KiB });
    const pub = ch.publisher();
    const other = ch.publisher();
    for (const v of [undefined, null, {}, { token: 1, owner: pub }])
      for (const f of [() => pub.publish(v as never), () => pub.unloan(v as never)]) expectFerryError(f, "FERRY_E_INVAL");
    const loan = other.loan(4);
    expectFerryError(() => pub.publish(loan), "FERRY_E_STATE");
    expectFerryError(() => pub.unloan(loan), "FERRY_E_STATE");
  });

  test("copyTo: a destination that is not bytes → FERRY_E_INVAL; any ArrayBufferView works", async () => {
    using ch = Channel.create(uniqueName("copyto"), { capacity: 64 * KiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    pub.sendSync(new Uint8Array([1, 2, 3, 4]));
    const m = sub.tryReceive()!;
    for (const d of ["xxxx", 4, null, {}]) await expectFerryRejection(m.copyTo(d as never), "FERRY_E_INVAL");
    const dst = new Uint32Array(1);
    await m.copyTo(dst);
    expect([...new Uint8Array(dst.buffer)]).toEqual([1, 2, 3, 4]);
  });
});

describe("headers", () => {
  test("a header JSON cannot encode (BigInt, circular, function, symbol) → FERRY_E_INVAL (was TypeError or silently none)", async () => {
    using ch = Channel.create(uniqueName("hdrenc"), { capacity: 64 * KiB });
    const pub = ch.publisher();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const header of [{ n: 1n }, 2n, circular, () => 1, Symbol("s")]) {
      expectFerryError(() => pub.sendSync(new Uint8Array(1), { header }), "FERRY_E_INVAL");
      await expectFerryRejection(pub.send(new Uint8Array(1), { header, mode: "offload" }), "FERRY_E_INVAL");
      const loan = pub.loan(1);
      expectFerryError(() => pub.publish(loan, { header }), "FERRY_E_INVAL");
      expect(loan.active).toBe(true);
      pub.unloan(loan);
    }
    expect(ch.stats().published).toBe(0);
  });

  test("msg.header of a raw or damaged header → FERRY_E_CORRUPT (was SyntaxError); msg.headerBytes still has the bytes", () => {
    using ch = Channel.create(uniqueName("hdrdec"), { capacity: 64 * KiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    const raw = new Uint8Array([0xff, 0x01, 0x7b]);
    pub.sendSync(new Uint8Array(1), { header: raw });
    pub.sendSync(new Uint8Array(1), { header: new TextEncoder().encode('{"a":') });
    for (const want of [raw, new TextEncoder().encode('{"a":')]) {
      const m = sub.tryReceive()!;
      const e = expectFerryError(() => m.header, "FERRY_E_CORRUPT");
      expect(e.message).toContain("headerBytes");
      expect([...m.headerBytes!]).toEqual([...want]);
      m.release();
    }
  });

  test("raw headers may be any ArrayBufferView or an ArrayBuffer; one that starts like a checksum envelope reads back unchanged", () => {
    using ch = Channel.create(uniqueName("hdrraw"), { capacity: 64 * KiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    const lookalike = new Uint8Array(20);
    lookalike.set([0x00, 0x66, 0x79, 0x01, 1]);
    const f32 = new Float32Array([1.5]);
    for (const [h, want] of [[lookalike, lookalike], [f32, new Uint8Array(f32.buffer)], [new Uint8Array([5, 6]).buffer, new Uint8Array([5, 6])]] as const) {
      pub.sendSync(new Uint8Array(2), { header: h });
      const m = sub.tryReceive()!;
      expect([...m.headerBytes!]).toEqual([...want]);
      expect(m.verify()).toBe(false); // no checksum: the lookalike was wrapped, not taken for one
      m.release();
    }
  });
});

describe("timeouts and options", () => {
  test("timeoutMs NaN or not a number → FERRY_E_INVAL (NaN used to wait forever); Infinity and negatives wait forever", async () => {
    using ch = Channel.create(uniqueName("timeouts"), { capacity: 64 * KiB });
    const sub = ch.subscribe();
    for (const t of [Number.NaN, "100", null, 10n]) {
      await expectFerryRejection(sub.receive({ timeoutMs: t as never }), "FERRY_E_INVAL");
      await expectFerryRejection(sub.receive({ timeoutMs: t as never, wait: "spin" }), "FERRY_E_INVAL");
      expectFerryError(() => ch.publisher({ timeoutMs: t as never }), "FERRY_E_INVAL");
    }
    const pub = ch.publisher({ timeoutMs: Infinity }); // was a RangeError (BigInt(Infinity))
    ch.publisher({ timeoutMs: -1 });
    pub.sendSync(new Uint8Array([1]));
    pub.sendSync(new Uint8Array([2]));
    expect((await sub.receive({ timeoutMs: Infinity })).seq).toBe(0);
    expect((await sub.receive({ timeoutMs: Infinity, wait: "spin" })).seq).toBe(1);
    await expectFerryRejection(sub.receive({ timeoutMs: 1 }), "FERRY_E_TIMEOUT");
  });

  test("ready() bytes and timeoutMs, chunks() minBytes: integers / numbers only → FERRY_E_INVAL", async () => {
    using ch = Channel.create(uniqueName("readyargs"), { capacity: 64 * KiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    pub.sendSync(new Uint8Array(10));
    const m = sub.tryReceive()!;
    for (const b of [Number.NaN, -1, 1.5, "3"]) await expectFerryRejection(m.ready(b as never), "FERRY_E_INVAL");
    await expectFerryRejection(m.ready(undefined, { timeoutMs: Number.NaN }), "FERRY_E_INVAL");
    for (const minBytes of [0, Number.NaN, 1.5, "1"]) await expectFerryRejection(m.chunks({ minBytes: minBytes as never }).next(), "FERRY_E_INVAL");
    await m.ready(5, { timeoutMs: Infinity });
  });

  test("option names are checked as own names: \"toString\", \"constructor\", \"__proto__\" → FERRY_E_INVAL (they used to pass as functions)", async () => {
    using ch = Channel.create(uniqueName("protonames"), { capacity: 64 * KiB });
    for (const n of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      expectFerryError(() => ch.subscribe({ wait: n as never }), "FERRY_E_INVAL");
      expectFerryError(() => ch.publisher({ backpressure: n as never }), "FERRY_E_INVAL");
      expectFerryError(() => ch.publisher().sendSync(new Uint8Array(1), { cache: n as never }), "FERRY_E_INVAL");
    }
  });

  test("options that are not objects, and bad create / subscribe / publisher fields → FERRY_E_INVAL", async () => {
    const name = uniqueName("opts");
    for (const o of [null, 5, "x"]) expectFerryError(() => Channel.create(name, o as never), "FERRY_E_INVAL");
    for (const o of [{ slots: 1.5 }, { slots: "64" }, { slots: Number.NaN }, { permissions: "0600" }, { permissions: 0o1777 }, { capacity: "1024" }])
      expectFerryError(() => Channel.create(name, o as never), "FERRY_E_INVAL");
    expect(shmExists(name)).toBe(false);
    using ch = Channel.create(name, { capacity: 64 * KiB });
    const pub = ch.publisher();
    const sub = ch.subscribe();
    expectFerryError(() => ch.subscribe(null as never), "FERRY_E_INVAL");
    expectFerryError(() => ch.publisher(7 as never), "FERRY_E_INVAL");
    expectFerryError(() => ch.publisher({ policy: {} as never }), "FERRY_E_INVAL");
    expectFerryError(() => ch.subscribe({ verify: "yes" as never }), "FERRY_E_INVAL");
    expectFerryError(() => pub.sendSync(new Uint8Array(1), null as never), "FERRY_E_INVAL");
    expectFerryError(() => pub.sendSync(new Uint8Array(1), { checksum: 1 as never }), "FERRY_E_INVAL");
    await expectFerryRejection(pub.send(new Uint8Array(1), "inline" as never), "FERRY_E_INVAL");
    await expectFerryRejection(sub.receive(5 as never), "FERRY_E_INVAL");
    expectFerryError(() => pub.publish(pub.loan(1), "x" as never), "FERRY_E_INVAL");
    expect(ch.stats().published).toBe(0);
  });
});

test("no argument above reaches a TypeError, RangeError or SyntaxError: a sweep of odd values over every method", async () => {
  using ch = Channel.create(uniqueName("sweep"), { capacity: 64 * KiB });
  const pub = ch.publisher();
  const sub = ch.subscribe();
  pub.sendSync(new Uint8Array(4));
  const msg = sub.tryReceive()!;
  for (let i = 0; i < 8; i++) pub.sendSync(new Uint8Array(1)); // so receive() with valid options returns at once
  const odd: unknown[] = [undefined, null, Number.NaN, -1, 1.5, Infinity, "x", 1n, Symbol("s"), {}, [], () => 0, true];
  const calls: [string, (v: never) => unknown][] = [
    ["loan", (v) => pub.loan(v)],
    ["sendSync", (v) => pub.sendSync(v)],
    ["sendSync opts", (v) => pub.sendSync(new Uint8Array(1), v)],
    ["send", (v) => pub.send(v)],
    ["send opts", (v) => pub.send(new Uint8Array(1), v)],
    ["publish", (v) => pub.publish(v)],
    ["receive", (v) => sub.receive(v)],
    ["ready", (v) => msg.ready(v)],
    ["copyTo", (v) => msg.copyTo(v)],
    ["subscribe", (v) => ch.subscribe(v)],
    ["publisher", (v) => ch.publisher(v)],
    // (a plain string would be a valid name: the names test covers strings)
    ["create", (v) => Channel.create(typeof v === "string" ? `${v}\0` : v)],
    ["open", (v) => Channel.open(typeof v === "string" ? `${v}\0` : v)],
  ];
  const wrong: string[] = [];
  for (const [what, f] of calls) {
    for (const v of odd) {
      try {
        const r = f(v as never);
        if (r instanceof Promise) await r;
      } catch (e) {
        if ((e as Error).name !== "FerryError") wrong.push(`${what}(${bad(typeof v === "symbol" ? "symbol" : v)}): ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  }
  expect(wrong).toEqual([]);
});
