/* shm/wake.h — telling waiters that something changed: futex words and direct-wake sockets (shm/wake.c). */
#ifndef FERRY_SHM_WAKE_H
#define FERRY_SHM_WAKE_H

#include "shm/layout.h"

/* After a publish, called right after the unlock (its atomic exchange is half of the barrier
 * the waiter check needs: see wake.c): bump the publish word and FUTEX_WAKE when subscribers
 * sleep, write to armed subscribers' sockets. */
void ferry__wake_published(ferry_channel *ch);
/* After a release that freed a descriptor: wake publishers waiting for space (only when some wait). */
void ferry__wake_space(ferry_channel *ch);
/* Membership changed (a participant left or was reaped): wake every waiter of both kinds. */
void ferry__wake_all(ferry_channel *ch);
/* Bind this process's direct-wake socket for participant slot `slot` (nonce recorded in the part). Returns the fd. */
int ferry__wake_bind(ferry_channel *ch, uint32_t slot);
/* Arm / disarm participant `part`'s direct wake: its bit in ctrl->wake_mask. */
void ferry__wake_arm(ferry_channel *ch, struct ferry_part *part);
void ferry__wake_disarm(ferry_channel *ch, struct ferry_part *part);

#endif
