/*
 * engine/dsa_emu.c — the emulated DSA device behind `dsa` with device=emulated.
 *
 * One work queue of wq_size entries. Dedicated mode: a submission to a full
 * queue is dropped silently (as MOVDIR64B's posted write is); shared mode:
 * it is refused with DSA_SUBMIT_RETRY (ENQCMD's ZF=1). Worker threads (the
 * device's engines) take descriptors in order and process them like the
 * hardware: MEMMOVE, NOOP, DRAIN and BATCH are supported (any other opcode
 * completes with BAD_OPCODE); unknown flags, CC without gen_cap support,
 * transfers over max_transfer, batch counts outside 2..max_batch and a
 * descriptor list that is not 64-byte aligned complete with the real error
 * statuses; a completion address that is not 32-byte aligned cannot be
 * written, so it becomes a software error (SWERR) that health() reports.
 * The record's fields are written first and the status byte last, with
 * release ordering. A queue entry is freed before the record is published,
 * so a submitter that counts entries by completion never overfills it.
 * MEMMOVE copies with temporal stores when CC is set, non-temporal when not.
 *
 * Fault injection (`inject=`, items joined by '+'): KIND@N[:ARG[:TIMES]],
 * N counting the MEMMOVE descriptors the device processes (1-based):
 *   pf_read, pf_write       page fault (no BOF) after ARG bytes (default
 *                           half, rounded down to 4 KiB), ascending order:
 *                           bytes_completed = ARG, fault_addr in src / dst,
 *                           status 0x03 (| 0x80 for a write); TIMES
 *                           consecutive descriptors fault (default 1)
 *   pf_read_desc, pf_write_desc   the same in descending order (result = 1:
 *                           the last ARG bytes are done)
 *   bad_opcode              the descriptor completes with BAD_OPCODE
 *   cra_align               its completion address is treated as misaligned:
 *                           no record, a SWERR with CRA_ALIGN instead
 *   halt                    the device halts on it: no record, the queue is
 *                           discarded, later submissions are dropped
 *                           (dedicated) or refused (shared)
 *   qfull                   N counts submissions: the next ARG (default 8)
 *                           are refused as if the shared queue were full
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/copy.h"
#include "engine/dsa_emu.h"
#include "sys/error.h"

enum inj_kind { INJ_PF_READ, INJ_PF_WRITE, INJ_PF_READ_DESC, INJ_PF_WRITE_DESC, INJ_BAD_OPCODE, INJ_CRA_ALIGN, INJ_HALT, INJ_QFULL };
static const char *const inj_names[] = {"pf_read", "pf_write", "pf_read_desc", "pf_write_desc", "bad_opcode", "cra_align", "halt", "qfull"};
#define INJ_MAX 16

struct inj {
  enum inj_kind kind;
  uint64_t n, arg, times;
  bool has_arg;
};

struct emu {
  struct dsa_portal p;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct dsa_hw_desc *q; /* wq_size entries */
  uint32_t qhead, qcount;
  uint32_t busy;         /* entries taken by a worker, not yet completed */
  bool stop, paused, halted;
  pthread_t *thr;
  uint32_t nthr;
  struct inj inj[INJ_MAX];
  uint32_t ninj;
  uint64_t work_seen, submits_seen, qfull_left;
  bool swerr;
  uint64_t swerr_addr;
  uint8_t swerr_status;
  struct dsa_emu_counters st;
};

/* The caller's completion address of the top-level descriptor a worker runs (it writes a shadow). */
static __thread uint64_t emu_cur_real;
static uint64_t total_dropped;

uint64_t ferry__dsa_emu_total_dropped(void) { return __atomic_load_n(&total_dropped, __ATOMIC_RELAXED); }

static int parse_inject(const char *spec, struct inj *out, uint32_t *n) {
  *n = 0;
  if (!spec || !*spec) return 0;
  char buf[512];
  if (strlen(spec) >= sizeof buf) return ferry__err(FERRY_E_INVAL, "dsa emulator: inject list is too long");
  snprintf(buf, sizeof buf, "%s", spec);
  char *save = NULL;
  for (char *it = strtok_r(buf, "+", &save); it; it = strtok_r(NULL, "+", &save)) {
    if (*n == INJ_MAX) return ferry__err(FERRY_E_INVAL, "dsa emulator: at most %d injections", INJ_MAX);
    char *at = strchr(it, '@');
    if (!at) return ferry__err(FERRY_E_INVAL, "dsa emulator: injection '%s' is not KIND@N[:ARG[:TIMES]]", it);
    *at = 0;
    struct inj j = {.times = 1};
    int k = -1;
    for (int i = 0; i < (int)(sizeof inj_names / sizeof *inj_names); i++)
      if (!strcmp(it, inj_names[i])) k = i;
    if (k < 0)
      return ferry__err(FERRY_E_INVAL, "dsa emulator: unknown injection '%s' (pf_read, pf_write, pf_read_desc, pf_write_desc, bad_opcode, cra_align, halt, qfull)", it);
    j.kind = (enum inj_kind)k;
    char *end;
    j.n = strtoull(at + 1, &end, 0);
    if (end == at + 1 || j.n == 0) return ferry__err(FERRY_E_INVAL, "dsa emulator: injection %s needs @N with N >= 1", it);
    if (*end == ':') {
      char *p = end + 1;
      j.arg = strtoull(p, &end, 0);
      j.has_arg = end != p;
      if (*end == ':') {
        p = end + 1;
        j.times = strtoull(p, &end, 0);
        if (end == p || j.times == 0) return ferry__err(FERRY_E_INVAL, "dsa emulator: injection %s: TIMES must be >= 1", it);
      }
    }
    if (*end) return ferry__err(FERRY_E_INVAL, "dsa emulator: injection %s: trailing '%s'", it, end);
    out[(*n)++] = j;
  }
  return 0;
}

int ferry__dsa_emu_check_inject(const char *spec) {
  struct inj tmp[INJ_MAX];
  uint32_t n;
  return parse_inject(spec, tmp, &n);
}

/* The injection that applies to the idx-th MEMMOVE (1-based), or NULL. */
static const struct inj *inj_for(struct emu *e, uint64_t idx) {
  for (uint32_t i = 0; i < e->ninj; i++) {
    const struct inj *j = &e->inj[i];
    if (j->kind == INJ_QFULL) continue;
    if (idx >= j->n && idx < j->n + j->times) return j;
  }
  return NULL;
}

static void write_record(struct dsa_completion_record *c, uint8_t status, uint8_t result, uint32_t bytes, uint64_t fault) {
  c->result = result;
  c->bytes_completed = bytes;
  c->fault_addr = fault;
  dsa_comp_publish(c, status); /* last, release */
}

static void set_swerr(struct emu *e, uint64_t addr, uint8_t status) {
  pthread_mutex_lock(&e->mu);
  if (!e->swerr) { /* the register holds the first error until read */
    e->swerr = true;
    e->swerr_addr = addr;
    e->swerr_status = status;
  }
  pthread_mutex_unlock(&e->mu);
}

static void halt(struct emu *e) {
  pthread_mutex_lock(&e->mu);
  __atomic_store_n(&e->halted, true, __ATOMIC_RELEASE);
  e->qcount = 0; /* whatever was queued is lost */
  pthread_mutex_unlock(&e->mu);
}

/* MEMMOVE: 0 after halting (no record), else the status and record fields. */
static uint8_t do_memmove(struct emu *e, const struct dsa_hw_desc *d, bool in_batch, uint8_t *result, uint32_t *bytes, uint64_t *fault,
                          bool *no_record) {
  uint32_t flags = d->flags;
  if (flags & ~(uint32_t)DSA_FLAGS_KNOWN) return DSA_COMP_INVALID_FLAGS;
  if ((flags & IDXD_OP_FLAG_CC) && !e->p.wq.cache_control) return DSA_COMP_INVALID_FLAGS;
  if (d->xfer_size > e->p.wq.max_transfer) return DSA_COMP_XFER_ERANGE;
  uint64_t idx = __atomic_add_fetch(&e->work_seen, 1, __ATOMIC_RELAXED);
  const struct inj *j = inj_for(e, idx);
  uint8_t *dst = (uint8_t *)(uintptr_t)d->dst_addr;
  const uint8_t *src = (const uint8_t *)(uintptr_t)d->src_addr;
  uint64_t len = d->xfer_size;
  bool cold = !(flags & IDXD_OP_FLAG_CC);
  if (j) {
    switch (j->kind) {
    case INJ_BAD_OPCODE: return DSA_COMP_BAD_OPCODE;
    case INJ_CRA_ALIGN:
      set_swerr(e, in_batch ? d->completion_addr : emu_cur_real, DSA_COMP_CRA_ALIGN);
      *no_record = true;
      return 0;
    case INJ_HALT:
      halt(e);
      *no_record = true;
      return 0;
    default: break;
    }
    if (len && !(flags & IDXD_OP_FLAG_BOF)) { /* with block-on-fault the OS would resolve it: no partial completion */
      bool wr = j->kind == INJ_PF_WRITE || j->kind == INJ_PF_WRITE_DESC;
      bool desc = j->kind == INJ_PF_READ_DESC || j->kind == INJ_PF_WRITE_DESC;
      uint64_t at = j->has_arg ? j->arg : (len / 2) & ~4095ull;
      if (at >= len) at = len - 1;
      if (!desc) {
        if (at) memcpy(dst, src, at);
        *fault = (wr ? d->dst_addr : d->src_addr) + at;
        *result = 0;
      } else {
        if (at) memcpy(dst + len - at, src + len - at, at);
        *fault = (wr ? d->dst_addr : d->src_addr) + len - at - 1;
        *result = 1;
      }
      *bytes = (uint32_t)at;
      __atomic_add_fetch(&e->st.faults, 1, __ATOMIC_RELAXED);
      return DSA_COMP_PAGE_FAULT_NOBOF | (wr ? DSA_COMP_STATUS_WRITE : 0);
    }
  }
  if (len) {
    bool overlap = d->dst_addr < d->src_addr + len && d->src_addr < d->dst_addr + len;
    if (overlap) {
      memmove(dst, src, len);
      *result = d->dst_addr > d->src_addr; /* copied from the end */
    } else {
      ferry__copy(dst, src, len, cold);
    }
  }
  *bytes = (uint32_t)len;
  return DSA_COMP_SUCCESS;
}

/* Process one descriptor; returns its status (0: none written: SWERR or halted). */
static uint8_t process(struct emu *e, const struct dsa_hw_desc *d, bool in_batch) {
  if (__atomic_load_n(&e->halted, __ATOMIC_ACQUIRE)) return 0;
  uint32_t flags = d->flags;
  bool crav = flags & IDXD_OP_FLAG_CRAV;
  struct dsa_completion_record *c = (struct dsa_completion_record *)(uintptr_t)d->completion_addr;
  if (crav && (d->completion_addr & 31)) { /* cannot be written: software error */
    set_swerr(e, d->completion_addr, DSA_COMP_CRA_ALIGN); /* (a shadow is always aligned: this is the caller's) */
    return 0;
  }
  uint8_t st = 0, result = 0;
  uint32_t bytes = 0;
  uint64_t fault = 0;
  bool no_record = false;
  switch (d->opcode) {
  case DSA_OPCODE_NOOP:
  case DSA_OPCODE_DRAIN: st = (flags & ~(uint32_t)DSA_FLAGS_KNOWN) ? DSA_COMP_INVALID_FLAGS : DSA_COMP_SUCCESS; break;
  case DSA_OPCODE_MEMMOVE: st = do_memmove(e, d, in_batch, &result, &bytes, &fault, &no_record); break;
  case DSA_OPCODE_BATCH: {
    if (in_batch || e->p.wq.max_batch < 2) {
      st = DSA_COMP_BAD_OPCODE;
      break;
    }
    if (d->desc_count < 2 || d->desc_count > e->p.wq.max_batch) {
      st = DSA_COMP_DESC_CNT_ERANGE;
      break;
    }
    if (d->desc_list_addr & 63) {
      st = DSA_COMP_DESCLIST_ALIGN;
      break;
    }
    __atomic_add_fetch(&e->st.batches, 1, __ATOMIC_RELAXED);
    const struct dsa_hw_desc *list = (const struct dsa_hw_desc *)(uintptr_t)d->desc_list_addr;
    uint32_t ok = 0;
    for (uint32_t i = 0; i < d->desc_count; i++) {
      struct dsa_hw_desc inner;
      memcpy(&inner, &list[i], sizeof inner); /* the device reads the list once */
      uint8_t s = process(e, &inner, true);
      if (__atomic_load_n(&e->halted, __ATOMIC_ACQUIRE)) return 0; /* no batch record either */
      if ((s & DSA_COMP_STATUS_MASK) == DSA_COMP_SUCCESS) ok++;
    }
    st = ok == d->desc_count ? DSA_COMP_SUCCESS : DSA_COMP_BATCH_FAIL;
    bytes = ok; /* descriptors completed */
    break;
  }
  default: st = DSA_COMP_BAD_OPCODE; break;
  }
  if (no_record || !st) return 0;
  if ((st & DSA_COMP_STATUS_MASK) != DSA_COMP_SUCCESS) __atomic_add_fetch(&e->st.errors, 1, __ATOMIC_RELAXED);
  if (!in_batch) __atomic_add_fetch(&e->st.processed, 1, __ATOMIC_RELAXED);
  /* success is written only when asked for (RCR); failures whenever the address is valid */
  if (crav && ((flags & IDXD_OP_FLAG_RCR) || (st & DSA_COMP_STATUS_MASK) != DSA_COMP_SUCCESS)) {
    write_record(c, st, result, bytes, fault);
  }
  return st;
}

static void *worker(void *arg) {
  struct emu *e = arg;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    while (!e->stop && (e->paused || e->qcount == 0)) pthread_cond_wait(&e->cv, &e->mu);
    if (e->stop && (e->qcount == 0 || e->paused)) break;
    struct dsa_hw_desc d = e->q[e->qhead];
    e->qhead = (e->qhead + 1) % e->p.wq.size;
    e->qcount--;
    e->busy++; /* still occupies its entry while it runs */
    pthread_mutex_unlock(&e->mu);
    /* The entry must be free before the record says "done" (a submitter that counts entries
     * by completions would otherwise overfill the queue): the descriptor's own record is
     * produced in a shadow and published after the entry is released. Inner records of a
     * batch are written directly (they come before the batch's own record anyway). */
    struct dsa_completion_record shadow __attribute__((aligned(32)));
    memset(&shadow, 0, sizeof shadow);
    bool crav = d.flags & IDXD_OP_FLAG_CRAV;
    bool use_shadow = crav && !(d.completion_addr & 31);
    struct dsa_hw_desc run = d;
    if (use_shadow) run.completion_addr = (uint64_t)(uintptr_t)&shadow;
    emu_cur_real = d.completion_addr;
    process(e, &run, false);
    pthread_mutex_lock(&e->mu);
    e->busy--;
    pthread_mutex_unlock(&e->mu);
    uint8_t s = dsa_comp_status(&shadow);
    if (use_shadow && s)
      write_record((struct dsa_completion_record *)(uintptr_t)d.completion_addr, s, shadow.result, shadow.bytes_completed,
                   shadow.fault_addr);
    pthread_mutex_lock(&e->mu);
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

static int emu_submit(struct dsa_portal *p, const struct dsa_hw_desc *d) {
  struct emu *e = (struct emu *)p;
  pthread_mutex_lock(&e->mu);
  e->submits_seen++;
  for (uint32_t i = 0; i < e->ninj; i++)
    if (e->inj[i].kind == INJ_QFULL && e->inj[i].n == e->submits_seen) e->qfull_left = e->inj[i].has_arg ? e->inj[i].arg : 8;
  bool full = e->qcount + e->busy >= p->wq.size || e->halted;
  if (!full && e->qfull_left) {
    e->qfull_left--;
    full = true;
  }
  if (full) {
    pthread_mutex_unlock(&e->mu);
    if (p->wq.dedicated) {
      __atomic_add_fetch(&e->st.dropped, 1, __ATOMIC_RELAXED); /* a posted write to a full queue is lost */
      __atomic_add_fetch(&total_dropped, 1, __ATOMIC_RELAXED);
      return DSA_SUBMIT_OK;
    }
    __atomic_add_fetch(&e->st.retried, 1, __ATOMIC_RELAXED);
    return DSA_SUBMIT_RETRY;
  }
  e->q[(e->qhead + e->qcount) % p->wq.size] = *d; /* the device copies the 64 bytes at submission */
  e->qcount++;
  __atomic_add_fetch(&e->st.accepted, 1, __ATOMIC_RELAXED);
  pthread_cond_signal(&e->cv);
  pthread_mutex_unlock(&e->mu);
  return DSA_SUBMIT_OK;
}

static int emu_health(struct dsa_portal *p, char *why, size_t cap, uint64_t *addr, uint8_t *status) {
  struct emu *e = (struct emu *)p;
  int r = DSA_HEALTH_OK;
  pthread_mutex_lock(&e->mu);
  if (e->halted) {
    r = DSA_HEALTH_HALTED;
    snprintf(why, cap, "emulated DSA device halted (injected)");
  } else if (e->swerr) {
    r = DSA_HEALTH_SWERR;
    *addr = e->swerr_addr;
    *status = e->swerr_status;
    e->swerr = false;
    snprintf(why, cap, "emulated DSA device: software error %s for the descriptor with completion record 0x%llx",
             ferry__dsa_status_name(*status), (unsigned long long)*addr);
  }
  pthread_mutex_unlock(&e->mu);
  return r;
}

static void emu_close(struct dsa_portal *p) {
  struct emu *e = (struct emu *)p;
  pthread_mutex_lock(&e->mu);
  e->stop = true;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
  for (uint32_t i = 0; i < e->nthr; i++) pthread_join(e->thr[i], NULL);
  pthread_cond_destroy(&e->cv);
  pthread_mutex_destroy(&e->mu);
  free(e->thr);
  free(e->q);
  free(e);
}

static const struct dsa_portal_ops emu_ops = {.submit = emu_submit, .health = emu_health, .close = emu_close};

int ferry__dsa_emu_open(const struct dsa_emu_config *cfg, struct dsa_portal **out) {
  struct emu *e = calloc(1, sizeof *e);
  if (!e) return ferry__err(FERRY_E_NOMEM, "out of memory");
  int r = parse_inject(cfg->inject, e->inj, &e->ninj);
  if (r) {
    free(e);
    return r;
  }
  struct dsa_wq_info *w = &e->p.wq;
  snprintf(w->name, sizeof w->name, "emulated");
  snprintf(w->device, sizeof w->device, "emulated");
  w->dedicated = cfg->dedicated;
  w->size = cfg->wq_size ? cfg->wq_size : 32;
  w->max_transfer = cfg->max_transfer ? cfg->max_transfer : 2u << 20;
  w->max_batch = cfg->max_batch;
  w->cache_control = cfg->cache_control;
  w->gen_cap = cfg->cache_control ? DSA_GENCAP_CACHE_CONTROL_MEM : 0;
  if (w->size > 4096 || w->max_transfer > (1ull << 31) || w->max_batch > 4096) {
    free(e);
    return ferry__err(FERRY_E_INVAL, "dsa emulator: wq_size <= 4096, max_transfer <= 2 GiB, max_batch <= 4096");
  }
  e->p.ops = &emu_ops;
  e->nthr = cfg->workers ? cfg->workers : 1;
  if (e->nthr > 16) e->nthr = 16;
  snprintf(e->p.how, sizeof e->p.how, "emulated device: %s queue of %u entries, %u worker thread(s)",
           w->dedicated ? "dedicated" : "shared", w->size, e->nthr);
  e->q = calloc(w->size, sizeof *e->q);
  e->thr = calloc(e->nthr, sizeof *e->thr);
  if (!e->q || !e->thr) {
    free(e->q);
    free(e->thr);
    free(e);
    return ferry__err(FERRY_E_NOMEM, "out of memory");
  }
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, NULL);
  for (uint32_t i = 0; i < e->nthr; i++) {
    if (pthread_create(&e->thr[i], NULL, worker, e)) {
      e->nthr = i;
      emu_close(&e->p);
      return ferry__err(FERRY_E_SYS, "dsa emulator: pthread_create failed");
    }
  }
  *out = &e->p;
  return 0;
}

void ferry__dsa_emu_counters(struct dsa_portal *p, struct dsa_emu_counters *out) {
  struct emu *e = (struct emu *)p;
  pthread_mutex_lock(&e->mu);
  *out = e->st;
  pthread_mutex_unlock(&e->mu);
}

void ferry__dsa_emu_pause(struct dsa_portal *p, bool paused) {
  struct emu *e = (struct emu *)p;
  pthread_mutex_lock(&e->mu);
  e->paused = paused;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
}

void ferry__dsa_emu_execute(struct dsa_portal *p, const struct dsa_hw_desc *d) {
  emu_cur_real = d->completion_addr;
  process((struct emu *)p, d, false);
}
