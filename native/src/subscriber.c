/*
 * subscriber.c — claim, validate and release messages; broadcast and groups.
 *
 * Every broadcast subscriber and every group is a "consumer" with a cursor.
 * Claiming message s is a CAS of the cursor s -> s+1: members of a group race
 * for it (each message goes to exactly one), and a drop-oldest publisher
 * races the same way. Receiving and releasing never take the channel lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

static inline bool sub_bad(ferry_sub *s) { return !s || s->closed || s->ch->closed; }

#define SUB_CHECK(s)                                                                       \
  do {                                                                                     \
    if (!(s)) return ferry__err(FERRY_E_INVAL, "subscriber is NULL");                      \
    if (sub_bad(s)) return ferry__err(FERRY_E_CLOSED, "subscriber or channel is closed");  \
  } while (0)

FERRY_API int ferry_sub_open(ferry_channel *ch, const char *group, ferry_sub **out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  *out = NULL;
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  if (!group) group = "";
  size_t gl = strnlen(group, FERRY_GROUP_MAX + 1);
  if (gl > FERRY_GROUP_MAX) return ferry__err(FERRY_E_INVAL, "group name longer than %d bytes", FERRY_GROUP_MAX);
  ferry_sub *s = calloc(1, sizeof *s);
  if (!s) return ferry__err(FERRY_E_NOMEM, "out of memory");
  int r = ferry__lock(ch);
  if (r) {
    free(s);
    return r;
  }
  struct ferry_ctrl *c = ch->ctrl;
  uint32_t ci = FERRY_MAX_CONSUMERS, free_ci = FERRY_MAX_CONSUMERS;
  for (uint32_t k = 0; k < FERRY_MAX_CONSUMERS; k++) {
    struct ferry_consumer *kc = &ch->cons[k];
    if (kc->state != CONS_ACTIVE) {
      if (free_ci == FERRY_MAX_CONSUMERS) free_ci = k;
    } else if (gl && strncmp(kc->group, group, sizeof kc->group) == 0) {
      ci = k;
      break;
    }
  }
  if (ci == FERRY_MAX_CONSUMERS && free_ci == FERRY_MAX_CONSUMERS) {
    ferry__unlock(ch);
    free(s);
    return ferry__err(FERRY_E_LIMIT, "channel \"%s\" has %d subscribers/groups already", ch->name,
                      FERRY_MAX_CONSUMERS);
  }
  r = ferry__part_join(ch, PART_SUB, &s->part);
  if (r) {
    ferry__unlock(ch);
    free(s);
    return r;
  }
  if (ci == FERRY_MAX_CONSUMERS) { /* a new consumer starts at the tail: it sees what comes next */
    ci = free_ci;
    struct ferry_consumer *kc = &ch->cons[ci];
    memset(kc->group, 0, sizeof kc->group);
    memcpy(kc->group, group, gl);
    atomic_store(&kc->cursor, c->tail);
    atomic_store(&kc->dropped, 0);
    kc->members = 1;
    kc->state = CONS_ACTIVE;
    c->n_consumers_active++;
  } else {
    ch->cons[ci].members++;
  }
  ch->parts[s->part].consumer = ci;
  c->subs_live++;
  ferry__unlock(ch);
  s->ch = ch;
  s->consumer = ci;
  s->wake_fd = -1;
  s->last_reap = ferry__now_ns();
  ch->users++;
  *out = s;
  return 0;
}

FERRY_API int ferry_sub_close(ferry_sub *s) {
  if (!s) return ferry__err(FERRY_E_INVAL, "subscriber is NULL");
  if (s->closed) return 0;
  s->closed = true;
  if (s->waiter) {
    atomic_store(&s->waiter->stop, true);
    ferry__futex_wake(&s->ch->ctrl->pub_futex); /* cut its wait short */
    ferry__waiter_stop(s->waiter);
  }
  ferry_channel *ch = s->ch;
  if (s->wake_fd >= 0) {
    ferry__wake_disarm(ch, &ch->parts[s->part]);
    close(s->wake_fd);
  }
  if (ferry__lock(ch) == 0) {
    struct ferry_part *part = &ch->parts[s->part];
    if (part->kind == PART_SUB && part->pid == (uint32_t)getpid()) ferry__part_reclaim(ch, s->part, false);
    ferry__reclaim(ch, true);
    ferry__unlock(ch);
  }
  ferry__channel_put(ch);
  free(s);
  return 0;
}

/* End of stream: publishers existed and none is left (after draining). */
static int eos(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  if (!c->pubs_ever || c->pubs_live) return 0;
  return c->pubs_crashed ? ferry__err(FERRY_E_PEERDEAD, "every publisher of \"%s\" is gone; one crashed", ch->name)
                         : ferry__err(FERRY_E_EOF, "every publisher of \"%s\" closed", ch->name);
}

bool ferry__receivable(ferry_sub *s) {
  ferry_channel *ch = s->ch;
  uint64_t cur = atomic_load_explicit(&ch->cons[s->consumer].cursor, memory_order_acquire);
  struct ferry_entry *e = &ch->ring[cur & ch->ring_mask];
  if (atomic_load_explicit(&e->seq, memory_order_acquire) == cur + 1) return true;
  struct ferry_ctrl *c = ch->ctrl;
  return c->pubs_ever && !c->pubs_live;
}

FERRY_API ferry_msg_info *ferry_sub_info(ferry_sub *s) { return s ? &s->info : NULL; }

FERRY_API int ferry_sub_try_receive(ferry_sub *s, ferry_msg_info *info) {
  SUB_CHECK(s);
  if (!info) info = &s->info;
  ferry_channel *ch = s->ch;
  struct ferry_part *part = &ch->parts[s->part];
  if (s->nheld >= FERRY_MAX_HELD)
    return ferry__err(FERRY_E_LIMIT, "more than %d messages held: release some", FERRY_MAX_HELD);
  struct ferry_consumer *kc = &ch->cons[s->consumer];
  uint64_t cur, pg, pl, hg, hl;
  uint32_t ef;
  struct ferry_entry *e;
  for (;;) {
    cur = atomic_load_explicit(&kc->cursor, memory_order_acquire);
    e = &ch->ring[cur & ch->ring_mask];
    if (atomic_load_explicit(&e->seq, memory_order_acquire) != cur + 1) {
      /* a poll-only subscriber must still notice dead publishers: look at the
       * clock every 16 misses, reap at most every FERRY_SLICE_NS */
      if ((++s->polls & 15) == 0) ferry__reap_if_due(ch, &s->last_reap);
      int r = eos(ch);
      return r ? r : FERRY_E_AGAIN;
    }
    pg = e->pay_gran;
    pl = e->pay_len;
    hg = e->hdr_gran;
    hl = e->hdr_len;
    ef = e->flags;
    if (atomic_compare_exchange_weak_explicit(&kc->cursor, &cur, cur + 1, memory_order_acq_rel,
                                              memory_order_relaxed))
      break;
  }
  int h = -1;
  for (int i = 0; i < FERRY_MAX_HELD; i++)
    if (!s->held[i].used) {
      h = i;
      break;
    }
  if (h < 0) { /* cannot happen unless the record was corrupted */
    ferry__unref(ch, e);
    return ferry__err(FERRY_E_CORRUPT, "held-message table is corrupt");
  }
  struct ferry_held rec = {.a = cur, .b = (uint32_t)(cur & ch->ring_mask), .used = 1};
  part->held[h] = rec; /* for the reaper, should we crash */
  s->held[h] = rec;
  s->nheld++;
  part->count++;
  /* hostile-input check: everything read from the descriptor must lie inside the arena */
  uint64_t asz = ch->arena_size;
  if (pg >= ch->nbits || pl > asz - pg * ch->granule || hl > FERRY_HEADER_MAX ||
      (hl && (hg >= ch->nbits || hl > asz - hg * ch->granule))) {
    part->held[h].used = 0;
    s->held[h].used = 0;
    s->nheld--;
    ferry__unref(ch, e);
    return ferry__err(FERRY_E_CORRUPT, "descriptor of message %llu points outside the arena",
                      (unsigned long long)cur);
  }
  info->seq = cur;
  info->offset = pg * ch->granule;
  info->length = pl;
  info->hdr_offset = hl ? hg * ch->granule : 0;
  info->hdr_length = (uint32_t)hl;
  info->token = (uint32_t)h;
  info->dropped = atomic_load_explicit(&kc->dropped, memory_order_relaxed);
  info->status = 0;
  info->flags = (ef & ENT_PIPELINED) ? FERRY_MSG_PIPELINED : 0;
  return 0;
}

/* ---------------------------------------------------------------- pipelined progress */

/* Decode a progress word for a payload of `len` bytes: bytes ready, or the copy's negative error. */
static int64_t decode_progress(uint64_t v, uint64_t len) {
  if (v & FERRY_PROGRESS_ERROR) {
    int32_t code = -(int32_t)((v >> 40) & 0x7fffff);
    return code < 0 && code >= FERRY_E_BUSY ? code : FERRY_E_CORRUPT;
  }
  return (int64_t)(v < len ? v : len); /* a hostile value never exceeds the payload */
}

struct progress_arg {
  struct ferry_entry *e;
  uint64_t seq1, len, bytes;
  int64_t result;
};

/* ready() for ferry__wait_until: the wanted prefix landed, or it never will. */
static int progress_ready(void *a) {
  struct progress_arg *pa = a;
  struct ferry_entry *e = pa->e;
  if (atomic_load_explicit(&e->seq, memory_order_acquire) != pa->seq1)
    return ferry__err(FERRY_E_CORRUPT, "descriptor changed while its message was held");
  uint32_t fl = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE); /* before progress: see below */
  int64_t p = decode_progress(atomic_load_explicit(&e->progress.bytes, memory_order_acquire), pa->len);
  if (p < 0) return (int)p;
  pa->result = p;
  if ((uint64_t)p >= pa->bytes) return 1;
  /* the publisher stores the final progress before it drops its reference
   * (ENT_PUBREF): without one, an unfinished message will never finish */
  if (!(fl & ENT_PUBREF))
    return ferry__err(FERRY_E_CORRUPT, "pipelined message %llu is incomplete and nobody is copying it",
                      (unsigned long long)(pa->seq1 - 1));
  return 0;
}

/*
 * Wait until the pipelined message in ring slot idx (still seq1) has `bytes`
 * ready: spin for spin/hybrid, then sleep on the progress word. Reaping every
 * slice turns a publisher that died mid-copy into FERRY_E_PEERDEAD, not a hang.
 */
int64_t ferry__progress_wait(ferry_channel *ch, uint32_t idx, uint64_t seq1, uint64_t bytes, uint32_t wait,
                             int64_t timeout_ns, _Atomic bool *stop) {
  if (idx > ch->ring_mask) return ferry__err(FERRY_E_CORRUPT, "ring index out of range");
  struct ferry_entry *e = &ch->ring[idx];
  struct progress_arg pa = {.e = e, .seq1 = seq1, .len = e->pay_len, .bytes = bytes};
  if (pa.bytes > pa.len) pa.bytes = pa.len;
  uint64_t start = ferry__now_ns();
  uint64_t spin_until = wait == FERRY_WAIT_SPIN ? UINT64_MAX : wait == FERRY_WAIT_HYBRID ? start + 50000 : 0;
  int r = ferry__wait_until(ch, progress_ready, &pa, (_Atomic uint32_t *)&e->progress.bytes, &e->progress.waiters,
                            spin_until, timeout_ns, stop);
  return r ? r : pa.result;
}

static int held_entry(ferry_sub *s, uint32_t token, struct ferry_held *out) {
  if (token >= FERRY_MAX_HELD || !s->held[token].used)
    return ferry__err(FERRY_E_STATE, "message %u was already released", token);
  *out = s->held[token];
  if (out->b > s->ch->ring_mask) return ferry__err(FERRY_E_CORRUPT, "held-message record is corrupt");
  return 0;
}

FERRY_API int64_t ferry_sub_progress(ferry_sub *s, uint32_t token) {
  SUB_CHECK(s);
  struct ferry_held hd;
  int r = held_entry(s, token, &hd);
  if (r) return r;
  struct ferry_entry *e = &s->ch->ring[hd.b];
  uint64_t len = e->pay_len;
  if (!(e->flags & ENT_PIPELINED)) return (int64_t)len;
  return decode_progress(atomic_load_explicit(&e->progress.bytes, memory_order_acquire), len);
}

FERRY_API int64_t ferry_sub_wait_progress(ferry_sub *s, uint32_t token, uint64_t bytes, uint32_t wait,
                                          int64_t timeout_ns) {
  SUB_CHECK(s);
  if (wait > FERRY_WAIT_HYBRID) return ferry__err(FERRY_E_INVAL, "unknown wait strategy %u", wait);
  struct ferry_held hd;
  int r = held_entry(s, token, &hd);
  if (r) return r;
  struct ferry_entry *e = &s->ch->ring[hd.b];
  if (!(e->flags & ENT_PIPELINED)) return (int64_t)e->pay_len;
  int64_t p = ferry__progress_wait(s->ch, hd.b, hd.a + 1, bytes, wait, timeout_ns, NULL);
  if (p == FERRY_E_TIMEOUT) return ferry__err(FERRY_E_TIMEOUT, "payload not ready within %lld ms", (long long)(timeout_ns / 1000000));
  if (p < 0 && p != FERRY_E_CORRUPT) return ferry__err((int)p, "the publisher's copy of this message failed (%s)", ferry_err_name((int)p));
  return p;
}

FERRY_API int ferry_sub_arm_progress(ferry_sub *s, uint32_t token, uint64_t bytes) {
  if (!s || !s->waiter) return ferry__err(FERRY_E_STATE, "no notify fd: call ferry_sub_notify_fd first");
  SUB_CHECK(s);
  struct ferry_held hd;
  int r = held_entry(s, token, &hd);
  if (r) return r;
  s->arm_idx = hd.b;
  s->arm_seq1 = hd.a + 1;
  s->arm_bytes = bytes;
  atomic_store(&s->arm_progress, true);
  return ferry__waiter_arm(s->waiter);
}

/*
 * Drop a publisher's reference on a pipelined message once (whoever clears
 * ENT_PUBREF drops it); with an error, also tell its readers the copy failed.
 */
void ferry__pubref_drop(ferry_channel *ch, struct ferry_entry *e, int64_t error) {
  if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENT_PUBREF)) return;
  if (error < 0) { /* the final word goes first: readers that see no reference read it */
    uint64_t v = atomic_load(&e->progress.bytes);
    if (!(v & FERRY_PROGRESS_ERROR) && v < e->pay_len)
      ferry__mirror_store((uint64_t)(uintptr_t)&e->progress,
                          FERRY_PROGRESS_ERROR | ((uint64_t)(uint32_t)-error << 40) | (v & FERRY_PROGRESS_BYTES));
  }
  if (__atomic_fetch_and(&e->flags, ~(uint32_t)ENT_PUBREF, __ATOMIC_SEQ_CST) & ENT_PUBREF) ferry__unref(ch, e);
}

FERRY_API int ferry_sub_release(ferry_sub *s, uint32_t token) {
  SUB_CHECK(s);
  ferry_channel *ch = s->ch;
  struct ferry_held hd;
  int r = held_entry(s, token, &hd);
  if (r == FERRY_E_STATE) return r;
  s->held[token].used = 0; /* a corrupt record is dropped too */
  s->nheld--;
  ch->parts[s->part].held[token].used = 0;
  if (r) return r;
  struct ferry_entry *e = &ch->ring[hd.b];
  if (atomic_load(&e->seq) != hd.a + 1) return ferry__err(FERRY_E_CORRUPT, "descriptor changed while held");
  ferry__unref(ch, e);
  return 0;
}

FERRY_API int ferry_sub_receive(ferry_sub *s, ferry_msg_info *info, uint32_t wait, int64_t timeout_ns) {
  SUB_CHECK(s);
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
    r = ferry__wait_receivable(s, wait, left, NULL);
    if (r && r != FERRY_E_TIMEOUT) return r;
  }
}

/* ---------------------------------------------------------------- direct wake */

static socklen_t wake_addr(struct sockaddr_un *a, uint32_t pid, uint32_t slot, uint32_t nonce) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "ferry-wake.%u.%u.%u", pid, slot, nonce);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

FERRY_API int ferry_sub_wake_fd(ferry_sub *s) {
  SUB_CHECK(s);
  if (s->wake_fd >= 0) return s->wake_fd;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ferry__errno(0, "socket(wake)");
  struct ferry_part *part = &s->ch->parts[s->part];
  struct sockaddr_un a;
  for (int attempt = 0;; attempt++) {
    uint32_t nonce = (uint32_t)(ferry__now_ns() ^ ((uint64_t)(uintptr_t)s >> 4)) + (uint32_t)attempt;
    if (bind(fd, (struct sockaddr *)&a, wake_addr(&a, ferry__pid(), s->part, nonce)) == 0) {
      part->wake_nonce = nonce;
      break;
    }
    if (attempt == 8) {
      int r = ferry__errno(0, "bind(wake)");
      close(fd);
      return r;
    }
  }
  s->wake_fd = fd;
  return fd;
}

void ferry__wake_disarm(ferry_channel *ch, struct ferry_part *part) {
  uint32_t one = 1;
  if (atomic_compare_exchange_strong(&part->wake_armed, &one, 0)) atomic_fetch_sub(&ch->ctrl->direct_waiters, 1);
}

FERRY_API int ferry_sub_arm_wake(ferry_sub *s) {
  SUB_CHECK(s);
  if (s->wake_fd < 0) return ferry__err(FERRY_E_STATE, "no wake fd: call ferry_sub_wake_fd first");
  ferry_channel *ch = s->ch;
  ferry__reap_if_due(ch, &s->last_reap);
  struct ferry_part *part = &ch->parts[s->part];
  uint32_t zero = 0;
  if (atomic_compare_exchange_strong(&part->wake_armed, &zero, 1)) atomic_fetch_add(&ch->ctrl->direct_waiters, 1);
  /* armed and counted before this check, so a publish after it sees us (both seq_cst) */
  if (ferry__receivable(s)) {
    ferry__wake_disarm(ch, part);
    return 1;
  }
  return 0;
}

/*
 * After a publish with direct waiters: every armed subscriber is disarmed
 * (only one wake per arming) and gets one byte. A dead or foreign socket
 * just fails the send; nothing read from shared memory is trusted beyond
 * naming an address.
 */
static _Atomic int wake_send_fd = -1; /* one unbound sending socket per process, kept open */

static int send_fd(void) {
  int fd = atomic_load(&wake_send_fd);
  if (fd >= 0) return fd;
  int n = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (n < 0) return -1;
  int expect = -1;
  if (!atomic_compare_exchange_strong(&wake_send_fd, &expect, n)) {
    close(n);
    return expect;
  }
  return n;
}

void ferry__wake_direct(ferry_channel *ch) {
  int fd = send_fd();
  for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS; i++) {
    struct ferry_part *p = &ch->parts[i];
    if (!atomic_load_explicit(&p->wake_armed, memory_order_relaxed)) continue;
    uint32_t one = 1;
    if (!atomic_compare_exchange_strong(&p->wake_armed, &one, 0)) continue;
    atomic_fetch_sub(&ch->ctrl->direct_waiters, 1);
    if (fd < 0) continue;
    struct sockaddr_un a;
    char b = 1;
    sendto(fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, wake_addr(&a, p->pid, i, p->wake_nonce));
  }
}
