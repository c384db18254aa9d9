/*
 * engine.c — the engine registry, engine handles and the generic parts of
 * every engine: descriptor validation, completion records, waiting.
 *
 * Registry: a fixed table of FERRY_ENGINE_MAX entries under one mutex
 * (touched only by register/load/open/close/list, never per job). The
 * built-ins `cpu` and `sw` are registered on first use. A plugin's library
 * stays loaded while it is registered; unregistering dlcloses it.
 *
 * Completion records: status is the futex word; status and waiters form one
 * 64-bit word. A sleeper CASes {PENDING, 0} -> {PENDING, 1} and then sleeps
 * on status == PENDING; the finisher swaps in {DONE|ERROR, 0} and wakes only
 * if the old word had the flag: no lost wakeup, no syscall when nobody
 * sleeps, and no access to the record after it is finished.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine_internal.h"

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

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_entry reg[FERRY_ENGINE_MAX];
static bool reg_init;

/* Size of the v1 table up to its last required member (submit). */
#define OPS_MIN_SIZE (offsetof(ferry_engine_ops, submit) + sizeof(void *))
/* An optional member exists only when the engine's table is large enough. */
#define OPS_HAS(o, m) ((o)->size >= offsetof(ferry_engine_ops, m) + sizeof(void *) && (o)->m)


FERRY_API int ferry_set_error(int code, const char *msg) { return ferry__err(code, "%s", msg ? msg : ""); }

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
    return ferry__err(FERRY_E_VERSION, "%s: engine ABI %u, libferry speaks %u", where, ops->abi, FERRY_ENGINE_ABI);
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

FERRY_API int ferry_engine_open(const char *name, const ferry_engine_config *cfg, ferry_engine **out) {
  if (!out) return ferry__err(FERRY_E_INVAL, "out is NULL");
  *out = NULL;
  int r = name_check(name);
  if (r) return r;
  ferry_engine_config c = {0};
  if (cfg) {
    if (cfg->size && cfg->size < offsetof(ferry_engine_config, options))
      return ferry__err(FERRY_E_INVAL, "engine config size %u is too small", cfg->size);
    size_t n = cfg->size && cfg->size < sizeof c ? cfg->size : sizeof c;
    memcpy(&c, cfg, n);
  }
  c.size = sizeof c;
  if (!c.cold_threshold) c.cold_threshold = ferry__default_cold_threshold();
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
  r = e->ops->open(&c, &e->impl);
  if (r == 0 && OPS_HAS(e->ops, caps)) {
    ferry_engine_caps caps = {0};
    if (e->ops->caps(e->impl, &caps) == 0) e->max_transfer = caps.max_transfer;
  }
  if (r) {
    if (r > 0) r = ferry__err(FERRY_E_SYS, "engine '%s' open returned %d", name, r);
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
  snprintf(out->name, sizeof out->name, "%s", e->ops->name);
  out->abi = e->ops->abi;
  return r < 0 ? r : 0;
}

FERRY_API int ferry_engine_stats_get(ferry_engine *e, ferry_engine_stats *out) {
  if (!e || !out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  memset(out, 0, sizeof *out);
  int r = OPS_HAS(e->ops, stats) ? e->ops->stats(e->impl, out) : 0;
  out->submitted = atomic_load_explicit(&e->submitted, memory_order_relaxed);
  return r < 0 ? r : 0;
}

/* ---------------------------------------------------------------- jobs */

static void futex_wake_all(uint32_t *addr) { syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0); }

/*
 * Pipelined channel sends mirror progress into the message's descriptor in
 * shared memory (a ferry_mirror): only ever grows, then the final value;
 * receivers that sleep on it have registered in `waiters`.
 */
void ferry__mirror_store(uint64_t mirror, uint64_t v) {
  struct ferry_mirror *m = (struct ferry_mirror *)(uintptr_t)mirror;
  uint64_t cur = atomic_load_explicit(&m->bytes, memory_order_relaxed);
  if (v & FERRY_PROGRESS_ERROR)
    atomic_store(&m->bytes, v);
  else
    while (cur < v && !(cur & FERRY_PROGRESS_ERROR) && !atomic_compare_exchange_weak(&m->bytes, &cur, v)) {
    }
  if (atomic_load(&m->waiters)) ferry__futex_wake((_Atomic uint32_t *)&m->bytes);
}

FERRY_API void ferry_completion_progress(ferry_completion *c, uint64_t bytes) {
  uint64_t cur = __atomic_load_n(&c->bytes_done, __ATOMIC_RELAXED);
  while (cur < bytes && !__atomic_compare_exchange_n(&c->bytes_done, &cur, bytes, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
  }
  if (c->mirror && cur < bytes) ferry__mirror_store(c->mirror, bytes);
}

typedef uint64_t __attribute__((may_alias)) word64;
_Static_assert(offsetof(ferry_completion, waiters) == 4, "status and waiters share one 64-bit word");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ferry_completion's status word assumes little-endian"
#endif
static inline word64 *state_word(ferry_completion *c) { return (word64 *)(void *)c; }

FERRY_API void ferry_completion_finish(ferry_completion *c, int error) {
  if (error == 0) {
    ferry_completion_progress(c, c->len);
  } else {
    if (error > 0) error = FERRY_E_SYS;
    __atomic_store_n(&c->error, error, __ATOMIC_RELAXED);
    if (c->mirror) /* receivers of a pipelined message learn the copy failed */
      ferry__mirror_store(c->mirror, FERRY_PROGRESS_ERROR | ((uint64_t)(uint32_t)-error << 40) |
                                         (__atomic_load_n(&c->bytes_done, __ATOMIC_ACQUIRE) & FERRY_PROGRESS_BYTES));
  }
  /* One atomic swap publishes the status and tells whether anyone sleeps;
   * after it the record may already be reused, so nothing else reads it. */
  struct ferry_notifier *notify = (struct ferry_notifier *)(uintptr_t)c->notify; /* read before the swap */
  uint64_t old = __atomic_exchange_n(state_word(c), (uint64_t)(error ? FERRY_JOB_ERROR : FERRY_JOB_DONE), __ATOMIC_SEQ_CST);
  if (old >> 32) futex_wake_all(&c->status);
  if (notify) { /* after the swap: whoever the fd wakes sees the job finished */
    uint64_t one = 1;
    ssize_t w = write(notify->efd, &one, sizeof one);
    (void)w;
    ferry__notifier_put(notify);
  }
}

/* Sleeper side: set the waiters flag while still PENDING, then FUTEX_WAIT on status. */
static void sleep_on(ferry_completion *c, int64_t slice) {
  uint64_t w = __atomic_load_n(state_word(c), __ATOMIC_SEQ_CST);
  if ((uint32_t)w != FERRY_JOB_PENDING) return;
  if (!(w >> 32) && !__atomic_compare_exchange_n(state_word(c), &w, w | (1ull << 32), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
    return; /* changed under us: re-check */
  ferry__futex_wait((_Atomic uint32_t *)&c->status, FERRY_JOB_PENDING, slice);
}

static int check_desc(ferry_engine *e, const ferry_copy_desc *d, uint32_t i) {
  ferry_completion *c = d->comp;
  if (!c) return ferry__err(FERRY_E_INVAL, "descriptor %u: no completion record", i);
  if ((uintptr_t)c & 63) return ferry__err(FERRY_E_INVAL, "descriptor %u: completion record not 64-byte aligned", i);
  if (d->flags & ~(uint32_t)FERRY_COPY_CACHE_MASK || (d->flags & FERRY_COPY_CACHE_MASK) == 3)
    return ferry__err(FERRY_E_INVAL, "descriptor %u: unknown flags 0x%x", i, d->flags);
  if (d->len && (!d->src || !d->dst)) return ferry__err(FERRY_E_INVAL, "descriptor %u: NULL buffer", i);
  if (e->max_transfer && d->len > e->max_transfer)
    return ferry__err(FERRY_E_TOOBIG, "descriptor %u: %llu bytes, engine '%s' takes at most %llu", i,
                      (unsigned long long)d->len, e->ops->name, (unsigned long long)e->max_transfer);
  uintptr_t s = (uintptr_t)d->src, t = (uintptr_t)d->dst;
  if (d->len && (s + d->len < s || t + d->len < t))
    return ferry__err(FERRY_E_INVAL, "descriptor %u: buffer wraps the address space", i);
  if (d->len && t < s + d->len && s < t + d->len)
    return ferry__err(FERRY_E_INVAL, "descriptor %u: source and destination overlap", i);
  if (__atomic_load_n(&c->status, __ATOMIC_ACQUIRE) == FERRY_JOB_PENDING)
    return ferry__err(FERRY_E_STATE, "descriptor %u: completion record belongs to a pending job", i);
  return 0;
}

static int submit_impl(ferry_engine *e, const ferry_copy_desc *d, uint32_t n, uint64_t mirror, uint64_t notify,
                       bool *finishing);

FERRY_API int ferry_engine_submit(ferry_engine *e, const ferry_copy_desc *d, uint32_t n) {
  bool finishing;
  return submit_impl(e, d, n, 0, 0, &finishing);
}

/*
 * One channel job: progress mirrored into shared memory (pipelining, when
 * mirror != 0) and `notify` signalled when it finishes. The caller has taken
 * a notifier reference for the job; finish drops it (also when submit fails).
 */
int ferry__engine_submit_mirrored(ferry_engine *e, const ferry_copy_desc *d, uint64_t mirror,
                                  struct ferry_notifier *notify) {
  bool finishing = false;
  int r = submit_impl(e, d, 1, mirror, (uint64_t)(uintptr_t)notify, &finishing);
  if (notify && !finishing) ferry__notifier_put(notify); /* no finish will ever drop the job's reference */
  return r;
}

void ferry__notifier_put(struct ferry_notifier *n) {
  if (atomic_fetch_sub(&n->refs, 1) == 1) {
    close(n->efd);
    free(n);
  }
}

/* *finishing: whether ferry_completion_finish ran or will run for the records (accepted or failed in submit). */
static int submit_impl(ferry_engine *e, const ferry_copy_desc *d, uint32_t n, uint64_t mirror, uint64_t notify,
                       bool *finishing) {
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
  for (uint32_t i = 0; i < n; i++) {
    ferry_completion *c = d[i].comp;
    c->error = 0;
    c->bytes_done = 0;
    c->len = d[i].len;
    c->flags = d[i].flags;
    c->user = d[i].user;
    c->mirror = mirror;
    c->notify = notify;
    __atomic_store_n(state_word(c), (uint64_t)FERRY_JOB_PENDING, __ATOMIC_RELEASE); /* waiters = 0 */
  }
  int r = e->ops->submit(e->impl, d, n);
  if (r < 0) {
    *finishing = true;
    for (uint32_t i = 0; i < n; i++) ferry_completion_finish(d[i].comp, r);
    return r;
  }
  if ((uint32_t)r > n) r = (int)n;
  *finishing = r > 0; /* (channel jobs are single: all or nothing) */
  for (uint32_t i = (uint32_t)r; i < n; i++) __atomic_store_n(&d[i].comp->status, FERRY_JOB_IDLE, __ATOMIC_RELEASE);
  atomic_fetch_add_explicit(&e->submitted, (uint64_t)r, memory_order_relaxed);
  return r;
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

FERRY_API int ferry_engine_poll(ferry_engine *e, ferry_completion *c) {
  if (!e || !c) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (OPS_HAS(e->ops, poll)) {
    int r = e->ops->poll(e->impl, c);
    if (r < 0) return r;
  }
  uint32_t st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
  if (st == FERRY_JOB_PENDING) return 0;
  if (st == FERRY_JOB_IDLE) return ferry__err(FERRY_E_STATE, "completion record was never submitted");
  int r = job_result(c, st);
  return r == 0 ? 1 : r;
}

#define SPIN_MIN_NS 2000
#define SPIN_MAX_NS 200000
static _Thread_local int64_t spin_budget = 20000;

FERRY_API int ferry_engine_wait(ferry_engine *e, ferry_completion *c, uint32_t wait, int64_t timeout_ns) {
  if (!e || !c) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (wait > FERRY_WAIT_HYBRID) return ferry__err(FERRY_E_INVAL, "unknown wait strategy %u", wait);
  uint32_t st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
  if (st == FERRY_JOB_IDLE) return ferry__err(FERRY_E_STATE, "completion record was never submitted");
  if (st != FERRY_JOB_PENDING) return job_result(c, st);
  if (OPS_HAS(e->ops, wait)) {
    int r = e->ops->wait(e->impl, c, wait, timeout_ns);
    if (r < 0) return r == FERRY_E_TIMEOUT ? ferry__err(r, "copy job still running after %lld ns", (long long)timeout_ns) : r;
    st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
    return st == FERRY_JOB_PENDING ? ferry__err(FERRY_E_STATE, "engine wait returned with the job pending") : job_result(c, st);
  }
  bool has_poll = OPS_HAS(e->ops, poll);
  uint64_t start = ferry__now_ns();
  uint64_t spin_until = wait == FERRY_WAIT_SPIN ? UINT64_MAX : wait == FERRY_WAIT_HYBRID ? start + (uint64_t)spin_budget : 0;
  bool spun_ok = false;
  for (uint32_t i = 0;; i++) {
    if (has_poll) {
      int r = e->ops->poll(e->impl, c);
      if (r < 0) return r;
    }
    st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
    if (st != FERRY_JOB_PENDING) {
      spun_ok = true;
      break;
    }
    uint64_t now = (i & 31) == 0 || spin_until != UINT64_MAX ? ferry__now_ns() : start;
    if (timeout_ns >= 0 && now - start >= (uint64_t)timeout_ns)
      return ferry__err(FERRY_E_TIMEOUT, "copy job still running after %lld ns", (long long)timeout_ns);
    if (now < spin_until) {
      ferry__cpu_relax();
      continue;
    }
    if (has_poll) { /* the engine finishes records only when polled: keep polling, politely */
      sched_yield();
      continue;
    }
    int64_t slice = FERRY_SLICE_NS;
    if (timeout_ns >= 0 && timeout_ns - (int64_t)(now - start) < slice) slice = timeout_ns - (int64_t)(now - start);
    sleep_on(c, slice);
  }
  if (wait == FERRY_WAIT_HYBRID) {
    if (spun_ok && ferry__now_ns() < spin_until)
      spin_budget = spin_budget * 2 > SPIN_MAX_NS ? SPIN_MAX_NS : spin_budget * 2;
    else
      spin_budget = spin_budget / 2 < SPIN_MIN_NS ? SPIN_MIN_NS : spin_budget / 2;
  }
  return job_result(c, st);
}
