/** The public names of @ferry/channel's options and modes (the fixed ones are in ARCHITECTURE.md). */
import type { EngineLike } from "@ferry/native";

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
  /** Segment permission bits, e.g. 0o660 to share with a group. Default 0o600. */
  permissions?: number;
}

export interface PublisherOptions {
  backpressure?: BackpressurePolicy;
  /** Default copy engine for send() in "offload" / "pipelined" mode (default: a shared "sw" engine). */
  engine?: EngineLike;
  /** For "block": give up with FERRY_E_TIMEOUT after this long. Default 30 s; -1 waits forever. */
  timeoutMs?: number;
}

export interface SubscribeOptions {
  /** How to wait for messages. Default "hybrid". "spin" busy-waits on the JS thread. */
  wait?: WaitStrategy;
  /** Join a worker group: each message goes to exactly one member. Omit for broadcast. */
  group?: string;
}

export interface PublishOptions {
  /** JSON-serialisable metadata (dtype, shape, content type), at most 4 KiB encoded. */
  header?: Header;
  /** Publish only the first `length` bytes of the loan. */
  length?: number;
}

export interface SendOptions {
  /** "inline" (CPU copy now), "offload" (engine copies; published when done), "pipelined"
   * (published at once; receivers follow the copy), "auto" (inline until the coordinator lands). */
  mode?: Mode;
  /** Destination cache placement: "hot" (reader comes soon), "cold" (bulk), "auto". */
  cache?: CachePlacement;
  header?: Header;
  /** Engine for this send (overrides the publisher's). */
  engine?: EngineLike;
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
