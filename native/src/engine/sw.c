/*
 * engine/sw.c — the `sw` engine: copy threads owned by the calling process.
 *
 * Queue: one bounded multi-producer / multi-consumer array queue (Vyukov's
 * sequence-numbered ring): any thread submits, every copy thread takes. Its
 * entries are pointers to completion records; the job itself (src, dst,
 * chunking state, reference count) lives in the record's engine-private
 * words, so nothing is allocated per job.
 *
 * Chunking: a job of len bytes is cut into chunks of chunk_bytes. It is
 * pushed min(chunks, threads) times; every copy thread that takes an entry
 * claims chunks from the job's claim counter (fetch_add) until none is left,
 * so a large job is copied by all threads at once and a small one by one.
 *
 * Progress: bytes_done is the completed prefix. A 64-bit word holds the index
 * of the first unfinished chunk (base) and a 32-bit mask of finished chunks
 * after it; a thread that finishes chunk i sets its bit with a CAS and moves
 * base over the run of finished chunks, then publishes base * chunk_bytes
 * with a release (monotonic max). A chunk more than 32 ahead of base waits
 * (yields) until base moves: base's chunk is always being copied by a thread
 * that does not wait, so this ends.
 *
 * Completion: the job holds one reference per queue entry pushed plus one for
 * the submitter while it pushes; a thread drops its reference after its last
 * claim; the last one finishes the record (DONE, or ERROR if cancelled).
 * Nobody touches the record afterwards.
 *
 * Idle copy threads poll for idle_spin_ns, then sleep on a futex; submitters
 * wake them only when someone sleeps.
 *
 * Close: new submits fail with FERRY_E_CLOSED; with FERRY_ENGINE_F_DRAIN the
 * threads finish every queued job first; otherwise each thread finishes the
 * chunk in hand and every unfinished job ends as ERROR / FERRY_E_CLOSED with
 * bytes_done = the prefix that was really copied. Close returns only after
 * every accepted job is finished and no thread writes anymore.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/builtin.h"
#include "engine/copy.h"
#include "sys/error.h"
#include "sys/sys.h"

#define SW_MAX_THREADS 64
#define SW_MIN_CHUNK 4096u
#define SW_DEFAULT_CHUNK (256u * 1024u)
#define SW_DEFAULT_DEPTH 1024u
#define SW_MAX_DEPTH (1u << 20)
#define SW_DEFAULT_SPIN_NS 20000u
#define SW_WINDOW 32u

/* ferry_completion.engine[] words of a job */
enum { J_SRC, J_DST, J_NEXT, J_PREFIX, J_REFS, J_FAIL, J_CHUNK, J_NCHUNKS };
#define J_COLD_BIT (1ull << 63)

struct cell {
  _Atomic uint64_t seq;
  ferry_completion *job;
};

struct wstats {
  _Alignas(64) _Atomic uint64_t jobs, errors, bytes, busy_ns, chunks;
};

struct sw_engine;
struct worker {
  struct sw_engine *e;
  uint32_t id;
  pthread_t tid;
};

struct sw_engine {
  uint32_t threads;
  uint64_t chunk, cold_threshold, spin_ns;
  bool drain;
  uint32_t qmask;
  struct cell *cells;
  struct wstats *st; /* threads + 1 (the last one: submitters and close) */
  struct worker *w;
  _Alignas(64) _Atomic uint64_t enq;
  _Alignas(64) _Atomic uint64_t deq;
  _Alignas(64) _Atomic uint32_t work_futex;
  _Atomic uint32_t sleepers;
  _Atomic bool stopping;
  _Atomic uint32_t submitting;
  _Atomic uint64_t full_waits;
};

static inline uint64_t *jw(ferry_completion *c, int k) { return &c->engine[k]; }

/* ---------------------------------------------------------------- queue */

static bool q_push(struct sw_engine *e, ferry_completion *c) {
  uint64_t pos = atomic_load_explicit(&e->enq, memory_order_relaxed);
  struct cell *cl;
  for (;;) {
    cl = &e->cells[pos & e->qmask];
    uint64_t seq = atomic_load_explicit(&cl->seq, memory_order_acquire);
    int64_t dif = (int64_t)(seq - pos);
    if (dif == 0) {
      if (atomic_compare_exchange_weak_explicit(&e->enq, &pos, pos + 1, memory_order_relaxed, memory_order_relaxed)) break;
    } else if (dif < 0) {
      return false; /* full */
    } else {
      pos = atomic_load_explicit(&e->enq, memory_order_relaxed);
    }
  }
  cl->job = c;
  atomic_store_explicit(&cl->seq, pos + 1, memory_order_release);
  return true;
}

static ferry_completion *q_pop(struct sw_engine *e) {
  uint64_t pos = atomic_load_explicit(&e->deq, memory_order_relaxed);
  struct cell *cl;
  for (;;) {
    cl = &e->cells[pos & e->qmask];
    uint64_t seq = atomic_load_explicit(&cl->seq, memory_order_acquire);
    int64_t dif = (int64_t)(seq - (pos + 1));
    if (dif == 0) {
      if (atomic_compare_exchange_weak_explicit(&e->deq, &pos, pos + 1, memory_order_relaxed, memory_order_relaxed)) break;
    } else if (dif < 0) {
      return NULL; /* empty (or the next entry is still being written) */
    } else {
      pos = atomic_load_explicit(&e->deq, memory_order_relaxed);
    }
  }
  ferry_completion *c = cl->job;
  atomic_store_explicit(&cl->seq, pos + e->qmask + 1, memory_order_release);
  return c;
}

static inline bool q_empty(struct sw_engine *e) {
  return atomic_load(&e->enq) == atomic_load(&e->deq);
}

/* ---------------------------------------------------------------- jobs */

static void job_finish(struct sw_engine *e, struct wstats *st, ferry_completion *c) {
  int fail = (int)(int64_t)__atomic_load_n(jw(c, J_FAIL), __ATOMIC_ACQUIRE);
  atomic_fetch_add_explicit(fail ? &st->errors : &st->jobs, 1, memory_order_relaxed);
  ferry_completion_finish(c, fail); /* last touch of the record */
}

static void job_unref(struct sw_engine *e, struct wstats *st, ferry_completion *c, uint64_t n) {
  if (__atomic_sub_fetch(jw(c, J_REFS), n, __ATOMIC_ACQ_REL) == 0) job_finish(e, st, c);
}

static void mark_fail(ferry_completion *c, int code) {
  uint64_t zero = 0;
  __atomic_compare_exchange_n(jw(c, J_FAIL), &zero, (uint64_t)(int64_t)code, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

/* Chunk i is copied: extend the completed prefix. */
static void chunk_done(ferry_completion *c, uint64_t i) {
  uint64_t chunk = *jw(c, J_CHUNK);
  uint64_t s = __atomic_load_n(jw(c, J_PREFIX), __ATOMIC_ACQUIRE);
  for (;;) {
    uint64_t base = s >> 32, mask = s & 0xffffffffu;
    if (i - base >= SW_WINDOW) { /* too far ahead of the slowest chunk */
      if (__atomic_load_n(jw(c, J_FAIL), __ATOMIC_RELAXED)) return;
      sched_yield();
      s = __atomic_load_n(jw(c, J_PREFIX), __ATOMIC_ACQUIRE);
      continue;
    }
    uint64_t m = mask | (1ull << (i - base));
    uint64_t t = (uint64_t)__builtin_ctzll(~m); /* m < 2^32, so t <= 32 */
    uint64_t ns = ((base + t) << 32) | ((m >> t) & 0xffffffffu);
    if (__atomic_compare_exchange_n(jw(c, J_PREFIX), &s, ns, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      if (t) {
        uint64_t b = (base + t) * chunk;
        ferry_completion_progress(c, b < c->len ? b : c->len);
      }
      return;
    }
  }
}

/* Claim and copy chunks of job c until none is left (or cancel), then drop our reference. */
static void run_job(struct sw_engine *e, struct wstats *st, ferry_completion *c, bool cancel_all) {
  uint64_t n = *jw(c, J_NCHUNKS);
  bool cold = n & J_COLD_BIT;
  n &= ~J_COLD_BIT;
  uint64_t chunk = *jw(c, J_CHUNK), len = c->len;
  const uint8_t *src = (const uint8_t *)(uintptr_t)*jw(c, J_SRC);
  uint8_t *dst = (uint8_t *)(uintptr_t)*jw(c, J_DST);
  for (;;) {
    bool cancel = cancel_all || (atomic_load_explicit(&e->stopping, memory_order_relaxed) && !e->drain);
    if (cancel) {
      uint64_t prev = __atomic_exchange_n(jw(c, J_NEXT), n, __ATOMIC_ACQ_REL);
      if (prev < n) mark_fail(c, FERRY_E_CLOSED);
      break;
    }
    uint64_t i = __atomic_fetch_add(jw(c, J_NEXT), 1, __ATOMIC_ACQ_REL);
    if (i >= n) break;
    uint64_t off = i * chunk, l = len - off < chunk ? len - off : chunk;
    uint64_t t0 = ferry__now_ns();
    ferry__copy(dst + off, src + off, l, cold);
    atomic_fetch_add_explicit(&st->busy_ns, ferry__now_ns() - t0, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->bytes, l, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->chunks, 1, memory_order_relaxed);
    chunk_done(c, i);
  }
  job_unref(e, st, c, 1);
}

/* ---------------------------------------------------------------- threads */

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct sw_engine *e = w->e;
  struct wstats *st = &e->st[w->id];
  for (;;) {
    ferry_completion *c = q_pop(e);
    if (c) {
      run_job(e, st, c, false);
      continue;
    }
    if (atomic_load(&e->stopping)) {
      if (q_empty(e)) break;
      ferry__cpu_relax();
      continue;
    }
    uint64_t until = ferry__now_ns() + e->spin_ns;
    bool got = false;
    for (uint32_t k = 0;; k++) {
      if (!q_empty(e) || atomic_load_explicit(&e->stopping, memory_order_relaxed)) {
        got = true;
        break;
      }
      if ((k & 15) == 15 && ferry__now_ns() >= until) break;
      ferry__cpu_relax();
    }
    if (got) continue;
    uint32_t v = atomic_load(&e->work_futex);
    atomic_fetch_add(&e->sleepers, 1);
    if (q_empty(e) && !atomic_load(&e->stopping))
      ferry__futex_wait_private(&e->work_futex, v);
    atomic_fetch_sub(&e->sleepers, 1);
  }
  return NULL;
}

static void wake_workers(struct sw_engine *e, int n) {
  atomic_fetch_add(&e->work_futex, 1);
  if (atomic_load(&e->sleepers)) ferry__futex_wake_private(&e->work_futex, n);
}

static void stop_threads(struct sw_engine *e, uint32_t started) {
  atomic_store(&e->stopping, true);
  while (atomic_load(&e->submitting)) sched_yield();
  wake_workers(e, INT_MAX);
  for (uint32_t i = 0; i < started; i++) pthread_join(e->w[i].tid, NULL);
  /* leftovers: pushed by a submitter that raced with close after the threads
   * left (or no thread ever started); copied here when draining, else cancelled */
  ferry_completion *c;
  while ((c = q_pop(e))) run_job(e, &e->st[e->threads], c, !e->drain);
}

static void sw_free(struct sw_engine *e) {
  free(e->cells);
  free(e->st);
  free(e->w);
  free(e);
}

static uint32_t default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 1 ? (uint32_t)n - 1 : 1;
}

static int sw_open(const ferry_engine_config *cfg, void **impl) {
  uint32_t threads = cfg->threads ? cfg->threads : default_threads();
  if (threads > SW_MAX_THREADS) return ferry__err(FERRY_E_INVAL, "sw: at most %d threads", SW_MAX_THREADS);
  uint64_t chunk = cfg->chunk_bytes ? cfg->chunk_bytes : SW_DEFAULT_CHUNK;
  if (chunk < SW_MIN_CHUNK) return ferry__err(FERRY_E_INVAL, "sw: chunk_bytes must be at least %u", SW_MIN_CHUNK);
  uint32_t depth = cfg->queue_depth ? cfg->queue_depth : SW_DEFAULT_DEPTH;
  if (depth > SW_MAX_DEPTH) return ferry__err(FERRY_E_INVAL, "sw: queue_depth at most %u", SW_MAX_DEPTH);
  uint32_t q = 2;
  while (q < depth || q < threads) q <<= 1;
  if (cfg->flags & ~(uint32_t)FERRY_ENGINE_F_DRAIN) return ferry__err(FERRY_E_INVAL, "sw: unknown flags 0x%x", cfg->flags);

  struct sw_engine *e = calloc(1, sizeof *e);
  if (!e) return ferry__err(FERRY_E_NOMEM, "out of memory");
  e->threads = threads;
  e->chunk = chunk;
  e->cold_threshold = cfg->cold_threshold;
  e->spin_ns = cfg->idle_spin_ns ? cfg->idle_spin_ns : SW_DEFAULT_SPIN_NS;
  e->drain = cfg->flags & FERRY_ENGINE_F_DRAIN;
  e->qmask = q - 1;
  e->cells = calloc(q, sizeof *e->cells);
  e->st = aligned_alloc(64, sizeof(struct wstats) * (threads + 1));
  e->w = calloc(threads, sizeof *e->w);
  if (!e->cells || !e->st || !e->w) {
    sw_free(e);
    return ferry__err(FERRY_E_NOMEM, "out of memory");
  }
  memset(e->st, 0, sizeof(struct wstats) * (threads + 1));
  for (uint32_t i = 0; i < q; i++) atomic_init(&e->cells[i].seq, i);

  int ncpu = cfg->cpu_mask ? __builtin_popcountll(cfg->cpu_mask) : 0;
  for (uint32_t i = 0; i < threads; i++) {
    e->w[i] = (struct worker){.e = e, .id = i};
    int r = pthread_create(&e->w[i].tid, NULL, worker_main, &e->w[i]);
    if (r) {
      stop_threads(e, i);
      sw_free(e);
      errno = r;
      return ferry__errno(0, "sw: pthread_create");
    }
    if (ncpu) {
      int want = (int)(i % (uint32_t)ncpu), cpu = -1;
      for (int b = 0; b < 64; b++)
        if ((cfg->cpu_mask >> b & 1) && want-- == 0) {
          cpu = b;
          break;
        }
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      r = pthread_setaffinity_np(e->w[i].tid, sizeof set, &set);
      if (r) {
        stop_threads(e, i + 1);
        sw_free(e);
        errno = r;
        return ferry__errno(FERRY_E_INVAL, "sw: pinning a copy thread (cpu_mask)");
      }
    }
  }
  *impl = e;
  return 0;
}

static int sw_close(void *impl) {
  struct sw_engine *e = impl;
  stop_threads(e, e->threads);
  sw_free(e);
  return 0;
}

/* what caps and probe report alike */
static const uint32_t SW_CAPS = FERRY_CAP_ASYNC | FERRY_CAP_CACHE_HINTS | FERRY_CAP_PROGRESS | FERRY_CAP_BATCH | FERRY_CAP_SELF_FINISH | FERRY_CAP_HOST_CPU;

static int sw_caps(void *impl, ferry_engine_caps *out) {
  struct sw_engine *e = impl;
  out->flags = SW_CAPS;
  out->chunk_bytes = e->chunk;
  out->threads = e->threads;
  out->cold_threshold = e->cold_threshold;
  return 0;
}

static int sw_submit(void *impl, const ferry_copy_desc *d, uint32_t n) {
  struct sw_engine *e = impl;
  struct wstats *st = &e->st[e->threads];
  atomic_fetch_add(&e->submitting, 1);
  uint32_t accepted = 0;
  bool waited = false;
  for (; accepted < n; accepted++) {
    if (atomic_load(&e->stopping)) break;
    ferry_completion *c = d[accepted].comp;
    uint64_t len = d[accepted].len;
    if (len == 0) {
      atomic_fetch_add_explicit(&st->jobs, 1, memory_order_relaxed);
      ferry_completion_finish(c, 0);
      continue;
    }
    uint64_t chunk = d[accepted].chunk >= SW_MIN_CHUNK ? d[accepted].chunk : e->chunk; /* per-descriptor hint */
    if ((len - 1) / chunk >= (1ull << 31)) chunk = FERRY__ALIGN_UP((len >> 31) + 1, SW_MIN_CHUNK); /* base fits 32 bits */
    uint64_t nch = (len + chunk - 1) / chunk;
    uint64_t k = nch < e->threads ? nch : e->threads;
    *jw(c, J_SRC) = (uint64_t)(uintptr_t)d[accepted].src;
    *jw(c, J_DST) = (uint64_t)(uintptr_t)d[accepted].dst;
    *jw(c, J_NEXT) = 0;
    *jw(c, J_PREFIX) = 0;
    *jw(c, J_REFS) = 1 + k; /* the entries + this submitter */
    *jw(c, J_FAIL) = 0;
    *jw(c, J_CHUNK) = chunk;
    *jw(c, J_NCHUNKS) = nch | (ferry__is_cold(d[accepted].flags, len, e->cold_threshold) ? J_COLD_BIT : 0);
    uint64_t pushed = 0;
    while (pushed < k) {
      if (q_push(e, c)) {
        pushed++;
        continue;
      }
      if (pushed) break; /* fewer helpers is fine */
      if (atomic_load(&e->stopping)) break;
      if (!waited) {
        waited = true;
        atomic_fetch_add_explicit(&e->full_waits, 1, memory_order_relaxed);
      }
      wake_workers(e, INT_MAX);
      sched_yield();
    }
    if (!pushed) break; /* closing: not accepted, record untouched by anyone else */
    wake_workers(e, (int)pushed);
    job_unref(e, st, c, 1 + k - pushed); /* may finish it if the threads were quicker */
  }
  atomic_fetch_sub(&e->submitting, 1);
  if (accepted == 0 && n) return ferry__err(FERRY_E_CLOSED, "sw engine is closing");
  return (int)accepted;
}

static int sw_probe(const ferry_engine_config *cfg, ferry_engine_probe_info *out) {
  uint32_t threads = cfg->threads ? cfg->threads : default_threads();
  out->available = threads <= SW_MAX_THREADS;
  out->flags = SW_CAPS;
  if (out->available)
    snprintf(out->reason, sizeof out->reason, "%u copy thread(s) of this process, %s stores", threads, ferry_copy_isa());
  else
    snprintf(out->reason, sizeof out->reason, "%u copy threads asked for, at most %d", threads, SW_MAX_THREADS);
  return 0;
}

static int sw_stats(void *impl, ferry_engine_stats *out) {
  struct sw_engine *e = impl;
  for (uint32_t i = 0; i <= e->threads; i++) {
    struct wstats *s = &e->st[i];
    out->jobs += atomic_load_explicit(&s->jobs, memory_order_relaxed);
    out->errors += atomic_load_explicit(&s->errors, memory_order_relaxed);
    out->bytes += atomic_load_explicit(&s->bytes, memory_order_relaxed);
    out->busy_ns += atomic_load_explicit(&s->busy_ns, memory_order_relaxed);
    out->chunks += atomic_load_explicit(&s->chunks, memory_order_relaxed);
  }
  out->full_waits = atomic_load_explicit(&e->full_waits, memory_order_relaxed);
  out->threads = e->threads;
  return 0;
}

const ferry_engine_ops ferry__engine_sw = {
    .abi = FERRY_ENGINE_ABI,
    .size = sizeof(ferry_engine_ops),
    .name = "sw",
    .description = "copy threads owned by this process: MPMC queue, chunking, progress, pinning",
    .open = sw_open,
    .close = sw_close,
    .caps = sw_caps,
    .submit = sw_submit,
    .stats = sw_stats,
    .probe = sw_probe,
};
