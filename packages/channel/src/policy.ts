/**
 * The send-policy seam: what mode "auto" means. A publisher asks its policy
 * once per message, synchronously, when send() is called with mode "auto"
 * or without a mode, and follows the decision; options the caller gave
 * explicitly (engine, cache, chunkBytes) win over the decision's.
 *
 *   const pub = ch.publisher({ policy: { decide: (size) => size >= 1 << 20 ? { mode: "pipelined" } : { mode: "inline" } } });
 *
 * The default policy keeps the behaviour from before the seam: "auto" is
 * "inline". @ferry/coordinator implements SendPolicy with measured rules.
 */
import { Errno, FerryError } from "@ferry/native";
import type { Channel } from "./channel";
import type { Publisher } from "./publisher";
import { checkWait, type CachePlacement, type EngineLike, type SendOptions, type WaitStrategy } from "./types";

/** How one message is sent. */
export interface SendDecision {
  mode: "inline" | "offload" | "pipelined";
  /** Engine for "offload" / "pipelined" (default: the publisher's). */
  engine?: EngineLike;
  /** Destination cache placement (default "auto"). */
  cache?: CachePlacement;
  /** Engine sends: progress / split granularity in bytes (0 or 4096..2^32-1; default: the engine's). */
  chunkBytes?: number;
  /**
   * How waiting should be done for this message. Checked, not applied by
   * send() today: a publisher's space waits block in libferry and its engine
   * completions wake the event loop (waker.ts); receivers choose their own
   * wait (subscribe({ wait }), or per call). Kept for explain and for receivers.
   */
  wait?: WaitStrategy;
  /** Why, in words (for logs and explain). */
  reasons?: string[];
}

/** What a policy may look at besides the size. */
export interface SendContext {
  readonly channel: Channel;
  readonly publisher: Publisher;
  /** The publisher's default engine (publisher({ engine })). */
  readonly engine: EngineLike;
  /** The options the caller passed to send() (mode "auto" or none). */
  readonly options: Readonly<SendOptions>;
}

export interface SendPolicy {
  /** Called synchronously for every send() in mode "auto"; `size` is the payload's length in bytes. */
  decide(size: number, ctx: SendContext): SendDecision;
}

const INLINE: SendDecision = Object.freeze({
  mode: "inline",
  reasons: Object.freeze(["default policy: auto is an inline copy on the sending thread"]) as string[],
});

/** Today's rule: every "auto" send is "inline". */
export const defaultPolicy: SendPolicy = Object.freeze({ decide: () => INLINE });

const MODES = new Set<string>(["inline", "offload", "pipelined"]);

/** The decision of `policy`, with its mode and wait checked (FERRY_E_INVAL otherwise). */
export function decide(policy: SendPolicy, size: number, ctx: SendContext): SendDecision {
  const d = policy.decide(size, ctx);
  if (!d || !MODES.has(d.mode))
    throw new FerryError(Errno.INVAL, `send policy chose mode "${d?.mode}": it must be "inline", "offload" or "pipelined"`);
  if (d.wait !== undefined) checkWait(d.wait);
  return d;
}
