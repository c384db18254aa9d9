/**
 * Bad input and hostile shared memory: every failure is a FerryError with a
 * specific code, never a crash or a hang.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Channel } from "@ferry/channel";
import {
  expectFerryError,
  expectFerryRejection,
  peerSpawner,
  registerCleanup,
  shmExists,
  shmPath,
  uniqueName,
} from "@ferry/testkit";

const spawnPeer = peerSpawner(join(import.meta.dir, "peers"));

registerCleanup();

const KiB = 1024;

/* ---- segment header (struct ferry_seg_hdr, native/src/internal.h): little-endian ---- */
const HDR = {
  magic: 0, layoutVersion: 8, hdrSize: 12, segmentSize: 16, ctrlOff: 24, consumersOff: 32, partsOff: 40,
  ringOff: 48, bitmapOff: 56, arenaOff: 64, arenaSize: 72, granule: 80, ringSlots: 88, checksum: 200,
} as const;
/* ---- one ring descriptor (struct ferry_entry, 128 bytes since layout v8: the second line carries inline bytes) ---- */
const ENT = { seq: 0, refs: 8, flags: 12, payLen: 16, progress: 24, payGran: 40, hdrGran: 48, hdrLen: 56, inline: 64, size: 128 } as const;

function readAt(name: string, pos: number, len: number): DataView {
  const fd = openSync(shmPath(name), "r");
  try {
    const b = new Uint8Array(len);
    expect(readSync(fd, b, 0, len, pos)).toBe(len);
    return new DataView(b.buffer);
  } finally {
    closeSync(fd);
  }
}

function writeAt(name: string, pos: number, bytes: Uint8Array) {
  const fd = openSync(shmPath(name), "r+");
  try {
    expect(writeSync(fd, bytes, 0, bytes.length, pos)).toBe(bytes.length);
  } finally {
    closeSync(fd);
  }
}

const u32le = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
};
const u64le = (v: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};

/** Where message `seq`'s descriptor lives in the segment file. */
function descriptorPos(name: string, seq: number): number {
  const h = readAt(name, 0, 208);
  const ringOff = Number(h.getBigUint64(HDR.ringOff, true));
  const slots = h.getUint32(HDR.ringSlots, true);
  expect(slots & (slots - 1)).toBe(0);
  return ringOff + (seq & (slots - 1)) * ENT.size;
}

describe("names", () => {
  const bad = ["", "x".repeat(65), "../x", "a/b", "a b", "-lead", ".hidden", "na\u00efve", "tab\t"];
  for (const name of bad) {
    test(`invalid name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)} → FERRY_E_NAME`, () => {
      expectFerryError(() => Channel.create(name, { capacity: 4096 }), "FERRY_E_NAME");
      expectFerryError(() => Channel.open(name), "FERRY_E_NAME");
      expectFerryError(() => Channel.unlink(name), "FERRY_E_NAME");
    });
  }

  test("a 64-byte name is the longest allowed", () => {
    const base = uniqueName("n");
    const name = (base + "-" + "y".repeat(64)).slice(0, 64);
    expect(name.length).toBe(64);
    const ch = Channel.create(name, { capacity: 4096 });
    try {
      expect(shmExists(name)).toBe(true);
      const o = Channel.open(name);
      o.close();
    } finally {
      ch.close();
    }
    expect(shmExists(name)).toBe(false);
    expectFerryError(() => Channel.create(name + "z", { capacity: 4096 }), "FERRY_E_NAME");
  });
});

describe("sizes", () => {
  test("a loan or send bigger than the arena → FERRY_E_TOOBIG", async () => {
    const name = uniqueName("toobig");
    const ch = Channel.create(name, { capacity: 64 * KiB });
    try {
      const pub = ch.publisher({ backpressure: "block", timeoutMs: 1000 });
      expectFerryError(() => pub.loan(ch.capacity + 1), "FERRY_E_TOOBIG");
      expectFerryError(() => pub.loan(2 ** 40), "FERRY_E_TOOBIG");
      await expectFerryRejection(pub.send(new Uint8Array(ch.capacity + 1)), "FERRY_E_TOOBIG");
      // the whole arena is fine
      const loan = pub.loan(ch.capacity);
      expect(loan.size).toBe(ch.capacity);
      pub.unloan(loan);
    } finally {
      ch.close();
    }
  });

  test("a header over 4 KiB → FERRY_E_TOOBIG; exactly 4 KiB crosses to another process intact", async () => {
    const name = uniqueName("hdr");
    const ch = Channel.create(name, { capacity: 64 * KiB });
    try {
      const sub = spawnPeer("probe-sub.ts", { name }, 30_000);
      await sub.waitFor("ready");
      const pub = ch.publisher();
      const big = "h".repeat(5000);
      const loan = pub.loan(16);
      expectFerryError(() => pub.publish(loan, { header: big }), "FERRY_E_TOOBIG");
      expectFerryError(() => pub.publish(loan, { header: new Uint8Array(4097) }), "FERRY_E_TOOBIG");
      await expectFerryRejection(pub.send(new Uint8Array(16), { header: { big } }), "FERRY_E_TOOBIG");
      expect(loan.active).toBe(true); // a rejected header leaves the loan usable
      loan.bytes.set([1, 2, 3, 4, 5, 6, 7, 8]);
      const max = "m".repeat(4094); // JSON: 4094 + 2 quotes = 4096 bytes
      pub.publish(loan, { header: max });
      sub.send("go");
      const p = await sub.waitFor((m) => m.event === "probe" && m.i === 0);
      expect(p.code).toBeNull();
      expect(p.head).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(p.header).toBe(max);
      expect(ch.stats().published).toBe(1);
      sub.send("quit");
      expect(await sub.exited).toBe(0);
    } finally {
      ch.close();
    }
  }, 30_000);
});

describe("handle state", () => {
  test("msg.bytes / msg.header after msg.release() → FERRY_E_STATE; release twice is fine", () => {
    const name = uniqueName("rel");
    const ch = Channel.create(name, { capacity: 64 * KiB });
    try {
      const sub = ch.subscribe();
      const pub = ch.publisher();
      pub.sendSync(new Uint8Array([9, 9]), { header: { a: 1 } });
      const msg = sub.tryReceive()!;
      expect([...msg.bytes]).toEqual([9, 9]);
      msg.release();
      expect(msg.released).toBe(true);
      expectFerryError(() => msg.bytes, "FERRY_E_STATE");
      expectFerryError(() => msg.header, "FERRY_E_STATE");
      expectFerryError(() => msg.length, "FERRY_E_STATE");
      msg.release();
    } finally {
      ch.close();
    }
  });

  test("a loan reused after publish → FERRY_E_STATE", () => {
    const name = uniqueName("loan");
    const ch = Channel.create(name, { capacity: 64 * KiB });
    try {
      const pub = ch.publisher();
      const loan = pub.loan(32);
      pub.publish(loan);
      expectFerryError(() => pub.publish(loan), "FERRY_E_STATE");
      expectFerryError(() => loan.bytes, "FERRY_E_STATE");
      expectFerryError(() => pub.unloan(loan), "FERRY_E_STATE");
      const other = ch.publisher();
      const l2 = pub.loan(8);
      expectFerryError(() => other.publish(l2), "FERRY_E_STATE"); // not its loan
      pub.unloan(l2);
      expectFerryError(() => pub.unloan(l2), "FERRY_E_STATE");
      expect(ch.stats().published).toBe(1);
    } finally {
      ch.close();
    }
  });

  test("use after close → FERRY_E_CLOSED", async () => {
    const name = uniqueName("closed");
    const ch = Channel.create(name, { capacity: 64 * KiB });
    const pub = ch.publisher();
    const sub = ch.subscribe({ wait: "block" });
    pub.close();
    expectFerryError(() => pub.loan(8), "FERRY_E_CLOSED");
    expectFerryError(() => pub.sendSync(new Uint8Array(8)), "FERRY_E_CLOSED");
    await expectFerryRejection(pub.send(new Uint8Array(8)), "FERRY_E_CLOSED");
    ch.close();
    expect(sub.closed).toBe(true);
    expectFerryError(() => sub.tryReceive(), "FERRY_E_CLOSED");
    await expectFerryRejection(sub.receive({ timeoutMs: 100 }), "FERRY_E_CLOSED");
    expectFerryError(() => ch.stats(), "FERRY_E_CLOSED");
    expectFerryError(() => ch.publisher(), "FERRY_E_CLOSED");
    expectFerryError(() => ch.subscribe(), "FERRY_E_CLOSED");
    expectFerryError(() => ch.reap(), "FERRY_E_CLOSED");
    expect(shmExists(name)).toBe(false);
  });

  test("a subscriber blocked in receive() is woken by close() with FERRY_E_CLOSED", async () => {
    const name = uniqueName("closewake");
    const ch = Channel.create(name, { capacity: 64 * KiB });
    const sub = ch.subscribe({ wait: "block" });
    const pending = sub.receive();
    await Bun.sleep(100);
    sub.close();
    const t0 = performance.now();
    await expectFerryRejection(pending, "FERRY_E_CLOSED");
    expect(performance.now() - t0).toBeLessThan(1000);
    ch.close();
  });

  test("unknown options → FERRY_E_INVAL", async () => {
    const name = uniqueName("inval");
    const ch = Channel.create(name, { capacity: 64 * KiB });
    try {
      expectFerryError(() => ch.publisher({ backpressure: "nope" as never }), "FERRY_E_INVAL");
      expectFerryError(() => ch.subscribe({ wait: "nope" as never }), "FERRY_E_INVAL");
      const pub = ch.publisher();
      await expectFerryRejection(pub.send(new Uint8Array(4), { mode: "nope" as never }), "FERRY_E_INVAL");
      expectFerryError(() => Channel.create(uniqueName("cap0"), { capacity: 0 }), "FERRY_E_INVAL");
      expectFerryError(() => Channel.create(uniqueName("slots"), { capacity: 4096, slots: 100 }), "FERRY_E_INVAL");
    } finally {
      ch.close();
    }
  });
});

describe("existence", () => {
  test("create on a name in use by this process → FERRY_E_EXISTS", () => {
    const name = uniqueName("exists");
    const ch = Channel.create(name, { capacity: 4096 });
    try {
      expectFerryError(() => Channel.create(name, { capacity: 4096 }), "FERRY_E_EXISTS");
    } finally {
      ch.close();
    }
  });

  test("create on a name in use by another live process → FERRY_E_EXISTS; open works", async () => {
    const name = uniqueName("exists2");
    const creator = spawnPeer("creator.ts", { name, capacity: 64 * KiB }, 30_000);
    await creator.waitFor("ready");
    expectFerryError(() => Channel.create(name, { capacity: 4096 }), "FERRY_E_EXISTS");
    const ch = Channel.open(name);
    expect(ch.stats().publishers).toBe(1);
    expect(ch.stats().published).toBe(1);
    ch.close();
    expect(shmExists(name)).toBe(true); // open()ers never remove the name
    creator.kill(9);
    await creator.exited;
    Channel.unlink(name);
    expect(shmExists(name)).toBe(false);
  }, 30_000);

  test("open of a missing name → FERRY_E_NOTFOUND", () => {
    expectFerryError(() => Channel.open(uniqueName("missing")), "FERRY_E_NOTFOUND");
  });
});

describe("hostile or foreign segments", () => {
  test("a segment with a wrong magic → FERRY_E_BADMAGIC (also when too small); create replaces it", () => {
    const name = uniqueName("magic");
    const junk = new Uint8Array(8192);
    crypto.getRandomValues(junk);
    writeFileSync(shmPath(name), junk, { mode: 0o600 });
    try {
      expectFerryError(() => Channel.open(name), "FERRY_E_BADMAGIC");
      writeFileSync(shmPath(name), junk.subarray(0, 100), { mode: 0o600 });
      expectFerryError(() => Channel.open(name), "FERRY_E_BADMAGIC");
      writeFileSync(shmPath(name), new Uint8Array(4096), { mode: 0o600 }); // all zero
      expectFerryError(() => Channel.open(name), "FERRY_E_BADMAGIC");
      // nobody alive uses garbage: create takes the name over
      const ch = Channel.create(name, { capacity: 4096 });
      expect(Channel.open(name).stats().published).toBe(0);
      ch.close();
      expect(shmExists(name)).toBe(false);
    } finally {
      if (shmExists(name)) unlinkSync(shmPath(name));
    }
  });

  test("a wrong layout version → FERRY_E_VERSION", () => {
    const name = uniqueName("version");
    const ch = Channel.create(name, { capacity: 64 * KiB });
    try {
      const version = readAt(name, HDR.layoutVersion, 4).getUint32(0, true);
      expect(version).toBeGreaterThan(0);
      writeAt(name, HDR.layoutVersion, u32le(version + 97));
      expectFerryError(() => Channel.open(name), "FERRY_E_VERSION");
      writeAt(name, HDR.layoutVersion, u32le(version));
      Channel.open(name).close(); // restored: opens again
    } finally {
      ch.close();
    }
    expect(shmExists(name)).toBe(false);
  });

  test("a corrupted header byte (offsets 48..64) → FERRY_E_CORRUPT at open", () => {
    const name = uniqueName("hdrcorrupt");
    const ch = Channel.create(name, { capacity: 64 * KiB });
    try {
      for (const pos of [48, 53, 56, 63]) {
        const orig = readAt(name, pos, 1).getUint8(0);
        writeAt(name, pos, new Uint8Array([orig ^ 0x5a]));
        expectFerryError(() => Channel.open(name), "FERRY_E_CORRUPT");
        writeAt(name, pos, new Uint8Array([orig]));
      }
      Channel.open(name).close();
    } finally {
      ch.close();
    }
  });

  test("a corrupted ring descriptor → tryReceive FERRY_E_CORRUPT in the subscriber process, no crash; later messages still flow", async () => {
    const name = uniqueName("ringcorrupt");
    const ch = Channel.create(name, { capacity: 64 * KiB, slots: 16 });
    try {
      const sub = spawnPeer("probe-sub.ts", { name }, 30_000);
      await sub.waitFor("ready");
      const pub = ch.publisher();
      // [what, field, bytes, payload size]: 64 B + a header go through the arena; 8 B + a header are
      // inline (in the descriptor, layout v8), where a length past the 64-byte line must never be copied
      const patches: [string, number, Uint8Array, number][] = [
        ["payload offset (granule) huge", ENT.payGran, u32le(0xffff_ffff), 64],
        ["payload offset just past the arena", ENT.payGran, u32le(ch.capacity / ch.granule), 64],
        ["payload length huge", ENT.payLen, u64le(0xffff_ffff_ffffn), 64],
        ["header length > 4 KiB", ENT.hdrLen, u32le(1 << 20), 64],
        ["inline payload length past the line", ENT.payLen, u64le(65n), 8],
        ["inline payload + header past the line", ENT.hdrLen, u32le(57), 8],
        ["inline payload length huge", ENT.payLen, u64le(0xffff_ffff_ffffn), 8],
      ];
      for (let i = 0; i < patches.length; i++) {
        const seq = pub.sendSync(new Uint8Array(patches[i]![3]).fill(i + 1), { header: { i } });
        expect(seq).toBe(i);
        const pos = descriptorPos(name, seq);
        // sanity: this really is message `seq`'s descriptor (seq field holds seq + 1)
        expect(readAt(name, pos + ENT.seq, 8).getBigUint64(0, true)).toBe(BigInt(seq + 1));
        const [, field, value] = patches[i]!;
        writeAt(name, pos + field, value);
        sub.send("go");
        const p = await sub.waitFor((m) => m.event === "probe" && m.i === i);
        expect({ patch: patches[i]![0], code: p.code }).toEqual({ patch: patches[i]![0], code: "FERRY_E_CORRUPT" });
      }
      // the channel keeps working for good messages, in both processes, across ring wrap-around
      // (3 rounds of 10 messages through a 16-slot ring reuse the corrupted slots)
      let i = patches.length;
      for (let round = 0; round < 3; round++) {
        const first = i;
        for (let k = 0; k < 10; k++) pub.sendSync(new Uint8Array(64).fill(100 + k), { header: { round, k } });
        for (let k = 0; k < 10; k++, i++) {
          sub.send("go");
          const p = await sub.waitFor((m) => m.event === "probe" && m.i === i);
          expect(p.code).toBeNull();
          expect(p.seq).toBe(first + k);
          expect(p.head).toEqual(new Array(8).fill(100 + k));
          expect(p.header).toEqual({ round, k });
        }
      }
      sub.send("quit");
      expect(await sub.exited).toBe(0); // no crash
      expect(ch.stats().published).toBe(patches.length + 30);
    } finally {
      ch.close();
    }
  }, 30_000);
});

describe("backpressure", () => {
  test('"error" with a full ring or arena → FERRY_E_FULL at once', async () => {
    const name = uniqueName("full");
    const ch = Channel.create(name, { capacity: 64 * KiB, slots: 8 });
    try {
      const stall = spawnPeer("stall-sub.ts", { name, take: 0 }, 30_000); // subscribed, never receives
      await stall.waitFor("stalled");
      const pub = ch.publisher({ backpressure: "error" });
      // ring full: 8 descriptors
      let ok = 0;
      let t0 = performance.now();
      const err = expectFerryError(() => {
        for (;;) {
          pub.sendSync(new Uint8Array(16));
          ok++;
        }
      }, "FERRY_E_FULL");
      expect(performance.now() - t0).toBeLessThan(500);
      expect(ok).toBe(8);
      expect(err.message).toMatch(/full/);
      stall.kill(9);
      await stall.exited;
      expect(ch.reap()).toBe(1);
      expect(ch.stats().subscribers).toBe(0);

      // arena full: 4 x 16 KiB fit in 64 KiB
      const stall2 = spawnPeer("stall-sub.ts", { name, take: 0 }, 30_000);
      await stall2.waitFor("stalled");
      ok = 0;
      t0 = performance.now();
      expectFerryError(() => {
        for (;;) {
          const l = pub.loan(16 * KiB);
          pub.publish(l);
          ok++;
        }
      }, "FERRY_E_FULL");
      expect(performance.now() - t0).toBeLessThan(500);
      expect(ok).toBe(4);
      stall2.kill(9);
      await stall2.exited;
    } finally {
      ch.close();
    }
  }, 30_000);

  test('"drop-oldest": the publisher never blocks; the subscriber process sees msg.dropped > 0 and stats().dropped > 0', async () => {
    const name = uniqueName("drop");
    const ch = Channel.create(name, { capacity: 64 * KiB, slots: 8 });
    try {
      const sub = spawnPeer("collect-sub.ts", { name, check: "order", via: "drain", waitGo: true, keepSeqs: true }, 30_000);
      await sub.waitFor("ready");
      const pub = ch.publisher({ backpressure: "drop-oldest", timeoutMs: 10_000 });
      const N = 200;
      let worst = 0;
      const t0 = performance.now();
      for (let c = 0; c < N; c++) {
        const b = new Uint8Array(2 * KiB);
        const v = new DataView(b.buffer);
        v.setUint32(0, 5, true);
        v.setUint32(4, c, true);
        const t = performance.now();
        pub.sendSync(b);
        worst = Math.max(worst, performance.now() - t);
      }
      const total = performance.now() - t0;
      expect(worst).toBeLessThan(100);
      expect(total).toBeLessThan(2000);
      const st = ch.stats();
      expect(st.published).toBe(N);
      expect(st.dropped).toBeGreaterThan(0);
      sub.send("go");
      const r = await sub.result<{ count: number; maxDropped: number; seqs: number[]; error: unknown; perPub: Record<string, number> }>(20_000);
      expect(r.error).toBeNull();
      expect(r.count).toBeGreaterThan(0);
      expect(r.count).toBeLessThanOrEqual(8);
      expect(r.maxDropped).toBeGreaterThan(0);
      expect(r.maxDropped + r.count).toBe(N); // nothing vanished uncounted
      expect(r.seqs.at(-1)).toBe(N - 1); // the newest message survived
      expect(r.seqs).toEqual([...r.seqs].sort((a, b) => a - b));
      expect(ch.stats().dropped).toBe(r.maxDropped);
      expect(await sub.exited).toBe(0);
    } finally {
      ch.close();
    }
  }, 30_000);
});
