/**
 * The send-policy seam: what mode "auto" means. A publisher asks its policy
 * once per message, synchronously, when send() is called with mode "auto"
 * or without a mode, and follows the decision; options the caller gave
 * explicitly (engine, cache, chunkBytes) win over the decision's.
 *
 *   const pub = ch.publisher({ policy: { decide: (size) => size >= 1 << 20 ? { mode: "pipelined" } : { mode: "inline" } } });
 *
 * The built-in default policy keeps the behaviour from before the seam:
 * "auto" is "inline". A publisher without a policy of its own asks the
 * process's current default at every send, which a higher layer may replace
 * with setDefaultPolicy(): importing @ferry/coordinator installs its shared
 * coordinator there (the channel never imports the coordinator).
 *
 * A policy may also observe how each of its decisions went (observe()): the
 * coordinator's feedback loop, stats and fallback records.
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
  /**
   * Mode "offload" only: the CPU + engine split. The sending thread copies the
   * first `cpuShare` of the payload itself (as an inline copy would) while the
   * engine copies the rest; the message is published once both are done.
   * 0 or absent: no split. Between 0 and 1 exclusive; applied only when this
   * publisher has no other engine send in flight (offload order is kept) and
   * the payload is at least 64 KiB; otherwise a plain offload.
   */
  cpuShare?: number;
  /** With cpuShare: how long the sending thread polls the engine's part once its own is done before it yields (ns; default 50 µs). */
  spinNs?: number;
}

/** How one policy-decided send went: what observe() gets once the send settled. */
export interface SendReport {
  size: number;
  /** The decision as applied (explicit send() options folded in). */
  decision: SendDecision;
  /** The engine's name for engine sends ("sw", a plugin's, ...), "cpu" for inline. */
  engine: string;
  /** 0 when the message was published, else the FerryError that settled the send. */
  error: Error | null;
  /** ns from the send() call until it settled. */
  ns: number;
  /** ns the sending thread spent inside send() itself after decide() returned (the inline copy, the submit, the split's CPU part). */
  syncNs: number;
  /** The split, when one ran: bytes each side copied, the CPU part's time, how long the thread then waited for the engine (0 when the engine was done first) and how often it looked. */
  split?: { cpuBytes: number; engineBytes: number; cpuNs: number; waitNs: number; polls: number; engineFirst: boolean };
  /**
   * The engine send failed before anything was published (offload, split) and
   * the publisher copied the message inline instead (the software floor):
   * the reason. The send then resolved with the inline copy's sequence number.
   */
  retriedInline?: string;
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

/**
 * A policy's standing answer for small messages (SendPolicy.fastInline): every
 * send() in mode "auto" of fewer than `below` bytes, with no explicit engine,
 * cache or chunkBytes, is an inline copy with `cache`. The publisher then calls
 * neither decide() nor observe() but record(): the least code on the path of
 * small messages, which matters most when it runs cold (after an idle gap, or
 * after the receiver ran on this CPU).
 */
export interface FastInline {
  readonly below: number;
  /** Cache placement of these copies (below `coldFrom`, when given). */
  readonly cache?: CachePlacement;
  /** From this size on (and below `below`) the copies are "cold". */
  readonly coldFrom?: number;
  /**
   * Optional: no fast tier of this policy ever reaches this size. A publisher that
   * read a tier with a ceiling does not read `fastInline` again for sends of that
   * size or more (they go to remembered decisions and decide()), so a getter that
   * rebuilds its tier does not run on the path of large messages.
   */
  readonly ceiling?: number;
  /** One fast send: its size, the ns it took, and its error (null when published). What it throws is ignored. */
  record(size: number, ns: number, error: Error | null): void;
}

/**
 * A policy's remembered decisions (SendPolicy.remembered): for a send() in mode
 * "auto" at or above the fast inline tier, with no explicit engine, cache or
 * chunkBytes, the publisher first asks take(); a decision it returns is followed
 * as decide()'s would be (it counts as one, and must not split: no cpuShare),
 * and when the send was published the publisher calls settled() instead of
 * building a SendReport for observe(). A send that fails goes the full way:
 * retryInline(), then observe() with its report (error, retriedInline), so
 * failures and fallbacks are never only counted. Less code on the path of
 * a stream of same-sized messages, which runs cold after every wait.
 */
export interface Remembered {
  /** The decision for `size` bytes now if the policy has it at hand, else null (the publisher then calls decide()). Must be cheap. */
  take(size: number, publisher: Publisher): SendDecision | null;
  /**
   * A send that followed a decision from take() was published: its size, ns from send() until it
   * settled, and ns the sending thread spent inside send(). What it throws is ignored.
   */
  settled(decision: SendDecision, size: number, ns: number, syncNs: number): void;
}

export interface SendPolicy {
  /**
   * Optional: read at every send() in mode "auto" (below the ceiling of the tier
   * the publisher read last, if it has one); sizes below `fastInline.below` skip
   * decide() and observe() (see FastInline). null or absent: always decide().
   */
  readonly fastInline?: FastInline | null;
  /** Optional: remembered decisions above the fast tier (see Remembered). null or absent: always decide(). */
  readonly remembered?: Remembered | null;
  /** Called synchronously for every send() in mode "auto"; `size` is the payload's length in bytes. */
  decide(size: number, ctx: SendContext): SendDecision;
  /**
   * Optional: told how each decided send went, once it settled (never for
   * sends with an explicit mode). Called synchronously; what it throws is ignored.
   */
  observe?(report: SendReport): void;
  /**
   * Optional: when an offload (or split) send that this policy decided fails
   * in its engine before anything was published, return true to have the
   * publisher copy it inline instead (the report then carries
   * retriedInline). Default: the send rejects.
   */
  retryInline?(error: Error, size: number): boolean;
}

const INLINE: SendDecision = Object.freeze({
  mode: "inline",
  reasons: Object.freeze(["default policy: auto is an inline copy on the sending thread"]) as string[],
});

/** The built-in rule: every "auto" send is "inline". */
export const defaultPolicy: SendPolicy = Object.freeze({ decide: () => INLINE });

let processDefault: SendPolicy = defaultPolicy;

/**
 * Replace the process's default policy: what publishers created without
 * `policy` / `coordinator` ask (at each send, so publishers created earlier
 * follow too). `setDefaultPolicy(defaultPolicy)` restores the built-in rule.
 * @ferry/coordinator calls this when it is imported.
 */
export function setDefaultPolicy(policy: SendPolicy): void {
  if (typeof policy?.decide !== "function") throw new FerryError(Errno.INVAL, "policy must be an object with a decide(size, ctx) method");
  processDefault = policy;
}

/** The process's current default policy (defaultPolicy unless setDefaultPolicy() replaced it). */
export function getDefaultPolicy(): SendPolicy {
  return processDefault;
}

const MODES = new Set<string>(["inline", "offload", "pipelined"]);

/** The decision of `policy`, with its mode and wait checked (FERRY_E_INVAL otherwise). */
export function decide(policy: SendPolicy, size: number, ctx: SendContext): SendDecision {
  const d = policy.decide(size, ctx);
  if (!d || !MODES.has(d.mode))
    throw new FerryError(Errno.INVAL, `send policy chose mode "${d?.mode}": it must be "inline", "offload" or "pipelined"`);
  if (d.wait !== undefined) checkWait(d.wait);
  if (d.cpuShare !== undefined && d.cpuShare !== 0 && !(typeof d.cpuShare === "number" && d.cpuShare > 0 && d.cpuShare < 1))
    throw new FerryError(Errno.INVAL, `send policy chose cpuShare ${d.cpuShare}: it must be 0 or between 0 and 1`);
  return d;
}
