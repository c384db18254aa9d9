/*
 * ferry/engine.h — the engine SDK: what a copy engine implements and what
 * libferry offers engines and their callers (src/engine/). Included by
 * ferry.h; an out-of-tree engine includes this header and links libferry.
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
 *
 * Engines never know about channels: a channel send rides on the record's
 * opaque `host` word, which libferry's own progress/finish helpers follow.
 *
 * Return codes: an engine returns 0 / counts, or a negative FERRY_E_* code,
 * never errno or -errno (FERRY_E_* overlaps small -errno values). libferry
 * turns any value outside FERRY_E__LAST..-1 into FERRY_E_SYS with a detail
 * naming the engine, so a plugin's -EINVAL cannot pose as FERRY_E_* code.
 */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include "../ferry.h"

#ifdef __cplusplus
extern "C" {
#endif


/* Version of the engine table / descriptor / completion-record contract.
 * 2: completion.host replaces mirror/notify, the probe op, the per-descriptor
 *    chunk hint. A table of another version is refused (FERRY_E_VERSION). */
#define FERRY_ENGINE_ABI 2
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
  uint64_t host;       /* libferry's (0 for ferry_engine_submit): engines leave it alone;
                          ferry_completion_progress/finish follow it */
  uint64_t detail;     /* optional, set before finishing with an error: (uintptr_t) a static
                          NUL-terminated string naming it (e.g. the device's status), valid while
                          the engine is loaded; libferry adds it to the collecting thread's
                          ferry_last_error. 0: none */
  uint64_t reserved;
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
  FERRY_CAP_SELF_FINISH = 16, /* every accepted job is finished without a poll (inside submit or by the
                                 engine's own thread), so a waiter may sleep on the completion's notification alone */
  FERRY_CAP_HOST_CPU = 32,    /* the copy runs on the host's CPUs (a software engine): what slows them slows it */
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

/*
 * What an engine would be on this machine, without opening it (the probe op):
 * whether it is usable and, when not, the exact reason (no device, no
 * permission, a missing CPU feature, ...). For engines without a probe op
 * libferry reports available with the reason "no probe op".
 */
typedef struct ferry_engine_probe_info {
  uint32_t size;        /* sizeof(ferry_engine_probe), set by libferry */
  int32_t available;    /* 1 usable, 0 not (see reason) */
  uint32_t flags;       /* FERRY_CAP_* it would offer */
  uint32_t reserved;
  uint64_t max_transfer; /* bytes per descriptor it would take (0: unlimited) */
  char reason[512];     /* why not, or what it found (NUL-terminated) */
} ferry_engine_probe_info;

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
 * Required: name, open, close, submit. Optional (NULL): caps, poll, wait, stats, probe.
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
 *  - probe(cfg, out): fill out->available, flags, max_transfer and reason
 *    (out is zeroed, cfg never NULL) without opening anything lasting;
 *    return 0, or a negative code when the probe itself failed.
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
  int (*probe)(const ferry_engine_config *cfg, ferry_engine_probe_info *out);
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
/*
 * Ask registered engine `name` whether it can run here (cfg may be NULL),
 * without opening it: 1 available, 0 not (out->reason says why), or a
 * negative code (no such engine, or the probe failed).
 */
FERRY_API int ferry_engine_probe(const char *name, const ferry_engine_config *cfg, ferry_engine_probe_info *out);

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
FERRY_API size_t ferry_sizeof_engine_probe_info(void);

#ifdef __cplusplus
}
#endif
#endif /* FERRY_ENGINE_H */

