/*
 * engine/engine.c — the engine registry, engine handles and the generic parts
 * of every engine: probing, descriptor validation, submitting, polling and
 * waiting (through sys/wait.c, the one wait loop).
 *
 * Registry: a fixed table of FERRY_ENGINE_MAX entries under one mutex
 * (touched only by register/load/open/close/list, never per job). The
 * built-ins `cpu`, `sw` and `dsa` are registered on first use. A plugin's library
 * stays loaded while it is registered; unregistering dlcloses it.

 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/builtin.h"
#include "engine/copy.h"
#include "engine/engine.h"
#include "sys/error.h"
#include "sys/wait.h"

struct reg_entry {
  const ferry_engine_ops *ops;
  void *dl;      /* dlopen handle of a plugin, NULL otherwise */
  bool builtin;
  int open_count;
  char name[FERRY_ENGINE_NAME_MAX + 1];
};

struct ferry_engine {
  const ferry_engine_ops *ops;
  void *impl;
  struct reg_entry *reg;
  uint64_t max_transfer;
  _Atomic uint64_t submitted;
};

const char *ferry__engine_name(const ferry_engine *e) { return e && e->reg ? e->reg->name : "?"; }

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_entry reg[FERRY_ENGINE_MAX];
static bool reg_init;

/* Size of the v1 table up to its last required member (submit). */
#define OPS_MIN_SIZE (offsetof(ferry_engine_ops, submit) + sizeof(void *))
/* An optional member exists only when the engine's table is large enough. */
#define OPS_HAS(o, m) ((o)->size >= offsetof(ferry_engine_ops, m) + sizeof(void *) && (o)->m)



/* ---------------------------------------------------------------- registry */

static int name_check(const char *n) {
  if (!n) return ferry__err(FERRY_E_NAME, "engine name is NULL");
  size_t len = strlen(n);
  if (len == 0 || len > FERRY_ENGINE_NAME_MAX)
    return ferry__err(FERRY_E_NAME, "engine name must have 1..%d bytes", FERRY_ENGINE_NAME_MAX);
  for (size_t i = 0; i < len; i++) {
    char c = n[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return ferry__err(FERRY_E_NAME, "engine name '%s': only a-z 0-9 _ - allowed", n);
  }
  return 0;
}

static int ops_check(const ferry_engine_ops *ops, const char *where) {
  if (!ops) return ferry__err(FERRY_E_INVAL, "%s: engine table is NULL", where);
  if (ops->abi != FERRY_ENGINE_ABI)
    return ferry__err(FERRY_E_VERSION, "%s: engine ABI %u, libferry speaks %u: rebuild it against this ferry/engine.h",
                      where, ops->abi, FERRY_ENGINE_ABI);
  if (ops->size < OPS_MIN_SIZE)
    return ferry__err(FERRY_E_VERSION, "%s: engine table is %u bytes, at least %zu expected", where, ops->size,
                      (size_t)OPS_MIN_SIZE);
  int r = name_check(ops->name);
  if (r) return r;
  if (!ops->open || !ops->close || !ops->submit)
    return ferry__err(FERRY_E_INVAL, "%s: engine '%s' lacks open, close or submit", where, ops->name);
  return 0;
}

static struct reg_entry *find_locked(const char *name) {
  for (int i = 0; i < FERRY_ENGINE_MAX; i++)
    if (reg[i].ops && !strcmp(reg[i].name, name)) return &reg[i];
  return NULL;
}

static int add_locked(const ferry_engine_ops *ops, void *dl, bool builtin) {
  if (find_locked(ops->name)) return ferry__err(FERRY_E_EXISTS, "an engine named '%s' is registered", ops->name);
  for (int i = 0; i < FERRY_ENGINE_MAX; i++) {
    if (reg[i].ops) continue;
    reg[i] = (struct reg_entry){.ops = ops, .dl = dl, .builtin = builtin};
    snprintf(reg[i].name, sizeof reg[i].name, "%s", ops->name);
    return 0;
  }
  return ferry__err(FERRY_E_LIMIT, "engine registry is full (%d engines)", FERRY_ENGINE_MAX);
}

static void lock_reg(void) {
  pthread_mutex_lock(&reg_lock);
  if (!reg_init) {
    reg_init = true;
    add_locked(&ferry__engine_cpu, NULL, true);
    add_locked(&ferry__engine_sw, NULL, true);
    add_locked(&ferry__engine_dsa, NULL, true);
  }
}

FERRY_API int ferry_engine_register(const ferry_engine_ops *ops) {
  int r = ops_check(ops, "ferry_engine_register");
  if (r) return r;
  lock_reg();
  r = add_locked(ops, NULL, false);
  pthread_mutex_unlock(&reg_lock);
  return r;
}

FERRY_API int ferry_engine_load(const char *path, char *name_out, size_t cap) {
  if (!path || !*path) return ferry__err(FERRY_E_INVAL, "plugin path is empty");
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char *e = dlerror();
    return ferry__err(access(path, F_OK) ? FERRY_E_NOTFOUND : FERRY_E_SYS, "dlopen %s: %s", path, e ? e : "failed");
  }
  dlerror();
  ferry_engine_entry_fn entry = (ferry_engine_entry_fn)dlsym(dl, FERRY_ENGINE_ENTRY);
  if (!entry) {
    dlclose(dl);
    return ferry__err(FERRY_E_NOTFOUND, "%s does not export %s(): not a ferry engine", path, FERRY_ENGINE_ENTRY);
  }
  const ferry_engine_ops *ops = entry(FERRY_ENGINE_ABI);
  char where[300];
  snprintf(where, sizeof where, "%s", path);
  int r = ops ? ops_check(ops, where)
              : ferry__err(FERRY_E_VERSION, "%s: %s(%u) returned NULL (no table for this ABI)", path,
                           FERRY_ENGINE_ENTRY, FERRY_ENGINE_ABI);
  if (r == 0) {
    lock_reg();
    r = add_locked(ops, dl, false);
    pthread_mutex_unlock(&reg_lock);
  }
  if (r) {
    dlclose(dl);
    return r;
  }
  if (name_out && cap) snprintf(name_out, cap, "%s", ops->name);
  return 0;
}

FERRY_API int ferry_engine_unregister(const char *name) {
  if (!name) return ferry__err(FERRY_E_INVAL, "engine name is NULL");
  lock_reg();
  struct reg_entry *e = find_locked(name);
  int r = 0;
  void *dl = NULL;
  if (!e) r = ferry__err(FERRY_E_NOTFOUND, "no engine named '%s'", name);
  else if (e->builtin) r = ferry__err(FERRY_E_PERM, "'%s' is built in", name);
  else if (e->open_count) r = ferry__err(FERRY_E_BUSY, "engine '%s' has %d open handles", name, e->open_count);
  else {
    dl = e->dl;
    memset(e, 0, sizeof *e);
  }
  pthread_mutex_unlock(&reg_lock);
  if (dl) dlclose(dl);
  return r;
}

FERRY_API int ferry_engine_list(char *buf, size_t cap) {
  lock_reg();
  int n = 0;
  size_t off = 0;
  if (buf && cap) buf[0] = 0;
  for (int i = 0; i < FERRY_ENGINE_MAX; i++) {
    if (!reg[i].ops) continue;
    if (buf && cap) {
      int w = snprintf(buf + off, cap - off, "%s%s", n ? "," : "", reg[i].name);
      if (w > 0) off = off + (size_t)w >= cap ? cap - 1 : off + (size_t)w;
    }
    n++;
  }
  pthread_mutex_unlock(&reg_lock);
  return n;
}

/* ---------------------------------------------------------------- handles */

/* The caller's config with libferry's defaults filled in (cfg may be NULL). */
static int config_fill(const ferry_engine_config *cfg, ferry_engine_config *c) {
  memset(c, 0, sizeof *c);
  if (cfg) {
    if (cfg->size && cfg->size < offsetof(ferry_engine_config, options))
      return ferry__err(FERRY_E_INVAL, "engine config size %u is too small", cfg->size);
    size_t n = cfg->size && cfg->size < sizeof *c ? cfg->size : sizeof *c;
    memcpy(c, cfg, n);
  }
  c->size = sizeof *c;
  if (!c->cold_threshold) c->cold_threshold = ferry__default_cold_threshold();
  return 0;
}

FERRY_API int ferry_engine_probe(const char *name, const ferry_engine_config *cfg, ferry_engine_probe_info *out) {
  if (!out) return ferry__err(FERRY_E_INVAL, "out is NULL");
  memset(out, 0, sizeof *out);
  out->size = sizeof *out;
  int r = name_check(name);
  if (r) return r;
  ferry_engine_config c;
  if ((r = config_fill(cfg, &c))) return r;
  lock_reg();
  struct reg_entry *re = find_locked(name);
  if (re) re->open_count++; /* pins a plugin while its probe runs */
  pthread_mutex_unlock(&reg_lock);
  if (!re) return ferry__err(FERRY_E_NOTFOUND, "no engine named '%s' (ferry_engine_list shows the registered ones)", name);
  if (OPS_HAS(re->ops, probe)) {
    ferry__err_clear();
    r = re->ops->probe(&c, out);
    if (r) r = ferry__err_engine(r, name, "probe");
    out->reason[sizeof out->reason - 1] = 0;
    out->available = out->available ? 1 : 0;
  } else {
    out->available = 1;
    snprintf(out->reason, sizeof out->reason, "engine '%s' has no probe op: assumed available", name);
  }
  lock_reg();
  re->open_count--;
  pthread_mutex_unlock(&reg_lock);
  return r ? r : out->available;
}

FERRY_API int ferry_engine_open(const char *name, const ferry_engine_config *cfg, ferry_engine **out) {
  if (!out) return ferry__err(FERRY_E_INVAL, "out is NULL");
  *out = NULL;
  int r = name_check(name);
  if (r) return r;
  ferry_engine_config c;
  if ((r = config_fill(cfg, &c))) return r;
  ferry_engine *e = calloc(1, sizeof *e);
  if (!e) return ferry__err(FERRY_E_NOMEM, "out of memory");
  lock_reg();
  struct reg_entry *re = find_locked(name);
  if (!re) {
    pthread_mutex_unlock(&reg_lock);
    free(e);
    return ferry__err(FERRY_E_NOTFOUND, "no engine named '%s' (ferry_engine_list shows the registered ones)", name);
  }
  re->open_count++; /* pins the plugin while open */
  pthread_mutex_unlock(&reg_lock);
  e->ops = re->ops;
  e->reg = re;
  ferry__err_clear();
  r = e->ops->open(&c, &e->impl);
  if (r == 0 && OPS_HAS(e->ops, caps)) {
    ferry_engine_caps caps = {0};
    if (e->ops->caps(e->impl, &caps) == 0) e->max_transfer = caps.max_transfer;
  }
  if (r) {
    r = ferry__err_engine(r, name, "open");
    lock_reg();
    re->open_count--;
    pthread_mutex_unlock(&reg_lock);
    free(e);
    return r;
  }
  *out = e;
  return 0;
}

FERRY_API int ferry_engine_close(ferry_engine *e) {
  if (!e) return ferry__err(FERRY_E_INVAL, "engine is NULL");
  int r = e->ops->close(e->impl);
  lock_reg();
  e->reg->open_count--;
  pthread_mutex_unlock(&reg_lock);
  free(e);
  return r < 0 ? r : 0;
}

FERRY_API int ferry_engine_caps_get(ferry_engine *e, ferry_engine_caps *out) {
  if (!e || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  memset(out, 0, sizeof *out);
  int r = OPS_HAS(e->ops, caps) ? e->ops->caps(e->impl, out) : 0;
  if (r < 0) r = ferry__err_engine(r, e->ops->name, "caps");
  snprintf(out->name, sizeof out->name, "%s", e->ops->name);
  out->abi = e->ops->abi;
  return r < 0 ? r : 0;
}

FERRY_API int ferry_engine_stats_get(ferry_engine *e, ferry_engine_stats *out) {
  if (!e || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  memset(out, 0, sizeof *out);
  int r = OPS_HAS(e->ops, stats) ? e->ops->stats(e->impl, out) : 0;
  if (r < 0) r = ferry__err_engine(r, e->ops->name, "stats");
  out->submitted = atomic_load_explicit(&e->submitted, memory_order_relaxed);
  return r < 0 ? r : 0;
}

/* ---------------------------------------------------------------- jobs */

static int check_desc(ferry_engine *e, const ferry_copy_desc *d, uint32_t i) {
  ferry_completion *c = d->comp;
  if (!c) return ferry__err(FERRY_E_INVAL, "descriptor %u: no completion record", i);
  if ((uintptr_t)c & 63) return ferry__err(FERRY_E_INVAL, "descriptor %u: completion record not 64-byte aligned", i);
  int r = ferry__cache_check(d->flags);
  if (r) return r;
  if (d->len && (!d->src || !d->dst)) return ferry__err(FERRY_E_INVAL, "descriptor %u: NULL buffer", i);
  if (e->max_transfer && d->len > e->max_transfer)
    return ferry__err(FERRY_E_TOOBIG, "descriptor %u: %llu bytes, engine '%s' takes at most %llu", i,
                      (unsigned long long)d->len, e->ops->name, (unsigned long long)e->max_transfer);
  uintptr_t s = (uintptr_t)d->src, t = (uintptr_t)d->dst;
  if (d->len && (s + d->len < s || t + d->len < t))
    return ferry__err(FERRY_E_INVAL, "descriptor %u: buffer wraps the address space", i);
  if (d->len && t < s + d->len && s < t + d->len)
    return ferry__err(FERRY_E_INVAL, "descriptor %u: source and destination overlap", i);
  if (ferry__completion_status(c) == FERRY_JOB_PENDING)
    return ferry__err(FERRY_E_STATE, "descriptor %u: completion record belongs to a pending job", i);
  return 0;
}

/* *finishing: whether ferry_completion_finish ran or will run for the records (accepted or failed in submit). */
static int submit_impl(ferry_engine *e, const ferry_copy_desc *d, uint32_t n, struct ferry__host *host, bool *finishing) {
  *finishing = false;
  if (!e) return ferry__err(FERRY_E_INVAL, "engine is NULL");
  if (n == 0) return 0;
  if (n > (1u << 30)) return ferry__err(FERRY_E_INVAL, "batch of %u descriptors is too large", n);
  if (!d) return ferry__err(FERRY_E_INVAL, "descriptors are NULL");
  for (uint32_t i = 0; i < n; i++) {
    int r = check_desc(e, &d[i], i);
    if (r) return r;
    for (uint32_t j = 0; j < i; j++)
      if (d[j].comp == d[i].comp) return ferry__err(FERRY_E_INVAL, "descriptors %u and %u share a completion record", j, i);
    if (i > 64) break; /* bound the quadratic duplicate check; the STATE check still catches reuse later */
  }
  for (uint32_t i = 0; i < n; i++) ferry__completion_start(d[i].comp, &d[i], host);
  ferry__err_clear();
  int r = e->ops->submit(e->impl, d, n);
  if (r < 0) {
    r = ferry__err_engine(r, e->ops->name, "submit");
    *finishing = true;
    for (uint32_t i = 0; i < n; i++) ferry_completion_finish(d[i].comp, r);
    return r;
  }
  if ((uint32_t)r > n) r = (int)n;
  *finishing = r > 0; /* (hosted jobs are single: all or nothing) */
  for (uint32_t i = (uint32_t)r; i < n; i++) ferry__completion_idle(d[i].comp);
  atomic_fetch_add_explicit(&e->submitted, (uint64_t)r, memory_order_relaxed);
  return r;
}

FERRY_API int ferry_engine_submit(ferry_engine *e, const ferry_copy_desc *d, uint32_t n) {
  bool finishing;
  return submit_impl(e, d, n, NULL, &finishing);
}

int ferry__engine_submit_hosted(ferry_engine *e, const ferry_copy_desc *d, struct ferry__host *host, bool *finishing) {
  return submit_impl(e, d, 1, host, finishing);
}

FERRY_API int ferry_engine_copy(ferry_engine *e, void *dst, const void *src, uint64_t len, uint32_t flags,
                                ferry_completion *comp) {
  ferry_copy_desc d = {.dst = dst, .src = src, .len = len, .flags = flags, .comp = comp};
  int r = ferry_engine_submit(e, &d, 1);
  if (r == 0) return ferry__err(FERRY_E_FULL, "engine '%s' accepted no job", e->ops->name);
  return r < 0 ? r : 0;
}

static inline int job_result(ferry_completion *c, uint32_t st) {
  if (st == FERRY_JOB_DONE) return 0;
  int err = __atomic_load_n(&c->error, __ATOMIC_RELAXED);
  return ferry__err(err ? err : FERRY_E_SYS, "copy job failed: %s", ferry_strerror(err));
}

/* Let a polled engine finish the record; its negative code (range-checked), or 0. */
static int poll_engine(ferry_engine *e, ferry_completion *c) {
  if (!OPS_HAS(e->ops, poll)) return 0;
  int r = e->ops->poll(e->impl, c);
  return r < 0 ? ferry__err_engine(r, e->ops->name, "poll") : 0;
}

FERRY_API int ferry_engine_poll(ferry_engine *e, ferry_completion *c) {
  if (!e || !c) return ferry__err(FERRY_E_INVAL, "NULL argument");
  int r = poll_engine(e, c);
  if (r < 0) return r;
  uint32_t st = ferry__completion_status(c);
  if (st == FERRY_JOB_PENDING) return 0;
  if (st == FERRY_JOB_IDLE) return ferry__err(FERRY_E_STATE, "completion record was never submitted");
  r = job_result(c, st);
  return r == 0 ? 1 : r;
}

struct job_wait {
  ferry_engine *e;
  ferry_completion *c;
};

static int job_ready(void *arg) {
  struct job_wait *jw = arg;
  int r = poll_engine(jw->e, jw->c);
  if (r < 0) return r;
  return ferry__completion_status(jw->c) != FERRY_JOB_PENDING;
}

/* Sleep on the record, or, for an engine that finishes records only when polled, yield politely. */
static void job_sleep(void *arg, int64_t slice) {
  struct job_wait *jw = arg;
  if (OPS_HAS(jw->e->ops, poll))
    sched_yield();
  else
    ferry__completion_sleep(jw->c, slice);
}

FERRY_API int ferry_engine_wait(ferry_engine *e, ferry_completion *c, uint32_t wait, int64_t timeout_ns) {
  if (!e || !c) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (wait > FERRY_WAIT_HYBRID) return ferry__err(FERRY_E_INVAL, "unknown wait strategy %u", wait);
  uint32_t st = ferry__completion_status(c);
  if (st == FERRY_JOB_IDLE) return ferry__err(FERRY_E_STATE, "completion record was never submitted");
  if (st != FERRY_JOB_PENDING) return job_result(c, st);
  int r;
  if (OPS_HAS(e->ops, wait)) {
    r = e->ops->wait(e->impl, c, wait, timeout_ns);
    if (r < 0 && r != FERRY_E_TIMEOUT) return ferry__err_engine(r, e->ops->name, "wait");
    if (r == 0 && ferry__completion_status(c) == FERRY_JOB_PENDING)
      return ferry__err(FERRY_E_STATE, "engine wait returned with the job pending");
  } else {
    struct job_wait jw = {.e = e, .c = c};
    struct ferry__wait w = {.ready = job_ready, .arg = &jw, .sleep = job_sleep};
    r = ferry__wait_run(&w, wait, timeout_ns, NULL);
    if (r < 0 && r != FERRY_E_TIMEOUT) return r;
  }
  if (r == FERRY_E_TIMEOUT) return ferry__err(r, "copy job still running after %lld ns", (long long)timeout_ns);
  return job_result(c, ferry__completion_status(c));
}
