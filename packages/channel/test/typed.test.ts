/**
 * Typed payloads: loan.write() copies raw bytes, loan.view() / msg.view() are
 * typed views over 64-byte aligned payloads, and the tensor convention
 * (sendTensor / loanTensor / msg.tensor()) round-trips dtype, shape and data
 * bit-exact between real processes.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Channel, DTYPES, PAYLOAD_ALIGN, loanTensor, sendTensor, sendTensorSync, tensorHeader } from "@ferry/channel";
import { expectFerryError, expectFerryRejection, peerSpawner, registerCleanup, uniqueName } from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));
registerCleanup();

const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
type Got = { hex: string; f32: number[] | null; tensor: any; aligned: number };

test("a Float32Array written with loan.write / into loan.view arrives bit-exact in another process; bytes.set converts", async () => {
  const name = uniqueName("typed");
  using ch = Channel.create(name, { capacity: 1 << 20 });
  const sub = spawnPeer("typed-sub.ts", { name, count: 5 }, 60_000);
  await sub.waitFor("ready");
  using pub = ch.publisher();
  // awkward values: negative zero, NaN with a payload, a denormal, infinities
  const bits = new Uint32Array([0x3fc00000, 0x40200000, 0x80000000, 0x7fc12345, 0x00000001, 0xff800000, 0x7f7fffff]);
  const f32 = new Float32Array(bits.buffer);

  const a = pub.loan(f32.byteLength);
  expect(a.write(f32)).toBe(28);
  pub.publish(a);

  const b = pub.loan(f32.byteLength);
  const v = b.view(Float32Array);
  expect(v.length).toBe(7);
  expect(v.byteOffset % PAYLOAD_ALIGN).toBe(0);
  v.set(f32);
  pub.publish(b);

  // the pitfall: TypedArray.set converts element by element (1.5 -> 1, 2.5 -> 2)
  const c = pub.loan(8);
  c.bytes.fill(0); // a loan is not zeroed (the arena is reused): only what is written is defined
  c.bytes.set(new Float32Array([1.5, 2.5]));
  pub.publish(c);

  // raw writes at offsets, from an ArrayBuffer and a DataView
  const d = pub.loan(16);
  const f64 = new Float64Array([Math.PI]);
  expect(d.write(f64.buffer, 8)).toBe(16);
  expect(d.write(new DataView(f32.buffer, 0, 8))).toBe(8);
  pub.publish(d);

  sendTensorSync(pub, new Float32Array([1.5, 2.5, -3, 4]), { shape: [2, 2], header: { frame: 7 } });

  const r = await sub.result<{ msgs: Got[]; error: unknown }>(30_000);
  expect(r.error).toBeNull();
  const [m0, m1, m2, m3, m4] = r.msgs;
  expect(m0!.hex).toBe(hex(bits));
  expect(m1!.hex).toBe(hex(bits));
  expect(m2!.hex).toBe("0102000000000000"); // bytes 1, 2: not the floats
  expect(m2!.f32![0]).not.toBe(1.5);
  expect(m3!.hex).toBe(hex(f32).slice(0, 16) + hex(f64));
  expect(m4!.tensor).toEqual({ dtype: "float32", shape: [2, 2], data: ["1.5", "2.5", "-3", "4"], ctor: "Float32Array" });
  for (const m of r.msgs) expect(m.aligned).toBe(0);
  expect(await sub.exited).toBe(0);
});

test("every dtype round-trips through sendTensor / loanTensor; a shape that does not match the payload is FERRY_E_CORRUPT", async () => {
  const name = uniqueName("tensor");
  using ch = Channel.create(name, { capacity: 1 << 20 });
  const dtypes = Object.keys(DTYPES);
  const count = dtypes.length * 2 + 2;
  const sub = spawnPeer("typed-sub.ts", { name, count }, 60_000);
  await sub.waitFor("ready");
  using pub = ch.publisher();
  const want: unknown[] = [];
  for (const dt of dtypes) {
    const C = DTYPES[dt]! as unknown as { new (n: number): any; from(a: unknown[]): any };
    const big = dt.endsWith("64") && dt.includes("int");
    const vals = [1, 2, 3, 4, 5, 6].map((x) => (big ? BigInt(x) * (dt === "int64" ? -1n : 1n) : x));
    const data = C.from(vals as unknown[]);
    await sendTensor(pub, data, { shape: [3, 2] });
    const t = loanTensor(pub, dt as any, [2, 3]);
    expect(t.data.length).toBe(6);
    (t.data as any).set(data);
    t.publish();
    const strs = Array.from(data as ArrayLike<unknown>, String);
    want.push({ dtype: dt, shape: [3, 2], data: strs }, { dtype: dt, shape: [2, 3], data: strs });
  }
  // a lying header: 3 float32 announced, 8 bytes sent; and no tensor header at all
  pub.sendSync(new Uint8Array(8), { header: { dtype: "float32", shape: [3] } });
  pub.sendSync(new Uint8Array(8), { header: { frame: 1 } });
  const r = await sub.result<{ msgs: Got[]; error: unknown }>(30_000);
  expect(r.error).toBeNull();
  expect(r.msgs.slice(0, -2).map((m) => ({ dtype: m.tensor.dtype, shape: m.tensor.shape, data: m.tensor.data }))).toEqual(want as any);
  expect(r.msgs.at(-2)!.tensor).toEqual({ code: "FERRY_E_CORRUPT" });
  expect(r.msgs.at(-1)!.tensor).toEqual({ code: "FERRY_E_CORRUPT" });
  expect(await sub.exited).toBe(0);
});

test("views, writes and tensors: bounds, lengths and closed handles", () => {
  using ch = Channel.create(uniqueName("typedargs"), { capacity: 1 << 20 });
  using sub = ch.subscribe();
  const pub = ch.publisher();
  const loan = pub.loan(10);
  expectFerryError(() => loan.write(new Uint8Array(11)), "FERRY_E_INVAL");
  expectFerryError(() => loan.write(new Uint8Array(4), 7), "FERRY_E_INVAL");
  expectFerryError(() => loan.write(new Uint8Array(1), -1), "FERRY_E_INVAL");
  expectFerryError(() => loan.write([1, 2] as any), "FERRY_E_INVAL");
  expectFerryError(() => loan.view(Float32Array), "FERRY_E_INVAL"); // 10 bytes: not whole floats
  expect(loan.view(Float32Array, { length: 2 }).length).toBe(2);
  expect(loan.view(Uint16Array).length).toBe(5);
  expect(loan.view(Uint16Array, { byteOffset: 4 }).length).toBe(3);
  expectFerryError(() => loan.view(Float32Array, { byteOffset: 2, length: 1 }), "FERRY_E_INVAL"); // misaligned
  expectFerryError(() => loan.view(Float32Array, { length: 3 }), "FERRY_E_INVAL");
  expectFerryError(() => loan.view(Object as any), "FERRY_E_INVAL");
  loan.write(new Uint16Array([1, 2, 3, 4, 5]));
  pub.publish(loan);
  const msg = sub.tryReceive()!;
  expect(Array.from(msg.view(Uint16Array))).toEqual([1, 2, 3, 4, 5]);
  expect(msg.view(BigInt64Array, { length: 1 }).length).toBe(1);
  expectFerryError(() => msg.view(Int32Array), "FERRY_E_INVAL");
  expectFerryError(() => msg.tensor(), "FERRY_E_CORRUPT"); // no header
  const early = msg.view(Uint16Array);
  // header checks on the sending side
  expectFerryError(() => tensorHeader("complex64" as any, [1]), "FERRY_E_INVAL");
  expectFerryError(() => tensorHeader("float32", [2, -1]), "FERRY_E_INVAL");
  expectFerryError(() => tensorHeader("float32", [1], { dtype: "x" }), "FERRY_E_INVAL");
  expectFerryError(() => sendTensorSync(pub, new Float32Array(4), { shape: [3] }), "FERRY_E_INVAL");
  expectFerryError(() => sendTensorSync(pub, new DataView(new ArrayBuffer(4)) as any), "FERRY_E_INVAL");
  expect(tensorHeader("int64", [2, 3], { id: 1 })).toEqual({ header: { id: 1, dtype: "int64", shape: [2, 3] }, bytes: 48 });
  const tl = loanTensor(pub, "float64", [4]);
  const pubView = tl.data;
  const loanView = pub.loan(8).view(Float64Array);
  pub.close();
  // closed publisher: its views detach; the loan's accessors throw CLOSED
  expect(pubView.length).toBe(0);
  expect(loanView.length).toBe(0);
  expectFerryError(() => tl.loan.view(Float64Array), "FERRY_E_CLOSED");
  expectFerryError(() => tl.loan.write(new Uint8Array(1)), "FERRY_E_CLOSED");
  msg.release();
  expectFerryError(() => msg.view(Uint8Array), "FERRY_E_STATE");
  sub.close();
  expect(early.length).toBe(0);
  expectFerryError(() => msg.view(Uint8Array), "FERRY_E_CLOSED");
});

test("sendTensor rejects rather than throws", async () => {
  using ch = Channel.create(uniqueName("typedrej"), { capacity: 1 << 20 });
  using pub = ch.publisher();
  await expectFerryRejection(sendTensor(pub, new Float32Array(4), { shape: [5] }), "FERRY_E_INVAL");
});
