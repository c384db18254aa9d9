/*
 * shm/alloc.c — the payload arena allocator: one bit per granule (1 = allocated),
 * first fit from the start of the arena. First fit keeps reusing the same,
 * cache-warm addresses for small messages (and lets JS reuse its views of
 * them); a next-fit rover measured worse on both counts.
 *
 * Guarantee: an allocation of n granules fails only when no run of n
 * contiguous free granules exists anywhere in the arena. Internal waste is at
 * most one granule minus one byte per block; there is no other overhead in
 * the arena (block metadata lives in the ring descriptors and loan records).
 * The bitmap is authoritative and can be rebuilt from the descriptors and
 * loan records after a crash inside the lock (see shm/members.c ferry__repair).
 *
 * Every function here runs with the channel lock held.
 */
#include <string.h>

#include "shm/alloc.h"
#include "sys/error.h"

static inline uint64_t first_free(const ferry_channel *ch, uint64_t i) {
  if (i >= ch->nbits) return ch->nbits;
  uint64_t w = i >> 6;
  uint64_t x = ~ch->bitmap[w] & (~0ull << (i & 63));
  while (!x) {
    if (++w >= ch->nwords) return ch->nbits;
    x = ~ch->bitmap[w];
  }
  uint64_t r = (w << 6) + (uint64_t)__builtin_ctzll(x);
  return r < ch->nbits ? r : ch->nbits;
}

/* First allocated granule in [i, limit), or limit. Long free runs are
 * checked four words at a time (a 64 MiB message is 512+ words). */
static inline uint64_t first_used(const ferry_channel *ch, uint64_t i, uint64_t limit) {
  if (i >= limit) return limit;
  uint64_t w = i >> 6;
  uint64_t x = ch->bitmap[w] & (~0ull << (i & 63));
  uint64_t wend = (limit + 63) >> 6; /* words that hold granules below limit */
  while (!x) {
    if (++w >= wend) return limit;
    while (w + 4 <= wend && !(ch->bitmap[w] | ch->bitmap[w + 1] | ch->bitmap[w + 2] | ch->bitmap[w + 3])) w += 4;
    if (w >= wend) return limit;
    x = ch->bitmap[w];
  }
  uint64_t r = (w << 6) + (uint64_t)__builtin_ctzll(x);
  return r < limit ? r : limit;
}

static int64_t find_run(const ferry_channel *ch, uint64_t from, uint64_t n) {
  uint64_t i = from;
  for (;;) {
    uint64_t s = first_free(ch, i);
    if (s + n > ch->nbits) return -1;
    uint64_t e = first_used(ch, s, s + n);
    if (e >= s + n) return (int64_t)s;
    i = e + 1;
  }
}

static inline void set_bits(uint64_t *word, uint64_t mask, bool on) {
  if (on)
    *word |= mask;
  else
    *word &= ~mask;
}

/* Set or clear granules [g, g+n): partial edge words by mask, whole words by memset. */
static void set_range(ferry_channel *ch, uint64_t g, uint64_t n, bool on) {
  if (n == 0) return;
  uint64_t first = g >> 6, last = (g + n - 1) >> 6;
  uint64_t lo = ~0ull << (g & 63), hi = ~0ull >> (63 - ((g + n - 1) & 63));
  if (first == last) {
    set_bits(&ch->bitmap[first], lo & hi, on);
    return;
  }
  set_bits(&ch->bitmap[first], lo, on);
  if (last > first + 1) memset(&ch->bitmap[first + 1], on ? 0xff : 0, (last - first - 1) * 8);
  set_bits(&ch->bitmap[last], hi, on);
}

/* Lowest bitmap word that may hold a free granule (a hint kept in shared memory: checked). */
static uint64_t hint(const ferry_channel *ch) {
  uint64_t h = ch->ctrl->free_hint;
  return h < ch->nwords ? h : 0;
}

int64_t ferry__alloc(ferry_channel *ch, uint64_t n) {
  if (n == 0 || n > ch->nbits) return -1;
  uint64_t h = hint(ch);
  uint64_t first = first_free(ch, h << 6);
  int64_t g = find_run(ch, first, n);
  if (g < 0) return -1;
  set_range(ch, (uint64_t)g, n, true);
  if ((uint64_t)g == first) {
    /* nothing was free below g, so every word up to the one holding g+n is
     * now full: move the hint there, then over any full words after it */
    h = ((uint64_t)g + n) >> 6;
    while (h < ch->nwords && ch->bitmap[h] == ~0ull) h++;
  } else {
    h = first >> 6; /* a gap too small for this request starts here */
  }
  ch->ctrl->free_hint = h;
  ch->ctrl->arena_used += n;
  return g;
}

static bool in_range(const ferry_channel *ch, uint64_t g, uint64_t n) {
  return n <= ch->nbits && g <= ch->nbits - n;
}

int ferry__free(ferry_channel *ch, uint64_t g, uint64_t n) {
  if (!in_range(ch, g, n)) return ferry__err(FERRY_E_CORRUPT, "free of granules [%llu,+%llu) outside the arena",
                                             (unsigned long long)g, (unsigned long long)n);
  set_range(ch, g, n, false);
  if (n && (g >> 6) < hint(ch)) ch->ctrl->free_hint = g >> 6;
  ch->ctrl->arena_used = ch->ctrl->arena_used >= n ? ch->ctrl->arena_used - n : 0;
  return 0;
}

int ferry__mark(ferry_channel *ch, uint64_t g, uint64_t n) {
  if (!in_range(ch, g, n)) return FERRY_E_CORRUPT;
  set_range(ch, g, n, true);
  ch->ctrl->arena_used += n;
  return 0;
}
