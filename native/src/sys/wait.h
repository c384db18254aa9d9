/* sys/wait.h — the one spin / block / hybrid wait loop of libferry (sys/wait.c). */
#ifndef FERRY_SYS_WAIT_H
#define FERRY_SYS_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * What to wait for and how to sleep. `ready` returns > 0 (done), 0 (not yet)
 * or a negative FERRY_E_* code (give up with it). Sleeping is either on a
 * shared futex `word` that wakers change, with `waiters` counting sleepers so
 * a waker calls FUTEX_WAKE only when someone sleeps; or, when word is NULL,
 * through `sleep` (a custom protocol, or a polite yield for engines that
 * finish only when polled). `slice`, when set, runs after every sleep
 * (at most FERRY__SLICE_NS), before the wait touches `word` or calls ready
 * again, and now and then while spinning: liveness and truncation checks.
 */
struct ferry__wait {
  int (*ready)(void *arg);
  void *arg;
  _Atomic uint32_t *word;
  _Atomic uint32_t *waiters;
  void (*sleep)(void *arg, int64_t slice_ns);
  void (*slice)(void *arg);
  void *slice_arg;
};

/*
 * Wait with strategy FERRY_WAIT_SPIN (busy-wait), FERRY_WAIT_BLOCK (sleep at
 * once) or FERRY_WAIT_HYBRID (spin for an adaptive budget, then sleep) up to
 * timeout_ns (< 0: forever). 0 when ready, FERRY_E_TIMEOUT, FERRY_E_CLOSED
 * when *stop is set, or ready's negative code. No detail is recorded.
 */
int ferry__wait_run(const struct ferry__wait *w, uint32_t strategy, int64_t timeout_ns, _Atomic bool *stop);

/*
 * An internal strategy for ferry__wait_run: hybrid's spin phase alone (the
 * same adaptive budget), then FERRY_E_TIMEOUT where hybrid would sleep. For
 * callers that sleep elsewhere: an event loop arms its own wake-up after it.
 */
#define FERRY__WAIT_HYBRID_SPIN 3u

/*
 * A hybrid wait of this thread slept and was over `waited_ns` after it
 * began: when spinning that long (twice it, within 2-100 µs) would have
 * caught it, the budget becomes that; otherwise it halves. ferry__wait_run
 * calls it itself; callers that sleep elsewhere (FERRY__WAIT_HYBRID_SPIN)
 * call it when their wait ends.
 */
void ferry__wait_learn(int64_t waited_ns);

/*
 * Called from a slice hook: end the wait that runs it with `code` (< 0)
 * right after the hook returns (e.g. the channel's segment shrank). The hook
 * type stays void; the request is per thread and cleared when a wait starts.
 */
void ferry__wait_abort(int code);

#endif
