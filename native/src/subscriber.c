/*
 * subscriber.c — subscribers: open/close, receive (claim, validate), release,
 * pipelined progress, and the two ways an event loop learns of a message: a
 * native waiter thread with an eventfd (ferry_sub_notify_fd, used for
 * pipelined progress) and the direct-wake socket publishers write to
 * (ferry_sub_wake_fd, used for receiving). Every broadcast subscriber and
 * every group is a consumer with a cursor (shm/members.c); claiming and
 * releasing never take the channel lock (shm/ring.c).
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "shm/members.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "shm/wake.h"
#include "sys/error.h"
#include "sys/proc.h"
#include "sys/sys.h"
#include "sys/wait.h"
#include "sys/waiter.h"

/* A held message, as validated at claim time: never re-read from shared memory. */
struct sub_held {
  uint64_t seq;
  uint64_t len;
  uint32_t idx;
  bool used;
  bool pipelined;
  bool inl; /* an inline message: its bytes are in this subscriber's copy area, no reference held */
};

/* The inline copy area: one slot per held message, payload at 0 (64-byte aligned), header at 64. */
#define INL_SLOT (2u * FERRY_INLINE_MAX)
#define INL_BYTES ((uint64_t)FERRY_MAX_HELD * INL_SLOT)
#define INL_MAPS_NAME "ferry-inline"

struct ferry_sub {
  ferry_msg_info info; /* results when the caller passes info == NULL (FFI: read in place) */
  ferry_channel *ch;
  uint32_t part;
  uint32_t consumer;
  bool closed;
  uint32_t polls;              /* try_receive misses since the last liveness check */
  uint64_t hybrid_armed_ns;    /* receive_or_arm: when a hybrid call armed after its spin (0: none) */
  struct ferry__reaper reaper; /* the caller's thread only (the waiter thread keeps its own) */
  struct ferry_waiter *waiter;
  int wake_fd; /* direct-wake socket, or -1 */
  /* armed progress wait (ferry_sub_arm_progress), copied at arm time so the
   * waiter thread never reads the held table */
  _Atomic bool arm_progress;
  uint32_t arm_idx;
  uint64_t arm_seq, arm_len, arm_bytes;
  uint32_t nheld;
  struct sub_held held[FERRY_MAX_HELD];
  /* inline messages released by the caller but not yet given back (ferry_sub_release_later):
   * bit i = held record i; applied by the next call that needs a record (held_slot) */
  uint32_t rel_later[FERRY_MAX_HELD / 32];
  /* inline copies: written through inl_rw, lent to JS read-only through inl_ro (one memfd
   * mapped twice; without memfd, one private mapping for both) */
  uint8_t *inl_rw, *inl_ro;
  struct ferry__lease *inl_lease; /* on inl_ro */
  bool inl_guarded;
};

static inline bool sub_bad(ferry_sub *s) { return !s || s->closed || s->ch->closed; }

#define SUB_CHECK(s)                                                                       \
  do {                                                                                     \
    if (!(s)) return ferry__err(FERRY_E_INVAL, "subscriber is NULL");                      \
    if (sub_bad(s)) return ferry__err(FERRY_E_CLOSED, "subscriber or channel is closed");  \
    if (ferry__lost((s)->ch)) return ferry__seg_lost((s)->ch);                                    \
  } while (0)
/* receiving needs a cursor: a pin reader (ferry_sub_open_pins) has none */
#define SUB_CURSOR(s)                                                                                  \
  do {                                                                                                 \
    if ((s)->consumer >= FERRY_MAX_CONSUMERS)                                                          \
      return ferry__err(FERRY_E_STATE, "a pin reader does not receive: use ferry_sub_take_pin");       \
  } while (0)

/* The inline copy area: a memfd mapped read-write (for the copy) and read-only (for views). */
static int inl_map(ferry_sub *s) {
  int fd = memfd_create(INL_MAPS_NAME, MFD_CLOEXEC);
  void *rw = MAP_FAILED, *ro = MAP_FAILED;
  if (fd >= 0 && ftruncate(fd, (off_t)INL_BYTES) == 0) {
    rw = mmap(NULL, INL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (rw != MAP_FAILED) ro = mmap(NULL, INL_BYTES, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  }
  if (fd >= 0) close(fd);
  if (ro == MAP_FAILED) { /* no memfd here: one private mapping, writable by the views (nobody else sees it) */
    if (rw != MAP_FAILED) munmap(rw, INL_BYTES);
    rw = ro = mmap(NULL, INL_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (rw == MAP_FAILED) return ferry__errno(0, "mmap(inline copies)");
  }
  struct ferry__lease *l = ferry__lease_new(ro, INL_BYTES);
  if (!l) {
    if (rw != ro) munmap(rw, INL_BYTES);
    munmap(ro, INL_BYTES);
    return ferry__err(FERRY_E_NOMEM, "out of memory");
  }
  s->inl_rw = rw;
  s->inl_ro = ro;
  s->inl_lease = l;
  return 0;
}

static void inl_unmap(ferry_sub *s) {
  if (s->inl_rw && s->inl_rw != s->inl_ro) munmap(s->inl_rw, INL_BYTES);
  ferry__lease_put(s->inl_lease); /* the read-only view goes with the last JS view of it */
  s->inl_rw = s->inl_ro = NULL;
  s->inl_lease = NULL;
}

FERRY_API int ferry_sub_inline_lend(ferry_sub *s, uint64_t *out) {
  SUB_CHECK(s);
  if (!out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (!s->inl_guarded && s->inl_ro != s->inl_rw) {
    int r = ferry__fault_guard_range(s->inl_ro, INL_BYTES, s->ch->name, "/memfd:" INL_MAPS_NAME);
    if (r) return r;
    s->inl_guarded = true;
  }
  ferry__lease_get(s->inl_lease);
  out[0] = (uint64_t)(uintptr_t)s->inl_ro;
  out[1] = INL_BYTES;
  out[2] = (uint64_t)(uintptr_t)s->inl_lease;
  return 0;
}

/* group NULL: a pin reader (no consumer cursor) */
static int sub_open(ferry_channel *ch, const char *group, ferry_sub **out) {
  ferry_sub *s = calloc(1, sizeof *s);
  if (!s) return ferry__err(FERRY_E_NOMEM, "out of memory");
  int r = group ? inl_map(s) : 0; /* a pin reader never receives inline messages */
  if (r) {
    free(s);
    return r;
  }
  r = ferry__chan_lock(ch);
  if (r) {
    inl_unmap(s);
    free(s);
    return r;
  }
  r = ferry__member_join(ch, PART_SUB, group, &s->part, &s->consumer);
  ferry__chan_unlock(ch);
  if (r) {
    inl_unmap(s);
    free(s);
    return r;
  }
  s->ch = ch;
  s->wake_fd = -1;
  s->reaper = (struct ferry__reaper){.ch = ch, .last_ns = ferry__now_ns()};
  ch->users++;
  *out = s;
  return 0;
}

FERRY_API int ferry_sub_open(ferry_channel *ch, const char *group, ferry_sub **out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  *out = NULL;
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  if (!group) group = "";
  if (strnlen(group, FERRY_GROUP_MAX + 1) > FERRY_GROUP_MAX)
    return ferry__err(FERRY_E_INVAL, "group name longer than %d bytes", FERRY_GROUP_MAX);
  return sub_open(ch, group, out);
}

FERRY_API int ferry_sub_open_pins(ferry_channel *ch, ferry_sub **out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  *out = NULL;
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  return sub_open(ch, NULL, out);
}

FERRY_API int ferry_sub_close(ferry_sub *s) {
  if (!s) return ferry__err(FERRY_E_INVAL, "subscriber is NULL");
  if (s->closed) return 0;
  s->closed = true;
  ferry_channel *ch = s->ch;
  if (s->waiter) {
    atomic_store(&s->waiter->stop, true);
    ferry__futex_wake(&ch->ctrl->pub_futex); /* cut its wait short */
    ferry__waiter_stop(s->waiter);
  }
  if (s->wake_fd >= 0) {
    ferry__wake_disarm(ch, &ch->parts[s->part]);
    close(s->wake_fd);
  }
  if (ferry__chan_lock(ch) == 0) {
    ferry__member_leave(ch, s->part, PART_SUB);
    ferry__chan_unlock(ch);
  }
  ferry__channel_put(ch);
  inl_unmap(s);
  free(s);
  return 0;
}

FERRY_API ferry_msg_info *ferry_sub_info(ferry_sub *s) { return s ? &s->info : NULL; }

FERRY_API uint32_t *ferry_sub_release_later(ferry_sub *s) { return s ? s->rel_later : NULL; }

/* End of stream: publishers existed and none is left (after draining). */
/* Every publisher that ever was is gone (then: an acquire fence, so what they published is visible). */
FERRY__HOT static bool all_gone(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  if (!FERRY__COUNT_GET(c->pubs_ever) || FERRY__COUNT_GET(c->pubs_live)) return false;
  atomic_thread_fence(memory_order_acquire);
  return true;
}

static int eos(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  return FERRY__COUNT_GET(c->pubs_crashed) ? ferry__err(FERRY_E_PEERDEAD, "every publisher of \"%s\" is gone; one crashed", ch->name)
                         : ferry__err(FERRY_E_EOF, "every publisher of \"%s\" closed", ch->name);
}

/* Something to claim, or the end of the stream. */
FERRY__HOT static bool receivable(ferry_sub *s) {
  ferry_channel *ch = s->ch;
  if (ferry__ring_ready(ch, &ch->cons[s->consumer])) return true;
  struct ferry_ctrl *c = ch->ctrl;
  return FERRY__COUNT_GET(c->pubs_ever) && !FERRY__COUNT_GET(c->pubs_live);
}

/* Give back the inline messages marked in rel_later. Only records that hold an
 * inline message are freed; any other bit is a caller bug and is dropped. */
_Static_assert(FERRY_MAX_HELD % 32 == 0, "rel_later covers every held record");
static void held_flush(ferry_sub *s) {
  for (uint32_t w = 0; w < FERRY_MAX_HELD / 32; w++) {
    uint32_t bits = s->rel_later[w];
    if (!bits) continue;
    s->rel_later[w] = 0;
    while (bits) {
      uint32_t i = w * 32 + (uint32_t)__builtin_ctz(bits);
      bits &= bits - 1;
      if (s->held[i].used && s->held[i].inl) {
        s->held[i].used = false;
        s->nheld--;
      }
    }
  }
}

/* A free held-message record: its index, FERRY_E_LIMIT when this subscriber holds the most it may, or FERRY_E_CORRUPT. */
FERRY__HOT static int held_slot(ferry_sub *s) {
  held_flush(s);
  if (s->nheld >= FERRY_MAX_HELD)
    return ferry__err(FERRY_E_LIMIT, "more than %d messages held: release some", FERRY_MAX_HELD);
  for (int i = 0; i < FERRY_MAX_HELD; i++)
    if (!s->held[i].used) return i;
  return ferry__err(FERRY_E_CORRUPT, "held-message table is corrupt");
}

/* ferry_sub_try_receive; `reap`: a poll's periodic reap (off for FERRY_ARM_NO_REAP callers). */
FERRY__HOT static int try_receive(ferry_sub *s, ferry_msg_info *info, bool reap) {
  SUB_CHECK(s);
  SUB_CURSOR(s);
  if (!info) info = &s->info;
  ferry_channel *ch = s->ch;
  struct ferry_part *part = &ch->parts[s->part];
  int h = held_slot(s);
  if (h < 0) return h;
  uint8_t *slot = s->inl_rw + (uint64_t)h * INL_SLOT;
  struct ferry__claim c;
  struct ferry_entry *e;
  int cr = ferry__ring_claim(ch, &ch->cons[s->consumer], &part->pending, &c, &e, slot);
  if (cr == FERRY_E_AGAIN) {
    /* a poll-only subscriber must still notice dead publishers: look at the
     * clock every 16 misses, reap at most every FERRY__SLICE_NS */
    if ((++s->polls & 15) == 0 && reap) ferry__reap_if_due(&s->reaper);
    if (!all_gone(ch)) return FERRY_E_AGAIN;
    /* The end only if nothing is left: the miss above may predate the last
     * publisher's final messages and its close, so look once more now that
     * its close (and so everything it published) is visible. */
    if ((cr = ferry__ring_claim(ch, &ch->cons[s->consumer], &part->pending, &c, &e, slot)) == FERRY_E_AGAIN)
      return eos(ch);
  }
  if (cr < 0) return cr; /* a hostile inline descriptor: skipped */
  if (cr == 1) { /* inline: copied out, no reference held, nothing shared to record */
    part->count++;
    s->held[h] = (struct sub_held){.seq = c.seq, .len = c.pay_len, .idx = c.idx, .used = true, .inl = true};
    s->nheld++;
    info->seq = c.seq;
    info->offset = (uint64_t)h * INL_SLOT;
    info->length = c.pay_len;
    info->hdr_offset = c.hdr_len ? info->offset + FERRY_INLINE_MAX : 0;
    info->hdr_length = c.hdr_len;
    info->token = (uint32_t)h;
    info->dropped = atomic_load_explicit(&ch->cons[s->consumer].dropped, memory_order_relaxed);
    info->status = 0;
    info->flags = FERRY_MSG_INLINE;
    info->data = (uint64_t)(uintptr_t)(s->inl_ro + info->offset);
    return 0;
  }
  /* claimed; part->pending marks it until the record below exists (a crash in between is repaired) */
  part->held[h] = (struct ferry_held){.a = c.seq, .b = c.idx, .used = 1}; /* for the reaper, should we crash */
  atomic_store_explicit(&part->pending, 0, memory_order_release);
  part->count++;
  if (ferry__ring_check(ch, &c)) { /* hostile input: give it back, hold nothing */
    atomic_store_explicit(&part->pending, c.seq + 1, memory_order_relaxed);
    __atomic_store_n(&part->held[h].used, 0, __ATOMIC_RELEASE);
    ferry__ring_unref(ch, e);
    atomic_store_explicit(&part->pending, 0, memory_order_release);
    return FERRY_E_CORRUPT;
  }
  s->held[h] = (struct sub_held){
      .seq = c.seq, .len = c.pay_len, .idx = c.idx, .used = true, .pipelined = (c.flags & ENT_PIPELINED) != 0};
  s->nheld++;
  info->seq = c.seq;
  info->offset = c.pay_off;
  info->length = c.pay_len;
  info->hdr_offset = c.hdr_off;
  info->hdr_length = c.hdr_len;
  info->token = (uint32_t)h;
  info->dropped = atomic_load_explicit(&ch->cons[s->consumer].dropped, memory_order_relaxed);
  info->status = 0;
  info->flags = (c.flags & ENT_PIPELINED) ? FERRY_MSG_PIPELINED : 0;
  info->data = (uint64_t)(uintptr_t)(ch->arena_ro + c.pay_off);
  return 0;
}

FERRY__HOT FERRY_API int ferry_sub_try_receive(ferry_sub *s, ferry_msg_info *info) { return try_receive(s, info, true); }

static int receivable_ready(void *s) { return receivable(s); }

/* Wait until something is receivable (or end of stream): 0, FERRY_E_TIMEOUT, FERRY_E_CLOSED. */
static int wait_receivable(ferry_sub *s, uint32_t wait, int64_t timeout_ns, _Atomic bool *stop,
                           struct ferry__reaper *reaper) {
  struct ferry_ctrl *c = s->ch->ctrl;
  struct ferry__wait w = {.ready = receivable_ready,
                          .arg = s,
                          .word = &c->pub_futex,
                          .waiters = &c->sub_waiters,
                          .slice = ferry__reap_slice,
                          .slice_arg = reaper};
  return ferry__wait_run(&w, wait, timeout_ns, stop);
}

FERRY__HOT FERRY_API int ferry_sub_receive(ferry_sub *s, ferry_msg_info *info, uint32_t wait, int64_t timeout_ns) {
  SUB_CHECK(s);
  SUB_CURSOR(s);
  if (wait > FERRY_WAIT_HYBRID) return ferry__err(FERRY_E_INVAL, "unknown wait strategy %u", wait);
  uint64_t start = 0;
  for (;;) {
    int r = ferry_sub_try_receive(s, info);
    if (r != FERRY_E_AGAIN) return r;
    int64_t left = -1;
    if (timeout_ns >= 0) {
      uint64_t now = ferry__now_ns();
      if (!start) start = now;
      left = timeout_ns - (int64_t)(now - start);
      if (left <= 0) return ferry__err(FERRY_E_TIMEOUT, "no message within %lld ms", (long long)(timeout_ns / 1000000));
    }
    r = wait_receivable(s, wait, left, NULL, &s->reaper);
    if (r && r != FERRY_E_TIMEOUT) return r;
  }
}

/* The held message `token` (a copy), or FERRY_E_STATE. */
static int held_entry(ferry_sub *s, uint32_t token, struct sub_held *out) {
  *out = (struct sub_held){0};
  if (token >= FERRY_MAX_HELD || !s->held[token].used)
    return ferry__err(FERRY_E_STATE, "message %u was already released", token);
  *out = s->held[token];
  return 0;
}

FERRY__HOT FERRY_API int ferry_sub_release(ferry_sub *s, uint32_t token) {
  SUB_CHECK(s);
  struct sub_held hd;
  if (token < FERRY_MAX_HELD) s->rel_later[token / 32] &= ~(1u << (token % 32)); /* released now, not later */
  int r = held_entry(s, token, &hd);
  if (r) return r;
  if (hd.inl) { /* a private copy: nothing shared to give back */
    s->held[token].used = false;
    s->nheld--;
    return 0;
  }
  struct ferry_part *part = &s->ch->parts[s->part];
  /* in flight from here until the reference is gone (a crash in between is repaired) */
  atomic_store_explicit(&part->pending, hd.seq + 1, memory_order_relaxed);
  s->held[token].used = false;
  s->nheld--;
  __atomic_store_n(&part->held[token].used, 0, __ATOMIC_RELEASE);
  r = ferry__ring_release(s->ch, hd.idx, hd.seq);
  atomic_store_explicit(&part->pending, 0, memory_order_release);
  return r;
}

/* ---------------------------------------------------------------- pins */

FERRY_API int ferry_sub_take_pin(ferry_sub *s, uint64_t seq, uint64_t generation, ferry_msg_info *info) {
  SUB_CHECK(s);
  if (s->consumer < FERRY_MAX_CONSUMERS) return ferry__err(FERRY_E_STATE, "not a pin reader: open one with ferry_sub_open_pins");
  if (!info) info = &s->info;
  ferry_channel *ch = s->ch;
  if (generation != ch->generation)
    return ferry__err(FERRY_E_VERSION, "channel \"%s\" is another generation than the reference's (it was made again)", ch->name);
  int h = held_slot(s);
  if (h < 0) return h;
  struct ferry_part *part = &ch->parts[s->part];
  struct ferry__claim c;
  uint32_t pubslot;
  int r = ferry__ring_pin_take(ch, seq, &part->pending, &c, &pubslot);
  if (r) return r;
  part->held[h] = (struct ferry_held){.a = c.seq, .b = c.idx, .used = 1}; /* for the reaper, should we crash */
  atomic_store_explicit(&part->pending, 0, memory_order_release);
  int bad = 0;
  /* its publisher must still be alive: a dead one's pins are given back (reaped at once when the lock is free) */
  if (pubslot >= FERRY_MAX_PARTICIPANTS) {
    bad = ferry__err(FERRY_E_CORRUPT, "pin of message %llu names participant %u", (unsigned long long)seq, pubslot);
  } else {
    struct ferry_part pp = ch->parts[pubslot];
    if (pp.kind != PART_PUB || !ferry__alive(pp.pid, pp.start)) {
      ferry__ring_pin_drop(ch, seq);
      ferry__reap_if_due(&s->reaper);
      bad = ferry__err(FERRY_E_PEERDEAD, "the publisher of message %llu on \"%s\" is gone (killed?): its pinned payload was reclaimed",
                       (unsigned long long)seq, ch->name);
    }
  }
  if (!bad && ferry__ring_check(ch, &c)) bad = FERRY_E_CORRUPT;
  if (bad) { /* give it back, hold nothing */
    char why[256];
    snprintf(why, sizeof why, "%s", ferry_last_error());
    atomic_store_explicit(&part->pending, c.seq + 1, memory_order_relaxed);
    __atomic_store_n(&part->held[h].used, 0, __ATOMIC_RELEASE);
    ferry__ring_release(ch, c.idx, c.seq);
    atomic_store_explicit(&part->pending, 0, memory_order_release);
    return ferry__err(bad, "%s", why);
  }
  part->count++;
  s->held[h] = (struct sub_held){.seq = c.seq, .len = c.pay_len, .idx = c.idx, .used = true, .pipelined = (c.flags & ENT_PIPELINED) != 0};
  s->nheld++;
  info->seq = c.seq;
  info->offset = c.pay_off;
  info->length = c.pay_len;
  info->hdr_offset = c.hdr_off;
  info->hdr_length = c.hdr_len;
  info->token = (uint32_t)h;
  info->dropped = 0;
  info->status = 0;
  info->flags = (c.flags & ENT_PIPELINED) ? FERRY_MSG_PIPELINED : 0;
  info->data = (uint64_t)(uintptr_t)(ch->arena_ro + c.pay_off);
  return 0;
}

FERRY_API int ferry_sub_pin_ack(ferry_sub *s, uint32_t token) {
  SUB_CHECK(s);
  struct sub_held hd;
  int r = held_entry(s, token, &hd);
  if (r) return r;
  ferry__ring_pin_ack(s->ch, hd.idx, hd.seq); /* our own reference still holds the slot */
  return ferry_sub_release(s, token);
}

/* ---------------------------------------------------------------- pipelined progress */

FERRY_API int64_t ferry_sub_progress(ferry_sub *s, uint32_t token) {
  SUB_CHECK(s);
  struct sub_held hd;
  int r = held_entry(s, token, &hd);
  if (r) return r;
  if (!hd.pipelined) return (int64_t)hd.len;
  return ferry__ring_progress(s->ch, hd.idx, hd.seq, hd.len);
}

FERRY_API int64_t ferry_sub_wait_progress(ferry_sub *s, uint32_t token, uint64_t bytes, uint32_t wait,
                                          int64_t timeout_ns) {
  SUB_CHECK(s);
  if (wait > FERRY_WAIT_HYBRID) return ferry__err(FERRY_E_INVAL, "unknown wait strategy %u", wait);
  struct sub_held hd;
  int r = held_entry(s, token, &hd);
  if (r) return r;
  if (!hd.pipelined) return (int64_t)hd.len;
  int64_t p = ferry__ring_progress_wait(s->ch, hd.idx, hd.seq, hd.len, bytes, wait, timeout_ns, NULL,
                                        ferry__reap_slice, &s->reaper);
  if (p == FERRY_E_TIMEOUT) return ferry__err(FERRY_E_TIMEOUT, "payload not ready within %lld ms", (long long)(timeout_ns / 1000000));
  if (p < 0 && p != FERRY_E_CORRUPT) return ferry__err((int)p, "the publisher's copy of this message failed (%s)", ferry_err_name((int)p));
  return p;
}

/* ---------------------------------------------------------------- event-loop integration */

/* The waiter thread's wait: the armed progress target, else a message to claim or end of stream. */
static int sub_wait(void *arg, uint32_t wait, _Atomic bool *stop) {
  ferry_sub *s = arg;
  struct ferry__reaper reaper = {.ch = s->ch, .last_ns = ferry__now_ns()}; /* this thread's own clock */
  if (atomic_load(&s->arm_progress)) {
    atomic_store(&s->arm_progress, false);
    int64_t r = ferry__ring_progress_wait(s->ch, s->arm_idx, s->arm_seq, s->arm_len, s->arm_bytes, wait, -1, stop,
                                          ferry__reap_slice, &reaper);
    return r == FERRY_E_CLOSED ? FERRY_E_CLOSED : 0;
  }
  return wait_receivable(s, wait, -1, stop, &reaper);
}

FERRY_API int ferry_sub_notify_fd(ferry_sub *s, uint32_t wait) {
  SUB_CHECK(s);
  SUB_CURSOR(s);
  return ferry__waiter_start(&s->waiter, wait, sub_wait, s);
}

FERRY_API int ferry_sub_arm(ferry_sub *s) {
  if (!s || !s->waiter) return ferry__err(FERRY_E_STATE, "no notify fd: call ferry_sub_notify_fd first");
  SUB_CHECK(s);
  return ferry__waiter_arm(s->waiter);
}

FERRY_API int ferry_sub_arm_progress(ferry_sub *s, uint32_t token, uint64_t bytes) {
  if (!s || !s->waiter) return ferry__err(FERRY_E_STATE, "no notify fd: call ferry_sub_notify_fd first");
  SUB_CHECK(s);
  struct sub_held hd;
  int r = held_entry(s, token, &hd);
  if (r) return r;
  s->arm_idx = hd.idx;
  s->arm_seq = hd.seq;
  s->arm_len = hd.pipelined ? hd.len : 0; /* a complete message: the wait ends at once */
  s->arm_bytes = bytes;
  atomic_store(&s->arm_progress, true);
  return ferry__waiter_arm(s->waiter);
}

FERRY_API int ferry_sub_wake_fd(ferry_sub *s) {
  SUB_CHECK(s);
  SUB_CURSOR(s);
  if (s->wake_fd >= 0) return s->wake_fd;
  int fd = ferry__wake_bind(s->ch, s->part);
  if (fd >= 0) s->wake_fd = fd;
  return fd;
}

FERRY_API int ferry_sub_reap(ferry_sub *s) {
  SUB_CHECK(s);
  int r = ferry__reap_if_due(&s->reaper);
  return r < 0 ? r : 0;
}

static int arm_wake(ferry_sub *s, bool reap);

FERRY__HOT FERRY_API int ferry_sub_receive_or_arm(ferry_sub *s, ferry_msg_info *info, uint32_t wait) {
  SUB_CHECK(s);
  SUB_CURSOR(s);
  bool reap = !(wait & FERRY_ARM_NO_REAP);
  wait &= ~FERRY_ARM_NO_REAP;
  if (wait != FERRY_WAIT_BLOCK && wait != FERRY_WAIT_HYBRID)
    return ferry__err(FERRY_E_INVAL, "receive_or_arm: wait must be block or hybrid, not %u", wait);
  int r = try_receive(s, info, reap);
  if (r == FERRY_E_AGAIN && wait == FERRY_WAIT_HYBRID) {
    /* hybrid's adaptive spin here, its sleep in the caller's event loop */
    s->hybrid_armed_ns = 0;
    r = wait_receivable(s, FERRY__WAIT_HYBRID_SPIN, -1, NULL, &s->reaper);
    if (r && r != FERRY_E_TIMEOUT) return r;
    r = try_receive(s, info, reap);
    if (r == FERRY_E_AGAIN) s->hybrid_armed_ns = ferry__now_ns();
  }
  if (r != FERRY_E_AGAIN) {
    if (r == 0 && s->hybrid_armed_ns) { /* the end of a hybrid wait that slept: tune the spin */
      ferry__wait_learn((int64_t)(ferry__now_ns() - s->hybrid_armed_ns));
      s->hybrid_armed_ns = 0;
    }
    return r;
  }
  /* arm == 1: something became receivable after the miss; a group member may
   * take it first, so retry a bounded number of times */
  for (int tries = 0; tries < 64; tries++) {
    r = arm_wake(s, reap);
    if (r <= 0) return r < 0 ? r : 1;
    r = try_receive(s, info, reap);
    if (r != FERRY_E_AGAIN) return r;
  }
  return FERRY_E_AGAIN;
}

FERRY_API int ferry_sub_wake_socket(ferry_sub *s) {
  int fd = ferry_sub_wake_fd(s);
  if (fd < 0) return fd;
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return dup >= 0 ? dup : ferry__errno(0, "dup(wake socket)");
}

FERRY_API int ferry_sub_arm_wake(ferry_sub *s) { return arm_wake(s, true); }

/* ferry_sub_arm_wake; `reap`: the periodic reap first (off for FERRY_ARM_NO_REAP callers). */
FERRY__HOT static int arm_wake(ferry_sub *s, bool reap) {
  SUB_CHECK(s);
  SUB_CURSOR(s);
  if (s->wake_fd < 0) return ferry__err(FERRY_E_STATE, "no wake fd: call ferry_sub_wake_fd first");
  ferry_channel *ch = s->ch;
  if (reap) ferry__reap_if_due(&s->reaper);
  struct ferry_part *part = &ch->parts[s->part];
  ferry__wake_arm(ch, part);
  /* armed and counted before this check, so a publish after it sees us (both seq_cst) */
  if (receivable(s)) {
    ferry__wake_disarm(ch, part);
    return 1;
  }
  return 0;
}
