/**
 * FFI views: the result record every native handle owns (mapped once, read
 * with plain typed-array index reads) and the arena view cache. Nothing here
 * allocates per message except a cache miss.
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { Errno, FerryError, MsgInfoLayout, u64, wordIndex } from "@ferry/native";

// 32-bit word indices of ferry_msg_info's fields, from its one layout (structs.ts)
const W = wordIndex(MsgInfoLayout);
const SEQ = W.seq, OFFSET = W.offset, LENGTH = W.length, HDR_OFFSET = W.hdrOffset, HDR_LENGTH = W.hdrLength;
const TOKEN = W.token, DROPPED = W.dropped, STATUS = W.status, FLAGS = W.flags;

/**
 * The ferry_msg_info that lives inside a native handle (ferry_pub_info /
 * ferry_sub_info): calls that get a null info write their results here, so
 * loan, publish, receive and collect pass no buffer.
 */
export class Info {
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  constructor(addr: Pointer | null) {
    if (!addr) throw new FerryError(Errno.INVAL, "native handle has no result record");
    const ab = toArrayBuffer(addr, 0, MsgInfoLayout.size);
    this.u32 = new Uint32Array(ab);
    this.i32 = new Int32Array(ab);
  }
  get status() { return this.i32[STATUS]!; }
  get flags() { return this.u32[FLAGS]!; }
  get seq() { return u64(this.u32, SEQ); }
  get offset() { return u64(this.u32, OFFSET); }
  get length() { return u64(this.u32, LENGTH); }
  get hdrOffset() { return u64(this.u32, HDR_OFFSET); }
  get hdrLength() { return this.u32[HDR_LENGTH]!; }
  get token() { return this.u32[TOKEN]!; }
  get dropped() { return u64(this.u32, DROPPED); }
}

/**
 * Views over an arena, cached by (offset, length) for small messages: making
 * a Uint8Array costs ~50-70 ns here warm and ~5 µs after an idle gap (its
 * runtime code is cold), a cache hit a few ns. Two views with the same
 * buffer, offset and length are interchangeable, so handing the same object
 * to a later message at the same place is safe. 4096 slots.
 *
 * The buffer is the owning handle's own leased arena buffer (arena.ts in
 * @ferry/native), detached when the handle closes. Should the program detach
 * it itself (msg.bytes.buffer.transfer()), the next miss asks `lend` for a
 * fresh one; cached views of the old one have length 0 and miss.
 */
const SLOTS = 4096;

export class Views {
  #buffer: ArrayBuffer;
  readonly #lend: () => ArrayBuffer;
  /* a direct-mapped cache, slot = 64-byte granule of the offset: array reads
   * that the JIT inlines (a Map's lookup is a runtime call, which costs µs
   * when it is cold, after an idle gap) */
  #views: (Uint8Array | undefined)[] = new Array(SLOTS);
  #offsets = new Float64Array(SLOTS).fill(-1);
  constructor(lend: () => ArrayBuffer) {
    this.#lend = lend;
    this.#buffer = lend();
  }
  get buffer(): ArrayBuffer {
    return this.#buffer;
  }
  get(offset: number, length: number): Uint8Array {
    if (length >= 65536) return new Uint8Array(this.#fresh(), offset, length);
    const slot = (offset / 64) & (SLOTS - 1);
    let v = this.#views[slot];
    if (v === undefined || this.#offsets[slot] !== offset || v.length !== length) {
      v = new Uint8Array(this.#fresh(), offset, length);
      this.#views[slot] = v;
      this.#offsets[slot] = offset;
    }
    return v;
  }
  #fresh(): ArrayBuffer {
    if (this.#buffer.detached) {
      this.#views = new Array(SLOTS);
      this.#offsets.fill(-1);
      this.#buffer = this.#lend();
    }
    return this.#buffer;
  }
}
