/**
 * The public names of @ferry/channel's options and modes (the fixed ones are
 * in ARCHITECTURE.md), and the checks that turn them into libferry values.
 */
import { CacheHint, Errno, FerryError, GROUP_MAX, Trust, Wait, type EngineLike } from "@ferry/native";
import type { SendPolicy } from "./policy";

export type { EngineLike } from "@ferry/native";

export type Mode = "zero-copy" | "inline" | "offload" | "pipelined" | "auto";
export type CachePlacement = "hot" | "cold" | "auto";
export type WaitStrategy = "spin" | "block" | "hybrid";
export type BackpressurePolicy = "block" | "error" | "drop-oldest";
export type Header = unknown;

export interface CreateOptions {
  /** Arena bytes: the most payload that can be in flight at once. Default 64 MiB. */
  capacity?: number;
  /** Descriptor ring slots (power of two): the most messages in flight. Default 4096. */
  slots?: number;
  /** Segment permission bits, e.g. 0o660 to share with a group. Default 0o600. Openers refuse
   * group or world write bits unless they trust them (OpenOptions.trust). */
  permissions?: number;
  /**
   * Keep the last `history` published messages for subscribers that join late (as iceoryx2's
   * history). A new broadcast subscriber, or the first member of a new worker group (the group
   * then gets the history once, shared by its members), starts at the oldest message the history
   * still holds, then receives live messages in order, without gap or duplicate. The history
   * outlives the publishers: a subscriber created after the last one closed gets it and then
   * FERRY_E_EOF (FERRY_E_PEERDEAD if one crashed); it goes away with the channel.
   *
   * Memory: the history keeps up to `history` ring slots and those messages' arena space (payload
   * and header) in use. It never blocks a publisher: one that finds the ring or arena full first
   * drops history messages that nobody else holds, oldest first (then waits, fails or drops unread
   * messages as its backpressure says), so under pressure the history holds fewer messages.
   *
   * An integer 0 (default: none) .. slots - 1; anything else is FERRY_E_INVAL. docs/channel.md#history.
   */
  history?: number;
}

/**
 * Whose segments Channel.open accepts. By default only a regular file owned by this
 * process's own uid, with no group or world write bit. Anything else is refused with
 * FERRY_E_PERM naming what was wrong (owner, group, mode, or the kind of file).
 */
export interface TrustOptions {
  /** Owners accepted besides this process's uid. */
  uids?: number[];
  /** Groups accepted: a segment whose group is one of these, whoever owns it (every member of
   * the group could have made it). Also accepts that group's write bit. */
  gids?: number[];
  /** Accept a group-writable segment (e.g. created with permissions 0o660). */
  groupWritable?: boolean;
  /** Accept a world-writable segment (permissions 0o666): any local user can rewrite it. */
  worldWritable?: boolean;
}

export interface OpenOptions {
  /** Owners, groups and write bits to accept besides the defaults (see TrustOptions). */
  trust?: TrustOptions;
}

/** Channel.waitFor: open a channel once it exists. */
export interface WaitForOptions extends OpenOptions {
  /** How long to wait for the channel to appear (FERRY_E_TIMEOUT after). Default 30 s; a negative
   * value or Infinity: forever; NaN is refused. */
  timeoutMs?: number;
  /** Stop waiting when this signal aborts: the wait rejects with FERRY_E_CLOSED (within one poll, <= 25 ms). */
  signal?: AbortSignal;
}

/** Publisher.waitForSubscribers. */
export interface WaitForSubscribersOptions {
  /** How long to wait (FERRY_E_TIMEOUT after). Default 30 s; a negative value or Infinity: forever. */
  timeoutMs?: number;
  /** Count the members of this worker group only (it must exist with at least n members). */
  group?: string;
}

export interface PublisherOptions {
  backpressure?: BackpressurePolicy;
  /** Default copy engine for send() in "offload" / "pipelined" mode (default: the shared "sw" engine). */
  engine?: EngineLike;
  /** Bounds every wait of this publisher's calls: for "block" (and "drop-oldest"), free space
   * (FERRY_E_TIMEOUT); for every policy, the channel lock while another process holds it
   * (FERRY_E_BUSY naming the holder's pid; at least 20 ms, at most 5 s). Default 30 s; a
   * negative value or Infinity: no bound of its own (space: forever; lock: 5 s); NaN is refused. */
  timeoutMs?: number;
  /** Decides mode "auto" (and send() without a mode) per message. Default: the process's default
   * policy at each send (getDefaultPolicy(): defaultPolicy, inline, unless replaced, e.g. by importing
   * @ferry/coordinator). */
  policy?: SendPolicy;
  /** A coordinator (@ferry/coordinator's Coordinator, or any SendPolicy) that decides mode "auto";
   * the same seam as `policy` (give one of them). */
  coordinator?: SendPolicy;
}

export interface SubscribeOptions {
  /** How to wait for messages. Default "hybrid". "spin" busy-waits on the JS thread. */
  wait?: WaitStrategy;
  /**
   * Join a worker group: each message goes to exactly one member. Omit for
   * broadcast. 1 to 31 bytes of UTF-8 (GROUP_MAX), no NUL; "" is refused.
   */
  group?: string;
  /**
   * Check per-message checksums (send / publish `{ checksum: true }`) as
   * messages are received: true verifies those that carry one, "required"
   * also refuses those that do not. A mismatch releases the message and
   * throws FERRY_E_CORRUPT (a pipelined message: once its copy completes, from
   * bytes / ready() / progress()). Default false: nothing is checked (msg.verify()
   * checks on demand).
   */
  verify?: boolean | "required";
}

export interface ReceiveOptions {
  /** Give up with FERRY_E_TIMEOUT after this long. Default, a negative value or Infinity: wait forever. NaN: FERRY_E_INVAL. */
  timeoutMs?: number;
  /** How to wait for this call (default: the subscriber's `wait`). */
  wait?: WaitStrategy;
}

/** Options of message.ready(): the same as receive()'s, for the copy's progress. */
export type ReadyOptions = ReceiveOptions;

export interface PublishOptions {
  /**
   * JSON-serialisable metadata (dtype, shape, content type), or raw bytes (a
   * Uint8Array, any other ArrayBufferView or an ArrayBuffer); at most 4 KiB
   * encoded (4080 bytes with a checksum).
   */
  header?: Header;
  /** Publish only the first `length` bytes of the loan (an integer, 0..loan.size). */
  length?: number;
  /** Store a CRC-32 of the payload and header with the message, for msg.verify() / subscribe({ verify }). */
  checksum?: boolean;
}

export interface SendOptions {
  /** "inline" (CPU copy now), "offload" (engine copies; published when done), "pipelined"
   * (published at once; receivers follow the copy), "auto" (the publisher's policy decides;
   * the default). */
  mode?: Mode;
  /** Destination cache placement: "hot" (reader comes soon), "cold" (bulk), "auto". */
  cache?: CachePlacement;
  /** As for publish(). */
  header?: Header;
  /** Store a CRC-32 of the payload and header with the message (computed from `bytes` before the copy). */
  checksum?: boolean;
  /** Engine for this send (overrides the publisher's, and the policy's). */
  engine?: EngineLike;
  /** Engine sends: progress / split granularity for this message in bytes; 0 (default) is the
   * engine's own (sw honours 4096 and up). An integer, 0 or 4096..2^32-1. */
  chunkBytes?: number;
  /** Debug: hash `bytes` before and after an engine send; reject if they changed meanwhile. */
  verify?: boolean;
}

export interface ChannelStats {
  published: number;
  tail: number;
  head: number;
  dropped: number;
  unheard: number;
  arenaUsed: number;
  publishers: number;
  subscribers: number;
  reclaimed: number;
  /** Messages the history holds now (at most the channel's `history`). */
  history: number;
  /** The most messages any live subscriber (or group) has not received yet: 0 when every reader is caught up. */
  backlog: number;
}

/* ------------------------------------------------------------------ validation of the names */

const inval = (msg: string) => new FerryError(Errno.INVAL, msg);
const show = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : typeof v === "bigint" ? `${v}n` : String(v));

/** A table's own names as a Map: "toString", "__proto__", ... are not names, and a lookup is one Map.get. */
export function names<V>(table: Readonly<Record<string, V>>): ReadonlyMap<unknown, V> {
  return new Map(Object.entries(table));
}
const WAITS = names(Wait);

/** TrustOptions as ferry_channel_open2's arguments; FERRY_E_INVAL for a bad id. */
export function trustArgs(trust: TrustOptions | undefined): { flags: number; uids: Uint32Array; gids: Uint32Array } {
  const ids = (list: number[] | undefined, what: string) => {
    if (list === undefined) return new Uint32Array(0);
    if (!Array.isArray(list)) throw new FerryError(Errno.INVAL, `trust.${what} must be an array of ids`);
    for (const id of list)
      if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe)
        throw new FerryError(Errno.INVAL, `trust.${what}: ${id} is not a valid id`);
    return Uint32Array.from(list);
  };
  const flags = (trust?.groupWritable ? Trust.groupWrite : 0) | (trust?.worldWritable ? Trust.worldWrite : 0);
  return { flags, uids: ids(trust?.uids, "uids"), gids: ids(trust?.gids, "gids") };
}

/** The FERRY_COPY_* hint of a cache placement (default "auto"); FERRY_E_INVAL for an unknown one. */
export function cacheHint(cache: CachePlacement | undefined): number {
  // compares, not a Map: this runs on every send, and a Map lookup is a runtime call that costs µs when
  // its code is cold (a send after an idle gap: ~3 µs after 10 ms here, tools/cold-calls.ts)
  if (cache === undefined || cache === "auto") return CacheHint.auto;
  if (cache === "hot") return CacheHint.hot;
  if (cache === "cold") return CacheHint.cold;
  throw inval(`unknown cache placement ${show(cache)}`);
}

/** `wait` itself when it is a wait strategy; FERRY_E_INVAL otherwise. */
export function checkWait(wait: WaitStrategy): WaitStrategy {
  if (!WAITS.has(wait)) throw inval(`unknown wait strategy ${show(wait)}`);
  return wait;
}

/** An options argument: {} for undefined, the object itself, FERRY_E_INVAL for anything else. */
const NO_OPTIONS = Object.freeze({});
export function optionsOf<T extends object>(opts: T | undefined, what: string): T {
  if (opts === undefined) return NO_OPTIONS as T;
  if (opts === null || typeof opts !== "object") throw inval(`${what} options must be an object, got ${show(opts)}`);
  return opts;
}

/** `n` when it is an integer in min..max (a byte count, a length); FERRY_E_INVAL otherwise (NaN, 1.5, "10", Infinity, -1). */
export function checkInt(n: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max)
    throw inval(`${what} must be an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? "2^53-1" : max}, got ${show(n)}`);
  return n;
}

/** A boolean option (undefined: false); FERRY_E_INVAL for anything else. */
export function checkFlag(v: unknown, what: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw inval(`${what} must be true or false, got ${show(v)}`);
  return v;
}

/**
 * A timeout in ms: undefined gives `dflt`; a negative number or Infinity
 * means forever (returned as Infinity); NaN and non-numbers: FERRY_E_INVAL.
 */
export function checkTimeout(ms: unknown, dflt: number, what = "timeoutMs"): number {
  if (ms === undefined) return dflt;
  if (typeof ms !== "number" || Number.isNaN(ms)) throw inval(`${what} must be a number of milliseconds, got ${show(ms)}`);
  return ms < 0 ? Infinity : ms;
}

/** A timeout for libferry: nanoseconds, -1 for forever (Infinity, or beyond what an i64 of ns holds exactly). */
export function timeoutNs(ms: number): number {
  const ns = Math.round(ms * 1e6);
  return ns > Number.MAX_SAFE_INTEGER ? -1 : ns;
}

/**
 * Bytes to send: a Uint8Array as it is; any other ArrayBufferView (Buffer,
 * Float64Array, DataView, ...) or an ArrayBuffer / SharedArrayBuffer as a
 * Uint8Array over the same memory, all of its byteLength. FERRY_E_INVAL for
 * anything else (strings included: encode them first).
 */
export function bytesOf(data: unknown, what: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && data instanceof SharedArrayBuffer))
    return new Uint8Array(data);
  throw inval(`${what} must be a Uint8Array, another ArrayBufferView or an ArrayBuffer, got ${data === null ? "null" : typeof data}`);
}

/** A group name for libferry: "" for broadcast (undefined); FERRY_E_INVAL for "", a NUL, more than GROUP_MAX bytes, a non-string. */
export function checkGroup(group: unknown): string {
  if (group === undefined) return "";
  if (typeof group !== "string") throw inval(`group must be a string, got ${show(group)}`);
  if (group === "") throw inval(`group "" is not a group name: omit group for broadcast`);
  if (group.includes("\0")) throw inval(`group ${show(group)} contains a NUL character`);
  const n = Buffer.byteLength(group, "utf8");
  if (n > GROUP_MAX) throw inval(`group ${show(group)} is ${n} bytes of UTF-8, at most ${GROUP_MAX} allowed`);
  return group;
}

/** A channel name (the rest is libferry's check: A-Z a-z 0-9, then - _ ., at most 64 bytes); FERRY_E_NAME otherwise. */
export function checkName(name: unknown): string {
  if (typeof name !== "string") throw new FerryError(Errno.NAME, `channel name must be a string, got ${show(name)}`);
  if (name.includes("\0")) throw new FerryError(Errno.NAME, `channel name ${show(name)} contains a NUL character`);
  return name;
}

/** Smallest chunk hint an engine honours (sw's minimum chunk); smaller ones are refused, 0 is the default. */
export const MIN_CHUNK_BYTES = 4096;
const MAX_CHUNK_BYTES = 2 ** 32 - 1; // ferry_copy_desc.chunk is a u32

/** The chunk hint for libferry (0: the engine's own); FERRY_E_INVAL unless 0 or an integer in 4096..2^32-1. */
export function checkChunkBytes(chunkBytes: number | undefined): number {
  if (chunkBytes === undefined || chunkBytes === 0) return 0;
  if (typeof chunkBytes !== "number" || !Number.isInteger(chunkBytes) || chunkBytes < MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES)
    throw inval(`chunkBytes must be 0 or an integer in ${MIN_CHUNK_BYTES}..2^32-1, got ${show(chunkBytes)}`);
  return chunkBytes;
}
