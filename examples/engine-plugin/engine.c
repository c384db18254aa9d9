/*
 * A copy engine plugin: its own shared library, loaded at run time with
 * Engine.load(path) (C: ferry_engine_load). It copies with memcpy in submit()
 * and finishes each completion record at once. docs/writing-an-engine.md has
 * the full contract (deferred completion, batches, errors, stats).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"

struct ex { _Atomic uint64_t jobs, bytes; };

static int ex_open(const ferry_engine_config *cfg, void **impl) {
  (void)cfg;
  struct ex *e = calloc(1, sizeof *e);
  if (!e) return ferry_set_error(FERRY_E_NOMEM, "example: out of memory");
  *impl = e;
  return 0;
}

static int ex_close(void *impl) {
  free(impl);
  return 0;
}

static int ex_caps(void *impl, ferry_engine_caps *out) {
  (void)impl;
  out->flags = FERRY_CAP_BATCH;
  out->max_batch = 64;
  out->max_transfer = 1ull << 30;
  return 0;
}

static int ex_submit(void *impl, const ferry_copy_desc *d, uint32_t n) {
  struct ex *e = impl;
  for (uint32_t i = 0; i < n; i++) {
    memcpy(d[i].dst, d[i].src, d[i].len);
    e->jobs++;
    e->bytes += d[i].len;
    ferry_completion_finish(d[i].comp, 0);
  }
  return (int)n;
}

static int ex_poll(void *impl, ferry_completion *c) {
  (void)impl; (void)c;
  return 0;
}

static int ex_stats(void *impl, ferry_engine_stats *out) {
  struct ex *e = impl;
  out->jobs = e->jobs;
  out->bytes = e->bytes;
  return 0;
}

static const ferry_engine_ops ops = {
    .abi = FERRY_ENGINE_ABI,
    .size = sizeof(ferry_engine_ops),
    .name = "example",
    .description = "example plugin: memcpy in submit",
    .open = ex_open,
    .close = ex_close,
    .caps = ex_caps,
    .submit = ex_submit,
    .poll = ex_poll,
    .stats = ex_stats,
};

__attribute__((visibility("default"))) const ferry_engine_ops *ferry_engine_entry(uint32_t host_abi) {
  (void)host_abi;
  return &ops;
}
