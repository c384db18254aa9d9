/* internal.h — shared-memory layout and internal helpers of libferry (not installed). */
#ifndef FERRY_INTERNAL_H
#define FERRY_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry.h"

#define FERRY_MAGIC 0x3148435952524546ull /* "FERRYCH1" little-endian */
#define FERRY_LAYOUT_VERSION 4u
#define FERRY_SHM_PREFIX "ferry."
#define FERRY_PAGE 4096u
#define FERRY_CACHELINE 64u
#define FERRY_DEFAULT_RING 4096u
#define FERRY_MIN_RING 8u
#define FERRY_MAX_RING (1u << 20)
#define FERRY_MAX_ARENA (1ull << 40)
#define FERRY_LOCK_TIMEOUT_NS (5ll * 1000 * 1000 * 1000)
#define FERRY_SLICE_NS (50ll * 1000 * 1000) /* liveness re-check period while waiting */

#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((uint64_t)(a)-1))

/* ---- shared layout ---- */

/* Page 0: immutable after creation, protected by a checksum. */
struct ferry_seg_hdr {
  uint64_t magic;
  uint32_t layout_version;
  uint32_t hdr_size;
  uint64_t segment_size;
  uint64_t ctrl_off, consumers_off, parts_off, ring_off, bitmap_off, arena_off;
  uint64_t arena_size;
  uint64_t granule;
  uint32_t ring_slots;
  uint32_t max_parts;
  uint32_t max_consumers;
  uint32_t max_held;
  uint32_t creator_pid;
  uint32_t creator_uid;
  uint64_t creator_start; /* process start time, clock ticks since boot */
  uint64_t created_ns;    /* CLOCK_REALTIME */
  char name[FERRY_NAME_MAX + 1];
  uint8_t pad[7];
  /* sizes of the shared structs: a build whose layout differs refuses the
   * segment with FERRY_E_VERSION even if someone forgot to bump the version */
  uint32_t sz_ctrl, sz_consumer, sz_part, sz_entry;
  uint64_t checksum; /* FNV-1a of every byte above */
};

/* Mutable control block. Hot words that different processes write live on separate lines. */
struct ferry_ctrl {
  /* lock.c: 0 free, else the holder's pid | FERRY_LOCK_WAITERS. Guards ring tail, allocator, membership. */
  _Atomic uint32_t lock;
  uint32_t ready; /* creator sets 1 when initialised */

  /* written by publishers (under lock) */
  _Alignas(64) uint64_t tail;   /* next seq to publish */
  uint64_t head;                /* oldest seq not yet reclaimed */
  uint64_t published;
  uint64_t unheard;
  uint64_t arena_used;          /* granules */
  uint64_t free_hint;           /* no free granule below word free_hint of the bitmap */
  uint32_t n_consumers_active;  /* consumers counted into refs at publish */
  uint64_t dropped;

  /* membership: written rarely, read by every empty try_receive (end of
   * stream), so kept off the line the publisher writes per message */
  _Alignas(64) uint32_t pubs_live;
  uint32_t pubs_ever;
  uint32_t pubs_crashed;
  uint32_t subs_live;
  uint32_t reclaimed;

  /* publish notification: futex word + sleeping-subscriber count */
  _Alignas(64) _Atomic uint32_t pub_futex;
  _Atomic uint32_t sub_waiters;
  _Atomic uint32_t direct_waiters; /* subscribers armed for a direct wake */

  /* space notification: a last release bumps it only while a publisher
   * waits for space (space_waiters), so it does not bounce per message */
  _Alignas(64) _Atomic uint32_t rel_futex;
  _Atomic uint32_t space_waiters;
};

enum { CONS_FREE = 0, CONS_ACTIVE = 1 };

struct ferry_consumer {
  _Alignas(64) _Atomic uint64_t cursor; /* next seq this consumer claims */
  _Atomic uint64_t dropped;
  uint32_t state;
  uint32_t members;
  char group[FERRY_GROUP_MAX + 1]; /* "" = broadcast subscriber */
};

enum { PART_FREE = 0, PART_PUB = 1, PART_SUB = 2 };

/* A held record: for a publisher a loan, for a subscriber a received message. */
struct ferry_held {
  uint64_t a;    /* pub: first granule; sub: seq */
  uint64_t len;  /* pub: loaned bytes */
  uint32_t b;    /* pub: granule count; sub: ring index */
  uint32_t used; /* 0 free, 1 in use */
};

struct ferry_part {
  uint32_t kind;
  uint32_t pid;
  uint64_t start;      /* process start time */
  uint32_t consumer;   /* subscribers: consumer slot */
  uint32_t pad;
  uint64_t count;      /* messages published / received */
  /* direct wake (subscribers): while wake_armed, a publisher sends one byte to
   * the abstract socket "ferry-wake.<pid>.<slot>.<wake_nonce>" after publishing */
  _Atomic uint32_t wake_armed;
  uint32_t wake_nonce;
  struct ferry_held held[FERRY_MAX_HELD];
};

enum {
  ENT_RECLAIMED = 1u, /* arena blocks freed */
  ENT_PIPELINED = 2u, /* published before its payload was copied: see progress */
  ENT_PUBREF = 4u,    /* the publisher still holds its reference (pipelined; atomic clear) */
};

/*
 * Progress of a pipelined message, in its descriptor: the completed prefix
 * in bytes, or PROGRESS_ERROR | (-error << 40) | prefix when the copy failed.
 * Written by the publisher's copy engine (through ferry_completion.mirror);
 * `waiters` counts receivers sleeping on the low 32 bits.
 */
#define FERRY_PROGRESS_ERROR (1ull << 63)
#define FERRY_PROGRESS_BYTES ((1ull << 40) - 1)
struct ferry_mirror {
  _Atomic uint64_t bytes;
  _Atomic uint32_t waiters;
};

/* One descriptor: one cache line. Granule indexes fit 32 bits (arena <= 2^32 granules). */
struct ferry_entry {
  _Atomic uint64_t seq; /* s + 1 once message s is published in this slot */
  _Atomic uint32_t refs;
  uint32_t flags;       /* ENT_*; written before seq is stored */
  uint64_t pay_len;
  struct ferry_mirror progress; /* pipelined messages only */
  uint32_t pay_gran;  /* first granule of the payload block */
  uint32_t pay_ngran;
  uint32_t hdr_gran;  /* first granule of the header block */
  uint32_t hdr_ngran;
  uint32_t hdr_len;
  uint32_t publisher; /* participant slot */
};

_Static_assert(sizeof(struct ferry_entry) == 64, "entry must be one cache line");

/* ---- process-local handles ---- */

struct ferry_channel {
  int fd;
  bool creator;
  bool closed;
  uint8_t *base;      /* whole segment, read-write, arena excluded */
  uint64_t map_len;   /* bytes mapped at base (up to arena_off) */
  uint8_t *arena_ro;  /* read-only arena view */
  uint8_t *arena_rw;  /* read-write view, mapped on first publisher */
  char name[FERRY_NAME_MAX + 1];
  /* local copies of the immutable geometry: never re-read from shared memory */
  uint64_t segment_size, arena_off, arena_size, granule;
  uint32_t gshift; /* log2(granule) */
  uint32_t ring_slots, ring_mask, max_parts, max_consumers;
  uint64_t nbits, nwords;
  struct ferry_ctrl *ctrl;
  struct ferry_consumer *cons;
  struct ferry_part *parts;
  struct ferry_entry *ring;
  uint64_t *bitmap; /* 1 bit per granule, 1 = allocated; guarded by the lock */
  int users; /* open pubs + subs on this handle */
};

struct ferry_pub {
  ferry_msg_info info; /* results when the caller passes info == NULL (FFI: read in place) */
  ferry_channel *ch;
  uint32_t part;
  uint32_t bp;
  int64_t timeout_ns;
  bool closed;
  struct ferry_jobs *jobs; /* offload / pipelined sends in flight (offload.c) */
  /* Private copy of this publisher's loans: the shared copy in its participant
   * record exists only so that a reaper can free them after a crash, and is
   * never trusted by this process (a peer may have scribbled on it). */
  uint32_t nheld;
  struct ferry_held held[FERRY_MAX_HELD];
};

struct ferry_sub {
  ferry_msg_info info; /* results when the caller passes info == NULL (FFI: read in place) */
  ferry_channel *ch;
  uint32_t part;
  uint32_t consumer;
  bool closed;
  uint32_t polls;      /* try_receive misses since the last liveness check */
  uint64_t last_reap;  /* ns; the caller's thread only (the waiter keeps its own) */
  struct ferry_waiter *waiter;
  int wake_fd;          /* direct-wake socket, or -1 */
  /* armed progress wait (ferry_sub_arm_progress), copied at arm time so the
   * waiter thread never reads the held table: ring index, seq + 1, bytes */
  _Atomic bool arm_progress;
  uint32_t arm_idx;
  uint64_t arm_seq1, arm_bytes;
  /* Private copy of the held messages (see ferry_pub.held). */
  uint32_t nheld;
  struct ferry_held held[FERRY_MAX_HELD];
};

/*
 * Native waiter behind ferry_sub_notify_fd: a thread
 * that, while armed, runs `fn` (a wait that returns when there is something
 * for JS to do) and then signals the eventfd.
 */
struct ferry_waiter {
  pthread_t thread;
  int efd;
  uint32_t wait;
  _Atomic uint32_t armed; /* private futex word: 1 while JS waits for a signal */
  _Atomic bool stop;
  int (*fn)(void *arg, uint32_t wait, _Atomic bool *stop);
  void *arg;
};

/* ---- error.c ---- */
int ferry__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ferry__errno(int code, const char *what);

/* ---- segment.c ---- */
uint64_t ferry__proc_start(pid_t pid); /* 0 when the process does not exist */
bool ferry__alive(uint32_t pid, uint64_t start);
uint64_t ferry__checksum(const struct ferry_seg_hdr *h);
int ferry__seg_validate(const struct ferry_seg_hdr *h, uint64_t file_size);
int ferry__shm_path(const char *name, char *out, size_t cap);
int ferry__seg_stale(const char *path); /* 1 when no live process uses it */

/* ---- lock.c ---- */
#define FERRY_LOCK_WAITERS 0x80000000u
int ferry__lock(ferry_channel *ch);
void ferry__unlock(ferry_channel *ch);
uint32_t ferry__pid(void); /* cached getpid(), refreshed after fork */
void ferry__repair(ferry_channel *ch); /* channel.c: rebuild after a holder died */

/* ---- alloc.c: granule bitmap, caller holds the lock ---- */
int64_t ferry__alloc(ferry_channel *ch, uint64_t ngran);
int ferry__free(ferry_channel *ch, uint64_t gran, uint64_t ngran);
int ferry__mark(ferry_channel *ch, uint64_t gran, uint64_t ngran);

/* ---- notify.c ---- */
int ferry__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns);
void ferry__futex_wake(_Atomic uint32_t *addr);
uint64_t ferry__now_ns(void);
void ferry__cpu_relax(void);
void ferry__waiter_stop(struct ferry_waiter *w);
int ferry__waiter_start(struct ferry_waiter **out, uint32_t wait, int (*fn)(void *, uint32_t, _Atomic bool *), void *arg);
int ferry__waiter_arm(struct ferry_waiter *w);
void ferry__mirror_store(uint64_t mirror, uint64_t value); /* engine.c: progress into shared memory */
/* An eventfd shared by a publisher and its jobs in flight; freed by the last reference. */
struct ferry_notifier {
  _Atomic uint32_t refs;
  int efd;
};
void ferry__notifier_put(struct ferry_notifier *n);
int ferry__engine_submit_mirrored(ferry_engine *e, const ferry_copy_desc *d, uint64_t mirror,
                                  struct ferry_notifier *notify);
void ferry__jobs_stop(ferry_pub *p);                        /* offload.c: on close */
int ferry__publish(ferry_pub *p, uint32_t token, uint64_t len, const void *hdr, uint32_t hdr_len, uint32_t eflags,
                   ferry_msg_info *info);
int64_t ferry__progress_wait(ferry_channel *ch, uint32_t idx, uint64_t seq1, uint64_t bytes, uint32_t wait,
                             int64_t timeout_ns, _Atomic bool *stop);
void ferry__pubref_drop(ferry_channel *ch, struct ferry_entry *e, int64_t error); /* subscriber.c */
void ferry__wake_direct(ferry_channel *ch); /* subscriber.c: after a publish, when direct_waiters */
void ferry__wake_disarm(ferry_channel *ch, struct ferry_part *part);
int ferry__wait_until(ferry_channel *ch, int (*ready)(void *), void *arg, _Atomic uint32_t *word,
                      _Atomic uint32_t *waiters, uint64_t spin_until, int64_t timeout_ns, _Atomic bool *stop);
/* 0 when receivable (or end of stream) was seen, TIMEOUT, or another error. */
int ferry__wait_receivable(ferry_sub *sub, uint32_t wait, int64_t timeout_ns, _Atomic bool *stop);
bool ferry__receivable(ferry_sub *sub);



/* ---- channel.c internals shared with publisher.c / subscriber.c ---- */
void ferry__channel_put(ferry_channel *ch);
void ferry__unref(ferry_channel *ch, struct ferry_entry *e);
void ferry__entry_free(ferry_channel *ch, struct ferry_entry *e);
void ferry__reclaim(ferry_channel *ch, bool sweep);
void ferry__consumer_leave(ferry_channel *ch, uint32_t ci);
void ferry__part_reclaim(ferry_channel *ch, uint32_t i, bool crashed);
int ferry__part_join(ferry_channel *ch, uint32_t kind, uint32_t *out);
int ferry__reap_if_due(ferry_channel *ch, uint64_t *last_ns);
#endif
