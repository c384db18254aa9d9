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
#define FERRY_MAX_JOBS 64          /* engine sends in flight per publisher */
#define FERRY_SEND_COPY_MAX 4096   /* engine sends of at most this many bytes copy the data at submit */

typedef struct ferry_channel ferry_channel;
typedef struct ferry_pub ferry_pub;
typedef struct ferry_sub ferry_sub;
typedef struct ferry_engine ferry_engine; /* a copy engine instance (see "Copy engines" below) */

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
  uint32_t token;       /* loan / held-message / job handle */
  uint64_t dropped;     /* consumer's dropped-message count (receive only) */
  int32_t status;       /* ferry_pub_collect: 0 or the job's error */
  uint32_t flags;       /* FERRY_MSG_* */
} ferry_msg_info;

/* ferry_msg_info.flags */
enum ferry_msg_flags {
  FERRY_MSG_PIPELINED = 1, /* payload still being copied: see ferry_sub_progress */
};

/* Send modes for ferry_pub_send_engine (JS names "offload", "pipelined"). */
enum ferry_send_mode {
  FERRY_SEND_OFFLOAD = 1,   /* engine copies; published when the copy completes */
  FERRY_SEND_PIPELINED = 2, /* published at once; receivers follow the copy's progress */
};

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
/* CLOCK_MONOTONIC in nanoseconds (the clock every libferry timeout uses). */
FERRY_API uint64_t ferry_now_ns(void);
/*
 * Value of a named constant of this header, without its FERRY_ prefix
 * ("HEADER_MAX", "WAIT_HYBRID", ...), so FFI callers check their copies at
 * load; FERRY_E_NOTFOUND for an unknown name.
 */
FERRY_API int64_t ferry_constant(const char *name);
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
/*
 * Copy publish through a copy engine (mode FERRY_SEND_OFFLOAD or
 * FERRY_SEND_PIPELINED, flags FERRY_COPY_* cache hint, chunk: the engine's
 * progress granularity for this message in bytes, 0 for its default). Returns at once with
 * info->token = the job's id (and, for pipelined, info->seq). `data` must stay
 * valid and unchanged until the job is collected, except for payloads of at
 * most FERRY_SEND_COPY_MAX bytes, which are copied into the job at once. Jobs finish in any order
 * and are collected in submission order by ferry_pub_collect.
 */
FERRY_API int ferry_pub_send_engine(ferry_pub *pub, ferry_engine *engine, const void *data, uint64_t len,
                                    const void *hdr, uint32_t hdr_len, uint32_t mode, uint32_t flags,
                                    uint32_t chunk, ferry_msg_info *info);
/*
 * Collect the oldest engine send if it has finished: offload publishes it now
 * (or gives its loan back if the copy failed), pipelined drops the
 * publisher's reference. Returns 1 with info->token = job id, info->seq and
 * info->status (0 or the job's error), or 0 when the oldest is still running
 * (or none is in flight).
 */
FERRY_API int ferry_pub_collect(ferry_pub *pub, ferry_msg_info *info);
/* Engine sends in flight. */
FERRY_API int ferry_pub_jobs_pending(ferry_pub *pub);
/* eventfd the engine signals whenever an engine send finishes (then call ferry_pub_collect). */
FERRY_API int ferry_pub_notify_fd(ferry_pub *pub);
/* 1 when the oldest engine send has finished (collect now), else 0 (wait for the fd). */
FERRY_API int ferry_pub_arm(ferry_pub *pub);

/* Copy publish ("inline"): loan + CPU copy + publish in one call. */
FERRY_API int ferry_pub_send(ferry_pub *pub, const void *data, uint64_t len, const void *hdr,
                             uint32_t hdr_len, ferry_msg_info *info);
/* The same with a cache hint for the destination (FERRY_COPY_HOT / COLD / AUTO). */
FERRY_API int ferry_pub_send_hint(ferry_pub *pub, const void *data, uint64_t len, const void *hdr,
                                  uint32_t hdr_len, uint32_t flags, ferry_msg_info *info);

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
/*
 * Direct wake, without a waiter thread: a datagram socket (abstract
 * namespace, nothing on disk) that publishers write one byte to after
 * publishing, while this subscriber is armed. Returns the fd (>= 0).
 */
FERRY_API int ferry_sub_wake_fd(ferry_sub *sub);
/*
 * Arm the direct wake: 0 armed (wait for the fd), 1 something is receivable
 * already (not armed). Also reaps dead peers at most every 50 ms, so a
 * caller that re-arms at least every 100 ms learns of a dead publisher.
 */
FERRY_API int ferry_sub_arm_wake(ferry_sub *sub);

/*
 * Pipelined messages (FERRY_MSG_PIPELINED): the payload is still being
 * copied when the message is received. Progress = bytes of the payload, from
 * its start, that are final; it only grows. A failed copy or a publisher that
 * died mid-copy turns into a negative FERRY_E_* (the prefix stays readable
 * but the message is incomplete). Non-pipelined messages are always complete.
 */
FERRY_API int64_t ferry_sub_progress(ferry_sub *sub, uint32_t token);
/* Wait until progress >= bytes: returns the progress, FERRY_E_TIMEOUT or the copy's error. */
FERRY_API int64_t ferry_sub_wait_progress(ferry_sub *sub, uint32_t token, uint64_t bytes, uint32_t wait,
                                          int64_t timeout_ns);
/* Like ferry_sub_arm, but signal once held message `token` has `bytes` ready (or failed). */
FERRY_API int ferry_sub_arm_progress(ferry_sub *sub, uint32_t token, uint64_t bytes);

/* ======================================================================
 * Copy engines (engine.c, engine_cpu.c, engine_sw.c, copy.c).
 *
 * An engine moves bytes from src to dst on behalf of the caller: `cpu`
 * copies in the caller's thread, `sw` hands the work to copy threads, a
 * plugin (a separately built shared library, see docs/writing-an-engine.md)
 * may drive hardware such as Intel DSA. Every engine is one versioned table
 * of function pointers (ferry_engine_ops) kept in a registry inside libferry.
 *
 * A job is one descriptor (src, dst, len, flags) plus a caller-owned
 * completion record (ferry_completion, 128 B, 64-byte aligned). The caller
 * keeps src, dst and the record valid and untouched until the record's
 * status leaves FERRY_JOB_PENDING; nothing is allocated per job.
 * ====================================================================== */

/* Version of the engine table / descriptor / completion-record contract. */
#define FERRY_ENGINE_ABI 1
/* The one symbol a plugin exports (see ferry_engine_entry_fn). */
#define FERRY_ENGINE_ENTRY "ferry_engine_entry"
#define FERRY_ENGINE_NAME_MAX 31 /* [a-z0-9_-], 1..31 bytes */
#define FERRY_ENGINE_MAX 16      /* registered engines */

#if defined(__cplusplus)
#define FERRY_ALIGN64 alignas(64)
#else
#define FERRY_ALIGN64 _Alignas(64)
#endif

/* Descriptor flags. Bits 0-1: cache hint for the destination. */
enum ferry_copy_flags {
  FERRY_COPY_AUTO = 0,       /* engine decides: hot below its cold threshold, else cold */
  FERRY_COPY_HOT = 1,        /* the reader comes soon: keep dst in cache (temporal stores, DSA CC=1) */
  FERRY_COPY_COLD = 2,       /* bulk data: send dst to memory (non-temporal stores, DSA CC=0) */
  FERRY_COPY_CACHE_MASK = 3,
  /* bits 2..31 reserved: must be 0 (FERRY_E_INVAL) */
};

/* Completion status (ferry_completion.status; also a futex word). */
enum ferry_job_status {
  FERRY_JOB_IDLE = 0,    /* never submitted, or not accepted (submit returned fewer) */
  FERRY_JOB_PENDING = 1, /* accepted, not finished: do not touch src, dst or the record */
  FERRY_JOB_DONE = 2,    /* every byte copied (bytes_done == len) */
  FERRY_JOB_ERROR = 3,   /* failed or cancelled: see error; bytes_done bytes are valid */
};

/*
 * Completion record, one per job, owned by the caller (stack, heap, shared
 * memory), 64-byte aligned. Filled by ferry_engine_submit, then written only
 * by the engine until status is DONE or ERROR. Readers use acquire loads:
 *  - status: FERRY_JOB_*; stored last, with release; sleepers wait on it
 *    with FUTEX_WAIT (shared), and the engine calls FUTEX_WAKE only when
 *    waiters != 0, so nobody sleeping means no syscall; the engine never
 *    touches the record after status leaves PENDING, so the caller may
 *    free or reuse it at once;
 *  - bytes_done: progress, the length of the completed prefix of dst; only
 *    grows, release-stored per finished chunk, so a reader that loads it with
 *    acquire may consume dst[0, bytes_done) while later chunks still copy;
 *  - engine[]: private to the engine (per-job state; a DSA engine keeps its
 *    32-byte-aligned hardware completion record here).
 */
typedef struct ferry_completion {
  FERRY_ALIGN64 uint32_t status;
  uint32_t waiters;    /* nonzero once a thread sleeps on status; status and waiters
                          form one 64-bit word that the finisher swaps atomically */
  int32_t error;       /* 0, or a negative FERRY_E_* once status is ERROR */
  uint32_t flags;      /* the descriptor's flags */
  uint64_t bytes_done; /* completed prefix (progress) */
  uint64_t len;        /* the job's length */
  uint64_t user;       /* the descriptor's user word */
  uint64_t mirror;     /* libferry: where to mirror progress for pipelined channel sends (0: nowhere);
                          engines leave it alone: ferry_completion_progress/finish maintain it */
  uint64_t notify;     /* libferry: eventfd notifier of a channel send, signalled by finish (0: none) */
  uint64_t reserved[1];
  uint64_t engine[8];  /* engine-private, 64-byte aligned */
} ferry_completion;

/* One copy job. dst and src must not overlap. */
typedef struct ferry_copy_desc {
  void *dst;
  const void *src;
  uint64_t len;
  uint32_t flags;          /* FERRY_COPY_* */
  uint32_t chunk;          /* hint: progress / split granularity in bytes for this job (0: the engine's) */
  ferry_completion *comp;  /* required, 64-byte aligned, not PENDING */
  uint64_t user;           /* copied to comp->user */
} ferry_copy_desc;

/* Engine configuration; NULL or zero fields mean defaults. */
typedef struct ferry_engine_config {
  uint32_t size;           /* sizeof(ferry_engine_config), or 0 (= current) */
  uint32_t threads;        /* sw: copy threads (0: online CPUs - 1, at least 1; max 64) */
  uint64_t chunk_bytes;    /* sw: chunk / progress granularity (0: 256 KiB; min 4 KiB) */
  uint64_t cpu_mask;       /* sw: pin copy thread i to the i-th set bit, round robin (0: no pinning) */
  uint32_t queue_depth;    /* sw: job queue entries, power of two (0: 1024) */
  uint32_t flags;          /* FERRY_ENGINE_F_* */
  uint64_t cold_threshold; /* FERRY_COPY_AUTO: jobs >= this use cold stores (0: min(LLC/2, 16 MiB)) */
  uint64_t idle_spin_ns;   /* sw: an idle copy thread polls this long before it sleeps (0: 20 us) */
  const char *options;     /* engine-specific "key=value,..." text, may be NULL */
} ferry_engine_config;

/* ferry_engine_config.flags */
enum ferry_engine_flags {
  FERRY_ENGINE_F_DRAIN = 1, /* sw: close finishes every accepted job; default: close cancels
                               the queued work (status ERROR, FERRY_E_CLOSED) */
};

/* ferry_engine_caps.flags */
enum ferry_engine_cap {
  FERRY_CAP_ASYNC = 1,       /* submit returns before the copy ends */
  FERRY_CAP_CACHE_HINTS = 2, /* HOT and COLD change where dst lands */
  FERRY_CAP_PROGRESS = 4,    /* bytes_done grows per chunk, not only at the end */
  FERRY_CAP_BATCH = 8,       /* one submit of many descriptors is cheaper than many submits */
};

typedef struct ferry_engine_caps {
  char name[FERRY_ENGINE_NAME_MAX + 1];
  uint32_t flags;         /* FERRY_CAP_* */
  uint32_t max_batch;     /* descriptors per submit (0: unlimited) */
  uint64_t max_transfer;  /* bytes per descriptor (0: unlimited) */
  uint64_t chunk_bytes;   /* progress granularity (0: whole job) */
  uint32_t threads;       /* copy threads (0: the caller's) */
  uint32_t abi;           /* the engine table's ABI version */
  uint64_t cold_threshold;
} ferry_engine_caps;

typedef struct ferry_engine_stats {
  uint64_t submitted;  /* jobs accepted */
  uint64_t jobs;       /* jobs finished DONE */
  uint64_t errors;     /* jobs finished ERROR */
  uint64_t bytes;      /* bytes copied */
  uint64_t busy_ns;    /* time spent copying, summed over copy threads */
  uint64_t chunks;     /* chunks copied */
  uint64_t full_waits; /* submits that waited for queue space */
  uint64_t threads;
} ferry_engine_stats;

/*
 * The engine table. `abi` and `size` come first and never move: the registry
 * rejects a table whose abi differs from FERRY_ENGINE_ABI (FERRY_E_VERSION).
 * Required: name, open, close, submit. Optional (NULL): caps, poll, wait, stats.
 *  - open(cfg, &impl): cfg is never NULL (defaults filled in by libferry).
 *  - submit(impl, descs, n): libferry has validated the descriptors and set
 *    every record PENDING (bytes_done 0, len, flags, user). Return how many
 *    leading descriptors were accepted (the rest are reset to IDLE), or a
 *    negative FERRY_E_* when none was: libferry then finishes every record
 *    with status ERROR and that code. An accepted job is finished exactly
 *    once, later or before returning, with ferry_completion_finish().
 *  - poll(impl, c): 1 finished, 0 pending (NULL: libferry reads c->status).
 *    An engine whose records are only updated when polled (hardware rings)
 *    finishes them here.
 *  - wait(impl, c, wait, timeout_ns): 0 finished or FERRY_E_TIMEOUT (NULL:
 *    libferry spins and/or sleeps on c->status).
 *  - close(impl): every accepted job must be finished (done or ERROR) when
 *    close returns; later calls on the handle are not allowed.
 */
typedef struct ferry_engine_ops {
  uint32_t abi;  /* FERRY_ENGINE_ABI */
  uint32_t size; /* sizeof(ferry_engine_ops) as the engine was built */
  const char *name;
  const char *description;
  int (*open)(const ferry_engine_config *cfg, void **impl);
  int (*close)(void *impl);
  int (*caps)(void *impl, ferry_engine_caps *out);
  int (*submit)(void *impl, const ferry_copy_desc *descs, uint32_t count);
  int (*poll)(void *impl, ferry_completion *c);
  int (*wait)(void *impl, ferry_completion *c, uint32_t wait, int64_t timeout_ns);
  int (*stats)(void *impl, ferry_engine_stats *out);
} ferry_engine_ops;

/* A plugin exports `const ferry_engine_ops *ferry_engine_entry(uint32_t host_abi)`. */
typedef const ferry_engine_ops *(*ferry_engine_entry_fn)(uint32_t host_abi);

typedef struct ferry_engine ferry_engine;

/* ---- registry ---- */
/* Register a table (kept by pointer: it must outlive the registration). */
FERRY_API int ferry_engine_register(const ferry_engine_ops *ops);
/*
 * dlopen a plugin, call its FERRY_ENGINE_ENTRY, check and register the table.
 * Copies the engine's name to name_out (may be NULL). FERRY_E_NOTFOUND: no
 * such library or no entry symbol; FERRY_E_VERSION: ABI mismatch;
 * FERRY_E_EXISTS: an engine of that name is registered.
 */
FERRY_API int ferry_engine_load(const char *path, char *name_out, size_t cap);
/* Remove a plugin or registered engine (FERRY_E_BUSY while open; built-ins: FERRY_E_PERM). */
FERRY_API int ferry_engine_unregister(const char *name);
/* Names of the registered engines, comma separated, into buf; returns the count. */
FERRY_API int ferry_engine_list(char *buf, size_t cap);

/* ---- engine instances ---- */
FERRY_API int ferry_engine_open(const char *name, const ferry_engine_config *cfg, ferry_engine **out);
/* Finish or cancel all work (see FERRY_ENGINE_F_DRAIN) and free the handle. */
FERRY_API int ferry_engine_close(ferry_engine *e);
FERRY_API int ferry_engine_caps_get(ferry_engine *e, ferry_engine_caps *out);
FERRY_API int ferry_engine_stats_get(ferry_engine *e, ferry_engine_stats *out);
/* Submit a batch; returns how many were accepted (the leading ones) or a negative code. */
FERRY_API int ferry_engine_submit(ferry_engine *e, const ferry_copy_desc *descs, uint32_t count);
/* One job without a descriptor array (FFI-friendly). Returns 0 or a negative code. */
FERRY_API int ferry_engine_copy(ferry_engine *e, void *dst, const void *src, uint64_t len,
                                uint32_t flags, ferry_completion *comp);
/* 1 finished OK, 0 pending, or the job's negative error. */
FERRY_API int ferry_engine_poll(ferry_engine *e, ferry_completion *comp);
/* Wait (FERRY_WAIT_*) up to timeout_ns (<0: forever): 0 done, the job's error, or FERRY_E_TIMEOUT. */
FERRY_API int ferry_engine_wait(ferry_engine *e, ferry_completion *comp, uint32_t wait,
                                int64_t timeout_ns);

/* ---- helpers for engine implementations (plugins link libferry) ---- */
/* Publish progress: bytes_done = max(bytes_done, bytes), release. */
FERRY_API void ferry_completion_progress(ferry_completion *c, uint64_t bytes);
/* Finish a job: error 0 -> DONE (bytes_done = len), else ERROR; wakes sleepers. */
FERRY_API void ferry_completion_finish(ferry_completion *c, int error);
/* Set the calling thread's ferry_last_error text; returns code. */
FERRY_API int ferry_set_error(int code, const char *msg);

/* ---- the CPU copy routines behind `cpu` and `sw` ---- */
/* Copy len bytes with the cache hint in flags (FERRY_COPY_*); dst/src must not overlap. */
FERRY_API int ferry_copy(void *dst, const void *src, uint64_t len, uint32_t flags);
/* Instruction set in use: "avx512", "avx2", "sse2" or "memcpy". */
FERRY_API const char *ferry_copy_isa(void);
/* Force one ("auto" = detect again); FERRY_E_NOTFOUND when this CPU lacks it. */
FERRY_API int ferry_copy_isa_set(const char *isa);

/* Struct sizes for FFI layout checks. */
FERRY_API size_t ferry_sizeof_completion(void);
FERRY_API size_t ferry_sizeof_copy_desc(void);
FERRY_API size_t ferry_sizeof_engine_config(void);
FERRY_API size_t ferry_sizeof_engine_caps(void);
FERRY_API size_t ferry_sizeof_engine_stats(void);

#ifdef __cplusplus
}
#endif
#endif /* FERRY_H */
