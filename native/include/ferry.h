/*
 * ferry.h — the public C API of libferry: channels, publishers, subscribers;
 * it includes ferry/errors.h (the error list) and ferry/engine.h (the SDK
 * for copy engines), so one include gives everything.
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

/* The release version is ferry_version() (one place: native/package.json).
 * Bumped whenever the shared-memory layout or the FFI contract changes: */
#define FERRY_ABI_VERSION 3

#include "ferry/errors.h"

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
#define FERRY_HOST_ID_LEN 32       /* host identity: hex digits (ferry_host_id) */
#define FERRY_INLINE_MAX 64        /* small messages: payload + header bytes carried in the descriptor (v8) */

typedef struct ferry_channel ferry_channel;
typedef struct ferry_pub ferry_pub;
typedef struct ferry_sub ferry_sub;
typedef struct ferry_engine ferry_engine; /* a copy engine instance (see ferry/engine.h) */

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
  uint64_t data;        /* address of the payload in this process (loan: writable; received: read-only) */
} ferry_msg_info;

/* ferry_msg_info.flags */
enum ferry_msg_flags {
  FERRY_MSG_PIPELINED = 1, /* payload still being copied: see ferry_sub_progress */
  /* small message (v8): offset and hdr_offset are relative to the handle's inline area, not
   * the arena (a loan: the publisher's staging area, ferry_pub_stage_lend; a received
   * message: the subscriber's copy area, ferry_sub_inline_lend). `data` is right either way. */
  FERRY_MSG_INLINE = 2,
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
  uint64_t history;       /* messages kept for late joiners (ferry_channel_create2), 0: none */
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
  uint64_t history;       /* messages the history holds now (at most ferry_channel_info.history) */
  uint64_t backlog;       /* the most messages any live consumer (subscriber or group) has not claimed yet */
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
 * descriptors (0: default). `mode` is the segment's permission bits (0: 0600;
 * umask does not narrow it). A stale segment of the same name that this
 * process's euid owns and no live process uses is replaced; one still in use
 * gives FERRY_E_EXISTS. FERRY_E_PERM, with the owner's uid or the file's
 * type in the detail, when the name is taken by another user's segment
 * (live or dead) or by something that is not a regular file (a FIFO, a
 * symlink, a directory): create never follows, reads or waits on those.
 */
FERRY_API int ferry_channel_create(const char *name, uint64_t capacity, uint32_t ring_slots,
                                   uint32_t mode, ferry_channel **out);
/*
 * ferry_channel_create with a history: the channel keeps a reference on the
 * last `history` published messages (0: none, as ferry_channel_create; at
 * most ring_slots - 1, FERRY_E_INVAL otherwise), so that a consumer created
 * later (a broadcast subscriber, or the first member of a worker group)
 * starts at the oldest of them still held instead of at the tail: it
 * receives those messages, then live ones. The history keeps their ring
 * slots and arena space; a publisher that finds the ring or arena full
 * drops history messages that only the history still holds, oldest first,
 * before it waits, fails or drops unread messages, so history never blocks
 * a publisher. It outlives the publishers (a late subscriber then gets the
 * history and FERRY_E_EOF / FERRY_E_PEERDEAD) and goes with the segment.
 */
FERRY_API int ferry_channel_create2(const char *name, uint64_t capacity, uint32_t ring_slots, uint32_t mode,
                                    uint32_t history, ferry_channel **out);
/* ferry_channel_open2(name, 0, NULL, 0, NULL, 0, out): trusts only this process's euid. */
/*
 * The same create on a thread of its own, for callers that must not block
 * (an event loop): returns an eventfd (>= 0) that becomes readable when the
 * create has finished; then ferry_channel_create_collect returns its result
 * (0 and *out, or the create's error with its detail) and frees the job and
 * the fd. Collect every job exactly once (it waits if called early).
 */
typedef struct ferry_create_job ferry_create_job;
FERRY_API int ferry_channel_create_async(const char *name, uint64_t capacity, uint32_t ring_slots, uint32_t mode,
                                         ferry_create_job **out);
/* The same with a history (ferry_channel_create2). */
FERRY_API int ferry_channel_create_async2(const char *name, uint64_t capacity, uint32_t ring_slots, uint32_t mode,
                                          uint32_t history, ferry_create_job **out);
FERRY_API int ferry_channel_create_collect(ferry_create_job *job, ferry_channel **out);
FERRY_API int ferry_channel_open(const char *name, ferry_channel **out);

/* ferry_channel_open2 flags: accept write bits that anyone but the owner has. */
enum ferry_trust_flags {
  FERRY_TRUST_GROUP_WRITE = 1, /* a group-writable segment (mode & 020) */
  FERRY_TRUST_WORLD_WRITE = 2, /* a world-writable segment (mode & 002; implies GROUP_WRITE): any local user can rewrite it */
};
/*
 * Open channel `name`, trusting its segment only when it is a regular file
 * (never a symlink, FIFO or directory; nothing is followed or waited on)
 * whose owner is this process's euid, one of `uids[0..nuids)`, or whose
 * group is one of `gids[0..ngids)` (trusting a group trusts every member of
 * it, and accepts its write bit); and whose mode has no group or world write
 * bit unless `flags` accepts it. A refusal is FERRY_E_PERM with a detail that
 * names the owner, group, mode or file type. uids/gids may be NULL when their
 * count is 0.
 */
FERRY_API int ferry_channel_open2(const char *name, uint32_t flags, const uint32_t *uids, uint32_t nuids,
                                  const uint32_t *gids, uint32_t ngids, ferry_channel **out);
/* Detach (and, for the creator, unlink the name). Idempotent per handle. */
FERRY_API int ferry_channel_close(ferry_channel *ch);
FERRY_API int ferry_channel_info_get(ferry_channel *ch, ferry_channel_info *out);
/* A consistent snapshot of the counters, read under the channel lock (FERRY_E_BUSY when a live
 * process holds it for more than 20 ms; FERRY_E_CORRUPT once the segment was truncated). */
FERRY_API int ferry_channel_stats(ferry_channel *ch, ferry_stats *out);
/*
 * How many subscribers are present: every live subscriber (group NULL or ""),
 * or the members of worker group `group` (0 when it does not exist). Never
 * waits for the lock: when it is free, dead participants are reaped first, so
 * a crashed subscriber does not count. For rendezvous (JS:
 * publisher.waitForSubscribers polls it).
 */
FERRY_API int ferry_channel_subscribers(ferry_channel *ch, const char *group, uint32_t *out);
/*
 * Reclaim space held by dead participants; returns how many were reclaimed.
 * Waits for the channel lock up to 5 s (FERRY_E_BUSY naming the holder's
 * pid). Also checks that the segment has not shrunk under this process:
 * FERRY_E_CORRUPT then, and from then on for every call on this handle (its
 * mappings are replaced by zero pages, so nothing faults on them).
 */
FERRY_API int ferry_channel_reap(ferry_channel *ch);
/*
 * Lend the handle's arena mapping (writable 0: the read-only one; 1: the
 * read-write one, which exists once a publisher is open) to a borrower that
 * cannot say when it stops reading it, e.g. a garbage-collected view. *lease
 * is given back with ferry_arena_unlend(addr, lease) (the signature of a
 * JSTypedArrayBytesDeallocator). When the handle unmaps while a lease is out,
 * the range is replaced in place by private zero pages: borrowers read zeros
 * and write private memory, never shared memory or a hole; the last
 * unlend unmaps it.
 */
FERRY_API int ferry_arena_lend(ferry_channel *ch, uint32_t writable, void **lease);
FERRY_API void ferry_arena_unlend(void *addr, void *lease);
/*
 * Guard channel `ch`'s read-only arena in this process: a write to it (a JS
 * view of a received message written to) ends the process with one line on
 * stderr naming the cause and the channel, after unlinking the segments this
 * process created (guarded ones), with exit status FERRY_FAULT_EXIT; peers
 * reap it as a dead participant. Installs libferry's SIGSEGV/SIGBUS handler
 * on first use (SA_SIGINFO | SA_ONSTACK), which hands every other fault to
 * the handler it replaced. Costs nothing per message. Idempotent; the
 * environment variable FERRY_FAULT_GUARD=0 turns it off (0, nothing done).
 * ferry_fault_guarded() is 1 while libferry's handler is this process's
 * SIGSEGV handler (0 when disabled, or another handler replaced it since).
 */
#define FERRY_FAULT_EXIT 86
FERRY_API int ferry_fault_guard(ferry_channel *ch);
FERRY_API int ferry_fault_guarded(void);
/* Remove the name of a channel (creator or not). */
FERRY_API int ferry_unlink(const char *name);
/*
 * Remove every ferry segment in /dev/shm that this process's euid owns and
 * no live process uses (also corrupt ones); other users' segments and
 * anything that is not a regular file are left alone. Returns the number removed.
 */
FERRY_API int ferry_gc(void);

/* ---- publishers ---- */
/*
 * timeout_ns bounds every wait of this publisher's calls (< 0: none): free
 * space ("block", "drop-oldest") and the channel lock. The lock wait is at
 * least 20 ms (a holder that is merely descheduled keeps it for a scheduling
 * quantum) and at most 5 s; a live holder past it gives FERRY_E_BUSY naming its pid.
 */
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
 * A message whose payload and header granules together exceed the arena fails
 * at once with FERRY_E_TOOBIG, whatever the backpressure policy (so do loans,
 * inline and engine sends that can never fit). After a failed publish the loan
 * is still held.
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
 * Collect the oldest engine send if it has finished: an offload is published
 * now unless the thread that finished its copy published it already (it does
 * when the channel lock and the space are free at once and every offload sent
 * before it is out: readers need not wait for this call), or its loan is given
 * back if the copy failed; pipelined drops the publisher's reference. Returns
 * 1 with info->token = job id, info->seq and info->status (0 or the job's
 * error), or 0 when the oldest is still running (or none is in flight).
 * Offload messages are published in submission order either way.
 */
FERRY_API int ferry_pub_collect(ferry_pub *pub, ferry_msg_info *info);
/* Engine sends in flight. */
FERRY_API int ferry_pub_jobs_pending(ferry_pub *pub);
/*
 * For a publisher about to close: from now on its engine sends that finish are
 * published only by ferry_pub_collect, no longer by the engines' threads, and a
 * collect publishes a finished offload only if the lock and the space are there at
 * once (else FERRY_E_CLOSED, its loan given back), so closing never waits. Then
 * collect what finished and close: every send is settled truthfully, published
 * (and collected) or not (the close gives its loan back). Idempotent.
 */
FERRY_API int ferry_pub_quiesce(ferry_pub *pub);
/* eventfd the engine signals whenever an engine send finishes (then call ferry_pub_collect). */
FERRY_API int ferry_pub_notify_fd(ferry_pub *pub);
/* 1 when the oldest engine send has finished (collect now), else 0 (wait for the fd). */
FERRY_API int ferry_pub_arm(ferry_pub *pub);
/*
 * The same signal for an event loop's socket layer: one end of a stream
 * socketpair that receives a byte whenever an engine send finishes (bytes of
 * several sends may arrive in one read), as a new descriptor the caller
 * owns and closes (e.g. adopted with Bun.connect({ fd })). Jobs that finished
 * before the first call did not write to it: collect once after opening.
 * Close-on-exec, non-blocking. Returns the fd (>= 0).
 */
FERRY_API int ferry_pub_wake_socket(ferry_pub *pub);

/*
 * Small messages (layout v8). A publisher with an inline limit (ferry_pub_inline, 0..
 * FERRY_INLINE_MAX; 0, the default, turns it off) publishes a plain message (no pin) whose
 * payload + header fit in `limit` bytes inside its descriptor: no arena space, no
 * allocator. ferry_pub_loan of at most `limit` bytes then loans private staging memory of
 * the publisher (info->flags FERRY_MSG_INLINE, info->data its address, info->offset its
 * offset in the staging area), and publish copies it into the descriptor (a header that
 * does not fit with it sends it through the arena). ferry_pub_send copies small data
 * straight into the descriptor. A subscriber copies an inline message out at receive, into
 * private memory of its own (one slot per held message: payload 64-byte aligned at
 * info->data, header at info->data + 64), so holding it keeps nothing of the channel's.
 * Every subscriber receives inline messages whatever its publishers' limits: read the
 * payload at info->data (or at the base that FERRY_MSG_INLINE names + info->offset).
 */
FERRY_API int ferry_pub_inline(ferry_pub *pub, uint32_t limit);
/* The publisher's staging area for JS views: out[0] address, out[1] bytes, out[2] a lease
 * for ferry_arena_unlend (the area outlives the publisher until every lease is back). */
FERRY_API int ferry_pub_stage_lend(ferry_pub *pub, uint64_t *out);
/* The subscriber's inline copy area, read-only (a write ends the process as ferry_fault_guard
 * describes): out[0] address, out[1] bytes, out[2] a lease for ferry_arena_unlend. */
FERRY_API int ferry_sub_inline_lend(ferry_sub *sub, uint64_t *out);

/* Copy publish ("inline"): loan + CPU copy + publish in one call. */
FERRY_API int ferry_pub_send(ferry_pub *pub, const void *data, uint64_t len, const void *hdr,
                             uint32_t hdr_len, ferry_msg_info *info);
/* The same with a cache hint for the destination (FERRY_COPY_HOT / COLD / AUTO, see ferry/engine.h). */
FERRY_API int ferry_pub_send_hint(ferry_pub *pub, const void *data, uint64_t len, const void *hdr,
                                  uint32_t hdr_len, uint32_t flags, ferry_msg_info *info);

/* ---- subscribers ---- */
/* group: NULL or "" for broadcast, else the name of a worker group. */
FERRY_API int ferry_sub_open(ferry_channel *ch, const char *group, ferry_sub **out);
FERRY_API int ferry_sub_close(ferry_sub *sub);
/* The subscriber's own result record (stable until ferry_sub_close). */
FERRY_API ferry_msg_info *ferry_sub_info(ferry_sub *sub);
/* Release later, without a call: FERRY_MAX_HELD bits (uint32 words, bit i = token i) that
 * the caller sets to give back an inline message (FERRY_MSG_INLINE: nothing shared to
 * return); the next call that needs a held record (any receive) applies them. Bits of a
 * token that holds no inline message are ignored. Owned by the subscriber's thread; valid
 * until ferry_sub_close. */
FERRY_API uint32_t *ferry_sub_release_later(ferry_sub *sub);
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
 * The same socket as ferry_sub_wake_fd, as a new descriptor the caller owns
 * and closes (an event loop that adopts the socket, e.g. Bun.connect({ fd }),
 * closes what it adopted). Close-on-exec. Returns the fd (>= 0).
 */
FERRY_API int ferry_sub_wake_socket(ferry_sub *sub);
/*
 * Arm the direct wake: 0 armed (wait for the fd), 1 something is receivable
 * already (not armed). Also reaps dead peers at most every 50 ms, so a
 * caller that re-arms at least every 100 ms learns of a dead publisher.
 */
FERRY_API int ferry_sub_arm_wake(ferry_sub *sub);
/*
 * ferry_sub_try_receive, and when nothing is there, ferry_sub_arm_wake, in
 * one call (an event loop's receive pays one crossing per attempt). `wait`
 * FERRY_WAIT_HYBRID first spins hybrid's adaptive budget (2-100 µs, per
 * thread) on the calling thread; FERRY_WAIT_BLOCK does not spin. Returns 0 a
 * message was received (info as ferry_sub_try_receive); 1 nothing yet, the
 * direct wake is armed (sleep on the wake fd); FERRY_E_AGAIN nothing and not
 * armed (other group members kept taking what arrived: call again);
 * otherwise an error (FERRY_E_EOF, FERRY_E_PEERDEAD, FERRY_E_INVAL, ...).
 * `wait | FERRY_ARM_NO_REAP`: no reap of dead peers in this call (the arm
 * step's, see ferry_sub_arm_wake): the caller runs ferry_sub_reap on its own
 * timer instead, at least every 100 ms while it waits, so the liveness
 * checks (a kill and a /proc read per participant) never sit between a
 * request it just published and its event loop's sleep.
 */
#define FERRY_ARM_NO_REAP 0x100u
FERRY_API int ferry_sub_receive_or_arm(ferry_sub *sub, ferry_msg_info *info, uint32_t wait);
/*
 * The periodic reap of ferry_sub_arm_wake on its own: dead peers at most every
 * 50 ms (their space reclaimed; a dead publisher turns the stream into
 * FERRY_E_PEERDEAD), and the truncation guard where the fault handler does not
 * cover the handle. 0, or FERRY_E_CORRUPT / FERRY_E_CLOSED.
 */
FERRY_API int ferry_sub_reap(ferry_sub *sub);

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

/*
 * Pins: holding a published message by reference until remote consumers ack
 * it (the claim check of @ferry/mq; layout v7).
 *
 * A publisher with a pin set (ferry_pub_pin) publishes every message with one
 * more reference, held by the channel itself like a history reference
 * (ENT_PIN): the message keeps its ring slot and arena space, whoever else
 * subscribes or not, until `acks` acknowledgements arrived
 * (ferry_sub_pin_ack), its TTL passed, or its publisher died (reaped like any
 * participant: its pins go with it). Expired pins are dropped by any reap
 * (ferry_channel_reap, a waiter's slice) and by a publisher short of space.
 *
 * A pin reader (ferry_sub_open_pins) is a subscriber with no cursor: it takes
 * pinned messages by sequence (ferry_sub_take_pin), each into its held table
 * (its own reference: valid until ferry_sub_release / ferry_sub_pin_ack, or
 * its death; the TTL cannot pull it away while held). The generation must be
 * the segment's (ferry_channel_ident): a reference made from an older segment
 * of the same name never resolves.
 */
/* This host's identity: 32 hex digits + NUL into out (33 bytes). Hashes /etc/machine-id, the
 * boot id and the device and root inode of the filesystem on /dev/shm (nothing is written
 * there), so machines, reboots and separate /dev/shm mounts (containers) differ even under
 * one hostname. */
FERRY_API int ferry_host_id(char *out);
/* The creator's host identity (33 bytes at out: 32 hex + NUL) and the segment's random generation (8 bytes at out + 40). */
FERRY_API int ferry_channel_ident(ferry_channel *ch, uint8_t *out);
/* Pin what this publisher publishes from now on: acks acknowledgements wanted (0: stop pinning), ttl_ns (> 0) at most. */
FERRY_API int ferry_pub_pin(ferry_pub *pub, uint64_t ttl_ns, uint32_t acks);
/* Open a pin reader on the channel (a participant with no cursor; ferry_sub_close closes it). */
FERRY_API int ferry_sub_open_pins(ferry_channel *ch, ferry_sub **out);
/*
 * Take pinned message `seq` of generation `generation` into the reader's held table (info as
 * receive; NULL: the handle's record). FERRY_E_STATE: not pinned any more (acked, expired,
 * reclaimed) or never published; FERRY_E_PEERDEAD: its publisher died (the pin is dropped);
 * FERRY_E_VERSION: another generation of the channel; FERRY_E_CORRUPT: the descriptor
 * fails the arena checks.
 */
FERRY_API int ferry_sub_take_pin(ferry_sub *sub, uint64_t seq, uint64_t generation, ferry_msg_info *info);
/* Acknowledge held pinned message `token`: count one ack on its pin (the last one drops it) and release it. */
FERRY_API int ferry_sub_pin_ack(ferry_sub *sub, uint32_t token);
/* Messages pinned now (under no lock: a snapshot). */
FERRY_API int64_t ferry_channel_pins(ferry_channel *ch);

#ifdef __cplusplus
}
#endif

/* The engine SDK: copy engines, their table, descriptors and completion records. */
#include "ferry/engine.h"

#endif /* FERRY_H */
