/*
 * channel.c — a channel handle's life cycle: create (under a temporary name,
 * renamed into place), open (only segments whose type, owner and mode are
 * trusted: shm/segment.c), close, info, stats, reaping; and the channel
 * lock as the layers above see it: shm/lock.c's pid-owned futex lock, with
 * the repair (shm/members.c) after a holder that died holding it, bounded
 * by the caller's deadline, and never waited for by a periodic reap. The ring
 * protocol is described in shm/ring.c, membership in shm/members.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "shm/lock.h"
#include "shm/members.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "sys/error.h"
#include "sys/proc.h"
#include "sys/sys.h"
#include "sys/wait.h"


static ferry_channel *new_handle(const char *name) {
  ferry_channel *ch = calloc(1, sizeof *ch);
  if (!ch) return NULL;
  ch->fd = -1;
  snprintf(ch->name, sizeof ch->name, "%s", name);
  return ch;
}

/* ---------------------------------------------------------------- create / open */

static _Atomic uint32_t tmp_counter;

/*
 * Create and open a fresh temporary segment "ferry.~tmp.<pid>.<n>" (ferry_gc
 * reads the pid back). n mixes a counter with random bits, and a name that
 * exists already (planted, or left by a pid we reuse) is skipped, so no
 * other user can make create fail by guessing the next temporary name.
 */
static int open_tmp(char *tmp, size_t cap, uint32_t mode) {
  for (int attempt = 0; attempt < 16; attempt++) {
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) rnd = (uint32_t)ferry__now_ns();
    uint32_t n = (atomic_fetch_add(&tmp_counter, 1) & 0xffffu) | (rnd << 16);
    snprintf(tmp, cap, "/dev/shm/" FERRY_SHM_PREFIX "~tmp.%d.%u", (int)getpid(), n);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

/*
 * The rename into `path` failed with EEXIST: judge what holds the name.
 * 1: it was our own stale segment, now removed (try the rename again);
 * 0: it vanished meanwhile (try again); < 0: the error for the caller.
 */
static int judge_existing(const char *path, const char *name) {
  struct ferry__trust self = {.flags = FERRY__TRUST_CREATE};
  struct stat st;
  int fd = ferry__seg_open(path, name, O_RDONLY, &self, &st);
  if (fd == FERRY_E_NOTFOUND) return 0;
  if (fd < 0) return fd; /* another user's, or not a regular file: the detail says which */
  bool stale = ferry__seg_stale(fd, &st);
  close(fd);
  if (!stale) return ferry__err(FERRY_E_EXISTS, "channel \"%s\" exists and is in use", name);
  int r = ferry__seg_unlink_if(path, &st); /* left behind by processes that are all gone */
  if (r == 0) return 1;
  if (r == FERRY_E_NOTFOUND || r == FERRY_E_EXISTS) return 0; /* removed or replaced meanwhile: look again */
  return r;
}

FERRY_API int ferry_channel_create(const char *name, uint64_t capacity, uint32_t slots, uint32_t mode,
                                   ferry_channel **out) {
  return ferry_channel_create2(name, capacity, slots, mode, 0, out);
}

FERRY_API int ferry_channel_create2(const char *name, uint64_t capacity, uint32_t slots, uint32_t mode,
                                    uint32_t history, ferry_channel **out) {
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
  if (history >= slots)
    return ferry__err(FERRY_E_INVAL, "history %u: must be below the ring's %u slots (0 keeps none)", history, slots);
  if (mode == 0) mode = 0600;
  if (mode & ~0666u) return ferry__err(FERRY_E_INVAL, "mode %o: only read/write bits are allowed", mode);

  ferry_channel *ch = new_handle(name);
  if (!ch) return ferry__err(FERRY_E_NOMEM, "out of memory");
  ch->creator = true;
  struct ferry_seg_hdr h;
  ferry__seg_layout(&h, capacity, slots, history);

  /* Build the segment under a temporary name, then rename it into place, so
   * no process ever sees a half-initialised channel. */
  ch->fd = open_tmp(tmp, sizeof tmp, mode);
  if (ch->fd < 0) {
    r = ferry__errno(0, "create shared memory");
    ferry__seg_unmap(ch);
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
  {
    char host[FERRY_HOST_ID_LEN + 1];
    if ((r = ferry_host_id(host))) goto fail;
    memcpy(h.host_id, host, FERRY_HOST_ID_LEN);
    /* a random generation: a reference to an older segment of the same name never resolves here */
    if (getrandom(&h.generation, sizeof h.generation, 0) != (ssize_t)sizeof h.generation)
      h.generation = h.created_ns ^ ((uint64_t)h.creator_pid << 32) ^ h.creator_start;
  }
  h.checksum = ferry__checksum(&h);
  if (pwrite(ch->fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
    r = ferry__errno(0, "write segment header");
    goto fail;
  }
  if ((r = ferry__seg_map(ch, &h))) goto fail;

  atomic_store(&ch->ctrl->lock, 0);
  atomic_store(&ch->ctrl->pub_futex, 1);
  __atomic_store_n(&ch->ctrl->ready, 1, __ATOMIC_RELEASE);

  for (int attempt = 0;; attempt++) {
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) break;
    int e = errno; /* judging the name makes system calls of its own */
    if (e != EEXIST) {
      errno = e;
      r = ferry__errno(0, "rename shared memory into place");
      goto fail;
    }
    r = judge_existing(path, name);
    if (r < 0) goto fail;
    if (attempt >= 3) { /* the name keeps changing under us */
      r = ferry__err(FERRY_E_EXISTS, "channel \"%s\" keeps being created by someone else", name);
      goto fail;
    }
  }
  *out = ch;
  return 0;
fail:
  unlink(tmp);
  ferry__seg_unmap(ch);
  return r;
}

FERRY_API int ferry_channel_open2(const char *name, uint32_t flags, const uint32_t *uids, uint32_t nuids,
                                  const uint32_t *gids, uint32_t ngids, ferry_channel **out) {
  char path[128];
  int r;
  if (!out) return ferry__err(FERRY_E_INVAL, "out is NULL");
  *out = NULL;
  if ((r = ferry__shm_path(name, path, sizeof path))) return r;
  if (flags & ~(uint32_t)(FERRY_TRUST_GROUP_WRITE | FERRY_TRUST_WORLD_WRITE))
    return ferry__err(FERRY_E_INVAL, "unknown trust flags 0x%x", flags);
  if ((nuids && !uids) || (ngids && !gids)) return ferry__err(FERRY_E_INVAL, "trusted uid or gid list is NULL");
  struct ferry__trust t = {.flags = flags, .nuids = nuids, .ngids = ngids, .uids = uids, .gids = gids};
  struct stat st;
  int fd = ferry__seg_open(path, name, O_RDWR, &t, &st);
  if (fd < 0) return fd;
  ferry_channel *ch = new_handle(name);
  if (!ch) {
    close(fd);
    return ferry__err(FERRY_E_NOMEM, "out of memory");
  }
  ch->fd = fd;
  struct ferry_seg_hdr h;
  if ((uint64_t)st.st_size < sizeof h || pread(ch->fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
    r = ferry__err(FERRY_E_BADMAGIC, "\"%s\" is too small to be a ferry channel", name);
    goto fail;
  }
  if ((r = ferry__seg_validate(&h, (uint64_t)st.st_size))) goto fail;
  if ((r = ferry__seg_map(ch, &h))) goto fail;
  if (__atomic_load_n(&ch->ctrl->ready, __ATOMIC_ACQUIRE) != 1) {
    r = ferry__err(FERRY_E_CORRUPT, "channel \"%s\" was never initialised", name);
    goto fail;
  }
  *out = ch;
  return 0;
fail:
  ferry__seg_unmap(ch);
  return r;
}

/* ---------------------------------------------------------------- create off the caller's thread
 *
 * Creating a large channel reserves and pre-faults every page (so a full
 * /dev/shm fails at create, and the first messages pay no page faults): a
 * 512 MiB arena takes hundreds of ms. An event loop must not wait for that,
 * so a thread does the same ferry_channel_create and signals an eventfd; the
 * caller collects the handle (or the error, with its detail) when it fires.
 */
struct ferry_create_job {
  pthread_t thread;
  int efd;
  char name[FERRY_NAME_MAX + 1];
  uint64_t capacity;
  uint32_t slots, mode, history;
  int rc;
  ferry_channel *ch;
  char detail[512];
};

static void *create_main(void *arg) {
  struct ferry_create_job *j = arg;
  j->rc = ferry_channel_create2(j->name, j->capacity, j->slots, j->mode, j->history, &j->ch);
  if (j->rc) snprintf(j->detail, sizeof j->detail, "%s", ferry_last_error()); /* the detail is per thread */
  ferry__efd_signal(j->efd); /* after the result is stored: the reader sees it */
  return NULL;
}

FERRY_API int ferry_channel_create_async(const char *name, uint64_t capacity, uint32_t slots, uint32_t mode,
                                         ferry_create_job **out) {
  return ferry_channel_create_async2(name, capacity, slots, mode, 0, out);
}

FERRY_API int ferry_channel_create_async2(const char *name, uint64_t capacity, uint32_t slots, uint32_t mode,
                                          uint32_t history, ferry_create_job **out) {
  if (!out) return ferry__err(FERRY_E_INVAL, "out is NULL");
  *out = NULL;
  int r = ferry_name_check(name); /* what fails at once fails here, on the caller's thread */
  if (r) return r;
  struct ferry_create_job *j = calloc(1, sizeof *j);
  if (!j) return ferry__err(FERRY_E_NOMEM, "out of memory");
  snprintf(j->name, sizeof j->name, "%s", name);
  j->capacity = capacity;
  j->slots = slots;
  j->mode = mode;
  j->history = history;
  if ((r = ferry__thread_efd(&j->thread, &j->efd, create_main, j, "create thread"))) {
    free(j);
    return r;
  }
  *out = j;
  return j->efd;
}

FERRY_API int ferry_channel_create_collect(ferry_create_job *j, ferry_channel **out) {
  if (!j || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  pthread_join(j->thread, NULL); /* at once once the fd fired; else waits for the create to end */
  close(j->efd);
  int r = j->rc;
  *out = j->ch;
  if (r) ferry__err(r, "%s", j->detail);
  free(j);
  return r;
}

FERRY_API int ferry_channel_open(const char *name, ferry_channel **out) {
  return ferry_channel_open2(name, 0, NULL, 0, NULL, 0, out);
}

/* ---------------------------------------------------------------- arena leases
 *
 * A binding that hands the arena to a garbage-collected language (JS views
 * over an ArrayBuffer) cannot know when the last view goes away, so the
 * mapping must outlive the handle without staying shared memory. Each
 * mapping lent out gets a lease: one reference for the handle, one per
 * borrower (ferry_arena_lend; a borrower gives it back with
 * ferry_arena_unlend, a JSTypedArrayBytesDeallocator). When the handle
 * unmaps while borrowers remain, the range is replaced in place (MAP_FIXED:
 * no instant without a mapping) by private anonymous zero pages, so a stale
 * view reads zeros and writes to its own private memory: never a fault, never
 * the shared arena another process now reuses. The last reference munmaps.
 * The range is ours while the handle holds its reference, so the handle
 * replaces it before dropping that reference; borrowers only drop theirs.
 */
struct ferry__lease {
  struct ferry__lease *next;
  uint8_t *addr;
  uint64_t len;
  atomic_int refs;
};
static pthread_mutex_t lease_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ferry__lease *leases; /* leases of mappings whose handle is still open */

static void lease_put(struct ferry__lease *l) {
  if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1) return;
  munmap(l->addr, l->len);
  free(l);
}

/* The handle gives up mapping *slot: a lent one is made inert and left to its lease. */
static void arena_retire(uint8_t **slot, uint64_t len) {
  if (!*slot) return;
  pthread_mutex_lock(&lease_mu);
  struct ferry__lease **pp = &leases, *l;
  while ((l = *pp) && l->addr != *slot) pp = &l->next;
  if (l) *pp = l->next;
  pthread_mutex_unlock(&lease_mu);
  if (!l) return; /* never lent: ferry__seg_unmap unmaps it */
  *slot = NULL;
  /* refs == 1: only the handle's, and no borrower can come back for it */
  if (atomic_load_explicit(&l->refs, memory_order_acquire) > 1 &&
      mmap(l->addr, len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) ==
          MAP_FAILED) {
    /* cannot happen for a whole existing mapping short of ENOMEM; keep the
     * shared mapping rather than leave a hole (views stay readable) */
    (void)ferry__errno(0, "mmap(inert arena)");
  }
  lease_put(l);
}

static void chan_unmap(ferry_channel *ch) {
  arena_retire(&ch->arena_rw, ch->arena_size);
  arena_retire(&ch->arena_ro, ch->arena_size);
  ferry__seg_unmap(ch);
}

FERRY_API int ferry_arena_lend(ferry_channel *ch, uint32_t writable, void **lease) {
  if (!ch || !lease) return ferry__err(FERRY_E_INVAL, "NULL argument");
  *lease = NULL;
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  uint8_t *addr = writable ? ch->arena_rw : ch->arena_ro;
  if (!addr) return ferry__err(FERRY_E_STATE, "no read-write arena before the first publisher");
  pthread_mutex_lock(&lease_mu);
  struct ferry__lease *l = leases;
  while (l && l->addr != addr) l = l->next;
  if (!l && (l = calloc(1, sizeof *l))) {
    l->addr = addr;
    l->len = ch->arena_size;
    atomic_init(&l->refs, 1); /* the handle's */
    l->next = leases;
    leases = l;
  }
  if (l) atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
  pthread_mutex_unlock(&lease_mu);
  if (!l) return ferry__err(FERRY_E_NOMEM, "out of memory");
  *lease = l;
  return 0;
}

/* Private memory lent the same way (a handle's inline areas): no list, no inert pages. */
struct ferry__lease *ferry__lease_new(void *addr, uint64_t len) {
  struct ferry__lease *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->addr = addr;
  l->len = len;
  atomic_init(&l->refs, 1); /* the handle's */
  return l;
}

void ferry__lease_get(struct ferry__lease *l) { atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed); }

void ferry__lease_put(struct ferry__lease *l) {
  if (l) lease_put(l);
}

FERRY_API void ferry_arena_unlend(void *bytes, void *lease) {
  (void)bytes;
  if (lease) lease_put(lease);
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
  if (ch->users == 0) chan_unmap(ch);
  return 0;
}

/* Called by pub/sub close: the last one out unmaps a closed channel. */
void ferry__channel_put(ferry_channel *ch) {
  if (--ch->users == 0 && ch->closed) chan_unmap(ch);
}


FERRY_API int ferry_channel_info_get(ferry_channel *ch, ferry_channel_info *out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  if (ferry__lost(ch)) return ferry__seg_lost(ch);
  out->arena_size = ch->arena_size;
  out->granule = ch->granule;
  out->ring_slots = ch->ring_slots;
  out->arena_ro = (uint64_t)(uintptr_t)ch->arena_ro;
  out->ctrl = (uint64_t)(uintptr_t)ch->ctrl;
  out->segment_size = ch->segment_size;
  out->history = ch->history;
  return 0;
}

FERRY_API int ferry_channel_ident(ferry_channel *ch, uint8_t *out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  memset(out, 0, 48);
  memcpy(out, ch->host_id, FERRY_HOST_ID_LEN); /* local copies, validated at open */
  memcpy(out + 40, &ch->generation, 8);
  return 0;
}

FERRY_API int64_t ferry_channel_pins(ferry_channel *ch) {
  if (!ch) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  if (ferry__lost(ch)) return ferry__seg_lost(ch);
  return ferry__ring_pin_count(ch);
}

/* ---------------------------------------------------------------- lock and reaping */

static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* A BUSY from the lock, with the channel's name added (cold: kept out of the hot lock path's frame). */
static __attribute__((noinline, cold)) int busy_named(ferry_channel *ch, int r) {
  char why[256];
  snprintf(why, sizeof why, "%s", ferry_last_error()); /* the detail buffer is also the destination */
  return ferry__err(r, "channel \"%s\": %s", ch->name, why);
}

/* What the lock call returned, as the layers above see it: repaired after OWNERDEAD, a named BUSY. */
static inline int lock_result(ferry_channel *ch, int r) {
  if (__builtin_expect(r == 0, 1)) return 0;
  if (r == FERRY__OWNERDEAD) {
    ferry__repair(ch);
    return 0;
  }
  return r == FERRY_E_BUSY ? busy_named(ch, r) : r;
}

int ferry__chan_lock_slow(ferry_channel *ch, int64_t budget_ns, uint64_t *waited) {
  if (ferry__lost(ch)) return ferry__seg_lost(ch);
  if (budget_ns < 0 || budget_ns > FERRY_LOCK_MAX_NS) budget_ns = FERRY_LOCK_MAX_NS;
  if (budget_ns < FERRY__LOCK_GRACE_NS) budget_ns = FERRY__LOCK_GRACE_NS;
  return lock_result(ch, ferry__lock_for(&ch->ctrl->lock, budget_ns, waited)); /* reads the clock only when contended */
}

int ferry__chan_lock(ferry_channel *ch) { return ferry__chan_lock_for(ch, FERRY_LOCK_MAX_NS, NULL); }

FERRY__HOT int ferry__chan_trylock(ferry_channel *ch) {
  if (ferry__lost(ch)) return ferry__seg_lost(ch);
  int r = ferry__trylock(&ch->ctrl->lock);
  return r == FERRY_E_BUSY ? r : lock_result(ch, r);
}

FERRY__HOT void ferry__chan_unlock(ferry_channel *ch) { ferry__unlock(&ch->ctrl->lock); }

FERRY_API int ferry_channel_reap(ferry_channel *ch) {
  if (!ch) return ferry__err(FERRY_E_INVAL, "channel is NULL");
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  int r = ferry__seg_guard(ch);
  if (r) return r;
  if ((r = ferry__chan_lock(ch))) return r;
  int n = ferry__reap_locked(ch);
  ferry__ring_reclaim(ch, true); /* also account releases nobody has reclaimed yet */
  ferry__chan_unlock(ch);
  return n;
}

FERRY_API int ferry_channel_subscribers(ferry_channel *ch, const char *group, uint32_t *out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  *out = 0;
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  if (group && strnlen(group, FERRY_GROUP_MAX + 1) > FERRY_GROUP_MAX)
    return ferry__err(FERRY_E_INVAL, "group name longer than %d bytes", FERRY_GROUP_MAX);
  int r = ferry__seg_guard(ch);
  if (r) return r;
  /* never waits: with the lock free the dead are reaped first (a crashed
   * subscriber does not count), with it busy the counters are read as they are */
  r = ferry__chan_trylock(ch);
  if (r == 0) {
    ferry__reap_locked(ch);
    *out = ferry__members_count(ch, group);
    ferry__chan_unlock(ch);
    return 0;
  }
  if (r != FERRY_E_BUSY) return r;
  *out = ferry__members_count(ch, group);
  return 0;
}

#define STATS_LOCK_NS (20ll * 1000 * 1000)

FERRY_API int ferry_channel_stats(ferry_channel *ch, ferry_stats *out) {
  if (!ch || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  int r = ferry__seg_guard(ch);
  if (r) return r;
  /* a consistent snapshot: the counters are written under the lock (holders keep it for
   * well under a microsecond; a live holder that keeps it 20 ms gives FERRY_E_BUSY) */
  if ((r = ferry__chan_lock_for(ch, STATS_LOCK_NS, NULL))) return r;
  struct ferry_ctrl *c = ch->ctrl;
  out->published = c->published;
  out->tail = c->tail;
  out->head = c->head;
  out->dropped = c->dropped;
  out->unheard = c->unheard;
  out->arena_used = min_u64(c->arena_used, ch->nbits) * ch->granule;
  out->publishers = FERRY__COUNT_GET(c->pubs_live);
  out->subscribers = FERRY__COUNT_GET(c->subs_live);
  out->reclaimed = c->reclaimed;
  out->history = ferry__ring_hist_count(ch);
  out->backlog = 0;
  for (uint32_t k = 0; k < ch->max_consumers; k++) {
    struct ferry_consumer *cs = &ch->cons[k];
    if (__atomic_load_n(&cs->state, __ATOMIC_RELAXED) != CONS_ACTIVE) continue;
    uint64_t cur = atomic_load_explicit(&cs->cursor, memory_order_relaxed);
    uint64_t behind = c->tail > cur ? c->tail - cur : 0; /* hostile input: clamped to the ring */
    if (behind > ch->ring_slots) behind = ch->ring_slots;
    if (behind > out->backlog) out->backlog = behind;
  }
  ferry__chan_unlock(ch);
  return 0;
}

/*
 * The periodic reap of waits and polls, often on an event loop: it never
 * waits for the lock. A contended lock (a live holder, maybe a stopped or
 * hostile one) skips this slice's reap; the next slice tries again. A dead
 * holder is still taken over (and the channel repaired) at once. The
 * truncation guard (one fstat) runs more often, at most every
 * FERRY__GUARD_NS: after every sleep of a wait, before it touches the segment again
 * (unless the SIGBUS handler covers the handle: ch->bus).
 */
int ferry__reap_if_due(struct ferry__reaper *r) {
  ferry_channel *ch = r->ch;
  if (ch->closed) return 0;
  if (ferry__lost(ch)) return ferry__seg_lost(ch);
  uint64_t now = ferry__now_ns();
  /* a handle the SIGBUS handler covers (fault.c) needs no fstat here: a touch past the end is
   * caught and turns into FERRY_E_CORRUPT (ferry__lost above), at any time, not only after sleeps */
  if (!ch->bus && now - r->guard_ns >= (uint64_t)FERRY__GUARD_NS) {
    r->guard_ns = now;
    int g = ferry__seg_guard(ch);
    if (g) return g;
  }
  if (now - r->last_ns < (uint64_t)FERRY__SLICE_NS) return 0;
  r->last_ns = now;
  /* the liveness checks (a kill(0) and a /proc read per participant, ~10-30 µs) run outside the lock:
   * every peer's publish and claim waited for them (seen with strace: a subscriber's receive in futex
   * wait on the lock while its peer's reaper read /proc). Under the lock: who holds the slots, the pins'
   * TTLs and the reclaim; the lock again only when someone looks dead (reap_locked decides again) */
  int rc = ferry__chan_trylock(ch);
  if (rc == FERRY_E_BUSY) return 0;
  if (rc) return rc;
  struct ferry__part_id ids[FERRY_MAX_PARTICIPANTS];
  uint32_t nids = ferry__parts_snapshot(ch, ids);
  ferry__reap_pins_locked(ch);
  ferry__ring_reclaim(ch, true);
  ferry__chan_unlock(ch);
  if (!ferry__parts_any_dead(ids, nids)) return 0;
  rc = ferry__chan_trylock(ch);
  if (rc == FERRY_E_BUSY) return 0; /* the next slice tries again */
  if (rc) return rc;
  int n = ferry__reap_locked(ch);
  ferry__ring_reclaim(ch, true);
  ferry__chan_unlock(ch);
  return n;
}

/* As a wait's slice hook: a lost segment ends the wait with FERRY_E_CORRUPT. */
void ferry__reap_slice(void *reaper) {
  int r = ferry__reap_if_due(reaper);
  if (r == FERRY_E_CORRUPT) ferry__wait_abort(r);
}
