/* engine_internal.h — internals shared by engine.c, engine_cpu.c, engine_sw.c and copy.c. */
#ifndef FERRY_ENGINE_INTERNAL_H
#define FERRY_ENGINE_INTERNAL_H

#include "internal.h"

/* copy.c */
#define FERRY_COPY_SMALL 4096u /* below this every copy is a plain memcpy */
/* Copy with hot (temporal) or cold (non-temporal + sfence) stores. */
void ferry__copy(void *dst, const void *src, uint64_t len, bool cold);
/* Default threshold for FERRY_COPY_AUTO: half the LLC, or 4 MiB. */
uint64_t ferry__default_cold_threshold(void);
static inline bool ferry__is_cold(uint32_t flags, uint64_t len, uint64_t threshold) {
  uint32_t h = flags & FERRY_COPY_CACHE_MASK;
  return h == FERRY_COPY_COLD || (h == FERRY_COPY_AUTO && len >= threshold);
}

/* built-in engines */
extern const ferry_engine_ops ferry__engine_cpu;
extern const ferry_engine_ops ferry__engine_sw;

#endif
