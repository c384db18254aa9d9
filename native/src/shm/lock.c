/*
 * shm/lock.c — the channel lock: a futex mutex in shared memory whose word holds
 * the holder's pid, so a crashed holder is detected and the lock taken over.
 *
 * Uncontended: one CAS to take, one exchange to give (no syscall, no clock
 * read). Contended: a short spin, then FUTEX_WAIT in slices; after each slice
 * the waiter checks that the holder is still alive. If it is gone, the waiter
 * takes the lock over and returns FERRY__OWNERDEAD: the caller rebuilds what
 * the lock guards (channel.c: members.c's repair); this file repairs nothing. A holder
 * that lives but never lets go yields FERRY_E_BUSY after 5 s.
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

#define FERRY_LOCK_TIMEOUT_NS (5ll * 1000 * 1000 * 1000)

static bool holder_dead(uint32_t pid) {
  if (pid == 0 || pid == ferry__pid()) return false; /* another thread of ours */
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return true;
  return ferry__proc_start((pid_t)pid) == 0; /* gone or a zombie */
}

int ferry__lock(_Atomic uint32_t *w) {
  uint32_t me = ferry__pid();
  uint32_t v = 0;
  if (atomic_compare_exchange_strong_explicit(w, &v, me, memory_order_acquire, memory_order_relaxed)) return 0;
  for (int i = 0; i < 200; i++) { /* holders keep it for well under a microsecond */
    ferry__cpu_relax();
    v = 0;
    if (atomic_load_explicit(w, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_weak_explicit(w, &v, me, memory_order_acquire, memory_order_relaxed))
      return 0;
  }
  uint64_t start = ferry__now_ns();
  for (;;) {
    v = atomic_load(w);
    if (v == 0) {
      if (atomic_compare_exchange_strong(w, &v, me | FERRY_LOCK_WAITERS)) return 0;
      continue;
    }
    if (!(v & FERRY_LOCK_WAITERS) && !atomic_compare_exchange_strong(w, &v, v | FERRY_LOCK_WAITERS)) continue;
    int r = ferry__futex_wait(w, v | FERRY_LOCK_WAITERS, 10 * 1000 * 1000);
    if (r != FERRY_E_TIMEOUT) continue;
    uint32_t holder = v & ~FERRY_LOCK_WAITERS;
    if (holder_dead(holder)) {
      uint32_t cur = v | FERRY_LOCK_WAITERS;
      if (atomic_compare_exchange_strong(w, &cur, me | FERRY_LOCK_WAITERS))
        return FERRY__OWNERDEAD; /* the holder died inside the critical section */
      continue;
    }
    if (ferry__now_ns() - start > (uint64_t)FERRY_LOCK_TIMEOUT_NS)
      return ferry__err(FERRY_E_BUSY, "channel lock held for more than 5 s by pid %u", holder);
  }
}

void ferry__unlock(_Atomic uint32_t *w) {
  uint32_t v = atomic_exchange_explicit(w, 0, memory_order_release);
  if (v & FERRY_LOCK_WAITERS) ferry__futex_wake(w);
}
