/* shm/lock.h — the pid-owned futex lock of a channel (shm/lock.c). */
#ifndef FERRY_SHM_LOCK_H
#define FERRY_SHM_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

#define FERRY_LOCK_WAITERS 0x80000000u
#define FERRY__OWNERDEAD 1 /* ferry__lock: taken over from a holder that died holding it */

/* 0 taken; FERRY__OWNERDEAD taken, but what it guards must be repaired; FERRY_E_BUSY. */
int ferry__lock(_Atomic uint32_t *word);
void ferry__unlock(_Atomic uint32_t *word);

#endif
