/*
 * engine/cpu.c — the `cpu` engine: every job is copied in the caller's thread
 * inside submit (synchronous), hot jobs with temporal stores, cold jobs with
 * non-temporal stores (copy.c). Thread-safe: one handle may be used by many
 * threads; the stats are relaxed atomic counters.
 */
#include <stdio.h>
#include <stdlib.h>

#include "engine/builtin.h"
#include "engine/copy.h"
#include "sys/error.h"
#include "sys/sys.h"

struct cpu_engine {
  uint64_t cold_threshold;
  _Atomic uint64_t jobs, bytes, busy_ns;
};

/* Copies under this size are not timed (a clock read would cost more than the copy). */
#define TIMED_MIN (64u * 1024u)

static int cpu_open(const ferry_engine_config *cfg, void **impl) {
  struct cpu_engine *e = calloc(1, sizeof *e);
  if (!e) return ferry__err(FERRY_E_NOMEM, "out of memory");
  e->cold_threshold = cfg->cold_threshold;
  *impl = e;
  return 0;
}

static int cpu_close(void *impl) {
  free(impl);
  return 0;
}

/* what caps and probe report alike */
static const uint32_t CPU_CAPS = FERRY_CAP_CACHE_HINTS | FERRY_CAP_SELF_FINISH | FERRY_CAP_HOST_CPU;

static int cpu_caps(void *impl, ferry_engine_caps *out) {
  struct cpu_engine *e = impl;
  out->flags = CPU_CAPS;
  out->cold_threshold = e->cold_threshold;
  return 0;
}

static int cpu_submit(void *impl, const ferry_copy_desc *d, uint32_t n) {
  struct cpu_engine *e = impl;
  uint64_t bytes = 0, busy = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t len = d[i].len;
    bool cold = ferry__is_cold(d[i].flags, len, e->cold_threshold);
    if (len >= TIMED_MIN) {
      uint64_t t0 = ferry__now_ns();
      ferry__copy(d[i].dst, d[i].src, len, cold);
      busy += ferry__now_ns() - t0;
    } else {
      ferry__copy(d[i].dst, d[i].src, len, cold);
    }
    bytes += len;
    ferry_completion_finish(d[i].comp, 0);
  }
  atomic_fetch_add_explicit(&e->jobs, n, memory_order_relaxed);
  atomic_fetch_add_explicit(&e->bytes, bytes, memory_order_relaxed);
  if (busy) atomic_fetch_add_explicit(&e->busy_ns, busy, memory_order_relaxed);
  return (int)n;
}

static int cpu_probe(const ferry_engine_config *cfg, ferry_engine_probe_info *out) {
  out->available = 1;
  out->flags = CPU_CAPS;
  snprintf(out->reason, sizeof out->reason, "copies in the caller's thread with %s stores", ferry_copy_isa());
  return 0;
}

static int cpu_stats(void *impl, ferry_engine_stats *out) {
  struct cpu_engine *e = impl;
  out->jobs = atomic_load_explicit(&e->jobs, memory_order_relaxed);
  out->bytes = atomic_load_explicit(&e->bytes, memory_order_relaxed);
  out->busy_ns = atomic_load_explicit(&e->busy_ns, memory_order_relaxed);
  out->chunks = out->jobs;
  return 0;
}

const ferry_engine_ops ferry__engine_cpu = {
    .abi = FERRY_ENGINE_ABI,
    .size = sizeof(ferry_engine_ops),
    .name = "cpu",
    .description = "synchronous copy in the caller's thread (temporal / non-temporal stores)",
    .open = cpu_open,
    .close = cpu_close,
    .caps = cpu_caps,
    .submit = cpu_submit,
    .stats = cpu_stats,
    .probe = cpu_probe,
};
