/* channel.h — a channel handle's life cycle and its lock, for publisher.c and subscriber.c (channel.c). */
#ifndef FERRY_CHANNEL_H
#define FERRY_CHANNEL_H

#include "shm/layout.h"

/* Take the channel lock; after a holder died holding it, repair first. 0 or a negative code. */
int ferry__chan_lock(ferry_channel *ch);
void ferry__chan_unlock(ferry_channel *ch);
/* A publisher or subscriber of this handle closed: the last one out unmaps a closed channel. */
void ferry__channel_put(ferry_channel *ch);

/* Reap dead participants at most once per FERRY__SLICE_NS on this reaper's own clock. */
struct ferry__reaper {
  ferry_channel *ch;
  uint64_t last_ns;
};
int ferry__reap_if_due(struct ferry__reaper *r);
void ferry__reap_slice(void *reaper); /* the same, as a wait slice hook */

#endif
