/**
 * Constants of ferry.h that JS needs as plain values (object lookups and
 * literal types on the hot path). Each is a copy, so each is checked at load
 * against the library's own value (ferry_constant, by its C name without
 * FERRY_): a header that changes without this file fails at import, with the
 * names that differ.
 */
import { lib } from "./symbols";
import { Errno, FerryError } from "./errors";
import { cstr } from "./text";

/** Wait strategies (fixed JS names) → enum ferry_wait. */
export const Wait = { spin: 0, block: 1, hybrid: 2 } as const;
/** ferry_sub_receive_or_arm: `wait | ARM_NO_REAP` leaves the reap of dead peers to ferry_sub_reap (the event loop's timer). */
export const ARM_NO_REAP = 0x100;
/** Backpressure policies (fixed JS names) → enum ferry_backpressure. */
export const Backpressure = { block: 0, error: 1, "drop-oldest": 2 } as const;
/** Engine send modes → enum ferry_send_mode. */
export const SendMode = { offload: 1, pipelined: 2 } as const;
/** Cache placements (fixed JS names) → FERRY_COPY_* hints. */
export const CacheHint = { auto: 0, hot: 1, cold: 2 } as const;
/** ferry_engine_caps.flags bits → EngineCaps fields. */
export const EngineCap = { async: 1, cacheHints: 2, progress: 4, batch: 8, selfFinish: 16, hostCpu: 32 } as const;
/** ferry_channel_open2 flags: which write bits besides the owner's a segment may have. */
export const Trust = { groupWrite: 1, worldWrite: 2 } as const;
/** ferry_engine_config.flags: close finishes queued copies. */
export const ENGINE_F_DRAIN = 1;
/** ferry_msg_info.flags: published before its payload was copied. */
export const MSG_PIPELINED = 1;
/** ferry_msg_info.flags: a small message; offsets are in the handle's inline area, not the arena (layout v8). */
export const MSG_INLINE = 2;
/** Payload + header bytes a descriptor carries inline (layout v8). */
export const INLINE_MAX = 64;
/** Per-message header limit, bytes. */
export const HEADER_MAX = 4096;
/** Channel name limit, bytes. */
export const NAME_MAX = 64;
/** Worker group name limit, bytes of UTF-8 (without the NUL). */
export const GROUP_MAX = 31;
/** Engine name limit, bytes (without the NUL). */
export const ENGINE_NAME_MAX = 31;
/** Engine sends of at most this many bytes are copied into the job at submit. */
export const SEND_COPY_MAX = 4096;
/** Engine sends in flight per publisher (more give FERRY_E_LIMIT). */
export const MAX_JOBS = 64;
/** Loans per publisher / messages held per subscriber (more give FERRY_E_LIMIT). */
export const MAX_HELD = 128;

/** Exit status of a process that wrote to a received message's read-only memory (ferry_fault_guard). */
export const FAULT_EXIT = 86;

/** Every copy above, by its C name without FERRY_. */
const COPIES: readonly (readonly [string, number])[] = [
  ["WAIT_SPIN", Wait.spin], ["WAIT_BLOCK", Wait.block], ["WAIT_HYBRID", Wait.hybrid],
  ["BP_BLOCK", Backpressure.block], ["BP_ERROR", Backpressure.error], ["BP_DROP_OLDEST", Backpressure["drop-oldest"]],
  ["SEND_OFFLOAD", SendMode.offload], ["SEND_PIPELINED", SendMode.pipelined],
  ["COPY_AUTO", CacheHint.auto], ["COPY_HOT", CacheHint.hot], ["COPY_COLD", CacheHint.cold],
  ["CAP_ASYNC", EngineCap.async], ["CAP_CACHE_HINTS", EngineCap.cacheHints],
  ["CAP_PROGRESS", EngineCap.progress], ["CAP_BATCH", EngineCap.batch], ["CAP_HOST_CPU", EngineCap.hostCpu], ["ENGINE_F_DRAIN", ENGINE_F_DRAIN],
  ["TRUST_GROUP_WRITE", Trust.groupWrite], ["TRUST_WORLD_WRITE", Trust.worldWrite],
  ["MSG_PIPELINED", MSG_PIPELINED], ["MSG_INLINE", MSG_INLINE], ["INLINE_MAX", INLINE_MAX], ["HEADER_MAX", HEADER_MAX], ["NAME_MAX", NAME_MAX], ["GROUP_MAX", GROUP_MAX],
  ["ENGINE_NAME_MAX", ENGINE_NAME_MAX], ["SEND_COPY_MAX", SEND_COPY_MAX], ["MAX_JOBS", MAX_JOBS], ["MAX_HELD", MAX_HELD],
  ["FAULT_EXIT", FAULT_EXIT], ["ARM_NO_REAP", ARM_NO_REAP],
];

/** The library's value of FERRY_<name> (Errno.NOTFOUND when it has none). */
export function libraryConstant(name: string): number {
  return Number(lib.symbols.ferry_constant(cstr(name)));
}

/** Names whose JS copy differs from the library, with both values. */
export function constantMismatches(): string[] {
  const out: string[] = [];
  for (const [name, js] of COPIES) {
    const c = libraryConstant(name);
    if (c !== js) out.push(c === Errno.NOTFOUND ? `FERRY_${name} (the library has none)` : `FERRY_${name} (js ${js}, library ${c})`);
  }
  return out;
}

{
  const bad = constantMismatches();
  if (bad.length)
    throw new FerryError(Errno.VERSION, `@ferry/native: constants differ from libferry ${String(lib.symbols.ferry_version())}: ${bad.join(", ")}`);
}
