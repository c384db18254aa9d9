/** Public types of @ferry/mq and the transport interface each broker implements. */

export type Header = Record<string, unknown>;

export interface ProducerOptions {
  /**
   * "auto" (default): a reference when every consumer seen on the broker is on this host,
   * the payload when some are elsewhere (both when both kinds are there, and when no
   * consumer was seen yet); "reference": a reference only (payload if it cannot be pinned);
   * "payload": the payload through the broker only.
   */
  path?: "auto" | "reference" | "payload";
  /** Bytes of this producer's shared-memory channel (references). Default 512 MiB. */
  capacity?: number;
  /** How long a reference's payload stays pinned without acks. Default 60 000 ms. */
  ttlMs?: number;
  /** Chunks of one payload in flight to the broker at once. Default 8. */
  window?: number;
  /** How long send() keeps retrying while the broker is away. Default 30 000 ms. */
  timeoutMs?: number;
  /** When the channel is full of payloads not acked yet: wait this long for room, then send the payload through the broker instead. Default 2 000 ms. */
  spaceWaitMs?: number;
  /** close(): wait at most this long for pinned payloads to be acked. Default 5 000 ms. */
  drainMs?: number;
}

export interface ConsumerOptions {
  /** Consumer group (each message to one member). Default "default". */
  group?: string;
  /** Unacked messages redelivered after this long (JetStream ack wait; Redis XAUTOCLAIM idle). Default 30 000 ms. */
  ackWaitMs?: number;
  /** Messages fetched ahead. Default 16. */
  prefetch?: number;
  /** Called for each message that could not be delivered (it is dead-lettered, counted, then acked). Default: console.error. */
  onError?: (err: MqError) => void;
  /** Chunks of one payload fetched at once. Default 8. */
  window?: number;
  /**
   * Check a reference's payload against its digest (xxh3 over every byte, ~0.35 ms per 16 MiB
   * here). Default true. false trusts the pin alone (host, channel generation, sequence, offset
   * and length must still match the pinned message). Payloads through the broker are always checked.
   */
  verifyReferences?: boolean;
}

export interface Message {
  /** The payload: for a reference (local), a read-only view of the producer's shared memory, valid until ack()/nak(). */
  readonly bytes: Uint8Array;
  readonly header: Header;
  /** true when the payload came by reference (shared memory on this host). */
  readonly local: boolean;
  /** The producer's message id. */
  readonly id: string;
  /** Deliveries before this one, when the broker says (0 on first delivery). */
  readonly redelivered: number;
  ack(): Promise<void>;
  nak(): Promise<void>;
}

export type MqErrorCode =
  | "FOREIGN_HOST"
  | "CHANNEL_GONE"
  | "GENERATION"
  | "UNPINNED"
  | "PUBLISHER_GONE"
  | "MISMATCH"
  | "DIGEST"
  | "MALFORMED"
  | "CHUNK_MISSING"
  | "TIMEOUT"
  | "CLOSED"
  | "INVALID";

export class MqError extends Error {
  override name = "MqError";
  constructor(
    readonly code: MqErrorCode,
    message: string,
    /** the id of the message concerned, if any */
    readonly messageId?: string,
  ) {
    super(message);
  }
}

export interface ProducerStats {
  sent: number;
  byReference: number;
  byPayload: number;
  /** both a reference and the payload (consumers on this host and elsewhere, or none seen yet) */
  both: number;
  pinned: number;
  /** loan() calls that got private memory (the channel had no room): those payloads were copied */
  loanFallbacks: number;
}

export interface ConsumerStats {
  received: number;
  local: number;
  remote: number;
  /** references that did not resolve but came with the payload too */
  fallbacks: number;
  deadLettered: number;
  /** dead letters by cause */
  errors: Partial<Record<MqErrorCode, number>>;
}

/** A delivery from the broker: text fields, and the broker's ack / nak. */
export interface Delivery {
  fields: Record<string, string>;
  redelivered: number;
  ack(): Promise<void>;
  nak(): Promise<void>;
}

/** What Bus needs from a broker. Every field value on the wire is text. */
export interface Transport {
  readonly kind: "nats" | "redis";
  /** Largest chunk payload the broker takes in one message. */
  readonly maxChunk: number;
  ensureStream(stream: string): Promise<void>;
  /** Store chunks of one payload (bounded in flight); returns a locator the consumer passes back to readChunks. */
  putChunks(stream: string, id: string, payload: Uint8Array, chunk: number, window: number, deadline: number): Promise<string>;
  /** Read the chunks into `into` (its length is the payload's); throws MqError CHUNK_MISSING. */
  getChunks(stream: string, id: string, locator: string, chunk: number, into: Uint8Array, window: number): Promise<void>;
  publish(stream: string, fields: Record<string, string>, deadline: number): Promise<void>;
  deadLetter(stream: string, fields: Record<string, string>): Promise<void>;
  /** Create the group if needed and deliver its messages (and redeliveries) until stop() is called. */
  subscribe(stream: string, group: string, opts: { ackWaitMs: number; prefetch: number }): Subscription;
  /** Announce a consumer of (stream, group) on host; entries live ~10 s unless renewed. */
  announce(stream: string, group: string, host: string): Promise<void>;
  /** (group, host) pairs announced in the last ~10 s. */
  present(stream: string): Promise<{ group: string; host: string }[]>;
  close(): Promise<void>;
}

export interface Subscription extends AsyncIterable<Delivery> {
  stop(): Promise<void>;
}

export const STREAM_RE = /^[A-Za-z0-9_-]{1,48}$/;
export const GROUP_RE = /^[A-Za-z0-9_-]{1,31}$/;
