/*
 * publisher.c — loans, publish, inline copy send and backpressure.
 *
 * A loan is a block of arena granules recorded in the publisher's participant
 * record, so that a crash gives it back. Publishing removes the loan record,
 * fills the descriptor at the ring tail and only then makes it visible by
 * storing its sequence number (release order).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "internal.h"

static inline bool pub_bad(ferry_pub *p) { return !p || p->closed || p->ch->closed; }

#define PUB_CHECK(p)                                                                   \
  do {                                                                                 \
    if (!(p)) return ferry__err(FERRY_E_INVAL, "publisher is NULL");                   \
    if (pub_bad(p)) return ferry__err(FERRY_E_CLOSED, "publisher or channel is closed"); \
  } while (0)

FERRY_API int ferry_pub_open(ferry_channel *ch, uint32_t bp, int64_t timeout_ns, ferry_pub **out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  *out = NULL;
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  if (bp > FERRY_BP_DROP_OLDEST) return ferry__err(FERRY_E_INVAL, "unknown backpressure policy %u", bp);
  if (!ch->arena_rw) {
    void *m = mmap(NULL, ch->arena_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ch->fd,
                   (off_t)ch->arena_off);
    if (m == MAP_FAILED) return ferry__errno(0, "mmap(arena, read-write)");
    ch->arena_rw = m;
  }
  ferry_pub *p = calloc(1, sizeof *p);
  if (!p) return ferry__err(FERRY_E_NOMEM, "out of memory");
  int r = ferry__lock(ch);
  if (r) {
    free(p);
    return r;
  }
  r = ferry__part_join(ch, PART_PUB, &p->part);
  if (r == 0) {
    ch->ctrl->pubs_live++;
    ch->ctrl->pubs_ever++;
  }
  ferry__unlock(ch);
  if (r) {
    free(p);
    return r;
  }
  p->ch = ch;
  p->bp = bp;
  p->timeout_ns = timeout_ns;
  ch->users++;
  *out = p;
  return 0;
}

FERRY_API int ferry_pub_close(ferry_pub *p) {
  if (!p) return ferry__err(FERRY_E_INVAL, "publisher is NULL");
  if (p->closed) return 0;
  p->closed = true;
  ferry_channel *ch = p->ch;
  if (p->jobs) ferry__jobs_stop(p); /* engine sends in flight end first (their loans are below) */
  if (ferry__lock(ch) == 0) {
    struct ferry_part *part = &ch->parts[p->part];
    if (part->kind == PART_PUB && part->pid == (uint32_t)getpid()) ferry__part_reclaim(ch, p->part, false);
    ferry__reclaim(ch, true);
    ferry__unlock(ch);
  }
  ferry__channel_put(ch);
  free(p);
  return 0;
}

FERRY_API ferry_msg_info *ferry_pub_info(ferry_pub *p) { return p ? &p->info : NULL; }

FERRY_API uint64_t ferry_pub_arena(ferry_pub *p) {
  return pub_bad(p) ? 0 : (uint64_t)(uintptr_t)p->ch->arena_rw;
}

/*
 * Drop the oldest messages nobody has claimed yet, until one descriptor is
 * fully released (lock held). Returns true when space was freed.
 */
static bool drop_oldest(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  for (uint64_t s = c->head; s < c->tail; s++) {
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load(&e->seq) != s + 1 || atomic_load(&e->refs) == 0) continue;
    for (uint32_t k = 0; k < FERRY_MAX_CONSUMERS; k++) {
      struct ferry_consumer *kc = &ch->cons[k];
      if (kc->state != CONS_ACTIVE) continue;
      uint64_t cur = s;
      if (atomic_compare_exchange_strong(&kc->cursor, &cur, s + 1)) {
        atomic_fetch_add(&kc->dropped, 1);
        c->dropped++;
        ferry__unref(ch, e);
      }
    }
    if (atomic_load(&e->refs) == 0) {
      ferry__reclaim(ch, true);
      return true;
    }
  }
  return false;
}

static inline uint64_t grans(const ferry_channel *ch, uint64_t bytes) {
  return (bytes + ch->granule - 1) >> ch->gshift; /* granule is a power of two */
}

/* Try to get `n` granules (n may be 0) and, if `ring`, a free descriptor (lock held). */
static int try_space(ferry_pub *p, uint64_t n, bool ring, int64_t *gran) {
  ferry_channel *ch = p->ch;
  struct ferry_ctrl *c = ch->ctrl;
  for (int round = 0;; round++) {
    /* A publish that needs no arena space reclaims only when the ring is
     * full: reading released descriptors costs a cache miss each, and a
     * loan (which wants the just-released, cache-warm space) reclaims anyway. */
    if (round > 0 || !ring || n > 0 || c->tail - c->head >= ch->ring_slots) ferry__reclaim(ch, round > 0);
    bool ring_ok = !ring || c->tail - c->head < ch->ring_slots;
    if (ring_ok) {
      if (n == 0) {
        *gran = 0;
        return 0;
      }
      int64_t g = ferry__alloc(ch, n);
      if (g >= 0) {
        *gran = g;
        return 0;
      }
    }
    if (round == 0) continue; /* sweep out-of-order releases, then retry */
    if (p->bp != FERRY_BP_DROP_OLDEST || !drop_oldest(ch)) return FERRY_E_FULL;
  }
}

/*
 * Get space according to the backpressure policy. On success the lock is
 * held. "error" fails at once; "block" and "drop-oldest" (once nothing
 * unclaimed is left to drop) wait. Blocking waits sleep on the release futex and reap dead
 * subscribers every slice, so a crashed reader cannot wedge the publisher.
 */
static int acquire(ferry_pub *p, uint64_t n, bool ring, int64_t *gran) {
  ferry_channel *ch = p->ch;
  struct ferry_ctrl *c = ch->ctrl;
  int r = ferry__lock(ch);
  if (r) return r;
  if (try_space(p, n, ring, gran) == 0) return 0; /* fast path: no shared word besides the lock */
  ferry__unlock(ch);
  if (p->bp == FERRY_BP_ERROR)
    return ferry__err(FERRY_E_FULL, "channel \"%s\" is full (%s)", ch->name,
                      n > ch->nbits ? "message larger than the arena" : "ring or arena");
  /* block, or drop-oldest with nothing unclaimed left to drop: wait for a release */
  uint64_t start = ferry__now_ns(), last_reap = start;
  for (;;) {
    int64_t left = p->timeout_ns < 0 ? FERRY_SLICE_NS : p->timeout_ns - (int64_t)(ferry__now_ns() - start);
    if (left <= 0)
      return ferry__err(FERRY_E_TIMEOUT, "no space in channel \"%s\" within %lld ms", ch->name,
                        (long long)(p->timeout_ns / 1000000));
    atomic_fetch_add(&c->space_waiters, 1); /* announce, then read the word, then re-check */
    uint32_t v = atomic_load(&c->rel_futex);
    if ((r = ferry__lock(ch))) {
      atomic_fetch_sub(&c->space_waiters, 1);
      return r;
    }
    if (try_space(p, n, ring, gran) == 0) {
      atomic_fetch_sub(&c->space_waiters, 1);
      return 0;
    }
    ferry__unlock(ch);
    ferry__futex_wait(&c->rel_futex, v, left < FERRY_SLICE_NS ? left : FERRY_SLICE_NS);
    atomic_fetch_sub(&c->space_waiters, 1);
    ferry__reap_if_due(ch, &last_reap);
  }
}

static int held_slot(const struct ferry_held *held, uint32_t nheld) {
  if (nheld >= FERRY_MAX_HELD) return -1;
  for (int h = 0; h < FERRY_MAX_HELD; h++)
    if (!held[h].used) return h;
  return -1;
}

FERRY_API int ferry_pub_loan(ferry_pub *p, uint64_t size, ferry_msg_info *info) {
  PUB_CHECK(p);
  if (!info) info = &p->info;
  ferry_channel *ch = p->ch;
  if (size > ch->arena_size)
    return ferry__err(FERRY_E_TOOBIG, "message of %llu bytes exceeds the arena of %llu bytes",
                      (unsigned long long)size, (unsigned long long)ch->arena_size);
  int h = held_slot(p->held, p->nheld);
  if (h < 0) return ferry__err(FERRY_E_LIMIT, "more than %d loans outstanding", FERRY_MAX_HELD);
  uint64_t n = grans(ch, size);
  int64_t g;
  int r = acquire(p, n, false, &g);
  if (r) return r;
  struct ferry_held rec = {.a = (uint64_t)g, .len = size, .b = (uint32_t)n, .used = 1};
  p->held[h] = rec;
  p->nheld++;
  ch->parts[p->part].held[h] = rec; /* for the reaper, should we crash */
  ferry__unlock(ch);
  info->seq = 0;
  info->offset = (uint64_t)g * ch->granule;
  info->length = size;
  info->hdr_offset = 0;
  info->hdr_length = 0;
  info->token = (uint32_t)h;
  info->dropped = 0;
  return 0;
}

static int loan_check(ferry_pub *p, uint32_t token) {
  if (token >= FERRY_MAX_HELD || !p->held[token].used)
    return ferry__err(FERRY_E_STATE, "loan %u was already published or returned", token);
  return 0;
}

FERRY_API int ferry_pub_unloan(ferry_pub *p, uint32_t token) {
  PUB_CHECK(p);
  int r = loan_check(p, token);
  if (r) return r;
  ferry_channel *ch = p->ch;
  if ((r = ferry__lock(ch))) return r;
  struct ferry_held hd = p->held[token];
  p->held[token].used = 0;
  p->nheld--;
  ch->parts[p->part].held[token].used = 0;
  if (hd.b) ferry__free(ch, hd.a, hd.b);
  ferry__unlock(ch);
  return 0;
}

/*
 * Publish loan `token` (lock taken here). `eflags` ENT_PIPELINED publishes a
 * message whose payload an engine is still copying: it carries one extra
 * reference for the publisher, dropped when the copy ends, so the slot and
 * its space outlive the copy whatever the readers do.
 */
int ferry__publish(ferry_pub *p, uint32_t token, uint64_t len, const void *hdr, uint32_t hdr_len, uint32_t eflags,
                   ferry_msg_info *info) {
  PUB_CHECK(p);
  int r = loan_check(p, token);
  if (r) return r;
  ferry_channel *ch = p->ch;
  struct ferry_part *part = &ch->parts[p->part];
  struct ferry_held hd = p->held[token];
  if (len == UINT64_MAX) len = hd.len;
  if (len > hd.len)
    return ferry__err(FERRY_E_INVAL, "publishing %llu bytes of a %llu-byte loan", (unsigned long long)len,
                      (unsigned long long)hd.len);
  if (hdr_len > FERRY_HEADER_MAX)
    return ferry__err(FERRY_E_TOOBIG, "header of %u bytes exceeds %d", hdr_len, FERRY_HEADER_MAX);
  if (hdr_len && !hdr) return ferry__err(FERRY_E_INVAL, "header is NULL");
  uint64_t hn = grans(ch, hdr_len);
  int64_t hg;
  if ((r = acquire(p, hn, true, &hg))) return r;
  /* lock held */
  struct ferry_ctrl *c = ch->ctrl;
  if (hn) memcpy(ch->arena_rw + (uint64_t)hg * ch->granule, hdr, hdr_len);
  uint64_t keep = grans(ch, len);
  if (keep < hd.b) ferry__free(ch, hd.a + keep, hd.b - keep); /* return the unused tail */
  part->held[token].used = 0; /* loan record goes first: a crash below leaks nothing twice */
  p->held[token].used = 0;
  p->nheld--;
  uint64_t s = c->tail;
  struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
  e->pay_gran = (uint32_t)hd.a;
  e->pay_len = len;
  e->pay_ngran = (uint32_t)keep;
  e->hdr_gran = hn ? (uint32_t)hg : 0;
  e->hdr_len = hdr_len;
  e->hdr_ngran = (uint32_t)hn;
  e->publisher = p->part;
  e->flags = eflags;
  atomic_store_explicit(&e->progress.bytes, 0, memory_order_relaxed);
  atomic_store_explicit(&e->progress.waiters, 0, memory_order_relaxed);
  uint32_t refs = c->n_consumers_active;
  atomic_store_explicit(&e->refs, refs + ((eflags & ENT_PIPELINED) ? 1 : 0), memory_order_relaxed);
  atomic_store_explicit(&e->seq, s + 1, memory_order_release);
  c->tail = s + 1;
  c->published++;
  part->count++;
  if (refs == 0) {
    c->unheard++;
    ferry__reclaim(ch, false);
  }
  ferry__unlock(ch);
  /* wake sleeping subscribers; no syscall when nobody sleeps */
  atomic_fetch_add(&c->pub_futex, 1);
  if (atomic_load(&c->sub_waiters)) ferry__futex_wake(&c->pub_futex);
  if (atomic_load(&c->direct_waiters)) ferry__wake_direct(ch);
  if (!info) info = &p->info;
  info->seq = s;
  info->offset = hd.a * ch->granule;
  info->length = len;
  info->hdr_offset = hn ? (uint64_t)hg * ch->granule : 0;
  info->hdr_length = hdr_len;
  info->token = token;
  info->flags = (eflags & ENT_PIPELINED) ? FERRY_MSG_PIPELINED : 0;
  return 0;
}

FERRY_API int ferry_pub_publish(ferry_pub *p, uint32_t token, uint64_t len, const void *hdr, uint32_t hdr_len,
                                ferry_msg_info *info) {
  return ferry__publish(p, token, len, hdr, hdr_len, 0, info);
}

FERRY_API int ferry_pub_send_hint(ferry_pub *p, const void *data, uint64_t len, const void *hdr, uint32_t hdr_len,
                                  uint32_t flags, ferry_msg_info *info) {
  ferry_msg_info li;
  if (len && !data) return ferry__err(FERRY_E_INVAL, "data is NULL");
  if (flags & ~(uint32_t)FERRY_COPY_CACHE_MASK || (flags & FERRY_COPY_CACHE_MASK) == 3)
    return ferry__err(FERRY_E_INVAL, "unknown cache hint 0x%x", flags);
  int r = ferry_pub_loan(p, len, &li);
  if (r) return r;
  if (len) ferry_copy(p->ch->arena_rw + li.offset, data, len, flags); /* cannot fail: checked above */
  r = ferry_pub_publish(p, li.token, len, hdr, hdr_len, info);
  if (r) ferry_pub_unloan(p, li.token);
  return r;
}

FERRY_API int ferry_pub_send(ferry_pub *p, const void *data, uint64_t len, const void *hdr, uint32_t hdr_len,
                             ferry_msg_info *info) {
  return ferry_pub_send_hint(p, data, len, hdr, hdr_len, FERRY_COPY_AUTO, info);
}
