/**
 * The one dlopen table of libferry. Keys equal the C names (include/ferry.h).
 * Only this module calls dlopen; only wrapper classes read `.symbols`.
 * FERRY_DEBUG_FFI=1 wraps every symbol to log its calls and results.
 */
import { dlopen, FFIType as T } from "bun:ffi";
// note: FFIType.buffer fails with "invalid ABI type" in Bun 1.4.5; the string "buffer" works.
import { openLibrary } from "./load";

const table = {
  // library
  ferry_version: { args: [], returns: T.cstring },
  ferry_abi_version: { args: [], returns: T.i32 },
  ferry_strerror: { args: [T.i32], returns: T.cstring },
  ferry_err_name: { args: [T.i32], returns: T.cstring },
  ferry_last_error: { args: [], returns: T.cstring },
  ferry_sizeof_msg_info: { args: [], returns: T.u64_fast },
  ferry_sizeof_channel_info: { args: [], returns: T.u64_fast },
  ferry_sizeof_stats: { args: [], returns: T.u64_fast },
  ferry_name_check: { args: ["buffer"], returns: T.i32 },
  ferry_now_ns: { args: [], returns: T.u64_fast },
  ferry_constant: { args: ["buffer"], returns: T.i64_fast },
  // channels
  ferry_channel_create: { args: ["buffer", T.u64, T.u32, T.u32, "buffer"], returns: T.i32 },
  ferry_channel_create_async: { args: ["buffer", T.u64, T.u32, T.u32, "buffer"], returns: T.i32 },
  // name, capacity, slots, mode, history (messages kept for late subscribers), out
  ferry_channel_create2: { args: ["buffer", T.u64, T.u32, T.u32, T.u32, "buffer"], returns: T.i32 },
  ferry_channel_create_async2: { args: ["buffer", T.u64, T.u32, T.u32, T.u32, "buffer"], returns: T.i32 },
  ferry_channel_create_collect: { args: [T.ptr, "buffer"], returns: T.i32 },
  ferry_channel_open: { args: ["buffer", "buffer"], returns: T.i32 },
  // name, flags (FERRY_TRUST_*), uids, nuids, gids, ngids, out
  ferry_channel_open2: { args: ["buffer", T.u32, "buffer", T.u32, "buffer", T.u32, "buffer"], returns: T.i32 },
  ferry_channel_close: { args: [T.ptr], returns: T.i32 },
  ferry_channel_info_get: { args: [T.ptr, "buffer"], returns: T.i32 },
  ferry_channel_stats: { args: [T.ptr, "buffer"], returns: T.i32 },
  ferry_channel_reap: { args: [T.ptr], returns: T.i32 },
  // channel, group ("": every subscriber), out u32
  ferry_channel_subscribers: { args: [T.ptr, "buffer", "buffer"], returns: T.i32 },
  ferry_unlink: { args: ["buffer"], returns: T.i32 },
  ferry_gc: { args: [], returns: T.i32 },
  // arena leases: JS views that outlive their handle (arena.ts)
  ferry_arena_lend: { args: [T.ptr, T.u32, "buffer"], returns: T.i32 },
  ferry_arena_unlend: { args: [T.ptr, T.ptr], returns: T.void },
  // read-only arena guard: a write to received memory exits with a clear message (src/fault.c)
  ferry_fault_guard: { args: [T.ptr], returns: T.i32 },
  ferry_fault_guarded: { args: [], returns: T.i32 },
  // publishers
  ferry_pub_open: { args: [T.ptr, T.u32, T.i64, "buffer"], returns: T.i32 },
  ferry_pub_close: { args: [T.ptr], returns: T.i32 },
  ferry_pub_info: { args: [T.ptr], returns: T.ptr },
  ferry_pub_arena: { args: [T.ptr], returns: T.ptr },
  // hot path: the info argument is passed as null, results land in the handle's own record
  ferry_pub_loan: { args: [T.ptr, T.u64, T.ptr], returns: T.i32 },
  ferry_pub_publish: { args: [T.ptr, T.u32, T.u64, T.ptr, T.u32, T.ptr], returns: T.i32 },
  ferry_pub_unloan: { args: [T.ptr, T.u32], returns: T.i32 },
  ferry_pub_send: { args: [T.ptr, T.ptr, T.u64, T.ptr, T.u32, T.ptr], returns: T.i32 },
  ferry_pub_send_hint: { args: [T.ptr, T.ptr, T.u64, T.ptr, T.u32, T.u32, T.ptr], returns: T.i32 },
  // small messages inline in the descriptor (layout v8): limit; staging area out u64[3] = addr, bytes, lease
  ferry_pub_inline: { args: [T.ptr, T.u32], returns: T.i32 },
  ferry_pub_stage_lend: { args: [T.ptr, "buffer"], returns: T.i32 },
  // engine sends: offload / pipelined
  ferry_pub_send_engine: { args: [T.ptr, T.ptr, T.ptr, T.u64, T.ptr, T.u32, T.u32, T.u32, T.u32, T.ptr], returns: T.i32 },
  ferry_pub_collect: { args: [T.ptr, T.ptr], returns: T.i32 },
  ferry_pub_jobs_pending: { args: [T.ptr], returns: T.i32 },
  ferry_pub_quiesce: { args: [T.ptr], returns: T.i32 },
  ferry_pub_notify_fd: { args: [T.ptr], returns: T.i32 },
  ferry_pub_arm: { args: [T.ptr], returns: T.i32 },
  ferry_pub_wake_socket: { args: [T.ptr], returns: T.i32 },
  // subscribers
  ferry_sub_open: { args: [T.ptr, "buffer", "buffer"], returns: T.i32 },
  ferry_sub_close: { args: [T.ptr], returns: T.i32 },
  ferry_sub_info: { args: [T.ptr], returns: T.ptr },
  ferry_sub_try_receive: { args: [T.ptr, T.ptr], returns: T.i32 },
  ferry_sub_receive: { args: [T.ptr, T.ptr, T.u32, T.i64], returns: T.i32 },
  ferry_sub_release: { args: [T.ptr, T.u32], returns: T.i32 },
  ferry_sub_release_later: { args: [T.ptr], returns: T.ptr },
  // the read-only inline copy area: out u64[3] = addr, bytes, lease
  ferry_sub_inline_lend: { args: [T.ptr, "buffer"], returns: T.i32 },
  ferry_sub_notify_fd: { args: [T.ptr, T.u32], returns: T.i32 },
  ferry_sub_arm: { args: [T.ptr], returns: T.i32 },
  ferry_sub_wake_fd: { args: [T.ptr], returns: T.i32 },
  ferry_sub_wake_socket: { args: [T.ptr], returns: T.i32 },
  ferry_sub_receive_or_arm: { args: [T.ptr, T.ptr, T.u32], returns: T.i32 },
  ferry_sub_arm_wake: { args: [T.ptr], returns: T.i32 },
  ferry_sub_reap: { args: [T.ptr], returns: T.i32 },
  ferry_sub_progress: { args: [T.ptr, T.u32], returns: T.i64_fast },
  ferry_sub_wait_progress: { args: [T.ptr, T.u32, T.u64, T.u32, T.i64], returns: T.i64_fast },
  ferry_sub_arm_progress: { args: [T.ptr, T.u32, T.u64], returns: T.i32 },
  // pins: the message-queue claim check (layout v7)
  ferry_host_id: { args: ["buffer"], returns: T.i32 },
  // channel, out 48 bytes: 32 hex host id + NUL, u64 generation at 40
  ferry_channel_ident: { args: [T.ptr, "buffer"], returns: T.i32 },
  ferry_channel_pins: { args: [T.ptr], returns: T.i64_fast },
  ferry_pub_pin: { args: [T.ptr, T.u64, T.u32], returns: T.i32 },
  ferry_sub_open_pins: { args: [T.ptr, "buffer"], returns: T.i32 },
  ferry_sub_take_pin: { args: [T.ptr, T.u64, T.u64, T.ptr], returns: T.i32 },
  ferry_sub_pin_ack: { args: [T.ptr, T.u32], returns: T.i32 },
  // copy engines: registry
  ferry_engine_register: { args: [T.ptr], returns: T.i32 },
  ferry_engine_load: { args: ["buffer", "buffer", T.u64], returns: T.i32 },
  ferry_engine_unregister: { args: ["buffer"], returns: T.i32 },
  ferry_engine_list: { args: ["buffer", T.u64], returns: T.i32 },
  ferry_engine_probe: { args: ["buffer", "buffer", "buffer"], returns: T.i32 },
  // copy engines: instances (config/caps/stats/out pointers as buffers; hot path takes raw pointers)
  ferry_engine_open: { args: ["buffer", "buffer", "buffer"], returns: T.i32 },
  ferry_engine_close: { args: [T.ptr], returns: T.i32 },
  ferry_engine_caps_get: { args: [T.ptr, "buffer"], returns: T.i32 },
  ferry_engine_stats_get: { args: [T.ptr, "buffer"], returns: T.i32 },
  ferry_engine_submit: { args: [T.ptr, T.ptr, T.u32], returns: T.i32 },
  ferry_engine_copy: { args: [T.ptr, T.ptr, T.ptr, T.u64, T.u32, T.ptr], returns: T.i32 },
  ferry_engine_poll: { args: [T.ptr, T.ptr], returns: T.i32 },
  ferry_engine_wait: { args: [T.ptr, T.ptr, T.u32, T.i64], returns: T.i32 },
  ferry_completion_progress: { args: [T.ptr, T.u64], returns: T.void },
  ferry_completion_finish: { args: [T.ptr, T.i32], returns: T.void },
  ferry_set_error: { args: [T.i32, "buffer"], returns: T.i32 },
  // CPU copy routines
  ferry_copy: { args: [T.ptr, T.ptr, T.u64, T.u32], returns: T.i32 },
  ferry_copy_isa: { args: [], returns: T.cstring },
  ferry_copy_isa_set: { args: ["buffer"], returns: T.i32 },
  ferry_sizeof_completion: { args: [], returns: T.u64_fast },
  ferry_sizeof_copy_desc: { args: [], returns: T.u64_fast },
  ferry_sizeof_engine_config: { args: [], returns: T.u64_fast },
  ferry_sizeof_engine_caps: { args: [], returns: T.u64_fast },
  ferry_sizeof_engine_stats: { args: [], returns: T.u64_fast },
  ferry_sizeof_engine_probe_info: { args: [], returns: T.u64_fast },
} as const;

function open() {
  const lib = openLibrary((path) => dlopen(path, table));
  if (!process.env.FERRY_DEBUG_FFI) return lib;
  const wrapped: Record<string, (...a: unknown[]) => unknown> = {};
  for (const [name, fn] of Object.entries(lib.symbols) as [string, (...a: unknown[]) => unknown][]) {
    wrapped[name] = (...args: unknown[]) => {
      const t0 = Bun.nanoseconds();
      const r = fn(...args);
      console.error(`[ferry ffi] ${name}(${args.map(String).join(", ")}) = ${String(r)} ${Bun.nanoseconds() - t0} ns`);
      return r;
    };
    // a function's address stays the library's (arena.ts hands ferry_arena_unlend to toArrayBuffer)
    Object.assign(wrapped[name], { ptr: (fn as { ptr?: unknown }).ptr, native: (fn as { native?: unknown }).native });
  }
  return { ...lib, symbols: wrapped as unknown as typeof lib.symbols };
}

export const lib = open();
export type Symbols = typeof lib.symbols;
