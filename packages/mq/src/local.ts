/**
 * The same-host claim check: a producer's own Ferry channel whose messages
 * are pinned (ferry_pub_pin) until the consumers on this host ack them, and
 * the consumers' pin readers that take them by reference.
 *
 * A reference names (host, channel, generation, seq, offset, length); the
 * broker message also carries the payload's digest. A pin is dropped by the
 * last ack, by its TTL, or when its producer dies (libferry reaps it); a
 * reference that no longer resolves is a RefError with a reason, never a
 * silent drop.
 */
import { Channel, type Loan, type Publisher } from "@ferry/channel";
import { Errno, FerryError, MsgInfoLayout, NativeHandle, check, fail, lib, wordIndex } from "@ferry/native";
import type { Pointer } from "bun:ffi";
import { toArrayBuffer } from "bun:ffi";

const sym = lib.symbols;
const W = wordIndex(MsgInfoLayout);

/** This host's identity (machine-id + boot id + a random id kept in this /dev/shm namespace). */
export const hostId: string = (() => {
  const out = new Uint8Array(33);
  check(sym.ferry_host_id(out), "host id");
  return new TextDecoder().decode(out.subarray(0, 32));
})();

export interface Ref {
  host: string;
  channel: string;
  generation: string; /* 16 hex digits */
  seq: number;
  offset: number;
  length: number;
}

export function formatRef(r: Ref): string {
  return `${r.host}:${r.channel}:${r.generation}:${r.seq}:${r.offset}:${r.length}`;
}

const HEX32 = /^[0-9a-f]{32}$/, HEX16 = /^[0-9a-f]{16}$/, NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Parse a reference from the wire (hostile text): null when malformed. */
export function parseRef(s: string): Ref | null {
  const p = s.split(":");
  if (p.length !== 6) return null;
  const [host, channel, generation, seq, offset, length] = p as [string, string, string, string, string, string];
  const n = (x: string) => (/^\d{1,15}$/.test(x) ? Number(x) : NaN);
  const r = { host, channel, generation, seq: n(seq), offset: n(offset), length: n(length) };
  if (!HEX32.test(host) || !NAME.test(channel) || !HEX16.test(generation)) return null;
  if (!Number.isSafeInteger(r.seq) || !Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.length)) return null;
  return r;
}

function u64(u32: Uint32Array, i: number): number {
  return u32[i]! + u32[i + 1]! * 2 ** 32;
}

function ident(ch: Channel): { host: string; generation: string } {
  const out = new Uint8Array(48);
  check(sym.ferry_channel_ident(ch.handle, out), "channel identity");
  const g = new DataView(out.buffer).getBigUint64(40, true);
  return { host: new TextDecoder().decode(out.subarray(0, 32)), generation: g.toString(16).padStart(16, "0") };
}

let stores = 0;

/** The producer's side: one channel of its own, every message pinned. */
export class LocalStore {
  readonly channel: Channel;
  readonly #pub: Publisher;
  readonly #info: Uint32Array;
  readonly #gen: string;
  #acks = -1;
  readonly ttlNs: number;

  constructor(opts: { capacity: number; ttlMs: number }) {
    const name = `mq${process.pid}x${++stores}x${Math.floor(Math.random() * 1e9).toString(36)}`;
    this.channel = Channel.create(name, { capacity: opts.capacity });
    this.#pub = this.channel.publisher({ backpressure: "error" });
    this.#info = new Uint32Array(toArrayBuffer(sym.ferry_pub_info(this.#pub.handle) as Pointer, 0, MsgInfoLayout.size));
    this.#gen = ident(this.channel).generation;
    this.ttlNs = opts.ttlMs * 1e6;
  }

  get capacity(): number {
    return this.channel.capacity;
  }

  /**
   * Copy `bytes` into the channel, pinned for `acks` acks (at least 1) or the TTL; the reference,
   * or null when the arena has no room now (the caller sends the payload instead).
   */
  put(bytes: Uint8Array, acks: number): Ref | null {
    acks = Math.max(1, acks);
    if (acks !== this.#acks) {
      check(sym.ferry_pub_pin(this.#pub.handle, BigInt(Math.round(this.ttlNs)), acks), "pin");
      this.#acks = acks;
    }
    let seq: number;
    try {
      seq = this.#pub.sendSync(bytes);
    } catch (e) {
      const code = (e as FerryError).code;
      if (code === "FERRY_E_FULL" || code === "FERRY_E_TOOBIG") return null;
      throw e;
    }
    return {
      host: hostId,
      channel: this.channel.name,
      generation: this.#gen,
      seq,
      offset: u64(this.#info, W.offset),
      length: bytes.length,
    };
  }

  /** A writable block of the channel (zero-copy), or null when there is no room now. */
  loan(size: number): Loan | null {
    try {
      return this.#pub.loan(size);
    } catch (e) {
      const code = (e as FerryError).code;
      if (code === "FERRY_E_FULL" || code === "FERRY_E_TOOBIG") return null;
      throw e;
    }
  }

  /** Publish a loan pinned for `acks` acks or the TTL; its reference. */
  publishLoan(loan: Loan, length: number, acks: number): Ref {
    acks = Math.max(1, acks);
    if (acks !== this.#acks) {
      check(sym.ferry_pub_pin(this.#pub.handle, BigInt(Math.round(this.ttlNs)), acks), "pin");
      this.#acks = acks;
    }
    const seq = this.#pub.publish(loan, { length });
    return { host: hostId, channel: this.channel.name, generation: this.#gen, seq, offset: u64(this.#info, W.offset), length };
  }

  unloan(loan: Loan): void {
    if (loan.active) this.#pub.unloan(loan);
  }

  /** Messages pinned now. */
  pinned(): number {
    return Number(sym.ferry_channel_pins(this.channel.handle));
  }

  /** Drop expired pins (TTL). */
  reap(): void {
    this.channel.reap();
  }

  close(): void {
    this.#pub.close();
    this.channel.close();
  }
}

/** Why a reference did not resolve. */
export type RefFailure = "foreign-host" | "channel-gone" | "generation" | "unpinned" | "publisher-dead" | "mismatch" | "digest" | "malformed";

export class RefError extends Error {
  constructor(readonly reason: RefFailure, message: string) {
    super(message);
    this.name = "RefError";
  }
}

/** A pin reader on one producer channel (a participant with no cursor: libferry reaps what it held if we die). */
class PinReader extends NativeHandle {
  readonly channel: Channel;
  readonly #info: Uint32Array;
  #arena: ArrayBuffer;
  /** messages taken and not yet acked or released */
  held = 0;
  constructor(channel: Channel) {
    const out = new BigUint64Array(1);
    check(sym.ferry_sub_open_pins(channel.handle, out), `pin reader on "${channel.name}"`);
    super(Number(out[0]) as Pointer, (h) => sym.ferry_sub_close(h));
    this.channel = channel;
    this.#info = new Uint32Array(toArrayBuffer(sym.ferry_sub_info(this.handle) as Pointer, 0, MsgInfoLayout.size));
    this.#arena = this.own(channel.lendRO());
  }
  protected get what() {
    return `pin reader on "${this.channel.name}"`;
  }
  take(seq: number, generation: string): { token: number; offset: number; length: number } {
    const rc = sym.ferry_sub_take_pin(this.handle, seq, BigInt(`0x${generation}`), null);
    if (rc !== 0) throw fail(rc, `take message ${seq} of "${this.channel.name}"`);
    this.held++;
    return { token: this.#info[W.token]!, offset: u64(this.#info, W.offset), length: u64(this.#info, W.length) };
  }
  view(offset: number, length: number): Uint8Array {
    if (this.#arena.detached) this.#arena = this.own(this.channel.lendRO());
    return new Uint8Array(this.#arena, offset, length);
  }
  ack(token: number): void {
    this.held--;
    check(sym.ferry_sub_pin_ack(this.handle, token), "pin ack");
  }
  release(token: number): void {
    this.held--;
    check(sym.ferry_sub_release(this.handle, token), "release");
  }
}

/** A consumer's side: pin readers on the producers' channels it has seen (at most 32 kept open). */
export class LocalReaders {
  readonly #readers = new Map<string, PinReader>();

  /** Resolve a reference into a held view; throws RefError saying why it does not resolve. */
  resolve(ref: Ref, digest: string | null): { bytes: Uint8Array; ack(): void; release(): void } {
    if (ref.host !== hostId) throw new RefError("foreign-host", `reference to host ${ref.host.slice(0, 8)}…, this is ${hostId.slice(0, 8)}…`);
    let r = this.#readers.get(ref.channel);
    if (r && r.channel.closed) {
      this.#readers.delete(ref.channel);
      r = undefined;
    }
    if (!r) {
      let ch: Channel;
      try {
        ch = Channel.open(ref.channel);
      } catch (e) {
        const code = (e as FerryError).code;
        throw new RefError("channel-gone", `the producer's channel "${ref.channel}" cannot be opened (${code ?? e}): its producer closed or is gone`);
      }
      try {
        r = new PinReader(ch);
      } catch (e) {
        ch.close();
        throw e;
      }
      if (this.#readers.size >= 32) {
        const [k, old] = this.#readers.entries().next().value as [string, PinReader];
        this.#readers.delete(k);
        old.close();
        old.channel.close();
      }
      this.#readers.set(ref.channel, r);
    }
    let t: { token: number; offset: number; length: number };
    try {
      t = r.take(ref.seq, ref.generation);
    } catch (e) {
      const code = (e as FerryError).code;
      const why = (e as Error).message;
      if (code === "FERRY_E_PEERDEAD") throw new RefError("publisher-dead", `the producer of this message died: its payload was reclaimed (${why})`);
      if (code === "FERRY_E_VERSION") throw new RefError("generation", `channel "${ref.channel}" was made again since this reference was sent`);
      if (code === "FERRY_E_STATE") throw new RefError("unpinned", `the payload is no longer held (acked by every consumer, expired after its TTL, or reclaimed): ${why}`);
      throw new RefError("mismatch", why);
    }
    if (t.offset !== ref.offset || t.length !== ref.length) {
      r.release(t.token);
      throw new RefError("mismatch", `reference says ${ref.length} B at ${ref.offset}, the channel holds ${t.length} B at ${t.offset}`);
    }
    const bytes = r.view(t.offset, t.length);
    if (digest !== null && digestOf(bytes) !== digest) {
      r.release(t.token);
      throw new RefError("digest", "the payload's digest does not match the reference's");
    }
    const reader = r;
    let done = false;
    return {
      bytes,
      ack: () => {
        if (!done && !reader.closed) reader.ack(t.token);
        done = true;
      },
      release: () => {
        if (!done && !reader.closed) reader.release(t.token);
        done = true;
      },
    };
  }

  /**
   * Let go of producer channels nobody publishes on any more (closed or dead producers): an
   * open handle keeps an unlinked segment's memory alive, and a dead producer's segment is
   * only collectable (ferry gc) once no reader is attached.
   */
  sweep(): void {
    for (const [name, r] of [...this.#readers]) {
      let gone = r.closed || r.channel.closed;
      if (!gone && r.held > 0) continue; // the consumer still uses its views
      if (!gone) {
        try {
          r.channel.reap();
          gone = r.channel.stats().publishers === 0;
        } catch {
          gone = true;
        }
      }
      if (gone) {
        this.#readers.delete(name);
        r.close();
        r.channel.close();
      }
    }
  }

  close(): void {
    for (const r of this.#readers.values()) {
      r.close();
      r.channel.close();
    }
    this.#readers.clear();
  }
}

/** The payload digest on the wire: xxHash3-64, 16 hex digits. */
export function digestOf(b: Uint8Array): string {
  return (Bun.hash.xxHash3(b) as bigint).toString(16).padStart(16, "0");
}

export { Errno };
