/** The rendezvous waits (Channel.waitFor, Publisher.waitForSubscribers) poll with a backoff, off the event loop's thread. */

/** Resolves after `ms` milliseconds; the event loop runs meanwhile. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Poll backoff: 1 ms, doubling up to 25 ms (a rendezvous is seen within ~25 ms; an idle wait costs ~40 polls a second). */
export const POLL_MIN_MS = 1;
export const POLL_MAX_MS = 25;
