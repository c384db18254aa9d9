/*
 * engine/dsa.c — the `dsa` engine: Intel DSA through one work-queue portal
 * (engine/dsa_portal.h), the real idxd queue (engine/dsa_idxd.c) or the
 * emulated device (engine/dsa_emu.c). Everything here is shared by both.
 *
 * Jobs: a job's state lives in its completion record's engine words (source,
 * destination, bytes cut into pieces, completed prefix, piece size and cache
 * bit, list link, error, pieces in flight): nothing is allocated per job.
 * Accepted jobs wait in a FIFO until ring slots are free.
 *
 * Ring: N slots, each a 64-byte MEMMOVE descriptor (one 64-byte aligned
 * array, so a run of slots is a valid batch list) and its own 32-byte aligned
 * completion record. A job is cut into pieces of at most the queue's max
 * transfer (or the job's chunk hint, or cfg.chunk_bytes), one per slot.
 * Descriptors are written without a doorbell; then each contiguous run of
 * prepared slots is handed over as one BATCH descriptor (its own record in a
 * second ring) or, alone, as itself. Every descriptor carries CRAV|RCR, and
 * CC when the job is hot and the device's gen_cap allows cache control.
 *
 * Queues: a dedicated queue drops what it cannot hold, so the engine counts
 * the descriptors it handed over (a batch counts once) and stops at size - 1
 * (one entry stays free for page-fault fix-ups); a shared queue answers
 * "retry", and the engine tries again on its next pass.
 *
 * Completions: one completion thread per engine retires slots in ring order:
 * status SUCCESS extends the job's completed prefix (progress); a page fault
 * (partial completion) is fixed at once: touch the faulting address (a write
 * if the 0x80 bit says the fault was on a write), resubmit the remainder
 * (advancing src/dst by bytes_completed only when result = 0, ascending),
 * up to pf_retries times, then finish it on the CPU (or at once with pf=cpu);
 * any other status fails the job with the status's FerryError code, and the
 * failing record (status, bytes) is left in the job's engine words
 * (engine[0..3], a struct dsa_completion_record) when it is finished. Slots of
 * a batch whose record the device never wrote once the batch completed were
 * not attempted. So, as with DPDK's idxd driver: ops before a failure are
 * done, the failing op carries its status, the ones not attempted say so.
 * While waiting the thread pauses, yields or UMWAITs (WAITPKG) on the oldest
 * record; when nothing is in flight it sleeps on a futex.
 *
 * Health: when nothing completes for stall_ms, the portal is asked: a device
 * halt fails every outstanding job (FERRY_E_SYS) and the engine refuses new
 * work; a software error (e.g. a misaligned completion record the device
 * could not write) completes the descriptor it names with that status.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/builtin.h"
#include "engine/copy.h"
#include "engine/dsa.h"
#include "engine/dsa_emu.h"
#include "engine/dsa_idxd.h"
#include "sys/error.h"
#include "sys/sys.h"

/* ferry_completion.engine[] words of a job */
enum { W_SRC, W_DST, W_SUB, W_DONE, W_PIECE, W_NEXT, W_ERR, W_INFL };
#define PIECE_CC (1ull << 63)
#define ERR_SET (1ull << 40)

enum { WAIT_SPIN, WAIT_YIELD, WAIT_UMWAIT };

struct dsa_opts {
  char device[256];
  int wait;
  bool pf_cpu, batch, no_mmap, cpu_set;
  uint32_t ring, pf_retries, cpu;
  uint64_t stall_ms;
  char sysfs[256], dev[256], inject[512];
  struct dsa_emu_config emu;
};

struct slot {
  ferry_completion *job;
  uint64_t off;
  uint32_t len;
  int32_t batch; /* batch ring index, or -1 */
  int32_t fail;  /* FERRY_E_* when never handed over / device gone */
  bool counted;  /* holds a queue entry of its own (a plain descriptor) */
};

struct bmeta {
  uint64_t first;
  uint32_t count;
  bool seen;
};

struct dsa_engine {
  struct dsa_portal *portal;
  struct dsa_opts o;
  uint64_t piece, cold_threshold, stall_ns;
  uint32_t n, mask, max_batch, wq_cap;
  bool cc_ok, umwait;
  struct dsa_hw_desc *desc;
  struct dsa_completion_record *comp, *bcomp, *fix_comp;
  struct dsa_hw_desc *fix_desc;
  struct slot *meta;
  struct bmeta *bm;
  uint64_t head, sent, tail, bhead, btail;
  uint32_t wq_inflight;
  bool full_flag;
  ferry_completion *pend_head, *pend_tail;
  pthread_mutex_t mu;
  pthread_t thr;
  bool thr_started;
  _Atomic uint32_t kick, sleeping;
  _Atomic bool stopping;
  bool drain;
  int dead;
  char dead_why[256];
  _Atomic uint64_t jobs, errors, bytes, descs, full_waits;
};

/* ---------------------------------------------------------------- counters */

static struct ferry__dsa_counters G;
#define CNT(f, v) __atomic_add_fetch(&G.f, (v), __ATOMIC_RELAXED)

void ferry__dsa_counters_get(struct ferry__dsa_counters *out) {
  uint64_t *s = (uint64_t *)&G, *d = (uint64_t *)out;
  for (size_t i = 0; i < offsetof(struct ferry__dsa_counters, last_status) / 8; i++) d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
  out->last_status = __atomic_load_n(&G.last_status, __ATOMIC_RELAXED);
}

void ferry__dsa_counters_reset(void) {
  uint64_t *s = (uint64_t *)&G;
  for (size_t i = 0; i < offsetof(struct ferry__dsa_counters, last_status) / 8; i++) __atomic_store_n(&s[i], 0, __ATOMIC_RELAXED);
  __atomic_store_n(&G.last_status, 0, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- options */

static int parse_u64(const char *k, const char *v, uint64_t *out) {
  char *end;
  unsigned long long x = strtoull(v, &end, 0);
  if (end == v) return ferry__err(FERRY_E_INVAL, "dsa: option %s=%s is not a number", k, v);
  if (*end == 'k' || *end == 'K') x <<= 10, end++;
  else if (*end == 'm' || *end == 'M') x <<= 20, end++;
  if (*end) return ferry__err(FERRY_E_INVAL, "dsa: option %s=%s is not a number", k, v);
  *out = x;
  return 0;
}

static int parse_bool(const char *k, const char *v, bool *out) {
  if (!strcmp(v, "1") || !strcmp(v, "on") || !strcmp(v, "true")) *out = true;
  else if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "false")) *out = false;
  else return ferry__err(FERRY_E_INVAL, "dsa: option %s=%s: use 0 or 1", k, v);
  return 0;
}

static int parse_cpu(const char *v, uint32_t *out) {
  *out = 0;
  if (!strcmp(v, "none")) return 0;
  char buf[128];
  snprintf(buf, sizeof buf, "%s", v);
  char *save = NULL;
  for (char *t = strtok_r(buf, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
    if (!strcmp(t, "movdir64b")) *out |= DSA_CPU_MOVDIR64B;
    else if (!strcmp(t, "enqcmd")) *out |= DSA_CPU_ENQCMD;
    else if (!strcmp(t, "waitpkg")) *out |= DSA_CPU_WAITPKG;
    else return ferry__err(FERRY_E_INVAL, "dsa: cpu=%s: features are movdir64b, enqcmd, waitpkg (joined by '+') or none", v);
  }
  return 0;
}

/*
 * "key=value,..." (cfg->options):
 *   device=auto|emulated|/dev/dsa/wqX.Y   wait=spin|yield|umwait   pf=resubmit|cpu   pf_retries=N
 *   batch=0|1   ring=N (slots, power of two)   stall_ms=N
 *   tests: sysfs=DIR dev=DIR cpu=movdir64b+enqcmd+waitpkg|none mmap=0
 *   emulated: wq_mode=shared|dedicated wq_size=N max_transfer=N max_batch=N cc=0|1 workers=N inject=LIST
 */
static int parse_opts(const char *s, struct dsa_opts *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->device, sizeof o->device, "auto");
  o->wait = WAIT_YIELD;
  o->batch = true;
  o->ring = 256;
  o->pf_retries = 3;
  o->stall_ms = 50;
  snprintf(o->sysfs, sizeof o->sysfs, "/sys/bus/dsa/devices");
  snprintf(o->dev, sizeof o->dev, "/dev/dsa");
  o->emu = (struct dsa_emu_config){.wq_size = 32, .max_transfer = 2u << 20, .max_batch = 32, .cache_control = true, .workers = 1};
  if (!s) return 0;
  char buf[2048];
  if (strlen(s) >= sizeof buf) return ferry__err(FERRY_E_INVAL, "dsa: options are too long");
  snprintf(buf, sizeof buf, "%s", s);
  char *save = NULL;
  for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *v = strchr(kv, '=');
    if (!v) return ferry__err(FERRY_E_INVAL, "dsa: option '%s' is not key=value", kv);
    *v++ = 0;
    uint64_t x = 0;
    bool b = false;
    int r = 0;
    if (!strcmp(kv, "device")) snprintf(o->device, sizeof o->device, "%s", v);
    else if (!strcmp(kv, "wait")) {
      if (!strcmp(v, "spin")) o->wait = WAIT_SPIN;
      else if (!strcmp(v, "yield")) o->wait = WAIT_YIELD;
      else if (!strcmp(v, "umwait")) o->wait = WAIT_UMWAIT;
      else return ferry__err(FERRY_E_INVAL, "dsa: wait=%s: use spin, yield or umwait", v);
    } else if (!strcmp(kv, "pf")) {
      if (!strcmp(v, "resubmit")) o->pf_cpu = false;
      else if (!strcmp(v, "cpu")) o->pf_cpu = true;
      else return ferry__err(FERRY_E_INVAL, "dsa: pf=%s: use resubmit or cpu", v);
    } else if (!strcmp(kv, "pf_retries")) {
      if (!(r = parse_u64(kv, v, &x))) o->pf_retries = (uint32_t)x;
    } else if (!strcmp(kv, "batch")) {
      if (!(r = parse_bool(kv, v, &b))) o->batch = b;
    } else if (!strcmp(kv, "ring")) {
      if (!(r = parse_u64(kv, v, &x))) {
        if (x < 2 || x > 65536 || (x & (x - 1))) return ferry__err(FERRY_E_INVAL, "dsa: ring=%s: a power of two in 2..65536", v);
        o->ring = (uint32_t)x;
      }
    } else if (!strcmp(kv, "stall_ms")) {
      if (!(r = parse_u64(kv, v, &x))) o->stall_ms = x ? x : 1;
    } else if (!strcmp(kv, "sysfs")) snprintf(o->sysfs, sizeof o->sysfs, "%s", v);
    else if (!strcmp(kv, "dev")) snprintf(o->dev, sizeof o->dev, "%s", v);
    else if (!strcmp(kv, "cpu")) {
      if (!(r = parse_cpu(v, &o->cpu))) o->cpu_set = true;
    } else if (!strcmp(kv, "mmap")) {
      if (!(r = parse_bool(kv, v, &b))) o->no_mmap = !b;
    } else if (!strcmp(kv, "wq_mode")) {
      if (!strcmp(v, "dedicated")) o->emu.dedicated = true;
      else if (!strcmp(v, "shared")) o->emu.dedicated = false;
      else return ferry__err(FERRY_E_INVAL, "dsa: wq_mode=%s: use shared or dedicated", v);
    } else if (!strcmp(kv, "wq_size")) {
      if (!(r = parse_u64(kv, v, &x))) {
        if (!x || x > 4096) return ferry__err(FERRY_E_INVAL, "dsa: wq_size=%s: 1..4096", v);
        o->emu.wq_size = (uint32_t)x;
      }
    } else if (!strcmp(kv, "max_transfer")) {
      if (!(r = parse_u64(kv, v, &x))) {
        if (x < 64 || x > (1ull << 31)) return ferry__err(FERRY_E_INVAL, "dsa: max_transfer=%s: 64 B..2 GiB", v);
        o->emu.max_transfer = x;
      }
    } else if (!strcmp(kv, "max_batch")) {
      if (!(r = parse_u64(kv, v, &x))) {
        if (x > 4096) return ferry__err(FERRY_E_INVAL, "dsa: max_batch=%s: 0..4096", v);
        o->emu.max_batch = (uint32_t)x;
      }
    } else if (!strcmp(kv, "cc")) {
      if (!(r = parse_bool(kv, v, &b))) o->emu.cache_control = b;
    } else if (!strcmp(kv, "workers")) {
      if (!(r = parse_u64(kv, v, &x))) {
        if (!x || x > 16) return ferry__err(FERRY_E_INVAL, "dsa: workers=%s: 1..16", v);
        o->emu.workers = (uint32_t)x;
      }
    } else if (!strcmp(kv, "inject")) {
      snprintf(o->inject, sizeof o->inject, "%s", v);
      if ((r = ferry__dsa_emu_check_inject(v))) return r;
    } else
      return ferry__err(FERRY_E_INVAL, "dsa: unknown option '%s' (device, wait, pf, pf_retries, batch, ring, stall_ms, sysfs, dev, cpu, mmap, wq_mode, wq_size, max_transfer, max_batch, cc, workers, inject)", kv);
    if (r) return r;
  }
  if (o->inject[0]) o->emu.inject = o->inject;
  if (!o->cpu_set) o->cpu = ferry__dsa_cpu_features();
  return 0;
}

static bool is_emulated(const struct dsa_opts *o) { return !strcmp(o->device, "emulated"); }

static void discover_opts(const struct dsa_opts *o, struct dsa_discover_opts *d) {
  *d = (struct dsa_discover_opts){.sysfs = o->sysfs, .devroot = o->dev, .cpu = o->cpu, .no_mmap = o->no_mmap};
  if (strcmp(o->device, "auto")) d->want = o->device;
}

/* ---------------------------------------------------------------- jobs */

static inline uint64_t *W(ferry_completion *c, int k) { return &c->engine[k]; }

static void job_finish(struct dsa_engine *e, ferry_completion *c) {
  uint64_t err = *W(c, W_ERR);
  int code = 0;
  if (err & ERR_SET) {
    code = (int32_t)(uint32_t)err;
    uint8_t st = (uint8_t)(err >> 32);
    uint64_t done = *W(c, W_DONE);
    memset(c->engine, 0, sizeof c->engine); /* the failing record, for C callers */
    struct dsa_completion_record *r = (struct dsa_completion_record *)(void *)c->engine;
    r->status = st;
    r->bytes_completed = (uint32_t)(done > UINT32_MAX ? UINT32_MAX : done);
    atomic_fetch_add_explicit(&e->errors, 1, memory_order_relaxed);
    CNT(failed, 1);
    __atomic_store_n(&G.last_status, st, __ATOMIC_RELAXED);
    c->detail = (uint64_t)(uintptr_t)(st ? ferry__dsa_status_name(st) : NULL);
  } else {
    atomic_fetch_add_explicit(&e->jobs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&e->bytes, c->len, memory_order_relaxed);
  }
  ferry_completion_finish(c, code); /* last touch */
}

static void job_fail(struct dsa_engine *e, ferry_completion *c, int code, uint8_t status) {
  if (*W(c, W_ERR) & ERR_SET) return;
  *W(c, W_ERR) = (uint64_t)(uint32_t)code | (uint64_t)status << 32 | ERR_SET;
  if (e->pend_head == c) { /* only the head of the FIFO can have pieces in flight */
    e->pend_head = (ferry_completion *)(uintptr_t)*W(c, W_NEXT);
    if (!e->pend_head) e->pend_tail = NULL;
  }
}

/* Copy the rest of a piece on the CPU. */
static void cpu_finish(ferry_completion *job, uint64_t src, uint64_t dst, uint64_t len) {
  bool cold = !(*W(job, W_PIECE) & PIECE_CC);
  ferry__copy((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, len, cold);
}

static void check_health(struct dsa_engine *e);

/* Wait for one record (mu held: a rare path, page-fault fix-ups). 0, or the engine died. */
static int wait_record(struct dsa_engine *e, struct dsa_completion_record *r) {
  uint64_t t0 = ferry__now_ns(), last = t0;
  while (!dsa_comp_status(r)) {
    if (e->dead) return e->dead;
    uint64_t now = ferry__now_ns();
    if (now - last > e->stall_ns) {
      last = now;
      check_health(e);
      continue;
    }
    if (e->o.wait == WAIT_YIELD) sched_yield();
    else ferry__cpu_relax();
  }
  return 0;
}

/*
 * A piece completed partially with a page fault: finish its remainder.
 * Returns 0 or a FERRY_E_* code (*status: the last DSA status).
 */
static int fix_fault(struct dsa_engine *e, struct slot *s, const struct dsa_hw_desc *orig, struct dsa_completion_record rec,
                     uint8_t *status) {
  ferry_completion *job = s->job;
  uint64_t src = *W(job, W_SRC) + s->off, dst = *W(job, W_DST) + s->off, len = s->len;
  for (uint32_t tries = 0;; tries++) {
    CNT(page_faults, 1);
    uint8_t st = rec.status;
    *status = st;
    uint64_t done = rec.bytes_completed;
    if (done > len) return ferry__dsa_status_code(st);
    if (!(rec.result & 1)) { /* ascending: the first `done` bytes are there */
      src += done;
      dst += done;
    } /* descending: the last `done` bytes are there, src/dst stay */
    len -= done;
    if (!len) return 0;
    volatile uint8_t *fa = (volatile uint8_t *)(uintptr_t)rec.fault_addr;
    if (fa) {
      if (st & DSA_COMP_STATUS_WRITE) {
        uint8_t v = *fa; /* a write fault: make the page present and writable */
        *fa = v;
      } else {
        (void)*fa;
      }
    }
    bool queue_room = !e->portal->wq.dedicated || e->wq_inflight < e->portal->wq.size;
    if (e->o.pf_cpu || tries >= e->o.pf_retries || !queue_room) {
      CNT(pf_cpu, 1);
      cpu_finish(job, src, dst, len);
      return 0;
    }
    struct dsa_hw_desc *d = e->fix_desc;
    *d = *orig;
    d->src_addr = src;
    d->dst_addr = dst;
    d->xfer_size = (uint32_t)len;
    d->completion_addr = (uint64_t)(uintptr_t)e->fix_comp;
    memset(e->fix_comp, 0, sizeof *e->fix_comp);
    int r;
    uint64_t last = ferry__now_ns();
    while ((r = e->portal->ops->submit(e->portal, d)) == DSA_SUBMIT_RETRY) {
      CNT(retries, 1);
      if (e->dead) return e->dead;
      uint64_t now = ferry__now_ns();
      if (now - last > e->stall_ns) {
        last = now;
        check_health(e);
      }
      sched_yield();
    }
    if (r < 0) return r;
    CNT(pf_resubmits, 1);
    CNT(descs, 1);
    atomic_fetch_add_explicit(&e->descs, 1, memory_order_relaxed);
    if ((r = wait_record(e, e->fix_comp))) return r;
    rec = *e->fix_comp;
    rec.status = dsa_comp_status(e->fix_comp);
    uint8_t s2 = rec.status & DSA_COMP_STATUS_MASK;
    *status = rec.status;
    if (s2 == DSA_COMP_SUCCESS) return 0;
    if (s2 != DSA_COMP_PAGE_FAULT_NOBOF && s2 != DSA_COMP_PAGE_FAULT_IR) return ferry__dsa_status_code(rec.status);
  }
}

/* A slot is final: account it to its job. */
static void complete_slot(struct dsa_engine *e, uint32_t i, uint8_t st, int fail) {
  struct slot *s = &e->meta[i];
  ferry_completion *job = s->job;
  int code = 0;
  uint8_t status = st;
  if (fail) {
    code = fail;
  } else if (!st) {
    code = FERRY_E_STATE; /* not attempted */
    CNT(not_attempted, 1);
  } else {
    uint8_t m = st & DSA_COMP_STATUS_MASK;
    if (m == DSA_COMP_SUCCESS) code = 0;
    else if (m == DSA_COMP_PAGE_FAULT_NOBOF || m == DSA_COMP_PAGE_FAULT_IR) {
      struct dsa_completion_record rec = e->comp[i];
      rec.status = st;
      if (!(*W(job, W_ERR) & ERR_SET)) code = fix_fault(e, s, &e->desc[i], rec, &status);
    } else code = ferry__dsa_status_code(st);
  }
  if (!(*W(job, W_ERR) & ERR_SET)) {
    if (code == 0) {
      uint64_t done = s->off + s->len;
      *W(job, W_DONE) = done;
      if (done < job->len) ferry_completion_progress(job, done);
    } else {
      job_fail(e, job, code, status);
    }
  }
  if (--*W(job, W_INFL) == 0 && ((*W(job, W_ERR) & ERR_SET) || *W(job, W_SUB) == job->len)) job_finish(e, job);
}

/* ---------------------------------------------------------------- ring */

static void fill_slot(struct dsa_engine *e, ferry_completion *job, uint64_t off, uint32_t len) {
  uint32_t i = (uint32_t)(e->head & e->mask);
  struct dsa_hw_desc *d = &e->desc[i];
  memset(d, 0, sizeof *d);
  uint32_t flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
  if (*W(job, W_PIECE) & PIECE_CC) flags |= IDXD_OP_FLAG_CC;
  dsa_desc_set_op(d, DSA_OPCODE_MEMMOVE, flags);
  d->completion_addr = (uint64_t)(uintptr_t)&e->comp[i];
  d->src_addr = *W(job, W_SRC) + off;
  d->dst_addr = *W(job, W_DST) + off;
  d->xfer_size = len;
  memset(&e->comp[i], 0, sizeof e->comp[i]);
  e->meta[i] = (struct slot){.job = job, .off = off, .len = len, .batch = -1};
  e->head++;
}

/* Cut pending jobs into pieces while slots are free. */
static void fill(struct dsa_engine *e) {
  while (e->pend_head && e->head - e->tail < e->n) {
    ferry_completion *job = e->pend_head;
    uint64_t off = *W(job, W_SUB), piece = *W(job, W_PIECE) & ~PIECE_CC;
    uint64_t len = job->len - off < piece ? job->len - off : piece;
    fill_slot(e, job, off, (uint32_t)len);
    *W(job, W_SUB) = off + len;
    ++*W(job, W_INFL);
    if (off + len == job->len) {
      e->pend_head = (ferry_completion *)(uintptr_t)*W(job, W_NEXT);
      if (!e->pend_head) e->pend_tail = NULL;
    }
  }
}

/* Hand prepared slots to the device: runs of them as batches, within the queue's room. */
static void push(struct dsa_engine *e) {
  while (e->sent < e->head && !e->dead) {
    if (e->wq_inflight >= e->wq_cap) {
      if (!e->full_flag) {
        e->full_flag = true;
        atomic_fetch_add_explicit(&e->full_waits, 1, memory_order_relaxed);
        CNT(wq_full, 1);
      }
      return;
    }
    uint64_t avail = e->head - e->sent, contig = e->n - (e->sent & e->mask);
    uint32_t k = (uint32_t)(avail < contig ? avail : contig);
    if (e->max_batch < 2 || k < 2) k = 1;
    else if (k > e->max_batch) k = e->max_batch;
    uint32_t first = (uint32_t)(e->sent & e->mask);
    struct dsa_hw_desc bd;
    const struct dsa_hw_desc *d = &e->desc[first];
    uint32_t b = 0;
    if (k > 1) {
      b = (uint32_t)(e->bhead & e->mask);
      memset(&e->bcomp[b], 0, sizeof e->bcomp[b]);
      e->bm[b] = (struct bmeta){.first = e->sent, .count = k};
      memset(&bd, 0, sizeof bd);
      dsa_desc_set_op(&bd, DSA_OPCODE_BATCH, IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR);
      bd.completion_addr = (uint64_t)(uintptr_t)&e->bcomp[b];
      bd.desc_list_addr = (uint64_t)(uintptr_t)&e->desc[first];
      bd.desc_count = k;
      d = &bd;
    }
    int r = e->portal->ops->submit(e->portal, d);
    if (r == DSA_SUBMIT_RETRY) {
      CNT(retries, 1);
      if (!e->full_flag) {
        e->full_flag = true;
        atomic_fetch_add_explicit(&e->full_waits, 1, memory_order_relaxed);
      }
      return; /* the completion thread tries again */
    }
    for (uint32_t j = 0; j < k; j++) {
      struct slot *s = &e->meta[first + j];
      if (r < 0) s->fail = r;
      else if (k > 1) s->batch = (int32_t)b;
      else s->counted = true;
    }
    e->sent += k;
    if (r < 0) continue;
    e->full_flag = false;
    e->wq_inflight++;
    if (k > 1) {
      e->bhead++;
      CNT(batches, 1);
    }
    CNT(descs, k);
    atomic_fetch_add_explicit(&e->descs, k, memory_order_relaxed);
  }
}

static void pump(struct dsa_engine *e) {
  if (e->dead) return;
  fill(e);
  push(e);
}

/* Retire finished slots in ring order; true when any was. */
static bool retire(struct dsa_engine *e) {
  bool any = false;
  for (uint64_t b = e->btail; b < e->bhead; b++) {
    struct bmeta *m = &e->bm[b & e->mask];
    if (!m->seen && dsa_comp_status(&e->bcomp[b & e->mask])) {
      m->seen = true;
      e->wq_inflight--;
      any = true;
    }
  }
  while (e->tail < e->sent) {
    uint32_t i = (uint32_t)(e->tail & e->mask);
    struct slot *s = &e->meta[i];
    uint8_t st = dsa_comp_status(&e->comp[i]);
    if (!st && !s->fail) {
      if (s->batch < 0 || !e->bm[s->batch].seen) break;
      uint8_t bst = dsa_comp_status(&e->bcomp[s->batch]) & DSA_COMP_STATUS_MASK;
      if (bst != DSA_COMP_SUCCESS && bst != DSA_COMP_BATCH_FAIL) st = bst; /* the batch itself failed */
    }
    if (s->counted) e->wq_inflight--;
    complete_slot(e, i, st, s->fail);
    e->tail++;
    any = true;
    while (e->btail < e->bhead) {
      struct bmeta *m = &e->bm[e->btail & e->mask];
      if (m->seen && m->first + m->count <= e->tail) e->btail++;
      else break;
    }
  }
  if (any) e->full_flag = false;
  return any;
}

/* Fail everything outstanding: the device is gone (mu held). */
static void fail_all(struct dsa_engine *e, int code) {
  for (uint64_t t = e->tail; t < e->head; t++) {
    struct slot *s = &e->meta[t & e->mask];
    if (!dsa_comp_status(&e->comp[t & e->mask]) && !s->fail) s->fail = code;
  }
  e->sent = e->head;
  for (uint64_t b = e->btail; b < e->bhead; b++) e->bm[b & e->mask].seen = true;
  while (e->pend_head) {
    ferry_completion *job = e->pend_head;
    job_fail(e, job, code, 0); /* pops it */
    if (*W(job, W_INFL) == 0) job_finish(e, job);
  }
}

static void check_health(struct dsa_engine *e) {
  char why[256] = "";
  uint64_t addr = 0;
  uint8_t st = 0;
  int h = e->portal->ops->health(e->portal, why, sizeof why, &addr, &st);
  if (h == DSA_HEALTH_SWERR) {
    CNT(swerr, 1);
    struct dsa_completion_record *r = NULL;
    for (uint64_t t = e->tail; t < e->sent && !r; t++)
      if ((uint64_t)(uintptr_t)&e->comp[t & e->mask] == addr) r = &e->comp[t & e->mask];
    for (uint64_t b = e->btail; b < e->bhead && !r; b++)
      if ((uint64_t)(uintptr_t)&e->bcomp[b & e->mask] == addr) r = &e->bcomp[b & e->mask];
    if (!r && (uint64_t)(uintptr_t)e->fix_comp == addr) r = e->fix_comp;
    if (r && !dsa_comp_status(r)) dsa_comp_publish(r, st); /* the device will never write it */
  } else if (h == DSA_HEALTH_HALTED && !e->dead) {
    CNT(halts, 1);
    e->dead = FERRY_E_SYS;
    snprintf(e->dead_why, sizeof e->dead_why, "%s", why);
    fail_all(e, FERRY_E_SYS);
  }
}

/* ---------------------------------------------------------------- completion thread */

static void wait_step(struct dsa_engine *e) {
  if (e->o.wait == WAIT_YIELD) {
    sched_yield();
  } else if (e->o.wait == WAIT_UMWAIT && e->umwait) {
    dsa_umwait(&e->comp[e->tail & e->mask], dsa_rdtsc() + 20000);
  } else {
    for (int i = 0; i < 32; i++) ferry__cpu_relax();
  }
}

static void *completion_main(void *arg) {
  struct dsa_engine *e = arg;
  uint64_t last_progress = ferry__now_ns(), last_health = 0;
  for (;;) {
    uint32_t k = atomic_load(&e->kick);
    pthread_mutex_lock(&e->mu);
    bool any = retire(e);
    pump(e);
    bool busy = e->tail != e->head || e->pend_head;
    pthread_mutex_unlock(&e->mu);
    if (!busy) {
      if (atomic_load(&e->stopping)) break;
      atomic_fetch_add(&e->sleeping, 1);
      ferry__futex_wait_private(&e->kick, k);
      atomic_fetch_sub(&e->sleeping, 1);
      last_progress = ferry__now_ns();
      continue;
    }
    uint64_t now = ferry__now_ns();
    if (any) {
      last_progress = now;
      continue;
    }
    if (now - last_progress > e->stall_ns && now - last_health > e->stall_ns) {
      last_health = now;
      pthread_mutex_lock(&e->mu);
      check_health(e);
      pthread_mutex_unlock(&e->mu);
    }
    wait_step(e);
  }
  return NULL;
}

static void kick(struct dsa_engine *e) {
  atomic_fetch_add(&e->kick, 1);
  if (atomic_load(&e->sleeping)) ferry__futex_wake_private(&e->kick, 1);
}

/* ---------------------------------------------------------------- ops */

static void dsa_free(struct dsa_engine *e) {
  if (e->portal) e->portal->ops->close(e->portal);
  free(e->desc);
  free(e->comp);
  free(e->bcomp);
  free(e->fix_comp);
  free(e->fix_desc);
  free(e->meta);
  free(e->bm);
  pthread_mutex_destroy(&e->mu);
  free(e);
}

static int open_portal(const struct dsa_opts *o, struct dsa_portal **p) {
  if (is_emulated(o)) return ferry__dsa_emu_open(&o->emu, p);
  struct dsa_discover_opts d;
  discover_opts(o, &d);
  struct dsa_wq_info wq;
  char reason[512];
  int r = ferry__dsa_discover(&d, &wq, reason, sizeof reason);
  if (r <= 0) return ferry__err(FERRY_E_NOTFOUND, "dsa: %s", reason);
  return ferry__dsa_idxd_open(&d, &wq, p);
}

static int dsa_open(const ferry_engine_config *cfg, void **impl) {
  if (cfg->flags & ~(uint32_t)FERRY_ENGINE_F_DRAIN) return ferry__err(FERRY_E_INVAL, "dsa: unknown flags 0x%x", cfg->flags);
  struct dsa_engine *e = calloc(1, sizeof *e);
  if (!e) return ferry__err(FERRY_E_NOMEM, "out of memory");
  pthread_mutex_init(&e->mu, NULL);
  int r = parse_opts(cfg->options, &e->o);
  if (!r) r = open_portal(&e->o, &e->portal);
  if (r) {
    dsa_free(e);
    return r;
  }
  const struct dsa_wq_info *w = &e->portal->wq;
  e->n = e->o.ring;
  e->mask = e->n - 1;
  e->drain = cfg->flags & FERRY_ENGINE_F_DRAIN;
  e->cold_threshold = cfg->cold_threshold;
  e->stall_ns = e->o.stall_ms * 1000000ull;
  uint64_t mt = w->max_transfer ? w->max_transfer : (2u << 20);
  if (mt > (1ull << 31)) mt = 1ull << 31;
  e->piece = cfg->chunk_bytes && cfg->chunk_bytes < mt ? cfg->chunk_bytes : mt;
  e->max_batch = e->o.batch && w->max_batch >= 2 ? w->max_batch : 0;
  e->wq_cap = w->dedicated ? (w->size > 1 ? w->size - 1 : 1) : UINT32_MAX;
  e->cc_ok = w->cache_control;
  e->umwait = (ferry__dsa_cpu_features() & DSA_CPU_WAITPKG) != 0; /* the real CPU, never a test's claim */
  e->desc = aligned_alloc(64, sizeof *e->desc * e->n);
  e->comp = aligned_alloc(32, sizeof *e->comp * e->n);
  e->bcomp = aligned_alloc(32, sizeof *e->bcomp * e->n);
  e->fix_comp = aligned_alloc(32, 32);
  e->fix_desc = aligned_alloc(64, 64);
  e->meta = calloc(e->n, sizeof *e->meta);
  e->bm = calloc(e->n, sizeof *e->bm);
  if (!e->desc || !e->comp || !e->bcomp || !e->fix_comp || !e->fix_desc || !e->meta || !e->bm) {
    dsa_free(e);
    return ferry__err(FERRY_E_NOMEM, "out of memory");
  }
  memset(e->comp, 0, sizeof *e->comp * e->n);
  memset(e->bcomp, 0, sizeof *e->bcomp * e->n);
  if (pthread_create(&e->thr, NULL, completion_main, e)) {
    dsa_free(e);
    return ferry__err(FERRY_E_SYS, "dsa: pthread_create failed");
  }
  e->thr_started = true;
  *impl = e;
  return 0;
}

static int dsa_close(void *impl) {
  struct dsa_engine *e = impl;
  pthread_mutex_lock(&e->mu);
  atomic_store(&e->stopping, true);
  if (!e->drain)
    while (e->pend_head) { /* not handed to the device yet: cancelled */
      ferry_completion *job = e->pend_head;
      job_fail(e, job, FERRY_E_CLOSED, 0);
      if (*W(job, W_INFL) == 0) job_finish(e, job);
    }
  pthread_mutex_unlock(&e->mu);
  kick(e);
  if (e->thr_started) pthread_join(e->thr, NULL);
  dsa_free(e);
  return 0;
}

static uint32_t caps_flags(bool cc, bool emulated) {
  /* the completion thread finishes every record; the emulated device copies on the host's CPUs */
  return FERRY_CAP_ASYNC | FERRY_CAP_PROGRESS | FERRY_CAP_BATCH | FERRY_CAP_SELF_FINISH | (cc ? FERRY_CAP_CACHE_HINTS : 0) |
         (emulated ? FERRY_CAP_HOST_CPU : 0);
}

static int dsa_caps(void *impl, ferry_engine_caps *out) {
  struct dsa_engine *e = impl;
  out->flags = caps_flags(e->cc_ok, is_emulated(&e->o));
  out->max_batch = 0;
  out->max_transfer = 0; /* split here at the queue's max transfer */
  out->chunk_bytes = e->piece;
  out->threads = 1;
  out->cold_threshold = e->cold_threshold;
  return 0;
}

static int dsa_submit(void *impl, const ferry_copy_desc *d, uint32_t n) {
  struct dsa_engine *e = impl;
  pthread_mutex_lock(&e->mu);
  if (e->dead) {
    int r = ferry__err(e->dead, "dsa: %s", e->dead_why);
    pthread_mutex_unlock(&e->mu);
    return r;
  }
  if (atomic_load(&e->stopping)) {
    pthread_mutex_unlock(&e->mu);
    return ferry__err(FERRY_E_CLOSED, "dsa engine is closing");
  }
  for (uint32_t i = 0; i < n; i++) {
    ferry_completion *c = d[i].comp;
    if (d[i].len == 0) {
      atomic_fetch_add_explicit(&e->jobs, 1, memory_order_relaxed);
      ferry_completion_finish(c, 0);
      continue;
    }
    uint64_t piece = d[i].chunk >= 4096 && d[i].chunk < e->piece ? d[i].chunk : e->piece;
    bool cc = e->cc_ok && !ferry__is_cold(d[i].flags, d[i].len, e->cold_threshold);
    *W(c, W_SRC) = (uint64_t)(uintptr_t)d[i].src;
    *W(c, W_DST) = (uint64_t)(uintptr_t)d[i].dst;
    *W(c, W_SUB) = 0;
    *W(c, W_DONE) = 0;
    *W(c, W_PIECE) = piece | (cc ? PIECE_CC : 0);
    *W(c, W_NEXT) = 0;
    *W(c, W_ERR) = 0;
    *W(c, W_INFL) = 0;
    if (e->pend_tail) *W(e->pend_tail, W_NEXT) = (uint64_t)(uintptr_t)c;
    else e->pend_head = c;
    e->pend_tail = c;
  }
  pump(e);
  pthread_mutex_unlock(&e->mu);
  kick(e);
  return (int)n;
}

static int dsa_stats(void *impl, ferry_engine_stats *out) {
  struct dsa_engine *e = impl;
  out->jobs = atomic_load_explicit(&e->jobs, memory_order_relaxed);
  out->errors = atomic_load_explicit(&e->errors, memory_order_relaxed);
  out->bytes = atomic_load_explicit(&e->bytes, memory_order_relaxed);
  out->chunks = atomic_load_explicit(&e->descs, memory_order_relaxed);
  out->full_waits = atomic_load_explicit(&e->full_waits, memory_order_relaxed);
  out->threads = 1;
  return 0;
}

static int dsa_probe(const ferry_engine_config *cfg, ferry_engine_probe_info *out) {
  struct dsa_opts o;
  int r = parse_opts(cfg->options, &o);
  if (r) return r;
  if (is_emulated(&o)) {
    char mt[32];
    snprintf(mt, sizeof mt, "%llu KiB", (unsigned long long)(o.emu.max_transfer >> 10));
    out->available = 1;
    out->flags = caps_flags(o.emu.cache_control, true);
    out->max_transfer = 0;
    snprintf(out->reason, sizeof out->reason,
             "emulated DSA device (software, not hardware): %s queue of %u entries, max transfer %s, max batch %u, cache control %s, %u worker thread(s)",
             o.emu.dedicated ? "dedicated" : "shared", o.emu.wq_size, mt, o.emu.max_batch, o.emu.cache_control ? "yes" : "no",
             o.emu.workers);
    return 0;
  }
  struct dsa_discover_opts d;
  discover_opts(&o, &d);
  struct dsa_wq_info wq;
  out->available = ferry__dsa_discover(&d, &wq, out->reason, sizeof out->reason) == 1;
  out->flags = out->available ? caps_flags(wq.cache_control, false) : 0;
  return 0;
}

const ferry_engine_ops ferry__engine_dsa = {
    .abi = FERRY_ENGINE_ABI,
    .size = sizeof(ferry_engine_ops),
    .name = "dsa",
    .description = "Intel DSA through an idxd work queue, or the emulated device (device=emulated)",
    .open = dsa_open,
    .close = dsa_close,
    .caps = dsa_caps,
    .submit = dsa_submit,
    .stats = dsa_stats,
    .probe = dsa_probe,
};
