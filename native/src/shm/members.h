/* shm/members.h — participants (publishers, subscribers) and consumers: join, leave, reap, repair (shm/members.c). */
#ifndef FERRY_SHM_MEMBERS_H
#define FERRY_SHM_MEMBERS_H

#include "shm/layout.h"

/* Every function here runs with the channel lock held (but ferry__parts_any_dead). */

/* Join as a publisher (group NULL) or a subscriber of `group` ("" broadcast): participant and consumer slots. */
int ferry__member_join(ferry_channel *ch, uint32_t kind, const char *group, uint32_t *part, uint32_t *consumer);
/* Leave cleanly: give back what participant `part` of this process holds (no-op if the slot is not ours). */
void ferry__member_leave(ferry_channel *ch, uint32_t part, uint32_t kind);
/* Live subscribers (group NULL or ""), or the members of worker group `group` (0: no such group).
 * Also called without the lock (a count that may be one message old). */
uint32_t ferry__members_count(ferry_channel *ch, const char *group);
/* Who holds the participant slots (pid 0: a garbage slot), copied under the lock so that the liveness
 * checks (a kill(0) and a /proc read each) can run after it is released; returns how many. */
struct ferry__part_id {
  uint32_t pid;
  uint64_t start;
};
uint32_t ferry__parts_snapshot(ferry_channel *ch, struct ferry__part_id *out /* FERRY_MAX_PARTICIPANTS */);
/* Is any of them gone (or garbage)? The one function here that runs WITHOUT the lock (it reads no shared memory). */
bool ferry__parts_any_dead(const struct ferry__part_id *ids, uint32_t n);
/* Reclaim every participant whose process is gone; returns how many. */
int ferry__reap_locked(ferry_channel *ch);
/* The periodic part of a reap when nobody died: expire pins past their TTL. */
void ferry__reap_pins_locked(ferry_channel *ch);
/* Drop references no live process can be holding (left by one killed inside claim or release); returns how many. */
int ferry__orphans_fix(ferry_channel *ch);
/* The previous lock holder died mid-update: rebuild what the lock guards from the descriptors and loans. */
void ferry__repair(ferry_channel *ch);

#endif
