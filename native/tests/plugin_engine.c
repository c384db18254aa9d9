/*
 * plugin_engine.c — a copy engine built as its own shared library and loaded
 * with ferry_engine_load(); the worked example of docs/writing-an-engine.md.
 *
 * It copies with memcpy, but like a hardware engine it does the work later:
 * submit only queues descriptors (at most 64 in flight: a larger batch is
 * accepted in part), and poll() runs the queued copies and finishes their
 * completion records. So the registry's poll-driven wait path is exercised.
 *
 * The same source builds the test's other plugins (see tests/CMakeLists.txt):
 *   PLUGIN_FAIL      submit fails with FERRY_E_SYS (options "mode=async":
 *                    accept, copy half, then finish the job with an error)
 *   PLUGIN_ABI=n     declares another ABI version (must be rejected)
 *   PLUGIN_NO_ENTRY  exports no entry symbol (must be rejected)
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "testplug"
#endif
#ifndef PLUGIN_ABI
#define PLUGIN_ABI FERRY_ENGINE_ABI
#endif
#define MAX_INFLIGHT 64

struct plug {
  pthread_mutex_t mu;
  uint32_t n;
  ferry_copy_desc q[MAX_INFLIGHT];
  int async_fail;
  uint64_t jobs, errors, bytes;
};

static int plug_open(const ferry_engine_config *cfg, void **impl) {
  struct plug *p = calloc(1, sizeof *p);
  if (!p) return ferry_set_error(FERRY_E_NOMEM, PLUGIN_NAME ": out of memory");
  pthread_mutex_init(&p->mu, NULL);
  p->async_fail = cfg->options && strstr(cfg->options, "mode=async") != NULL;
  *impl = p;
  return 0;
}

/* Run every queued copy and finish its record (called with mu held). */
static void run_queue(struct plug *p) {
  for (uint32_t i = 0; i < p->n; i++) {
    ferry_copy_desc *d = &p->q[i];
#ifdef PLUGIN_FAIL
    memcpy(d->dst, d->src, d->len / 2);
    ferry_completion_progress(d->comp, d->len / 2);
    p->errors++;
    ferry_completion_finish(d->comp, FERRY_E_SYS);
#else
    memcpy(d->dst, d->src, d->len);
    p->jobs++;
    p->bytes += d->len;
    ferry_completion_finish(d->comp, 0);
#endif
  }
  p->n = 0;
}

static int plug_close(void *impl) {
  struct plug *p = impl;
  pthread_mutex_lock(&p->mu);
  run_queue(p); /* every accepted job must be finished before close returns */
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_destroy(&p->mu);
  free(p);
  return 0;
}

static int plug_caps(void *impl, ferry_engine_caps *out) {
  out->flags = FERRY_CAP_ASYNC | FERRY_CAP_BATCH;
  out->max_batch = MAX_INFLIGHT;
  out->max_transfer = 1ull << 30;
  return 0;
}

static int plug_submit(void *impl, const ferry_copy_desc *d, uint32_t n) {
  struct plug *p = impl;
#ifdef PLUGIN_FAIL
  if (!p->async_fail) return ferry_set_error(FERRY_E_SYS, PLUGIN_NAME ": the device refused the batch");
#endif
  pthread_mutex_lock(&p->mu);
  uint32_t k = 0;
  while (k < n && p->n < MAX_INFLIGHT) p->q[p->n++] = d[k++];
  pthread_mutex_unlock(&p->mu);
  return (int)k; /* may be fewer than n: the caller resubmits the rest */
}

static int plug_poll(void *impl, ferry_completion *c) {
  struct plug *p = impl;
  pthread_mutex_lock(&p->mu);
  run_queue(p);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

static int plug_stats(void *impl, ferry_engine_stats *out) {
  struct plug *p = impl;
  pthread_mutex_lock(&p->mu);
  out->jobs = p->jobs;
  out->errors = p->errors;
  out->bytes = p->bytes;
  pthread_mutex_unlock(&p->mu);
  return 0;
}

static const ferry_engine_ops ops = {
    .abi = PLUGIN_ABI,
    .size = sizeof(ferry_engine_ops),
    .name = PLUGIN_NAME,
    .description = "test plugin: deferred memcpy, finished on poll",
    .open = plug_open,
    .close = plug_close,
    .caps = plug_caps,
    .submit = plug_submit,
    .poll = plug_poll,
    .stats = plug_stats,
};

#ifndef PLUGIN_NO_ENTRY
__attribute__((visibility("default"))) const ferry_engine_ops *ferry_engine_entry(uint32_t host_abi) {
  (void)host_abi; /* one table; a plugin that speaks several ABIs picks one here */
  return &ops;
}
#else
__attribute__((visibility("default"))) const ferry_engine_ops *ferry_engine_entry_typo(uint32_t host_abi) {
  (void)host_abi;
  return &ops;
}
#endif
