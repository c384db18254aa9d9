/**
 * Arena buffers: the ArrayBuffers JS views of shared memory live in.
 *
 * Every buffer over an arena mapping holds a lease on it (ferry_arena_lend)
 * that the garbage collector gives back (ferry_arena_unlend is the buffer's
 * deallocator). A handle detaches its buffers when it closes (detach():
 * ArrayBuffer.transfer(0), which also gives the lease back at once), so the
 * views it handed out become zero-length: reads give undefined, writes do
 * nothing. A buffer that escaped that (the program transferred it itself)
 * keeps its lease: when the channel unmaps, libferry leaves private zero
 * pages in its place until the collector frees it. No view can fault, and
 * none reaches shared memory after its handle closed.
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { lib } from "./symbols";
import { check } from "./errors";

const sym = lib.symbols;
/** The deallocator's address (a JSTypedArrayBytesDeallocator: (bytes, lease) => void). */
const unlend = (sym.ferry_arena_unlend as unknown as { ptr: Pointer }).ptr;
/** bun:ffi's toArrayBuffer with its deallocator arguments (context, then a C function's address). */
const toLeasedBuffer = toArrayBuffer as unknown as (addr: Pointer, off: number, len: number, ctx: Pointer, dealloc: Pointer) => ArrayBuffer;

/**
 * A new ArrayBuffer over `len` bytes at `addr`, the read-only (`writable`
 * false) or read-write arena mapping of channel handle `ch`, holding a lease
 * on that mapping until it is detached or collected.
 */
export function lendArena(ch: Pointer, addr: Pointer, len: number, writable: boolean): ArrayBuffer {
  const out = new BigUint64Array(1);
  // a write through a read-only view would fault: let libferry name the cause and clean up (src/fault.c)
  check(sym.ferry_fault_guard(ch), "guard arena");
  check(sym.ferry_arena_lend(ch, writable ? 1 : 0, out), "lend arena");
  const lease = Number(out[0]) as Pointer;
  try {
    // without a deallocator address (a bun:ffi that no longer exposes it) the
    // lease is never given back: the inert range then lasts as long as the process
    if (!unlend) return toArrayBuffer(addr, 0, len);
    return toLeasedBuffer(addr, 0, len, lease, unlend);
  } catch (e) {
    sym.ferry_arena_unlend(addr, lease);
    throw e;
  }
}

/**
 * A new ArrayBuffer over a handle's private inline area (the publisher's
 * staging, the subscriber's read-only copies), lent by `lend` into
 * out[0..3) = address, bytes, lease; the lease keeps the memory until the
 * buffer is detached or collected.
 */
export function lendLocal(lend: (out: BigUint64Array) => number, what: string): ArrayBuffer {
  const out = new BigUint64Array(3);
  check(lend(out), what);
  const addr = Number(out[0]) as Pointer;
  const lease = Number(out[2]) as Pointer;
  try {
    if (!unlend) return toArrayBuffer(addr, 0, Number(out[1]));
    return toLeasedBuffer(addr, 0, Number(out[1]), lease, unlend);
  } catch (e) {
    sym.ferry_arena_unlend(addr, lease);
    throw e;
  }
}

/** Detach `buf` (every view over it becomes zero-length) and give its lease back now. Idempotent. */
export function detach(buf: ArrayBuffer): void {
  if (!buf.detached) buf.transfer(0);
}

/**
 * Hold a lease on channel `ch`'s read-only arena while native code reads it
 * through a raw address (an engine copying out of it); the returned function
 * gives it back. While held, a closing channel leaves zero pages instead of
 * unmapping.
 */
export function pinArena(ch: Pointer): () => void {
  const out = new BigUint64Array(1);
  check(sym.ferry_arena_lend(ch, 0, out), "pin arena");
  const lease = Number(out[0]) as Pointer;
  let held = true;
  return () => {
    if (held) sym.ferry_arena_unlend(null, lease);
    held = false;
  };
}
