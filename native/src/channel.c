/*
 * channel.c — channel lifecycle: create/open/close, the robust control lock,
 * crash repair and reclamation of dead participants.
 *
 * Concurrency model
 *  - One robust, process-shared mutex guards the ring tail, the allocator and
 *    membership. Only publishers (loan/publish) and joins/leaves take it.
 *  - Receiving and releasing never take it: a consumer claims message s by
 *    CAS of its cursor s -> s+1, and releases by decrementing the descriptor's
 *    refcount. Publishers reclaim descriptors whose refcount reached zero.
 *  - A descriptor slot is reused only once its refcount is zero and its space
 *    was reclaimed; cursors only grow; so a claim that succeeds proves the
 *    descriptor was stable while it was read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"


/* ---------------------------------------------------------------- geometry */

static uint64_t pick_granule(uint64_t capacity) {
  uint64_t g = 64;
  while (g < 4096 && capacity / g > (1u << 18)) g <<= 1;
  return g;
}

static void layout(struct ferry_seg_hdr *h, uint64_t capacity, uint32_t slots) {
  memset(h, 0, sizeof *h);
  h->magic = FERRY_MAGIC;
  h->layout_version = FERRY_LAYOUT_VERSION;
  h->hdr_size = sizeof *h;
  h->granule = pick_granule(capacity);
  h->arena_size = ALIGN_UP(ALIGN_UP(capacity, h->granule), FERRY_PAGE);
  h->ring_slots = slots;
  h->max_parts = FERRY_MAX_PARTICIPANTS;
  h->max_consumers = FERRY_MAX_CONSUMERS;
  h->max_held = FERRY_MAX_HELD;
  h->sz_ctrl = sizeof(struct ferry_ctrl);
  h->sz_consumer = sizeof(struct ferry_consumer);
  h->sz_part = sizeof(struct ferry_part);
  h->sz_entry = sizeof(struct ferry_entry);
  uint64_t off = FERRY_PAGE;
  h->ctrl_off = off;
  off = ALIGN_UP(off + sizeof(struct ferry_ctrl), FERRY_CACHELINE);
  h->consumers_off = off;
  off = ALIGN_UP(off + FERRY_MAX_CONSUMERS * sizeof(struct ferry_consumer), FERRY_CACHELINE);
  h->parts_off = off;
  off = ALIGN_UP(off + FERRY_MAX_PARTICIPANTS * sizeof(struct ferry_part), FERRY_CACHELINE);
  h->ring_off = off;
  off = ALIGN_UP(off + (uint64_t)slots * sizeof(struct ferry_entry), FERRY_CACHELINE);
  h->bitmap_off = off;
  uint64_t nwords = (h->arena_size / h->granule + 63) / 64;
  off = ALIGN_UP(off + nwords * 8, FERRY_PAGE);
  h->arena_off = off;
  h->segment_size = off + h->arena_size;
}

/* Map a validated segment and fill the handle's local geometry. */
static int map_segment(ferry_channel *ch, const struct ferry_seg_hdr *h) {
  ch->segment_size = h->segment_size;
  ch->arena_off = h->arena_off;
  ch->arena_size = h->arena_size;
  ch->granule = h->granule;
  ch->gshift = (uint32_t)__builtin_ctzll(h->granule);
  ch->ring_slots = h->ring_slots;
  ch->ring_mask = h->ring_slots - 1;
  ch->max_parts = h->max_parts;
  ch->max_consumers = h->max_consumers;
  ch->nbits = h->arena_size / h->granule;
  ch->nwords = (ch->nbits + 63) / 64;
  ch->map_len = h->arena_off;
  uint64_t ctrl_off = h->ctrl_off, cons_off = h->consumers_off, parts_off = h->parts_off,
           ring_off = h->ring_off, bitmap_off = h->bitmap_off;
  ch->base = mmap(NULL, ch->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ch->fd, 0);
  if (ch->base == MAP_FAILED) {
    ch->base = NULL;
    return ferry__errno(0, "mmap(control)");
  }
  ch->arena_ro = mmap(NULL, ch->arena_size, PROT_READ, MAP_SHARED | MAP_POPULATE, ch->fd, (off_t)ch->arena_off);
  if (ch->arena_ro == MAP_FAILED) {
    ch->arena_ro = NULL;
    return ferry__errno(0, "mmap(arena)");
  }
  ch->ctrl = (struct ferry_ctrl *)(ch->base + ctrl_off);
  ch->cons = (struct ferry_consumer *)(ch->base + cons_off);
  ch->parts = (struct ferry_part *)(ch->base + parts_off);
  ch->ring = (struct ferry_entry *)(ch->base + ring_off);
  ch->bitmap = (uint64_t *)(ch->base + bitmap_off);
  return 0;
}

static void destroy(ferry_channel *ch) {
  if (ch->arena_rw) munmap(ch->arena_rw, ch->arena_size);
  if (ch->arena_ro) munmap(ch->arena_ro, ch->arena_size);
  if (ch->base) munmap(ch->base, ch->map_len);
  if (ch->fd >= 0) close(ch->fd);
  free(ch);
}

static ferry_channel *new_handle(const char *name) {
  ferry_channel *ch = calloc(1, sizeof *ch);
  if (!ch) return NULL;
  ch->fd = -1;
  snprintf(ch->name, sizeof ch->name, "%s", name);
  return ch;
}

/* ---------------------------------------------------------------- create / open */

static _Atomic uint32_t tmp_counter;

FERRY_API int ferry_channel_create(const char *name, uint64_t capacity, uint32_t slots, uint32_t mode,
                                   ferry_channel **out) {
  char path[128], tmp[160];
  int r;
  if (!out) return ferry__err(FERRY_E_INVAL, "out is NULL");
  *out = NULL;
  if ((r = ferry__shm_path(name, path, sizeof path))) return r;
  if (capacity == 0 || capacity > FERRY_MAX_ARENA)
    return ferry__err(FERRY_E_INVAL, "capacity %llu outside 1 B .. 1 TiB", (unsigned long long)capacity);
  if (slots == 0) slots = FERRY_DEFAULT_RING;
  if (slots < FERRY_MIN_RING || slots > FERRY_MAX_RING || (slots & (slots - 1)))
    return ferry__err(FERRY_E_INVAL, "ring slots %u: must be a power of two in %u..%u", slots, FERRY_MIN_RING,
                      FERRY_MAX_RING);
  if (mode == 0) mode = 0600;
  if (mode & ~0666u) return ferry__err(FERRY_E_INVAL, "mode %o: only read/write bits are allowed", mode);

  ferry_channel *ch = new_handle(name);
  if (!ch) return ferry__err(FERRY_E_NOMEM, "out of memory");
  ch->creator = true;
  struct ferry_seg_hdr h;
  layout(&h, capacity, slots);

  /* Build the segment under a temporary name, then rename it into place, so
   * no process ever sees a half-initialised channel. */
  snprintf(tmp, sizeof tmp, "/dev/shm/" FERRY_SHM_PREFIX "~tmp.%d.%u", (int)getpid(),
           atomic_fetch_add(&tmp_counter, 1));
  ch->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (ch->fd < 0) {
    r = ferry__errno(0, "create shared memory");
    destroy(ch);
    return r;
  }
  fchmod(ch->fd, mode); /* umask must not narrow the requested mode */
  if (ftruncate(ch->fd, (off_t)h.segment_size) != 0) {
    r = ferry__errno(FERRY_E_NOMEM, "ftruncate(shared memory)");
    goto fail;
  }
  /* Reserve every page now: a full /dev/shm fails here, not with SIGBUS later. */
  if ((r = posix_fallocate(ch->fd, 0, (off_t)h.segment_size)) != 0) {
    errno = r;
    r = ferry__errno(FERRY_E_NOMEM, "reserve shared memory (is /dev/shm full?)");
    goto fail;
  }
  h.creator_pid = (uint32_t)getpid();
  h.creator_uid = (uint32_t)geteuid();
  h.creator_start = ferry__proc_start(getpid());
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  h.created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  snprintf(h.name, sizeof h.name, "%s", name);
  h.checksum = ferry__checksum(&h);
  if (pwrite(ch->fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
    r = ferry__errno(0, "write segment header");
    goto fail;
  }
  if ((r = map_segment(ch, &h))) goto fail;

  atomic_store(&ch->ctrl->lock, 0);
  atomic_store(&ch->ctrl->pub_futex, 1);
  __atomic_store_n(&ch->ctrl->ready, 1, __ATOMIC_RELEASE);

  for (int attempt = 0;; attempt++) {
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) break;
    int e = errno; /* the staleness check below makes system calls of its own */
    if (e == EEXIST && attempt == 0 && ferry__seg_stale(path)) {
      unlink(path); /* left behind by processes that are all gone */
      continue;
    }
    errno = e;
    r = e == EEXIST ? ferry__err(FERRY_E_EXISTS, "channel \"%s\" exists and is in use", name)
                        : ferry__errno(0, "rename shared memory into place");
    goto fail;
  }
  *out = ch;
  return 0;
fail:
  unlink(tmp);
  destroy(ch);
  return r;
}

FERRY_API int ferry_channel_open(const char *name, ferry_channel **out) {
  char path[128];
  int r;
  if (!out) return ferry__err(FERRY_E_INVAL, "out is NULL");
  *out = NULL;
  if ((r = ferry__shm_path(name, path, sizeof path))) return r;
  ferry_channel *ch = new_handle(name);
  if (!ch) return ferry__err(FERRY_E_NOMEM, "out of memory");
  ch->fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (ch->fd < 0) {
    r = errno == ENOENT ? ferry__err(FERRY_E_NOTFOUND, "no channel \"%s\"", name) : ferry__errno(0, path);
    destroy(ch);
    return r;
  }
  struct stat st;
  struct ferry_seg_hdr h;
  if (fstat(ch->fd, &st) != 0) {
    r = ferry__errno(0, "fstat");
    goto fail;
  }
  if ((uint64_t)st.st_size < sizeof h || pread(ch->fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
    r = ferry__err(FERRY_E_BADMAGIC, "\"%s\" is too small to be a ferry channel", name);
    goto fail;
  }
  if ((r = ferry__seg_validate(&h, (uint64_t)st.st_size))) goto fail;
  if ((r = map_segment(ch, &h))) goto fail;
  if (__atomic_load_n(&ch->ctrl->ready, __ATOMIC_ACQUIRE) != 1) {
    r = ferry__err(FERRY_E_CORRUPT, "channel \"%s\" was never initialised", name);
    goto fail;
  }
  *out = ch;
  return 0;
fail:
  destroy(ch);
  return r;
}

FERRY_API int ferry_channel_close(ferry_channel *ch) {
  if (!ch) return ferry__err(FERRY_E_INVAL, "channel is NULL");
  if (ch->closed) return 0;
  ch->closed = true;
  if (ch->creator) {
    char path[128];
    if (ferry__shm_path(ch->name, path, sizeof path) == 0) {
      /* unlink only our own segment, never one that replaced it */
      struct stat a, b;
      if (fstat(ch->fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        unlink(path);
    }
  }
  if (ch->users == 0) destroy(ch);
  return 0;
}

/* Called by pub/sub close: the last one out unmaps a closed channel. */
void ferry__channel_put(ferry_channel *ch) {
  if (--ch->users == 0 && ch->closed) destroy(ch);
}


FERRY_API int ferry_channel_info_get(ferry_channel *ch, ferry_channel_info *out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  out->arena_size = ch->arena_size;
  out->granule = ch->granule;
  out->ring_slots = ch->ring_slots;
  out->arena_ro = (uint64_t)(uintptr_t)ch->arena_ro;
  out->ctrl = (uint64_t)(uintptr_t)ch->ctrl;
  out->segment_size = ch->segment_size;
  return 0;
}

/* ---------------------------------------------------------------- repair and reclamation */

static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Decrement a descriptor's refcount without ever underflowing it. */
void ferry__unref(ferry_channel *ch, struct ferry_entry *e) {
  uint32_t r = atomic_load_explicit(&e->refs, memory_order_relaxed);
  do {
    if (r == 0) return; /* corrupt or double release: never wrap */
  } while (!atomic_compare_exchange_weak(&e->refs, &r, r - 1));
  if (r == 1) {
    /* pairs with acquire(): the waiter counts itself, then reads the word,
     * then re-checks refs under the lock; both sides are seq_cst */
    struct ferry_ctrl *c = ch->ctrl;
    if (atomic_load(&c->space_waiters)) {
      atomic_fetch_add(&c->rel_futex, 1);
      ferry__futex_wake(&c->rel_futex);
    }
  }
}

/* Free a descriptor's arena blocks once (lock held). */
void ferry__entry_free(ferry_channel *ch, struct ferry_entry *e) {
  if (e->flags & ENT_RECLAIMED) return;
  e->flags |= ENT_RECLAIMED;
  if (e->pay_ngran) ferry__free(ch, e->pay_gran, e->pay_ngran);
  if (e->hdr_ngran) ferry__free(ch, e->hdr_gran, e->hdr_ngran);
}

/* Clamp head/tail read from shared memory into a consistent window (lock held). */
static void sane_window(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  if (c->head > c->tail || c->tail - c->head > ch->ring_slots)
    c->head = c->tail > ch->ring_slots ? c->tail - ch->ring_slots : 0;
}

/* Advance head over fully released descriptors, freeing their space (lock held). */
void ferry__reclaim(ferry_channel *ch, bool sweep) {
  struct ferry_ctrl *c = ch->ctrl;
  sane_window(ch);
  while (c->head < c->tail) {
    struct ferry_entry *e = &ch->ring[c->head & ch->ring_mask];
    if (atomic_load(&e->seq) != c->head + 1) {
      e->flags |= ENT_RECLAIMED; /* never published (crashed publisher): skip */
    } else if (atomic_load(&e->refs) != 0) {
      break;
    } else {
      ferry__entry_free(ch, e);
    }
    c->head++;
  }
  if (!sweep) return;
  /* out-of-order releases (groups, slow readers): free every released descriptor */
  for (uint64_t s = c->head; s < c->tail; s++) {
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load(&e->seq) == s + 1 && atomic_load(&e->refs) == 0) ferry__entry_free(ch, e);
  }
}

/* A consumer stops counting: give back every message it will never claim (lock held). */
static void consumer_drop_pending(ferry_channel *ch, struct ferry_consumer *k) {
  uint64_t tail = ch->ctrl->tail;
  uint64_t cur = atomic_exchange(&k->cursor, tail);
  if (cur > tail || tail - cur > ch->ring_slots) return; /* corrupt cursor: leak rather than double free */
  for (uint64_t s = cur; s < tail; s++) {
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load(&e->seq) == s + 1) ferry__unref(ch, e);
  }
}

void ferry__consumer_leave(ferry_channel *ch, uint32_t ci) {
  if (ci >= FERRY_MAX_CONSUMERS) return;
  struct ferry_consumer *k = &ch->cons[ci];
  if (k->state != CONS_ACTIVE) return;
  if (k->members > 1) {
    k->members--;
    return;
  }
  consumer_drop_pending(ch, k);
  k->state = CONS_FREE;
  k->members = 0;
  k->group[0] = 0;
  if (ch->ctrl->n_consumers_active) ch->ctrl->n_consumers_active--;
}

/* Give back everything participant i holds and free its slot (lock held). */
void ferry__part_reclaim(ferry_channel *ch, uint32_t i, bool crashed) {
  struct ferry_part *p = &ch->parts[i];
  struct ferry_ctrl *c = ch->ctrl;
  for (int h = 0; h < FERRY_MAX_HELD; h++) {
    struct ferry_held hd = p->held[h];
    if (!hd.used) continue;
    if (p->kind == PART_PUB) {
      if (hd.b) ferry__free(ch, hd.a, hd.b);
    } else if (p->kind == PART_SUB && hd.b <= ch->ring_mask) {
      struct ferry_entry *e = &ch->ring[hd.b];
      if (atomic_load(&e->seq) == hd.a + 1) ferry__unref(ch, e);
    }
  }
  if (p->kind == PART_PUB) {
    /* pipelined messages it was still copying: their readers get PEERDEAD, its references go */
    sane_window(ch);
    for (uint64_t q = c->head; q < c->tail; q++) {
      struct ferry_entry *e = &ch->ring[q & ch->ring_mask];
      if (atomic_load(&e->seq) == q + 1 && e->publisher == i && (__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENT_PUBREF))
        ferry__pubref_drop(ch, e, FERRY_E_PEERDEAD);
    }
    if (c->pubs_live) c->pubs_live--;
    if (crashed) c->pubs_crashed++;
  } else if (p->kind == PART_SUB) {
    ferry__consumer_leave(ch, p->consumer);
    if (c->subs_live) c->subs_live--;
  }
  if (crashed) c->reclaimed++;
  ferry__wake_disarm(ch, p); /* keep direct_waiters exact */
  memset(p, 0, sizeof *p);
  /* state changed for everyone waiting: space, end of stream */
  atomic_fetch_add(&c->pub_futex, 1);
  ferry__futex_wake(&c->pub_futex);
  atomic_fetch_add(&c->rel_futex, 1);
  ferry__futex_wake(&c->rel_futex);
}

/* Reclaim every participant whose process is gone (lock held). */
static int reap_locked(ferry_channel *ch) {
  int n = 0;
  for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS; i++) {
    struct ferry_part *p = &ch->parts[i];
    if (p->kind == PART_FREE) continue;
    if (p->kind != PART_PUB && p->kind != PART_SUB) {
      memset(p, 0, sizeof *p); /* garbage: free the slot */
      continue;
    }
    if (ferry__alive(p->pid, p->start)) continue;
    ferry__part_reclaim(ch, i, true);
    n++;
  }
  if (n) ferry__reclaim(ch, true);
  return n;
}

FERRY_API int ferry_channel_reap(ferry_channel *ch) {
  if (!ch) return ferry__err(FERRY_E_INVAL, "channel is NULL");
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  int r = ferry__lock(ch);
  if (r) return r;
  int n = reap_locked(ch);
  ferry__reclaim(ch, true); /* also account releases nobody has reclaimed yet */
  ferry__unlock(ch);
  return n;
}

/*
 * The previous lock holder died mid-update. Everything the lock guards is
 * rebuilt from the authoritative records: published descriptors and loans.
 */
void ferry__repair(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  for (uint32_t i = 0; i < ch->ring_slots; i++) {
    struct ferry_entry *e = &ch->ring[c->tail & ch->ring_mask];
    if (atomic_load(&e->seq) != c->tail + 1) break;
    c->tail++; /* published but the tail store was lost */
  }
  sane_window(ch);
  memset(ch->bitmap, 0, ch->nwords * 8);
  c->arena_used = 0;
  c->free_hint = 0;
  for (uint64_t s = c->head; s < c->tail; s++) {
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load(&e->seq) != s + 1 || (e->flags & ENT_RECLAIMED)) continue;
    if (e->pay_ngran && ferry__mark(ch, e->pay_gran, e->pay_ngran)) e->pay_ngran = 0;
    if (e->hdr_ngran && ferry__mark(ch, e->hdr_gran, e->hdr_ngran)) e->hdr_ngran = 0;
  }
  for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS; i++) {
    struct ferry_part *p = &ch->parts[i];
    if (p->kind != PART_PUB) continue;
    for (int h = 0; h < FERRY_MAX_HELD; h++)
      if (p->held[h].used && p->held[h].b && ferry__mark(ch, p->held[h].a, p->held[h].b)) p->held[h].used = 0;
  }
  reap_locked(ch);
}

/* ---------------------------------------------------------------- participants */

/* Register the calling process as a participant of `kind` (lock held). */
int ferry__part_join(ferry_channel *ch, uint32_t kind, uint32_t *out) {
  uint64_t start = ferry__proc_start(getpid());
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS; i++) {
      struct ferry_part *p = &ch->parts[i];
      if (p->kind != PART_FREE) continue;
      memset(p, 0, sizeof *p);
      p->kind = kind;
      p->pid = (uint32_t)getpid();
      p->start = start;
      *out = i;
      return 0;
    }
    if (pass == 0 && reap_locked(ch) == 0) break; /* full: free the slots of the dead */
  }
  return ferry__err(FERRY_E_LIMIT, "channel \"%s\" has %d participants already", ch->name,
                    FERRY_MAX_PARTICIPANTS);
}

FERRY_API int ferry_channel_stats(ferry_channel *ch, ferry_stats *out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  struct ferry_ctrl *c = ch->ctrl;
  out->published = c->published;
  out->tail = c->tail;
  out->head = c->head;
  out->dropped = c->dropped;
  out->unheard = c->unheard;
  out->arena_used = min_u64(c->arena_used, ch->nbits) * ch->granule;
  out->publishers = c->pubs_live;
  out->subscribers = c->subs_live;
  out->reclaimed = c->reclaimed;
  return 0;
}

/* Reap dead participants at most once per FERRY_SLICE_NS on this caller's clock. */
int ferry__reap_if_due(ferry_channel *ch, uint64_t *last_ns) {
  uint64_t now = ferry__now_ns();
  if (now - *last_ns < (uint64_t)FERRY_SLICE_NS) return 0;
  *last_ns = now;
  return ferry_channel_reap(ch);
}
