/*
 * publisher.c — publishers: open/close, loans, publish and backpressure.
 * The copy sends (inline, offload, pipelined) build on these in send.c.
 *
 * A loan is a block of arena granules recorded in the publisher's participant
 * record, so that a crash gives it back. Publishing removes the loan record,
 * fills the descriptor at the ring tail and only then makes it visible by
 * storing its sequence number (release order).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "channel.h"
#include "publisher.h"
#include "shm/alloc.h"
#include "shm/lock.h"
#include "shm/members.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "shm/wake.h"
#include "sys/error.h"
#include "sys/sys.h"
#include "sys/wait.h"

static int loan_inline(ferry_pub *p, uint64_t size, ferry_msg_info *info);

static inline bool pub_bad(ferry_pub *p) { return !p || p->closed || p->ch->closed; }

FERRY__HOT int ferry__pub_check(ferry_pub *p) {
  if (!p) return ferry__err(FERRY_E_INVAL, "publisher is NULL");
  if (pub_bad(p)) return ferry__err(FERRY_E_CLOSED, "publisher or channel is closed");
  if (ferry__lost(p->ch)) return ferry__seg_lost(p->ch);
  return 0;
}

/* the common case inline; the error (which of the checks failed) out of line */
#define PUB_CHECK(p)                                                            \
  do {                                                                          \
    if (__builtin_expect(pub_bad(p) || ferry__lost((p)->ch), 0)) return ferry__pub_check(p); \
  } while (0)

FERRY_API int ferry_pub_open(ferry_channel *ch, uint32_t bp, int64_t timeout_ns, ferry_pub **out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  *out = NULL;
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  if (bp > FERRY_BP_DROP_OLDEST) return ferry__err(FERRY_E_INVAL, "unknown backpressure policy %u", bp);
  if (ferry__lost(ch)) return ferry__seg_lost(ch);
  if (!ch->arena_rw) {
    void *m = mmap(NULL, ch->arena_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ch->fd,
                   (off_t)ch->arena_off);
    if (m == MAP_FAILED) return ferry__errno(0, "mmap(arena, read-write)");
    ch->arena_rw = m;
  }
  ferry_pub *p = calloc(1, sizeof *p);
  if (!p) return ferry__err(FERRY_E_NOMEM, "out of memory");
  int r = ferry__chan_lock_for(ch, timeout_ns, NULL);
  if (r) {
    free(p);
    return r;
  }
  uint32_t unused;
  r = ferry__member_join(ch, PART_PUB, NULL, &p->part, &unused);
  ferry__chan_unlock(ch);
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
  if (p->on_close) p->on_close(p); /* engine sends in flight end first (their loans are below) */
  if (ferry__chan_lock(ch) == 0) {
    ferry__member_leave(ch, p->part, PART_PUB);
    ferry__chan_unlock(ch);
  }
  ferry__channel_put(ch);
  ferry__lease_put(p->stage_lease); /* unmapped once JS views of it are gone too */
  free(p);
  return 0;
}

FERRY_API ferry_msg_info *ferry_pub_info(ferry_pub *p) { return p ? &p->info : NULL; }

FERRY_API uint64_t ferry_pub_arena(ferry_pub *p) {
  return pub_bad(p) ? 0 : (uint64_t)(uintptr_t)p->ch->arena_rw;
}

static inline uint64_t grans(const ferry_channel *ch, uint64_t bytes) {
  return (bytes + ch->granule - 1) >> ch->gshift; /* granule is a power of two */
}

/*
 * A message whose payload and header granules together exceed the arena can
 * never be published, whatever the readers do: fail at once with
 * FERRY_E_TOOBIG instead of waiting out the timeout (every policy).
 */
static __attribute__((noinline, cold)) int never_fits(ferry_channel *ch, uint64_t len, uint32_t hdr_len) {
  if (len > ch->arena_size)
    return ferry__err(FERRY_E_TOOBIG, "message of %llu bytes exceeds the arena of %llu bytes",
                      (unsigned long long)len, (unsigned long long)ch->arena_size);
  return ferry__err(FERRY_E_TOOBIG,
                    "message of %llu bytes + header of %u bytes needs %llu granules of %llu bytes; the arena has "
                    "%llu: it can never fit",
                    (unsigned long long)len, hdr_len, (unsigned long long)(grans(ch, len) + grans(ch, hdr_len)),
                    (unsigned long long)ch->granule, (unsigned long long)ch->nbits);
}

FERRY__HOT int ferry__pub_fits(ferry_pub *p, uint64_t len, uint32_t hdr_len) {
  ferry_channel *ch = p->ch;
  if (__builtin_expect(len <= ch->arena_size && grans(ch, len) + grans(ch, hdr_len) <= ch->nbits, 1)) return 0;
  return never_fits(ch, len, hdr_len);
}

static bool orphan_check_due(ferry_channel *ch) {
  uint64_t now = ferry__now_ns();
  if (now - ch->last_orphan_ns < (uint64_t)FERRY__SLICE_NS) return false;
  ch->last_orphan_ns = now;
  return true;
}

/* Try to get `n` granules (n may be 0) and, if `ring`, a free descriptor (lock held). */
static int try_space(ferry_pub *p, uint64_t n, bool ring, int64_t *gran) {
  ferry_channel *ch = p->ch;
  struct ferry_ctrl *c = ch->ctrl;
  uint32_t trims = 0;
  bool pins_tried = false;
  for (int round = 0;; round++) {
    /* A publish that needs no arena space reclaims only when the ring is
     * full: reading released descriptors costs a cache miss each, and a
     * loan (which wants the just-released, cache-warm space) reclaims anyway. */
    if (round > 0 || !ring || n > 0 || c->tail - c->head >= ch->ring_slots) ferry__ring_reclaim(ch, round > 0);
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
    if (round == 1 && orphan_check_due(ch)) {
      /* full: before blaming the readers, reap the dead and drop references a
       * reader killed inside claim or release left behind (at most once a slice) */
      ferry__reap_locked(ch);
      ferry__orphans_fix(ch);
      continue;
    }
    /* history never makes a publisher wait: free the oldest message only the history holds
     * (the one at the head when a ring slot is missing), under every policy; bounded, as
     * each trim clears a flag only a publish sets */
    if (!pins_tried && FERRY__COUNT_GET(c->pins_used)) { /* pins past their TTL go before anyone waits or fails */
      pins_tried = true;
      ferry__ring_pin_expire(ch, ferry__now_ns(), UINT32_MAX);
      continue;
    }
    if (ch->history && trims < ch->ring_slots && ferry__ring_hist_trim(ch, !ring_ok)) {
      trims++;
      continue;
    }
    if (p->bp != FERRY_BP_DROP_OLDEST || !ferry__ring_drop_oldest(ch)) return FERRY_E_FULL;
  }
}

struct space_arg {
  ferry_pub *p;
  uint64_t n;
  bool ring;
  int64_t *gran;
  uint64_t deadline; /* of the whole call (ferry__now_ns clock); 0: none */
};

/* What is left of the call's time for one lock wait (< 0: no bound of its own). */
static int64_t lock_budget(uint64_t deadline) {
  if (!deadline) return -1;
  uint64_t now = ferry__now_ns();
  return now >= deadline ? 0 : (int64_t)(deadline - now);
}

/* ready() of the space wait: 1 with the lock held when the space is there. */
static int space_ready(void *a) {
  struct space_arg *sa = a;
  int r = ferry__chan_lock_for(sa->p->ch, lock_budget(sa->deadline), NULL);
  if (r) return r;
  if (try_space(sa->p, sa->n, sa->ring, sa->gran) == 0) return 1;
  ferry__chan_unlock(sa->p->ch);
  return 0;
}

/*
 * Get space according to the backpressure policy. On success the lock is
 * held. "error" fails at once; "block" and "drop-oldest" (once nothing
 * unclaimed is left to drop) wait: they sleep on the release word and reap
 * dead subscribers every slice, so a crashed reader cannot wedge the publisher.
 * The publisher's timeout bounds the whole call, lock waits included (each
 * lock wait gets what is left of it, at least FERRY__LOCK_GRACE_NS, at most 5 s).
 */
static int acquire(ferry_pub *p, uint64_t n, bool ring, int64_t *gran) {
  ferry_channel *ch = p->ch;
  struct ferry_ctrl *c = ch->ctrl;
  uint64_t waited = 0;
  int r = ferry__chan_lock_for(ch, p->timeout_ns, &waited);
  if (r) return r;
  if (try_space(p, n, ring, gran) == 0) return 0; /* fast path: no shared word besides the lock */
  ferry__chan_unlock(ch);
  if (p->bp == FERRY_BP_ERROR)
    return ferry__err(FERRY_E_FULL, "channel \"%s\" is full (%s)", ch->name,
                      n > ch->nbits ? "message larger than the arena" : "ring or arena");
  uint64_t start = ferry__now_ns() - waited; /* the call began before its lock wait */
  int64_t left = p->timeout_ns < 0 ? -1 : p->timeout_ns - (int64_t)waited;
  if (p->timeout_ns >= 0 && left <= 0)
    return ferry__err(FERRY_E_TIMEOUT, "no space in channel \"%s\" within %lld ms", ch->name,
                      (long long)(p->timeout_ns / 1000000));
  struct space_arg sa = {.p = p, .n = n, .ring = ring, .gran = gran,
                         .deadline = p->timeout_ns >= 0 ? start + (uint64_t)p->timeout_ns : 0};
  struct ferry__reaper reaper = {.ch = ch, .last_ns = start};
  struct ferry__wait w = {.ready = space_ready,
                          .arg = &sa,
                          .word = &c->rel_futex,
                          .waiters = &c->space_waiters,
                          .slice = ferry__reap_slice,
                          .slice_arg = &reaper};
  r = ferry__wait_run(&w, FERRY_WAIT_BLOCK, left, NULL);
  if (r == FERRY_E_TIMEOUT)
    return ferry__err(r, "no space in channel \"%s\" within %lld ms", ch->name, (long long)(p->timeout_ns / 1000000));
  return r;
}

/*
 * acquire() for a caller that must never wait (an engine's thread publishing a
 * finished offload, send.c): the lock if free at once and the space if there
 * at once (try_space: reclaim, reap, drop-oldest as the policy says), else 1
 * and nothing held, no error detail set; the caller leaves the publish to the
 * publisher's own thread, which waits as the policy says.
 */
static int acquire_now(ferry_pub *p, uint64_t n, int64_t *gran) {
  ferry_channel *ch = p->ch;
  if (!ferry__lock_fast(&ch->ctrl->lock)) return 1;
  if (try_space(p, n, true, gran) == 0) return 0;
  ferry__chan_unlock(ch);
  return 1;
}

/* A free loan record. An engine's thread may free one meanwhile (ferry__publish_now): its release store
 * pairs with this acquire load, so the caller's writes to the record come after the engine's last read. */
FERRY__HOT static int held_slot(const ferry_pub *p) {
  if (p->nheld - atomic_load_explicit(&p->nfreed, memory_order_relaxed) >= FERRY_MAX_HELD) return -1;
  for (int h = 0; h < FERRY_MAX_HELD; h++)
    if (!__atomic_load_n(&p->held[h].used, __ATOMIC_ACQUIRE)) return h;
  return -1;
}

FERRY__HOT FERRY_API int ferry_pub_loan(ferry_pub *p, uint64_t size, ferry_msg_info *info) {
  PUB_CHECK(p);
  if (p->inline_max && size <= p->inline_max && !p->pin_acks) return loan_inline(p, size, info);
  return ferry__pub_loan(p, size, info);
}

FERRY__HOT int ferry__pub_loan(ferry_pub *p, uint64_t size, ferry_msg_info *info) {
  if (!info) info = &p->info;
  ferry_channel *ch = p->ch;
  int r = ferry__pub_fits(p, size, 0);
  if (r) return r;
  int h = held_slot(p);
  if (h < 0) return ferry__err(FERRY_E_LIMIT, "more than %d loans outstanding", FERRY_MAX_HELD);
  uint64_t n = grans(ch, size);
  int64_t g;
  r = acquire(p, n, false, &g);
  if (r) return r;
  struct ferry_held rec = {.a = (uint64_t)g, .len = size, .b = (uint32_t)n, .used = 1};
  p->held[h] = rec;
  p->nheld++;
  ch->parts[p->part].held[h] = rec; /* for the reaper, should we crash */
  ferry__chan_unlock(ch);
  info->seq = 0;
  info->offset = (uint64_t)g * ch->granule;
  info->length = size;
  info->hdr_offset = 0;
  info->hdr_length = 0;
  info->token = (uint32_t)h;
  info->dropped = 0;
  info->flags = 0;
  info->data = (uint64_t)(uintptr_t)(ch->arena_rw + info->offset);
  return 0;
}

/* ---------------------------------------------------------------- inline messages (v8) */

#define STAGE_BYTES ((uint64_t)FERRY_MAX_HELD * FERRY_INLINE_MAX)

static int stage_map(ferry_pub *p) {
  if (p->stage) return 0;
  void *m = mmap(NULL, STAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) return ferry__errno(0, "mmap(inline staging)");
  struct ferry__lease *l = ferry__lease_new(m, STAGE_BYTES);
  if (!l) {
    munmap(m, STAGE_BYTES);
    return ferry__err(FERRY_E_NOMEM, "out of memory");
  }
  p->stage = m;
  p->stage_lease = l;
  return 0;
}

FERRY_API int ferry_pub_inline(ferry_pub *p, uint32_t limit) {
  PUB_CHECK(p);
  if (limit > FERRY_INLINE_MAX) return ferry__err(FERRY_E_INVAL, "inline limit %u exceeds %d bytes", limit, FERRY_INLINE_MAX);
  if (limit) {
    int r = stage_map(p);
    if (r) return r;
  }
  p->inline_max = limit;
  return 0;
}

FERRY_API int ferry_pub_stage_lend(ferry_pub *p, uint64_t *out) {
  PUB_CHECK(p);
  if (!out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  int r = stage_map(p);
  if (r) return r;
  ferry__lease_get(p->stage_lease);
  out[0] = (uint64_t)(uintptr_t)p->stage;
  out[1] = STAGE_BYTES;
  out[2] = (uint64_t)(uintptr_t)p->stage_lease;
  return 0;
}

/* A loan of private staging memory: no lock, no shared write (nothing to give back after a crash). */
static int loan_inline(ferry_pub *p, uint64_t size, ferry_msg_info *info) {
  if (!info) info = &p->info;
  int h = held_slot(p);
  if (h < 0) return ferry__err(FERRY_E_LIMIT, "more than %d loans outstanding", FERRY_MAX_HELD);
  p->held[h] = (struct ferry_held){.a = 0, .len = size, .b = 0, .used = PUB_HELD_INLINE};
  p->nheld++;
  info->seq = 0;
  info->offset = (uint64_t)h * FERRY_INLINE_MAX;
  info->length = size;
  info->hdr_offset = 0;
  info->hdr_length = 0;
  info->token = (uint32_t)h;
  info->dropped = 0;
  info->flags = FERRY_MSG_INLINE;
  info->data = (uint64_t)(uintptr_t)(p->stage + info->offset);
  return 0;
}

/*
 * A ring slot, lock held on success. The common case inline: the lock free (one CAS) and a
 * slot free (tail - head read as try_space reads them); a full ring, a busy lock or a lost
 * segment go through acquire() (reclaim, backpressure, waits, repair).
 */
static inline int acquire_slot(ferry_pub *p) {
  ferry_channel *ch = p->ch;
  struct ferry_ctrl *c = ch->ctrl;
  if (__builtin_expect(!ferry__lost(ch), 1) && ferry__lock_fast(&c->lock)) {
    if (__builtin_expect(c->tail - c->head < ch->ring_slots, 1)) return 0;
    ferry__chan_unlock(ch);
  }
  int64_t g;
  return acquire(p, 0, true, &g);
}

static inline __attribute__((always_inline)) int publish_inline(ferry_pub *p, const void *data, uint64_t len,
                                                                 const void *hdr, uint32_t hdr_len, ferry_msg_info *info) {
  ferry_channel *ch = p->ch;
  int r = acquire_slot(p); /* a ring slot only */
  if (r) return r;
  uint64_t s = ferry__ring_publish_inline(ch, p->part, data, len, hdr, hdr_len);
  ch->parts[p->part].count++;
  ferry__chan_unlock(ch);
  ferry__wake_published(ch);
  if (!info) info = &p->info;
  info->seq = s;
  info->length = len;
  info->hdr_length = hdr_len;
  info->flags = FERRY_MSG_INLINE;
  return 0;
}

FERRY__HOT int ferry__publish_inline(ferry_pub *p, const void *data, uint64_t len, const void *hdr, uint32_t hdr_len,
                          ferry_msg_info *info) {
  return publish_inline(p, data, len, hdr, hdr_len, info);
}

static int loan_check(ferry_pub *p, uint32_t token) {
  if (token >= FERRY_MAX_HELD || !p->held[token].used)
    return ferry__err(FERRY_E_STATE, "loan %u was already published or returned", token);
  return 0;
}

FERRY_API int ferry_pub_unloan(ferry_pub *p, uint32_t token) {
  PUB_CHECK(p);
  return ferry__pub_unloan(p, token);
}

int ferry__pub_unloan(ferry_pub *p, uint32_t token) {
  int r = loan_check(p, token);
  if (r) return r;
  ferry_channel *ch = p->ch;
  if (p->held[token].used == PUB_HELD_INLINE) { /* private staging: nothing shared to give back */
    p->held[token].used = 0;
    p->nheld--;
    return 0;
  }
  if ((r = ferry__chan_lock_for(ch, p->timeout_ns, NULL))) return r;
  struct ferry_held hd = p->held[token];
  p->held[token].used = 0;
  p->nheld--;
  ch->parts[p->part].held[token].used = 0;
  if (hd.b) ferry__free(ch, hd.a, hd.b);
  ferry__chan_unlock(ch);
  return 0;
}

/*
 * ferry__publish's body, inline in ferry_pub_publish and ferry__publish_now too (one frame per
 * publish, not three). The callers check the handle. `now`: never wait (acquire_now), 1 if it would.
 */
static inline __attribute__((always_inline)) int publish(ferry_pub *p, uint32_t token, uint64_t len, const void *hdr,
                                                         uint32_t hdr_len, uint32_t eflags, ferry_msg_info *info,
                                                         bool now) {
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
  if (hd.used == PUB_HELD_INLINE) {
    const uint8_t *src = p->stage + (uint64_t)token * FERRY_INLINE_MAX;
    if (len + hdr_len <= p->inline_max && !p->pin_acks && !eflags) { /* no arena space: nothing to fit */
      if ((r = publish_inline(p, src, len, hdr, hdr_len, info))) return r; /* the loan stays */
      p->held[token].used = 0;
      p->nheld--;
      if (!info) info = &p->info;
      info->token = token;
      info->offset = (uint64_t)token * FERRY_INLINE_MAX;
      info->hdr_offset = 0;
      info->data = (uint64_t)(uintptr_t)src;
      return 0;
    }
    /* too big with its header, or pinned: through the arena (the staging slot is kept until it worked) */
    if ((r = ferry__pub_fits(p, len, hdr_len))) return r; /* the loan stays: unloan it or publish less */
    ferry_msg_info li;
    if ((r = ferry__pub_loan(p, len, &li))) return r;
    if (len) memcpy(ch->arena_rw + li.offset, src, len);
    if ((r = ferry__publish(p, li.token, len, hdr, hdr_len, eflags, info))) {
      ferry__pub_unloan(p, li.token);
      return r;
    }
    p->held[token].used = 0;
    p->nheld--;
    return 0;
  }
  if ((r = ferry__pub_fits(p, len, hdr_len))) return r; /* the loan stays: unloan it or publish less */
  uint64_t hn = grans(ch, hdr_len);
  uint64_t keep = grans(ch, len);
  int64_t hg;
  if ((r = now ? acquire_now(p, hn, &hg) : acquire(p, hn, true, &hg))) return r;
  /* lock held */
  if (hn) memcpy(ch->arena_rw + (uint64_t)hg * ch->granule, hdr, hdr_len);
  if (keep < hd.b) ferry__free(ch, hd.a + keep, hd.b - keep); /* return the unused tail */
  part->held[token].used = 0; /* loan record goes first: a crash below leaks nothing twice */
  __atomic_store_n(&p->held[token].used, 0, __ATOMIC_RELEASE); /* after the last read of it (held_slot) */
  if (now) atomic_fetch_add_explicit(&p->nfreed, 1, memory_order_relaxed); /* maybe an engine's thread: nheld is not its */
  else p->nheld--;
  struct ferry__ring_msg m = {.pay_gran = hd.a,
                               .pay_len = len,
                               .pay_ngran = (uint32_t)keep,
                               .hdr_gran = hn ? (uint32_t)hg : 0,
                               .hdr_ngran = (uint32_t)hn,
                               .hdr_len = hdr_len,
                               .publisher = p->part,
                               .flags = eflags};
  if (p->pin_acks) {
    m.flags |= ENT_PIN;
    m.pin_acks = p->pin_acks;
    m.pin_deadline = ferry__now_ns() + p->pin_ttl_ns;
  }
  uint64_t s = ferry__ring_publish(ch, &m);
  part->count++;
  ferry__chan_unlock(ch);
  ferry__wake_published(ch); /* no syscall when nobody sleeps */
  if (!info) info = &p->info;
  info->seq = s;
  info->offset = hd.a * ch->granule;
  info->length = len;
  info->hdr_offset = hn ? (uint64_t)hg * ch->granule : 0;
  info->hdr_length = hdr_len;
  info->token = token;
  info->flags = (eflags & ENT_PIPELINED) ? FERRY_MSG_PIPELINED : 0;
  info->data = (uint64_t)(uintptr_t)(ch->arena_rw + info->offset);
  return 0;
}

FERRY_API int ferry_pub_pin(ferry_pub *p, uint64_t ttl_ns, uint32_t acks) {
  PUB_CHECK(p);
  if (acks && (ttl_ns == 0 || ttl_ns > (1ull << 62)))
    return ferry__err(FERRY_E_INVAL, "pin TTL must be between 1 ns and 2^62 ns");
  if (acks && !FERRY__COUNT_GET(p->ch->ctrl->pins_used)) FERRY__COUNT_SET(p->ch->ctrl->pins_used, 1);
  p->pin_acks = acks;
  p->pin_ttl_ns = ttl_ns;
  return 0;
}

FERRY__HOT int ferry__publish(ferry_pub *p, uint32_t token, uint64_t len, const void *hdr, uint32_t hdr_len, uint32_t eflags,
                   ferry_msg_info *info) {
  PUB_CHECK(p);
  return publish(p, token, len, hdr, hdr_len, eflags, info, false);
}

int ferry__publish_now(ferry_pub *p, uint32_t token, uint64_t len, const void *hdr, uint32_t hdr_len,
                       ferry_msg_info *info) {
  if (ferry__lost(p->ch)) return 1; /* the publisher's thread reports it */
  return publish(p, token, len, hdr, hdr_len, 0, info, true);
}

FERRY__HOT FERRY_API int ferry_pub_publish(ferry_pub *p, uint32_t token, uint64_t len, const void *hdr, uint32_t hdr_len,
                                ferry_msg_info *info) {
  PUB_CHECK(p);
  return publish(p, token, len, hdr, hdr_len, 0, info, false);
}

