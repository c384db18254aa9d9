/*
 * ferry.h — the whole public C API of libferry.
 *
 * Conventions (liburing/libuv style):
 *   - every public name starts with ferry_ / FERRY_;
 *   - handles are opaque pointers;
 *   - every call returns 0 (or a non-negative count) on success and a negative
 *     FERRY_E_* code on failure; ferry_strerror() names it and
 *     ferry_last_error() gives the detail of the calling thread's last failure;
 *   - no inline-only functions: bun:ffi can only call exported symbols.
 */
#ifndef FERRY_H
#define FERRY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FERRY_BUILDING) && defined(__GNUC__)
#define FERRY_API __attribute__((visibility("default")))
#else
#define FERRY_API
#endif

#define FERRY_VERSION_MAJOR 0
#define FERRY_VERSION_MINOR 1
#define FERRY_VERSION_PATCH 0
/* Bumped whenever the shared-memory layout or the FFI contract changes. */
#define FERRY_ABI_VERSION 1

/* Error codes. Stable numbers: JS maps them to FerryError.code names. */
enum ferry_error {
  FERRY_OK = 0,
  FERRY_E_INVAL = -1,      /* invalid argument */
  FERRY_E_NAME = -2,       /* invalid channel name */
  FERRY_E_EXISTS = -3,     /* a live channel with this name exists */
  FERRY_E_NOTFOUND = -4,   /* no channel with this name */
  FERRY_E_BADMAGIC = -5,   /* segment is not a ferry channel */
  FERRY_E_VERSION = -6,    /* segment layout version not supported */
  FERRY_E_CORRUPT = -7,    /* shared control data failed validation */
  FERRY_E_FULL = -8,       /* no space (backpressure "error") */
  FERRY_E_TOOBIG = -9,     /* payload or header larger than the channel allows */
  FERRY_E_AGAIN = -10,     /* nothing to receive right now */
  FERRY_E_TIMEOUT = -11,   /* wait timed out */
  FERRY_E_EOF = -12,       /* every publisher closed: end of stream */
  FERRY_E_PEERDEAD = -13,  /* every publisher is gone and at least one crashed */
  FERRY_E_CLOSED = -14,    /* handle already closed */
  FERRY_E_STATE = -15,     /* loan/message already published/released, or wrong owner */
  FERRY_E_LIMIT = -16,     /* too many participants, consumers, loans or held messages */
  FERRY_E_SYS = -17,       /* system call failed (see ferry_last_error) */
  FERRY_E_PERM = -18,      /* permission denied */
  FERRY_E_NOMEM = -19,     /* out of memory (process or /dev/shm) */
  FERRY_E_BUSY = -20,      /* lock held too long by another process */
};

/* Backpressure policy of a publisher when the ring or arena is full. */
enum ferry_backpressure {
  FERRY_BP_BLOCK = 0,       /* wait for space (bounded by the timeout) */
  FERRY_BP_ERROR = 1,       /* fail with FERRY_E_FULL */
  FERRY_BP_DROP_OLDEST = 2, /* drop the oldest unreceived messages, counted */
};

/* Wait strategies (fixed names in JS: "spin" | "block" | "hybrid"). */
enum ferry_wait {
  FERRY_WAIT_SPIN = 0,
  FERRY_WAIT_BLOCK = 1,
  FERRY_WAIT_HYBRID = 2,
};

/* Limits. */
#define FERRY_NAME_MAX 64          /* channel name length, bytes */
#define FERRY_HEADER_MAX 4096      /* per-message header, bytes */
#define FERRY_MAX_PARTICIPANTS 64  /* publishers + subscribers per channel */
#define FERRY_MAX_CONSUMERS 32     /* broadcast subscribers + groups */
#define FERRY_MAX_HELD 128         /* loans (publisher) / held messages (subscriber) */
#define FERRY_GROUP_MAX 31         /* group name length */

typedef struct ferry_channel ferry_channel;
typedef struct ferry_pub ferry_pub;
typedef struct ferry_sub ferry_sub;

/*
 * Result record filled by loan/publish/receive. Every call that takes a
 * `ferry_msg_info *info` accepts NULL: the result then goes to the handle's
 * own record, whose address ferry_pub_info()/ferry_sub_info() return, so an
 * FFI caller maps it once and passes no buffer per call. Offsets are relative
 * to the arena base (see ferry_channel_info).
 */
typedef struct ferry_msg_info {
  uint64_t seq;         /* global sequence number of the message */
  uint64_t offset;      /* payload offset in the arena */
  uint64_t length;      /* payload length */
  uint64_t hdr_offset;  /* header offset in the arena (0 when hdr_length == 0) */
  uint32_t hdr_length;  /* header length */
  uint32_t token;       /* loan / held-message handle for publish/release */
  uint64_t dropped;     /* consumer's dropped-message count (receive only) */
} ferry_msg_info;

/* Channel geometry and the mapped addresses; filled by ferry_channel_info. */
typedef struct ferry_channel_info {
  uint64_t arena_size;
  uint64_t granule;       /* allocation unit of the arena, bytes */
  uint64_t ring_slots;    /* descriptor ring capacity */
  uint64_t arena_ro;      /* address of the read-only arena view */
  uint64_t ctrl;          /* address of the control block (hot counters) */
  uint64_t segment_size;  /* total bytes of the segment */
} ferry_channel_info;

/* Counters of a channel (ferry_channel_stats). */
typedef struct ferry_stats {
  uint64_t published;
  uint64_t tail;          /* next sequence number */
  uint64_t head;          /* oldest unreclaimed sequence number */
  uint64_t dropped;       /* messages dropped by drop-oldest (all consumers) */
  uint64_t unheard;       /* published while nobody subscribed */
  uint64_t arena_used;    /* bytes allocated in the arena */
  uint64_t publishers;    /* live publishers */
  uint64_t subscribers;   /* live subscribers */
  uint64_t reclaimed;     /* participants reclaimed after a crash */
} ferry_stats;

/* ---- library ---- */
FERRY_API const char *ferry_version(void);
FERRY_API int ferry_abi_version(void);
FERRY_API const char *ferry_strerror(int code);
FERRY_API const char *ferry_err_name(int code);
/* Detail of the calling thread's last failure (never NULL). */
FERRY_API const char *ferry_last_error(void);
/* Sizes of the public structs, so FFI callers can check their layouts. */
FERRY_API size_t ferry_sizeof_msg_info(void);
FERRY_API size_t ferry_sizeof_channel_info(void);
FERRY_API size_t ferry_sizeof_stats(void);
/* 0 when name is a valid channel name, else FERRY_E_NAME. */
FERRY_API int ferry_name_check(const char *name);

/* ---- channels ---- */
/*
 * Create channel `name` with an arena of `capacity` bytes and `ring_slots`
 * descriptors (0: default). `mode` is the segment's permission bits (0: 0600).
 * A stale segment of the same name that no live process uses is replaced;
 * one still in use gives FERRY_E_EXISTS.
 */
FERRY_API int ferry_channel_create(const char *name, uint64_t capacity, uint32_t ring_slots,
                                   uint32_t mode, ferry_channel **out);
FERRY_API int ferry_channel_open(const char *name, ferry_channel **out);
/* Detach (and, for the creator, unlink the name). Idempotent per handle. */
FERRY_API int ferry_channel_close(ferry_channel *ch);
FERRY_API int ferry_channel_info_get(ferry_channel *ch, ferry_channel_info *out);
FERRY_API int ferry_channel_stats(ferry_channel *ch, ferry_stats *out);
/* Reclaim space held by dead participants; returns how many were reclaimed. */
FERRY_API int ferry_channel_reap(ferry_channel *ch);
/* Remove the name of a channel (creator or not). */
FERRY_API int ferry_unlink(const char *name);
/*
 * Remove every ferry segment in /dev/shm that no live process uses (also
 * corrupt ones). Returns the number removed.
 */
FERRY_API int ferry_gc(void);

/* ---- publishers ---- */
FERRY_API int ferry_pub_open(ferry_channel *ch, uint32_t backpressure, int64_t timeout_ns,
                             ferry_pub **out);
FERRY_API int ferry_pub_close(ferry_pub *pub);
/* The publisher's own result record (stable until ferry_pub_close). */
FERRY_API ferry_msg_info *ferry_pub_info(ferry_pub *pub);
/* Address of the read-write arena view (publishers only). */
FERRY_API uint64_t ferry_pub_arena(ferry_pub *pub);
/* Loan `size` bytes of the arena; fills info (offset, token). */
FERRY_API int ferry_pub_loan(ferry_pub *pub, uint64_t size, ferry_msg_info *info);
/*
 * Publish the first `len` bytes of a loan (len <= loaned size; the rest of the
 * loan goes back to the arena) with an optional header; fills info->seq.
 */
FERRY_API int ferry_pub_publish(ferry_pub *pub, uint32_t token, uint64_t len, const void *hdr,
                                uint32_t hdr_len, ferry_msg_info *info);
/* Give a loan back without publishing it. */
FERRY_API int ferry_pub_unloan(ferry_pub *pub, uint32_t token);
/* Copy publish ("inline"): loan + CPU copy + publish in one call. */
FERRY_API int ferry_pub_send(ferry_pub *pub, const void *data, uint64_t len, const void *hdr,
                             uint32_t hdr_len, ferry_msg_info *info);

/* ---- subscribers ---- */
/* group: NULL or "" for broadcast, else the name of a worker group. */
FERRY_API int ferry_sub_open(ferry_channel *ch, const char *group, ferry_sub **out);
FERRY_API int ferry_sub_close(ferry_sub *sub);
/* The subscriber's own result record (stable until ferry_sub_close). */
FERRY_API ferry_msg_info *ferry_sub_info(ferry_sub *sub);
/* Never blocks: 0 and info filled, or FERRY_E_AGAIN / FERRY_E_EOF / FERRY_E_PEERDEAD. */
FERRY_API int ferry_sub_try_receive(ferry_sub *sub, ferry_msg_info *info);
/* Wait up to timeout_ns (<0: forever) with the given strategy. */
FERRY_API int ferry_sub_receive(ferry_sub *sub, ferry_msg_info *info, uint32_t wait,
                                int64_t timeout_ns);
FERRY_API int ferry_sub_release(ferry_sub *sub, uint32_t token);
/*
 * Event-loop integration: an eventfd that becomes readable when the
 * subscriber may have a message (or end of stream). A native waiter thread
 * sleeps (block or hybrid) only while armed. Returns the fd (>= 0).
 */
FERRY_API int ferry_sub_notify_fd(ferry_sub *sub, uint32_t wait);
/* Ask the waiter to signal the fd once something is receivable. */
FERRY_API int ferry_sub_arm(ferry_sub *sub);

#ifdef __cplusplus
}
#endif
#endif /* FERRY_H */
