/*
 * engine/completion.c — completion records: progress, finish, sleep.
 *
 * status is the futex word; status and waiters form one 64-bit word. A
 * sleeper CASes {PENDING, 0} -> {PENDING, 1} and then sleeps on status ==
 * PENDING; the finisher swaps in {DONE|ERROR, 0} and wakes only if the old
 * word had the flag: no lost wakeup, no syscall when nobody sleeps, and no
 * access to the record after it is finished.
 */
#include <stdbool.h>
#include <stddef.h>

#include <stdio.h>

#include "engine/completion.h"
#include "sys/sys.h"

typedef uint64_t __attribute__((may_alias)) word64;
_Static_assert(offsetof(ferry_completion, waiters) == 4, "status and waiters share one 64-bit word");
_Static_assert(sizeof(ferry_completion) == 128, "the completion record is 128 bytes");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ferry_completion's status word assumes little-endian"
#endif
static inline word64 *state_word(ferry_completion *c) { return (word64 *)(void *)c; }

static inline struct ferry__host *host_of(ferry_completion *c) { return (struct ferry__host *)(uintptr_t)c->host; }

void ferry__completion_start(ferry_completion *c, const ferry_copy_desc *d, struct ferry__host *host) {
  c->error = 0;
  c->bytes_done = 0;
  c->len = d->len;
  c->flags = d->flags;
  c->user = d->user;
  c->host = (uint64_t)(uintptr_t)host;
  __atomic_store_n(state_word(c), (uint64_t)FERRY_JOB_PENDING, __ATOMIC_RELEASE); /* waiters = 0 */
}

void ferry__completion_idle(ferry_completion *c) { __atomic_store_n(&c->status, FERRY_JOB_IDLE, __ATOMIC_RELEASE); }

uint32_t ferry__completion_status(ferry_completion *c) { return __atomic_load_n(&c->status, __ATOMIC_ACQUIRE); }

FERRY_API void ferry_completion_progress(ferry_completion *c, uint64_t bytes) {
  uint64_t cur = __atomic_load_n(&c->bytes_done, __ATOMIC_RELAXED);
  while (cur < bytes && !__atomic_compare_exchange_n(&c->bytes_done, &cur, bytes, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
  }
  struct ferry__host *h = host_of(c);
  if (h && cur < bytes) h->progress(h, bytes);
}

FERRY_API void ferry_completion_finish(ferry_completion *c, int error) {
  if (error == 0) {
    ferry_completion_progress(c, c->len);
  } else {
    if (error > 0 || error < FERRY_E__LAST) error = FERRY_E_SYS; /* never errno, never an unknown code */
    __atomic_store_n(&c->error, error, __ATOMIC_RELAXED);
  }
  struct ferry__host *h = host_of(c);
  void (*after)(void *) = NULL;
  void *after_arg = NULL;
  if (h) { /* read everything of the hook before the swap */
    const char *why = error ? (const char *)(uintptr_t)c->detail : NULL;
    if (why) snprintf(h->detail, sizeof h->detail, "%s", why);
    h->finish(h, error, __atomic_load_n(&c->bytes_done, __ATOMIC_ACQUIRE));
    after = h->after;
    after_arg = h->after_arg;
  }
  /* One atomic swap publishes the status and tells whether anyone sleeps;
   * after it the record may already be reused, so nothing else reads it. */
  uint64_t old = __atomic_exchange_n(state_word(c), (uint64_t)(error ? FERRY_JOB_ERROR : FERRY_JOB_DONE), __ATOMIC_SEQ_CST);
  if (old >> 32) ferry__futex_wake((_Atomic uint32_t *)&c->status);
  if (after) after(after_arg);
}

void ferry__completion_sleep(ferry_completion *c, int64_t slice) {
  uint64_t w = __atomic_load_n(state_word(c), __ATOMIC_SEQ_CST);
  if ((uint32_t)w != FERRY_JOB_PENDING) return;
  if (!(w >> 32) && !__atomic_compare_exchange_n(state_word(c), &w, w | (1ull << 32), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
    return; /* changed under us: re-check */
  ferry__futex_wait((_Atomic uint32_t *)&c->status, FERRY_JOB_PENDING, slice);
}
