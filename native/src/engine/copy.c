/*
 * engine/copy.c — the CPU copy routines behind the `cpu` and `sw` engines.
 *
 * hot:  temporal stores (the lines stay in cache for a reader that comes soon).
 *       glibc's memcpy turns to non-temporal stores itself above a size
 *       threshold, so large hot copies use our own vector loop instead.
 * cold: non-temporal (streaming) stores to 64-byte-aligned dst, then sfence,
 *       so the data goes to memory without evicting the reader's cache; the
 *       sfence also orders them before the release store that publishes them.
 * Dispatch: chosen once at load time from __builtin_cpu_supports (AVX-512F,
 * AVX2, SSE2 = baseline x86-64); elsewhere both are memcpy. Copies under
 * FERRY_COPY_SMALL bytes always use memcpy.
 */
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "engine/copy.h"
#include "sys/error.h"
#include "sys/sys.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define FERRY_X86 1
#endif

typedef void (*copy_fn)(void *dst, const void *src, uint64_t len);

static void hot_memcpy(void *d, const void *s, uint64_t n) { memcpy(d, s, n); }

#ifdef FERRY_X86
/* Bytes up to the next 64-byte boundary of dst (copied with memcpy first). */
static inline uint64_t head_len(const void *d, uint64_t n) {
  uint64_t h = (64 - ((uintptr_t)d & 63)) & 63;
  return h < n ? h : n;
}

/*
 * One loop per (instruction set, store kind): align dst to 64 bytes with
 * memcpy, move four vectors per step, finish the tail with memcpy; cold
 * stores stream around the cache and end with sfence.
 */
#define FERRY_COPY_LOOP(NAME, TARGET, VEC, W, LOAD, STORE, FENCE)                   \
  __attribute__((target(TARGET))) static void NAME(void *dst, const void *src, uint64_t n) { \
    uint8_t *d = dst;                                                                \
    const uint8_t *s = src;                                                          \
    uint64_t h = head_len(d, n);                                                     \
    memcpy(d, s, h);                                                                 \
    d += h, s += h, n -= h;                                                          \
    for (; n >= 4 * (W); d += 4 * (W), s += 4 * (W), n -= 4 * (W)) {                 \
      VEC a = LOAD((const void *)s), b = LOAD((const void *)(s + (W)));              \
      VEC c = LOAD((const void *)(s + 2 * (W))), e = LOAD((const void *)(s + 3 * (W))); \
      STORE((void *)d, a);                                                           \
      STORE((void *)(d + (W)), b);                                                   \
      STORE((void *)(d + 2 * (W)), c);                                               \
      STORE((void *)(d + 3 * (W)), e);                                               \
    }                                                                                \
    if (FENCE) _mm_sfence();                                                         \
    memcpy(d, s, n);                                                                 \
  }

/* the intrinsics take typed pointers: thin adapters over void * */
#define LD512(p) _mm512_loadu_si512(p)
#define ST512(p, v) _mm512_store_si512(p, v)
#define NT512(p, v) _mm512_stream_si512(p, v)
#define LD256(p) _mm256_loadu_si256((const __m256i *)(p))
#define ST256(p, v) _mm256_store_si256((__m256i *)(p), v)
#define NT256(p, v) _mm256_stream_si256((__m256i *)(p), v)
#define LD128(p) _mm_loadu_si128((const __m128i *)(p))
#define ST128(p, v) _mm_store_si128((__m128i *)(p), v)
#define NT128(p, v) _mm_stream_si128((__m128i *)(p), v)

FERRY_COPY_LOOP(hot_avx512, "avx512f", __m512i, 64, LD512, ST512, 0)
FERRY_COPY_LOOP(cold_avx512, "avx512f", __m512i, 64, LD512, NT512, 1)
FERRY_COPY_LOOP(hot_avx2, "avx2", __m256i, 32, LD256, ST256, 0)
FERRY_COPY_LOOP(cold_avx2, "avx2", __m256i, 32, LD256, NT256, 1)
FERRY_COPY_LOOP(hot_sse2, "sse2", __m128i, 16, LD128, ST128, 0)
FERRY_COPY_LOOP(cold_sse2, "sse2", __m128i, 16, LD128, NT128, 1)
#endif

static const struct isa {
  const char *name;
  copy_fn hot, cold;
} isas[] = {
#ifdef FERRY_X86
    {"avx512", hot_avx512, cold_avx512},
    {"avx2", hot_avx2, cold_avx2},
    {"sse2", hot_sse2, cold_sse2},
#endif
    {"memcpy", hot_memcpy, hot_memcpy},
};

static _Atomic(const struct isa *) current;

static bool isa_supported(const struct isa *i) {
#ifdef FERRY_X86
  if (!strcmp(i->name, "avx512")) return __builtin_cpu_supports("avx512f");
  if (!strcmp(i->name, "avx2")) return __builtin_cpu_supports("avx2");
#endif
  (void)i;
  return true;
}

static const struct isa *detect(void) {
#ifdef FERRY_X86
  __builtin_cpu_init();
#endif
  for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++)
    if (isa_supported(&isas[k])) return &isas[k];
  return &isas[sizeof isas / sizeof isas[0] - 1];
}

static inline const struct isa *cur(void) {
  const struct isa *i = atomic_load_explicit(&current, memory_order_acquire);
  if (!i) {
    i = detect();
    atomic_store_explicit(&current, i, memory_order_release);
  }
  return i;
}

void ferry__copy(void *dst, const void *src, uint64_t len, bool cold) {
  if (len < FERRY_COPY_SMALL) {
    if (len) memcpy(dst, src, len);
    return;
  }
  const struct isa *i = cur();
  (cold ? i->cold : i->hot)(dst, src, len);
}

/* Half the LLC, at most 16 MiB (a VM's share of a large shared L3 is far
 * smaller than what sysconf reports), or 4 MiB when the LLC is unknown.
 * @ferry/coordinator's coldFromBytes (machine.ts) applies the same rule to a
 * profile's LLC: change both together. */
uint64_t ferry__default_cold_threshold(void) {
  long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 <= 0) return 4ull << 20;
  uint64_t t = (uint64_t)l3 / 2;
  return t > (16ull << 20) ? 16ull << 20 : t;
}

static uint64_t auto_threshold(void) {
  static _Atomic uint64_t t;
  uint64_t v = atomic_load_explicit(&t, memory_order_relaxed);
  if (!v) atomic_store_explicit(&t, v = ferry__default_cold_threshold(), memory_order_relaxed);
  return v;
}

FERRY__HOT int ferry__cache_check(uint32_t flags) {
  if (flags & ~(uint32_t)FERRY_COPY_CACHE_MASK || (flags & FERRY_COPY_CACHE_MASK) == FERRY_COPY_CACHE_MASK)
    return ferry__err(FERRY_E_INVAL, "unknown cache hint 0x%x (FERRY_COPY_AUTO, HOT or COLD)", flags);
  return 0;
}

FERRY_API int ferry_copy(void *dst, const void *src, uint64_t len, uint32_t flags) {
  int r = ferry__cache_check(flags);
  if (r) return r;
  if (len && (!dst || !src)) return ferry__err(FERRY_E_INVAL, "NULL buffer");
  uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
  if (len && d < s + len && s < d + len) return ferry__err(FERRY_E_INVAL, "source and destination overlap");
  ferry__copy(dst, src, len, ferry__is_cold(flags, len, auto_threshold()));
  return 0;
}

FERRY_API const char *ferry_copy_isa(void) { return cur()->name; }

FERRY_API int ferry_copy_isa_set(const char *name) {
  if (!name) return ferry__err(FERRY_E_INVAL, "isa is NULL");
  if (!strcmp(name, "auto")) {
    atomic_store(&current, detect());
    return 0;
  }
  for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
    if (strcmp(isas[k].name, name)) continue;
    if (!isa_supported(&isas[k])) return ferry__err(FERRY_E_NOTFOUND, "this CPU does not support %s", name);
    atomic_store(&current, &isas[k]);
    return 0;
  }
  return ferry__err(FERRY_E_NOTFOUND, "unknown copy isa '%s' (avx512, avx2, sse2, memcpy, auto)", name);
}
