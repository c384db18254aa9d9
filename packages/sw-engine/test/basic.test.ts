import { expect, test } from "bun:test";
import { Channel, Engine } from "@ferry/channel";
import { detect, swEngine } from "@ferry/sw-engine";
import { registerCleanup, uniqueName } from "@ferry/testkit";

registerCleanup();

test("swEngine() takes detect()'s defaults and moves an offloaded message intact", async () => {
  const d = detect();
  using engine = swEngine();
  const caps = engine.caps();
  expect(caps.name).toBe("sw");
  expect(caps.threads).toBe(d.threads);
  expect(caps.chunkBytes).toBe(d.chunkBytes);
  expect(caps.async).toBe(true);
  expect(caps.selfFinish).toBe(true); // its copy threads finish every job: publishers wait without a poll timer
  using cpu = new Engine("cpu");
  expect(cpu.caps().selfFinish).toBe(true); // finished inside submit
  expect(caps.hostCpu).toBe(true); // copies on the host's CPUs (FERRY_CAP_HOST_CPU: the coordinator's drift)
  expect(cpu.caps().hostCpu).toBe(true);
  using ch = Channel.create(uniqueName("swbasic"), { capacity: 8 << 20 });
  const sub = ch.subscribe();
  const pub = ch.publisher({ engine });
  const data = new Uint8Array(3 << 20).map((_, i) => (i * 31) & 255);
  const seq = await pub.send(data, { mode: "offload", cache: "cold" });
  const msg = sub.tryReceive()!;
  expect(msg.seq).toBe(seq);
  expect(Bun.hash(msg.bytes)).toBe(Bun.hash(data));
  msg.release();
  const st = engine.stats();
  expect(st.jobs).toBeGreaterThanOrEqual(1);
  expect(st.bytes).toBeGreaterThanOrEqual(data.length);
});
