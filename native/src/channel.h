/* channel.h — a channel handle's life cycle and its lock, for publisher.c and subscriber.c (channel.c). */
#ifndef FERRY_CHANNEL_H
#define FERRY_CHANNEL_H

#include "shm/layout.h"
#include "shm/lock.h"
#include "shm/segment.h"

/*
 * Take the channel lock; after a holder died holding it, repair first.
 * 0, or FERRY_E_BUSY (a live holder past the deadline; the detail names its pid).
 * FERRY_E_CORRUPT on a handle whose segment was truncated.
 *   _for:   sleep for what is left of a call's time (< 0: no bound of its own),
 *           clamped to FERRY__LOCK_GRACE_NS .. FERRY_LOCK_MAX_NS (5 s);
 *   (plain): the default bound, 5 s, for calls without a timeout;
 *   _try:   never sleeps (event-loop paths): FERRY_E_BUSY without a detail when contended.
 */
#define FERRY__LOCK_GRACE_NS (20ll * 1000 * 1000)
int ferry__chan_lock(ferry_channel *ch);
int ferry__chan_lock_slow(ferry_channel *ch, int64_t budget_ns, uint64_t *waited_ns); /* waited_ns: see ferry__lock_for */
/* The channel lock with a budget: the uncontended case inline (one CAS), the rest in channel.c. */
static inline int ferry__chan_lock_for(ferry_channel *ch, int64_t budget_ns, uint64_t *waited_ns) {
  if (__builtin_expect(!ferry__lost(ch), 1) && ferry__lock_fast(&ch->ctrl->lock)) return 0;
  return ferry__chan_lock_slow(ch, budget_ns, waited_ns);
}
int ferry__chan_trylock(ferry_channel *ch);
void ferry__chan_unlock(ferry_channel *ch);
/* A publisher or subscriber of this handle closed: the last one out unmaps a closed channel. */
void ferry__channel_put(ferry_channel *ch);

/*
 * Reap dead participants at most once per FERRY__SLICE_NS on this reaper's
 * own clock, without ever waiting for the lock (a contended slice is
 * skipped). Before that, at most once per FERRY__GUARD_NS, the truncation
 * guard (one fstat): FERRY_E_CORRUPT once the segment shrank.
 */
struct ferry__reaper {
  ferry_channel *ch;
  uint64_t last_ns;  /* last reap */
  uint64_t guard_ns; /* last truncation check (at most one per FERRY__GUARD_NS) */
};
#define FERRY__GUARD_NS (1000ll * 1000)
int ferry__reap_if_due(struct ferry__reaper *r);
void ferry__reap_slice(void *reaper); /* the same, as a wait slice hook (a lost segment ends the wait) */

/*
 * A lease on private memory a handle lends to a garbage-collected borrower
 * (its inline areas): made with the handle's reference; ferry__lease_get per
 * borrower, given back by ferry_arena_unlend; the last put munmaps addr.
 */
struct ferry__lease;
/* Guard a read-only mapping of private memory (path: its /proc/self/maps name, e.g.
 * "/memfd:ferry-inline") like ferry_fault_guard guards an arena: a write exits naming `name`. */
int ferry__fault_guard_range(const void *addr, uint64_t len, const char *name, const char *path);
struct ferry__lease *ferry__lease_new(void *addr, uint64_t len);
void ferry__lease_get(struct ferry__lease *l);
void ferry__lease_put(struct ferry__lease *l);

#endif
