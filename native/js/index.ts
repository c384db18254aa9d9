/**
 * @ferry/native: libferry's binding. Wrapper packages import from here.
 *
 * Importing it loads the library and checks this binding against it: the
 * error names (errors.ts), the constants (constants.ts) and the struct
 * layouts (structs.ts). A mismatch throws at import, naming what differs.
 */
import { lib } from "./symbols";
import { check } from "./errors";

export { lib, type Symbols } from "./symbols";
export { candidates, findLibrary, openLibrary, platformPackage } from "./load";
export { NOLIB } from "./ferror";
export { Errno, FerryError, check, codeName, fail, libraryErrorNames, type FerryErrorCode } from "./errors";
export {
  Backpressure, CacheHint, ENGINE_F_DRAIN, ENGINE_NAME_MAX, EngineCap, FAULT_EXIT, GROUP_MAX, HEADER_MAX, INLINE_MAX, MAX_HELD, MAX_JOBS, MSG_INLINE, MSG_PIPELINED, NAME_MAX,
  ARM_NO_REAP, SEND_COPY_MAX, SendMode, Trust, Wait, constantMismatches, libraryConstant,
} from "./constants";
export {
  COMPLETION_ALIGN, COMPLETION_SIZE, ChannelInfoLayout, EngineCapsLayout, EngineConfigLayout, EngineProbeLayout, EngineStatsLayout,
  MsgInfoLayout, StatsLayout, decode, defineStruct, encode, structMismatches, structs, u64, wordIndex,
  type Decoded, type FieldType, type Struct,
} from "./structs";
export { NativeHandle, closedError } from "./handle";
export { detach, lendArena, lendLocal, pinArena } from "./arena";
export {
  Engine, completionRecord, engineByName, swDefaults, type EngineCaps, type EngineConfig, type EngineLike, type EngineProbe,
  type EngineStats,
} from "./engine";
export { cstr, fromCstr } from "./text";

const sym = lib.symbols;

export const version: string = String(sym.ferry_version());
export const abiVersion: number = sym.ferry_abi_version();

/** libferry's clock (CLOCK_MONOTONIC, ns): the one every native timeout uses, the same in every process. */
export function nowNs(): number {
  return Number(sym.ferry_now_ns());
}

/** Remove every ferry segment in /dev/shm that no live process uses. */
export function gc(): number {
  return check(sym.ferry_gc(), "gc");
}
