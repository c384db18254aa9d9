/* shm/lock.h — the pid-owned futex lock of a channel (shm/lock.c). */
#ifndef FERRY_SHM_LOCK_H
#define FERRY_SHM_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sys/proc.h"

#define FERRY_LOCK_WAITERS 0x80000000u
#define FERRY__OWNERDEAD 1 /* taken over from a holder that died holding it */
/* The longest any call waits for a live holder (calls without a timeout of their own). */
#define FERRY_LOCK_MAX_NS (5ll * 1000 * 1000 * 1000)

/*
 * Take the lock, sleeping for budget_ns at most (the clock is read only once
 * the lock is found contended): 0 taken; FERRY__OWNERDEAD taken, but what it
 * guards must be repaired; FERRY_E_BUSY (the detail names the holder's pid)
 * when a live holder kept it past the budget. A budget of 0 still spins
 * briefly and takes over from a dead holder. *waited_ns (may be NULL) is set
 * to how long it slept only when it was contended: callers start it at 0.
 */
int ferry__lock_for(_Atomic uint32_t *word, int64_t budget_ns, uint64_t *waited_ns);
/* The uncontended case, inline in every caller: one CAS of 0 to our pid. */
static inline bool ferry__lock_fast(_Atomic uint32_t *word) {
  uint32_t v = 0;
  return atomic_compare_exchange_strong_explicit(word, &v, ferry__pid(), memory_order_acquire, memory_order_relaxed);
}
/* The same with the default bound, FERRY_LOCK_MAX_NS. */
int ferry__lock(_Atomic uint32_t *word);
/* Never sleeps (spin, one liveness check): 0, FERRY__OWNERDEAD or FERRY_E_BUSY without a detail. */
int ferry__trylock(_Atomic uint32_t *word);
void ferry__unlock(_Atomic uint32_t *word);

#endif
