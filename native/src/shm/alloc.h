/* shm/alloc.h — the arena's granule bitmap; every caller holds the channel lock (shm/alloc.c). */
#ifndef FERRY_SHM_ALLOC_H
#define FERRY_SHM_ALLOC_H

#include "shm/layout.h"

int64_t ferry__alloc(ferry_channel *ch, uint64_t ngran); /* first granule, or FERRY_E_FULL */
int ferry__free(ferry_channel *ch, uint64_t gran, uint64_t ngran);
int ferry__mark(ferry_channel *ch, uint64_t gran, uint64_t ngran); /* rebuild: claim a known block */

#endif
