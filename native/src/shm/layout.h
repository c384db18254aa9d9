/*
 * shm/layout.h — the shared-memory layout of a channel segment and the
 * process-local handle that maps it. Everything here is data: the code that
 * reads and writes each part lives in shm/segment.c (header), shm/lock.c
 * (lock word), shm/alloc.c (bitmap), shm/ring.c (descriptors), shm/members.c
 * (participants, consumers) and shm/wake.c (notification words).
 */
#ifndef FERRY_SHM_LAYOUT_H
#define FERRY_SHM_LAYOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry.h"

#define FERRY_MAGIC 0x3148435952524546ull /* "FERRYCH1" little-endian */
#define FERRY_LAYOUT_VERSION 9u
#define FERRY_SHM_PREFIX "ferry."
#define FERRY_PAGE 4096u
#define FERRY_CACHELINE 64u
#define FERRY_DEFAULT_RING 4096u
#define FERRY_MIN_RING 8u
#define FERRY_MAX_RING (1u << 20)
#define FERRY_MAX_ARENA (1ull << 40)

/* ---- shared layout ---- */

/* Page 0: immutable after creation, protected by a checksum. */
struct ferry_seg_hdr {
  uint64_t magic;
  uint32_t layout_version;
  uint32_t hdr_size;
  uint64_t segment_size;
  uint64_t ctrl_off, consumers_off, parts_off, ring_off, pins_off, bitmap_off, arena_off;
  uint64_t arena_size;
  uint64_t granule;
  uint32_t ring_slots;
  uint32_t max_parts;
  uint32_t max_consumers;
  uint32_t max_held;
  /* messages kept for subscribers that join late (0: none; below ring_slots, v6) */
  uint32_t history;
  uint32_t creator_pid;
  uint32_t creator_uid;
  uint32_t reserved;
  uint64_t creator_start; /* process start time, clock ticks since boot */
  uint64_t created_ns;    /* CLOCK_REALTIME */
  char name[FERRY_NAME_MAX + 1];
  uint8_t pad[7];
  /* v7: where and which incarnation: the creator's host identity (ferry_host_id, 32 hex
   * digits) and a random generation, so a reference (host, channel, generation, seq) made
   * from this segment never resolves against another machine's, container's or an older
   * segment of the same name */
  char host_id[FERRY_HOST_ID_LEN];
  uint64_t generation;
  /* sizes of the shared structs: a build whose layout differs refuses the
   * segment with FERRY_E_VERSION even if someone forgot to bump the version */
  uint32_t sz_ctrl, sz_consumer, sz_part, sz_entry, sz_pin, pad2;
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
  uint32_t pins_used; /* set once a publisher pins (v7): reaps look for expired pins only then */

  /* publish notification: futex word + sleeping-subscriber count */
  _Alignas(64) _Atomic uint32_t pub_futex;
  _Atomic uint32_t sub_waiters;
  /* subscribers armed for a direct wake (v9): bit i = participant slot i
   * (FERRY_MAX_PARTICIPANTS is 64), so a publish reads one word instead of
   * every participant record (64 records on ~50 pages: cold after an idle gap) */
  _Atomic uint64_t wake_mask;

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
  /* subscribers: seq + 1 of the message whose claim or release is in flight
   * (set before the claim CAS / before the held record is cleared, reset
   * after the record is written / after the reference is dropped), so the
   * orphan repair (shm/members.c) never takes a reference a live process
   * still owns. 0: none. */
  _Atomic uint64_t pending;
  /* direct wake (subscribers): while this slot's bit is set in ctrl->wake_mask, a
   * publisher sends one byte to the abstract socket "ferry-wake.<pid>.<slot>.<wake_nonce>"
   * after publishing */
  uint32_t wake_nonce;
  uint32_t pad2;
  struct ferry_held held[FERRY_MAX_HELD];
};

enum {
  ENT_RECLAIMED = 1u, /* arena blocks freed */
  ENT_PIPELINED = 2u, /* published before its payload was copied: see progress */
  ENT_PUBREF = 4u,    /* the publisher still holds its reference (pipelined; atomic clear) */
  ENT_HIST = 8u,      /* the channel holds a history reference on it (history > 0; cleared under the lock) */
  ENT_PIN = 16u,      /* the channel holds a pin reference on it until remote acks / TTL / publisher death (v7; atomic clear) */
  ENT_INLINE = 32u,   /* payload (and header) in the descriptor's second line, no arena space; consumers hold no
                       * reference on it: their cursors protect it (v8, shm/ring.c) */
};

/*
 * Pin record of ring slot i (v7, one per descriptor, shm/ring.c): a message
 * published with a pin (ferry_pub_pin) is held by the channel itself, like a
 * history message, until `acks` acknowledgements arrive (ferry_sub_pin_ack),
 * its deadline passes, or its publisher dies. Written before the descriptor's
 * seq is stored; valid only while seq1 equals the descriptor's seq and the
 * descriptor carries ENT_PIN. Everything here is hostile input.
 */
struct ferry_pin {
  _Atomic uint64_t seq1;     /* s + 1 of the message pinned in this slot */
  uint64_t deadline_ns;      /* ferry__now_ns clock (CLOCK_MONOTONIC: one per host) */
  _Atomic uint32_t acks;     /* acknowledgements still wanted */
  uint32_t publisher;        /* participant slot of its publisher */
  uint64_t pad;
};
_Static_assert(sizeof(struct ferry_pin) == 32, "pin record is 32 bytes");

/*
 * Progress of a pipelined message, in its descriptor: the completed prefix
 * in bytes, or PROGRESS_ERROR | (-error << 40) | prefix when the copy failed.
 * Written by the publisher's copy engine (through the send's host hook, shm/ring.c);
 * `waiters` counts receivers sleeping on the low 32 bits.
 */
#define FERRY_PROGRESS_ERROR (1ull << 63)
#define FERRY_PROGRESS_BYTES ((1ull << 40) - 1)
struct ferry_mirror {
  _Atomic uint64_t bytes;
  _Atomic uint32_t waiters;
};

/*
 * One descriptor: two cache lines, 128-byte aligned (an adjacent-line pair).
 * The first holds the descriptor, the second the bytes of an inline message
 * (ENT_INLINE, v8): payload at 0, header right after it, pay_len + hdr_len <=
 * FERRY_INLINE_MAX; written and read as relaxed 64-bit atomic words (a
 * claimer may read them while a publisher reuses the slot: it then loses its
 * cursor CAS and discards what it read). Granule indexes fit 32 bits (arena
 * <= 2^32 granules).
 */
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
  _Alignas(64) _Atomic uint64_t inl[FERRY_INLINE_MAX / 8]; /* ENT_INLINE: the message's bytes */
} __attribute__((aligned(128)));

_Static_assert(sizeof(struct ferry_entry) == 128, "entry must be one adjacent cache-line pair");
_Static_assert(FERRY_INLINE_MAX == 64, "the inline bytes fill the descriptor's second line");

/* ---- the process-local handle of a mapped channel ---- */

/*
 * A channel handle's shared mappings as the SIGBUS handler sees them (fault.c:
 * an entry of its static table, claimed by ferry_fault_guard, given back by
 * ferry__seg_unmap). A fault past the end of a truncated segment inside one
 * of these ranges replaces that mapping by private zero pages and sets `lost`
 * instead of killing the process; the handle reads `lost` (ferry__lost) and
 * fails every later call with FERRY_E_CORRUPT. Static storage, never freed,
 * so a handler that runs while the handle closes writes nothing it no longer owns.
 */
enum { FERRY__BUS_RANGES = 3 }; /* control region, read-only arena, read-write arena */
struct ferry__bus {
  _Atomic int used; /* 0: free; set last when claimed, cleared last when given back */
  _Atomic int lost; /* set by the handler */
  _Atomic uintptr_t lo[FERRY__BUS_RANGES]; /* 0: no range; each set after its hi and prot */
  uintptr_t hi[FERRY__BUS_RANGES];
  int prot[FERRY__BUS_RANGES];
  char path[128]; /* the segment's /dev/shm path, as /proc/self/maps names it */
};

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
  uint32_t history; /* messages kept for late joiners (validated < ring_slots) */
  uint64_t nbits, nwords;
  struct ferry_ctrl *ctrl;
  struct ferry_consumer *cons;
  struct ferry_part *parts;
  struct ferry_entry *ring;
  struct ferry_pin *pins; /* one per ring slot (v7) */
  uint64_t generation;    /* the header's, copied at open */
  char host_id[FERRY_HOST_ID_LEN + 1];
  uint64_t *bitmap; /* 1 bit per granule, 1 = allocated; guarded by the lock */
  int users; /* open pubs + subs on this handle */
  uint64_t last_orphan_ns; /* when this handle last looked for orphaned references (rate limit) */
  int lost;  /* 0, or FERRY_E_CORRUPT once the segment shrank under this handle (shm/segment.c: ferry__lost) */
  struct ferry__bus *bus; /* its SIGBUS recovery entry (fault.c), or NULL: then the fstat guard alone */
};

/* Membership counters (pubs_live, pubs_ever, pubs_crashed, subs_live) are written under the
 * channel lock but read without it (end of stream, stats): single-word relaxed atomics. */
#define FERRY__COUNT_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define FERRY__COUNT_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

#endif
