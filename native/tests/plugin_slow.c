/*
 * plugin_slow.c — a test copy engine with its own copy thread, a bounded
 * copy rate and a failure switch: the synthetic engine of @ferry/coordinator's
 * tests (a slow engine the CPU+engine split must converge on; an engine that
 * starts failing mid-run). Built as libferry_engine_slowplug.so, loaded by path.
 *
 * Options ("key=value,..."):
 *   gbps=X        copy at most X GB/s (10^9 B/s; fractions allowed; default: unbounded)
 *   latency_us=N  each job starts N us after it was submitted (default 0)
 *   fail_after=N  the first N jobs copy; every later one copies half, then
 *                 finishes with FERRY_E_SYS (default: never fails)
 *   depth=N       jobs queued at most (default 64): a full queue accepts fewer
 *
 * Progress is published per 256 KiB piece (FERRY_CAP_PROGRESS), so pipelined
 * sends through it work. The thread sleeps (nanosleep) to hold the rate: a
 * slow engine that costs no CPU, like a device.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry.h"

#define PIECE (256u * 1024u)
#define DEPTH_MAX 1024

struct slow {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t th;
  int stop;
  uint32_t head, n, depth;
  ferry_copy_desc q[DEPTH_MAX];
  uint64_t t_sub[DEPTH_MAX];
  double gbps;
  uint64_t latency_ns;
  int64_t fail_after; /* -1: never */
  uint64_t submitted, jobs, errors, bytes, busy_ns, chunks;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t) {
  uint64_t n = now_ns();
  if (t <= n) return;
  uint64_t d = t - n;
  struct timespec ts = {.tv_sec = (time_t)(d / 1000000000ull), .tv_nsec = (long)(d % 1000000000ull)};
  nanosleep(&ts, NULL);
}

/* value of `key=` in opts, or NULL */
static const char *opt(const char *opts, const char *key) {
  if (!opts) return NULL;
  size_t k = strlen(key);
  for (const char *p = opts; *p;) {
    if (!strncmp(p, key, k) && p[k] == '=') return p + k + 1;
    const char *c = strchr(p, ',');
    if (!c) break;
    p = c + 1;
  }
  return NULL;
}

static void run_job(struct slow *p, ferry_copy_desc *d, uint64_t t_sub, uint64_t index) {
  sleep_until(t_sub + p->latency_ns);
  int fail = p->fail_after >= 0 && (int64_t)index >= p->fail_after;
  uint64_t len = fail ? d->len / 2 : d->len;
  uint64_t t0 = now_ns(), done = 0;
  while (done < len) {
    uint64_t k = len - done < PIECE ? len - done : PIECE;
    memcpy((char *)d->dst + done, (const char *)d->src + done, k);
    done += k;
    if (p->gbps > 0) sleep_until(t0 + (uint64_t)((double)done / p->gbps));
    ferry_completion_progress(d->comp, done);
    __atomic_add_fetch(&p->chunks, 1, __ATOMIC_RELAXED);
  }
  __atomic_add_fetch(&p->busy_ns, now_ns() - t0, __ATOMIC_RELAXED);
  if (fail) {
    __atomic_add_fetch(&p->errors, 1, __ATOMIC_RELAXED);
    ferry_completion_finish(d->comp, FERRY_E_SYS);
  } else {
    __atomic_add_fetch(&p->jobs, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&p->bytes, d->len, __ATOMIC_RELAXED);
    ferry_completion_finish(d->comp, 0);
  }
}

static void *worker(void *arg) {
  struct slow *p = arg;
  uint64_t index = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->n && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
    if (!p->n) break; /* stopping and drained */
    ferry_copy_desc d = p->q[p->head];
    uint64_t t = p->t_sub[p->head];
    pthread_mutex_unlock(&p->mu);
    run_job(p, &d, t, index++);
    pthread_mutex_lock(&p->mu);
    p->head = (p->head + 1) % p->depth;
    p->n--;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static int slow_open(const ferry_engine_config *cfg, void **impl) {
  struct slow *p = calloc(1, sizeof *p);
  if (!p) return ferry_set_error(FERRY_E_NOMEM, "slowplug: out of memory");
  const char *v;
  p->gbps = (v = opt(cfg->options, "gbps")) ? strtod(v, NULL) : 0;
  p->latency_ns = (v = opt(cfg->options, "latency_us")) ? strtoull(v, NULL, 10) * 1000ull : 0;
  p->fail_after = (v = opt(cfg->options, "fail_after")) ? strtoll(v, NULL, 10) : -1;
  p->depth = (v = opt(cfg->options, "depth")) ? (uint32_t)strtoul(v, NULL, 10) : 64;
  if (p->depth < 1 || p->depth > DEPTH_MAX) {
    free(p);
    return ferry_set_error(FERRY_E_INVAL, "slowplug: depth must be 1..1024");
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  if (pthread_create(&p->th, NULL, worker, p)) {
    free(p);
    return ferry_set_error(FERRY_E_SYS, "slowplug: cannot start its thread");
  }
  *impl = p;
  return 0;
}

static int slow_close(void *impl) {
  struct slow *p = impl;
  pthread_mutex_lock(&p->mu);
  p->stop = 1; /* the thread finishes every accepted job first */
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->th, NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
  return 0;
}

static int slow_caps(void *impl, ferry_engine_caps *out) {
  (void)impl;
  out->flags = FERRY_CAP_ASYNC | FERRY_CAP_PROGRESS;
  out->chunk_bytes = PIECE;
  out->threads = 1;
  return 0;
}

static int slow_submit(void *impl, const ferry_copy_desc *d, uint32_t n) {
  struct slow *p = impl;
  uint64_t t = now_ns();
  pthread_mutex_lock(&p->mu);
  uint32_t k = 0;
  while (k < n && p->n < p->depth) {
    uint32_t i = (p->head + p->n) % p->depth;
    p->q[i] = d[k++];
    p->t_sub[i] = t;
    p->n++;
  }
  p->submitted += k;
  if (k) pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  if (!k) return ferry_set_error(FERRY_E_FULL, "slowplug: queue full");
  return (int)k;
}

static int slow_stats(void *impl, ferry_engine_stats *out) {
  struct slow *p = impl;
  pthread_mutex_lock(&p->mu);
  out->submitted = p->submitted;
  pthread_mutex_unlock(&p->mu);
  out->jobs = __atomic_load_n(&p->jobs, __ATOMIC_RELAXED);
  out->errors = __atomic_load_n(&p->errors, __ATOMIC_RELAXED);
  out->bytes = __atomic_load_n(&p->bytes, __ATOMIC_RELAXED);
  out->busy_ns = __atomic_load_n(&p->busy_ns, __ATOMIC_RELAXED);
  out->chunks = __atomic_load_n(&p->chunks, __ATOMIC_RELAXED);
  out->threads = 1;
  return 0;
}

static const ferry_engine_ops ops = {
    .abi = FERRY_ENGINE_ABI,
    .size = sizeof(ferry_engine_ops),
    .name = "slowplug",
    .description = "test plugin: one copy thread, rate-limited (gbps=), fails on demand (fail_after=)",
    .open = slow_open,
    .close = slow_close,
    .caps = slow_caps,
    .submit = slow_submit,
    .stats = slow_stats,
};

__attribute__((visibility("default"))) const ferry_engine_ops *ferry_engine_entry(uint32_t host_abi) {
  (void)host_abi;
  return &ops;
}
