/*
 * shm/lock.c — the channel lock: a futex mutex in shared memory whose word holds
 * the holder's pid, so a crashed holder is detected and the lock taken over.
 *
 * Uncontended: one CAS to take, one exchange to give (no syscall, no clock
 * read). Contended: a short spin, then FUTEX_WAIT in slices of at most 10 ms;
 * after each slice the waiter checks that the holder is still alive. If it is
 * gone, the waiter takes the lock over and returns FERRY__OWNERDEAD: the caller
 * rebuilds what the lock guards (channel.c: members.c's repair); this file
 * repairs nothing. A holder that lives but does not let go yields FERRY_E_BUSY
 * at the caller's deadline, naming the holder's pid. ferry__trylock never
 * sleeps: the spin, one liveness check of the holder, then FERRY_E_BUSY.
 * (A pid reused by a new process within that window reads as alive: the
 * waiter then reports FERRY_E_BUSY rather than guessing.)
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "shm/lock.h"
#include "sys/error.h"
#include "sys/proc.h"
#include "sys/sys.h"

#define FERRY_LOCK_SLICE_NS (10ll * 1000 * 1000)

static bool holder_dead(uint32_t pid) {
  if (pid == 0 || pid == ferry__pid()) return false; /* another thread of ours */
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return true;
  return ferry__proc_start((pid_t)pid) == 0; /* gone or a zombie */
}

/* The CAS, then a short spin: true when taken. */
static bool try_take(_Atomic uint32_t *w, uint32_t me) {
  uint32_t v = 0;
  if (ferry__lock_fast(w)) return true;
  for (int i = 0; i < 200; i++) { /* holders keep it for well under a microsecond */
    ferry__cpu_relax();
    v = 0;
    if (atomic_load_explicit(w, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_weak_explicit(w, &v, me, memory_order_acquire, memory_order_relaxed))
      return true;
  }
  return false;
}

/* Take the lock from a holder that is dead: 1 taken over, 0 not (it lives, or the word changed). */
static int take_over(_Atomic uint32_t *w, uint32_t v, uint32_t me) {
  uint32_t holder = v & ~FERRY_LOCK_WAITERS;
  if (!holder_dead(holder)) return 0;
  return atomic_compare_exchange_strong(w, &v, me | (v & FERRY_LOCK_WAITERS)) ? 1 : 0;
}

/* Contended: sleep in slices until the lock is free, its holder is dead, or the deadline. */
static int lock_slow(_Atomic uint32_t *w, uint32_t me, uint64_t start, uint64_t deadline_ns, uint64_t *waited) {
  for (;;) {
    uint32_t v = atomic_load(w);
    if (v == 0) {
      if (atomic_compare_exchange_strong(w, &v, me | FERRY_LOCK_WAITERS)) return 0;
      continue;
    }
    uint64_t now = ferry__now_ns();
    if (waited) *waited = now - start;
    if (now >= deadline_ns) { /* last look: a dead holder is taken over even at the deadline */
      if (take_over(w, v, me)) return FERRY__OWNERDEAD;
      return ferry__err(FERRY_E_BUSY, "the lock is held by pid %u (alive) beyond the %.0f ms this call may wait",
                        v & ~FERRY_LOCK_WAITERS, (double)(now - start) / 1e6);
    }
    if (!(v & FERRY_LOCK_WAITERS) && !atomic_compare_exchange_strong(w, &v, v | FERRY_LOCK_WAITERS)) continue;
    int64_t slice = (int64_t)(deadline_ns - now);
    if (slice > FERRY_LOCK_SLICE_NS) slice = FERRY_LOCK_SLICE_NS;
    int r = ferry__futex_wait(w, v | FERRY_LOCK_WAITERS, slice);
    if (r != FERRY_E_TIMEOUT) continue;
    if (take_over(w, v | FERRY_LOCK_WAITERS, me)) return FERRY__OWNERDEAD; /* it died inside the critical section */
  }
}

int ferry__lock_for(_Atomic uint32_t *w, int64_t budget_ns, uint64_t *waited) {
  uint32_t me = ferry__pid();
  if (try_take(w, me)) return 0; /* no clock read, no thread-local, unless contended */
  uint64_t start = ferry__now_ns();
  return lock_slow(w, me, start, start + (uint64_t)(budget_ns < 0 ? 0 : budget_ns), waited);
}

int ferry__lock(_Atomic uint32_t *w) { return ferry__lock_for(w, FERRY_LOCK_MAX_NS, NULL); }

int ferry__trylock(_Atomic uint32_t *w) {
  uint32_t me = ferry__pid();
  for (int round = 0; round < 4; round++) {
    if (try_take(w, me)) return 0;
    uint32_t v = atomic_load(w);
    if (v == 0) continue; /* freed right after the spin */
    return take_over(w, v, me) ? FERRY__OWNERDEAD : FERRY_E_BUSY; /* no detail: the caller comes back later */
  }
  return FERRY_E_BUSY;
}

FERRY__HOT void ferry__unlock(_Atomic uint32_t *w) {
  uint32_t v = atomic_exchange_explicit(w, 0, memory_order_release);
  if (v & FERRY_LOCK_WAITERS) ferry__futex_wake(w);
}
