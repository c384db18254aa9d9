/* engine/copy.h — the CPU copy routines and the one cache-hint check (engine/copy.c). */
#ifndef FERRY_ENGINE_COPY_H
#define FERRY_ENGINE_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry.h"

#define FERRY_COPY_SMALL 4096u /* below this every copy is a plain memcpy */

/* 0 when flags is a valid FERRY_COPY_* cache hint with no reserved bit set, else FERRY_E_INVAL (detail set). */
int ferry__cache_check(uint32_t flags);
/* Copy with hot (temporal) or cold (non-temporal + sfence) stores. */
void ferry__copy(void *dst, const void *src, uint64_t len, bool cold);
/* Default threshold for FERRY_COPY_AUTO: half the LLC, at most 16 MiB, or 4 MiB when unknown. */
uint64_t ferry__default_cold_threshold(void);
static inline bool ferry__is_cold(uint32_t flags, uint64_t len, uint64_t threshold) {
  uint32_t h = flags & FERRY_COPY_CACHE_MASK;
  return h == FERRY_COPY_COLD || (h == FERRY_COPY_AUTO && len >= threshold);
}

#endif
