/**
 * The public names of @ferry/channel's options and modes (the fixed ones are
 * in ARCHITECTURE.md), and the checks that turn them into libferry values.
 */
import { CacheHint, Errno, FerryError, Trust, Wait, type EngineLike } from "@ferry/native";
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

export interface PublisherOptions {
  backpressure?: BackpressurePolicy;
  /** Default copy engine for send() in "offload" / "pipelined" mode (default: the shared "sw" engine). */
  engine?: EngineLike;
  /** Bounds every wait of this publisher's calls: for "block" (and "drop-oldest"), free space
   * (FERRY_E_TIMEOUT); for every policy, the channel lock while another process holds it
   * (FERRY_E_BUSY naming the holder's pid; at least 20 ms, at most 5 s). Default 30 s;
   * -1: no bound of its own (space: forever; lock: 5 s). */
  timeoutMs?: number;
  /** Decides mode "auto" (and send() without a mode) per message. Default: defaultPolicy (inline). */
  policy?: SendPolicy;
}

export interface SubscribeOptions {
  /** How to wait for messages. Default "hybrid". "spin" busy-waits on the JS thread. */
  wait?: WaitStrategy;
  /** Join a worker group: each message goes to exactly one member. Omit for broadcast. */
  group?: string;
}

export interface ReceiveOptions {
  /** Give up with FERRY_E_TIMEOUT after this long. Default: wait forever. */
  timeoutMs?: number;
  /** How to wait for this call (default: the subscriber's `wait`). */
  wait?: WaitStrategy;
}

/** Options of message.ready(): the same as receive()'s, for the copy's progress. */
export type ReadyOptions = ReceiveOptions;

export interface PublishOptions {
  /** JSON-serialisable metadata (dtype, shape, content type), at most 4 KiB encoded. */
  header?: Header;
  /** Publish only the first `length` bytes of the loan. */
  length?: number;
}

export interface SendOptions {
  /** "inline" (CPU copy now), "offload" (engine copies; published when done), "pipelined"
   * (published at once; receivers follow the copy), "auto" (the publisher's policy decides;
   * the default). */
  mode?: Mode;
  /** Destination cache placement: "hot" (reader comes soon), "cold" (bulk), "auto". */
  cache?: CachePlacement;
  header?: Header;
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
}

/* ------------------------------------------------------------------ validation of the names */

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
  const c = CacheHint[cache ?? "auto"];
  if (c === undefined) throw new FerryError(Errno.INVAL, `unknown cache placement "${cache}"`);
  return c;
}

/** `wait` itself when it is a wait strategy; FERRY_E_INVAL otherwise. */
export function checkWait(wait: WaitStrategy): WaitStrategy {
  if (Wait[wait] === undefined) throw new FerryError(Errno.INVAL, `unknown wait strategy "${wait}"`);
  return wait;
}

/** Smallest chunk hint an engine honours (sw's minimum chunk); smaller ones are refused, 0 is the default. */
export const MIN_CHUNK_BYTES = 4096;
const MAX_CHUNK_BYTES = 2 ** 32 - 1; // ferry_copy_desc.chunk is a u32

/** The chunk hint for libferry (0: the engine's own); FERRY_E_INVAL unless 0 or an integer in 4096..2^32-1. */
export function checkChunkBytes(chunkBytes: number | undefined): number {
  if (chunkBytes === undefined || chunkBytes === 0) return 0;
  if (!Number.isInteger(chunkBytes) || chunkBytes < MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES)
    throw new FerryError(Errno.INVAL, `chunkBytes must be 0 or an integer in ${MIN_CHUNK_BYTES}..2^32-1, got ${chunkBytes}`);
  return chunkBytes;
}
