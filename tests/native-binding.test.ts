/**
 * @ferry/native against the library it loaded: error names and numbers come
 * from libferry, every constant copy and struct layout matches it, and the
 * sw engine has one set of defaults. (Importing @ferry/native already throws
 * on a mismatch; these tests say which part holds, and keep the checks honest.)
 */
import { describe, expect, test } from "bun:test";
import {
  COMPLETION_SIZE, ChannelInfoLayout, EngineCapsLayout, EngineConfigLayout, EngineStatsLayout, Errno, FerryError,
  MsgInfoLayout, StatsLayout, codeName, constantMismatches, defineStruct, engineByName, lib, libraryConstant,
  libraryErrorNames, structMismatches, swDefaults,
} from "@ferry/native";
import { Engine } from "@ferry/channel";


describe("errors", () => {
  test("every code the library names maps to its name, and Errno holds exactly those codes", () => {
    const codes = libraryErrorNames();
    expect(codes.size).toBeGreaterThanOrEqual(20);
    for (const [code, name] of codes) {
      expect(codeName(code)).toBe(name as never);
      expect(new FerryError(code, "x").code).toBe(name as never);
      expect(Errno[name.slice("FERRY_E_".length) as keyof typeof Errno]).toBe(code);
    }
    expect(Object.keys(Errno).length).toBe(codes.size);
    expect(codeName(-100_000)).toBe("FERRY_E_UNKNOWN");
    expect(codeName(0)).toBe("FERRY_E_UNKNOWN");
  });

  test("Errno keeps every name and number it had when it was a hand copy", () => {
    expect({ ...Errno }).toMatchObject({
      INVAL: -1, NAME: -2, EXISTS: -3, NOTFOUND: -4, BADMAGIC: -5, VERSION: -6, CORRUPT: -7, FULL: -8,
      TOOBIG: -9, AGAIN: -10, TIMEOUT: -11, EOF: -12, PEERDEAD: -13, CLOSED: -14, STATE: -15, LIMIT: -16,
      SYS: -17, PERM: -18, NOMEM: -19, BUSY: -20,
    });
    expect(Object.isFrozen(Errno)).toBe(true);
  });
});

describe("constants", () => {
  test("every JS copy of a ferry.h constant equals the library's", () => {
    expect(constantMismatches()).toEqual([]);
    expect(libraryConstant("HEADER_MAX")).toBe(4096);
    expect(libraryConstant("WAIT_HYBRID")).toBe(2);
    expect(libraryConstant("NO_SUCH_CONSTANT")).toBe(Errno.NOTFOUND);
  });
});

describe("struct layouts", () => {
  test("sizes equal ferry_sizeof_* (and the sizes ferry.h documents)", () => {
    expect(structMismatches()).toEqual([]);
    const sizes = [MsgInfoLayout, ChannelInfoLayout, StatsLayout, EngineConfigLayout, EngineCapsLayout, EngineStatsLayout]
      .map((s) => [s.cname, s.size, Number(s.sizeof())]);
    expect(sizes).toEqual([
      ["ferry_msg_info", 64, 64], ["ferry_channel_info", 56, 56], ["ferry_stats", 88, 88],
      ["ferry_engine_config", 56, 56], ["ferry_engine_caps", 72, 72], ["ferry_engine_stats", 64, 64],
    ]);
    expect(Number(lib.symbols.ferry_sizeof_completion())).toBe(COMPLETION_SIZE);
  });

  test("offsets follow the C rules (fields aligned to their size, the struct to its largest field)", () => {
    expect(MsgInfoLayout.offset).toEqual({
      seq: 0, offset: 8, length: 16, hdrOffset: 24, hdrLength: 32, token: 36, dropped: 40, status: 48, flags: 52, data: 56,
    });
    expect(EngineCapsLayout.offset).toMatchObject({ name: 0, flags: 32, maxBatch: 36, maxTransfer: 40, threads: 56, coldThreshold: 64 });
    expect(EngineConfigLayout.offset).toMatchObject({ queueDepth: 24, flags: 28, options: 48 });
    const padded = defineStruct("padded", () => 24, { a: "u32", b: "u64", c: "u32" });
    expect([padded.offset, padded.size]).toEqual([{ a: 0, b: 8, c: 16 }, 24]);
  });
});

describe("engines", () => {
  test("@ferry/channel re-exports @ferry/native's Engine", async () => {
    expect(Engine).toBe((await import("@ferry/native")).Engine);
  });

  test('the shared engine behind engine: "sw" opens with swDefaults(), like swEngine()', () => {
    const d = swDefaults();
    const shared = engineByName("sw");
    try {
      expect(shared.caps()).toMatchObject({ name: "sw", threads: d.threads, chunkBytes: d.chunkBytes });
      expect(engineByName("sw")).toBe(shared);
    } finally {
      shared.close(); // leave no copy thread behind for later tests; the next use opens a new one
    }
    expect(engineByName("sw")).not.toBe(shared);
    engineByName("sw").close();
  });
});
