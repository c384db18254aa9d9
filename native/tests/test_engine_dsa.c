/*
 * test_engine_dsa: the `dsa` engine through the emulated device (white-box:
 * it reads the engine's counters and drives the emulator directly).
 *  - integrity from 0 B up, split at max transfer, chunk hints, batches of
 *    many small copies, cache control allowed or not;
 *  - queue full: dedicated (the engine's in-flight count keeps the device
 *    from dropping anything) and shared (retries);
 *  - every injected fault: page faults in both directions and on both
 *    sides (resubmitted, or finished on the CPU), bad opcode, misaligned
 *    completion record, queue full, device halt; faults inside a batch;
 *  - the emulator alone: silent drop, retry, the real error statuses;
 *  - discovery against fake sysfs trees: every "not usable" reason;
 *  - the real idxd portal's write() path, with a FIFO standing in for
 *    /dev/dsa/wqX.Y and the emulator executing what arrives on it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "engine/dsa.h"
#include "engine/dsa_emu.h"
#include "engine/dsa_hw.h"
#include "engine/dsa_idxd.h"
#include "util.h"

#define MiB (1ull << 20)
static uint8_t *src, *dst;
#define BUF (80 * MiB)

static ferry_engine *open_dsa(const char *opts) {
  ferry_engine_config cfg = {.size = sizeof cfg, .options = opts};
  ferry_engine *e = NULL;
  int r = ferry_engine_open("dsa", &cfg, &e);
  if (r) {
    fprintf(stderr, "open dsa (%s): %s [%s]\n", opts, ferry_err_name(r), ferry_last_error());
    exit(1);
  }
  return e;
}

static _Alignas(64) ferry_completion comps[4096];

/* One copy of len bytes at offsets so, do; returns the job's result. */
static int copy_one(ferry_engine *e, uint64_t so, uint64_t dof, uint64_t len, uint32_t flags) {
  memset(dst + dof, 0, len < 64 ? 64 : len);
  int r = ferry_engine_copy(e, dst + dof, src + so, len, flags, &comps[0]);
  if (r) return r;
  return ferry_engine_wait(e, &comps[0], FERRY_WAIT_HYBRID, 20ll * 1000 * 1000 * 1000);
}

static uint8_t failed_status(ferry_completion *c) { return ((struct dsa_completion_record *)(void *)c->engine)->status; }

static void test_probe(void) {
  ferry_engine_probe_info pi;
  ferry_engine_config cfg = {.size = sizeof cfg, .options = "device=emulated"};
  CHECK_RC(ferry_engine_probe("dsa", &cfg, &pi), 1);
  CHECK(strstr(pi.reason, "emulated DSA device") != NULL);
  CHECK(pi.flags & FERRY_CAP_ASYNC);
  cfg.options = "device=auto,sysfs=/nonexistent-sysfs";
  CHECK_RC(ferry_engine_probe("dsa", &cfg, &pi), 0);
  CHECK(strstr(pi.reason, "no idxd driver") != NULL);
  cfg.options = "bogus=1";
  CHECK_RC(ferry_engine_probe("dsa", &cfg, &pi), FERRY_E_INVAL);
  cfg.options = "device=emulated,inject=nosuch@1";
  CHECK_RC(ferry_engine_probe("dsa", &cfg, &pi), FERRY_E_INVAL);
  ferry_engine *e = NULL;
  cfg.options = "device=/dev/dsa/wq9.9,sysfs=/nonexistent-sysfs";
  CHECK_RC(ferry_engine_open("dsa", &cfg, &e), FERRY_E_NOTFOUND);
  CHECK(strstr(ferry_last_error(), "no idxd driver") != NULL);
  char list[256];
  ferry_engine_list(list, sizeof list);
  CHECK(strstr(list, "dsa") != NULL);
}

static void test_integrity(void) {
  ferry_engine *e = open_dsa("device=emulated");
  static const uint64_t sizes[] = {0, 1, 7, 64, 100, 4095, 4096, 65537, MiB + 17, 2 * MiB, 2 * MiB + 1, 5 * MiB + 3, 64 * MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    for (uint64_t off = 0; off < 3; off++) {
      if (sizes[i] > MiB && off) continue;
      OK(copy_one(e, off * 13, off * 7, sizes[i], i % 2 ? FERRY_COPY_HOT : FERRY_COPY_COLD));
      expect_same(dst + off * 7, src + off * 13, sizes[i], "integrity");
    }
  }
  ferry_engine_caps caps;
  OK(ferry_engine_caps_get(e, &caps));
  CHECK(caps.flags & FERRY_CAP_CACHE_HINTS);
  CHECK(caps.max_transfer == 0 && caps.chunk_bytes == 2 * MiB);
  ferry_engine_stats st;
  OK(ferry_engine_stats_get(e, &st));
  CHECK(st.errors == 0 && st.jobs > 20);
  OK(ferry_engine_close(e));
}

static void test_split_and_chunk(void) {
  ferry__dsa_counters_reset();
  ferry_engine *e = open_dsa("device=emulated,max_transfer=65536,ring=16,max_batch=4");
  OK(copy_one(e, 0, 0, 10 * MiB + 5, FERRY_COPY_COLD)); /* 161 pieces through a 16-slot ring */
  expect_same(dst, src, 10 * MiB + 5, "split");
  ferry_engine_stats st;
  OK(ferry_engine_stats_get(e, &st));
  CHECK(st.chunks == 161);
  struct ferry__dsa_counters c;
  ferry__dsa_counters_get(&c);
  CHECK(c.batches > 0);
  OK(ferry_engine_close(e));
  /* the chunk hint cuts below the max transfer; progress moves per piece */
  e = open_dsa("device=emulated");
  memset(dst, 0, 8 * MiB);
  ferry_copy_desc d = {.dst = dst, .src = src, .len = 8 * MiB, .flags = FERRY_COPY_COLD, .chunk = (uint32_t)MiB, .comp = &comps[0]};
  CHECK_RC(ferry_engine_submit(e, &d, 1), 1);
  OK(ferry_engine_wait(e, &comps[0], FERRY_WAIT_SPIN, -1));
  expect_same(dst, src, 8 * MiB, "chunk hint");
  OK(ferry_engine_stats_get(e, &st));
  CHECK(st.chunks == 8);
  OK(ferry_engine_close(e));
  /* a device without cache control: no CC flag ever (it would be INVALID_FLAGS), no cache-hint cap */
  e = open_dsa("device=emulated,cc=0");
  ferry_engine_caps caps;
  OK(ferry_engine_caps_get(e, &caps));
  CHECK(!(caps.flags & FERRY_CAP_CACHE_HINTS));
  OK(copy_one(e, 0, 0, 300000, FERRY_COPY_HOT));
  expect_same(dst, src, 300000, "cc=0");
  OK(ferry_engine_close(e));
}

static void many_small(const char *opts, uint32_t n, uint64_t *full_waits) {
  ferry_engine *e = open_dsa(opts);
  static ferry_copy_desc d[4096];
  uint64_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t len = 1 + (i * 37) % 3000;
    d[i] = (ferry_copy_desc){.dst = dst + off, .src = src + off + 5, .len = len, .flags = FERRY_COPY_HOT, .comp = &comps[i]};
    off += len + 64;
  }
  memset(dst, 0, off);
  CHECK_RC(ferry_engine_submit(e, d, n), (int)n);
  for (uint32_t i = 0; i < n; i++) OK(ferry_engine_wait(e, &comps[i], FERRY_WAIT_HYBRID, 20ll * 1000000000));
  for (uint32_t i = 0; i < n; i++) expect_same(d[i].dst, d[i].src, d[i].len, "small");
  ferry_engine_stats st;
  OK(ferry_engine_stats_get(e, &st));
  *full_waits = st.full_waits;
  OK(ferry_engine_close(e));
}

static void test_batches_and_queues(void) {
  uint64_t fw;
  ferry__dsa_counters_reset();
  many_small("device=emulated", 3000, &fw);
  struct ferry__dsa_counters c;
  ferry__dsa_counters_get(&c);
  CHECK(c.batches > 0 && c.descs == 3000);
  /* dedicated, 4 entries: the engine stops at 3 in flight, the device never drops one */
  ferry__dsa_counters_reset();
  uint64_t dropped0 = ferry__dsa_emu_total_dropped();
  many_small("device=emulated,wq_mode=dedicated,wq_size=4,max_batch=8", 3000, &fw);
  ferry__dsa_counters_get(&c);
  CHECK(c.wq_full > 0 && fw > 0);
  CHECK(ferry__dsa_emu_total_dropped() == dropped0);
  /* no batching at all, dedicated queue of 2 */
  many_small("device=emulated,wq_mode=dedicated,wq_size=2,batch=0", 500, &fw);
  CHECK(ferry__dsa_emu_total_dropped() == dropped0);
  /* shared, 2 entries: the device says retry and the engine retries */
  ferry__dsa_counters_reset();
  many_small("device=emulated,wq_mode=shared,wq_size=2,batch=0,workers=2", 2000, &fw);
  ferry__dsa_counters_get(&c);
  CHECK(c.retries > 0 && fw > 0);
}

static void test_faults(void) {
  struct ferry__dsa_counters c;
  static const char *const pf[] = {"pf_read@1:12288", "pf_write@1:4096", "pf_read_desc@1:8192", "pf_write_desc@1", "pf_read@1:0"};
  for (size_t i = 0; i < sizeof pf / sizeof *pf; i++) {
    char opts[128];
    snprintf(opts, sizeof opts, "device=emulated,inject=%s", pf[i]);
    ferry__dsa_counters_reset();
    ferry_engine *e = open_dsa(opts);
    OK(copy_one(e, 3, 0, 100000, FERRY_COPY_HOT));
    expect_same(dst, src + 3, 100000, pf[i]);
    ferry__dsa_counters_get(&c);
    EXPECT(c.page_faults == 1 && c.pf_resubmits == 1 && c.pf_cpu == 0);
    OK(ferry_engine_close(e));
  }
  /* a fault that keeps coming back: resubmitted pf_retries times, then finished on the CPU */
  ferry__dsa_counters_reset();
  ferry_engine *e = open_dsa("device=emulated,pf_retries=2,inject=pf_write@1:4096:10");
  OK(copy_one(e, 0, 0, 1000000, FERRY_COPY_COLD));
  expect_same(dst, src, 1000000, "repeated fault");
  ferry__dsa_counters_get(&c);
  CHECK(c.page_faults == 3 && c.pf_resubmits == 2 && c.pf_cpu == 1);
  OK(ferry_engine_close(e));
  /* pf=cpu: the rest on the CPU at once */
  ferry__dsa_counters_reset();
  e = open_dsa("device=emulated,pf=cpu,inject=pf_read_desc@2:65536");
  OK(copy_one(e, 0, 0, 5 * MiB, FERRY_COPY_COLD));
  expect_same(dst, src, 5 * MiB, "pf=cpu");
  ferry__dsa_counters_get(&c);
  CHECK(c.page_faults == 1 && c.pf_resubmits == 0 && c.pf_cpu == 1);
  OK(ferry_engine_close(e));
  /* bad opcode: the job fails with FERRY_E_INVAL; the record in engine[] says BAD_OPCODE */
  e = open_dsa("device=emulated,inject=bad_opcode@2");
  OK(copy_one(e, 0, 0, 1000, FERRY_COPY_HOT));
  CHECK_RC(copy_one(e, 0, 0, 1000, FERRY_COPY_HOT), FERRY_E_INVAL);
  CHECK(failed_status(&comps[0]) == DSA_COMP_BAD_OPCODE);
  CHECK(!strcmp(ferry__dsa_status_name(failed_status(&comps[0])), "BAD_OPCODE"));
  OK(copy_one(e, 0, 0, 1000, FERRY_COPY_HOT)); /* the engine goes on */
  OK(ferry_engine_close(e));
  /* a piece of a split job fails: the prefix before it is done (bytes_done), the job fails */
  e = open_dsa("device=emulated,max_transfer=4096,batch=0,inject=bad_opcode@3");
  CHECK_RC(copy_one(e, 0, 0, 40000, FERRY_COPY_HOT), FERRY_E_INVAL);
  CHECK(comps[0].bytes_done == 8192);
  expect_same(dst, src, 8192, "prefix before the failure");
  OK(ferry_engine_close(e));
  /* misaligned completion record: the device cannot write it (SWERR); reported as CRA_ALIGN */
  ferry__dsa_counters_reset();
  e = open_dsa("device=emulated,stall_ms=5,inject=cra_align@1");
  CHECK_RC(copy_one(e, 0, 0, 5000, FERRY_COPY_HOT), FERRY_E_INVAL);
  CHECK(failed_status(&comps[0]) == DSA_COMP_CRA_ALIGN);
  ferry__dsa_counters_get(&c);
  CHECK(c.swerr == 1);
  OK(copy_one(e, 0, 0, 5000, FERRY_COPY_HOT));
  OK(ferry_engine_close(e));
  /* shared queue says full 20 times: retried, then done */
  ferry__dsa_counters_reset();
  e = open_dsa("device=emulated,inject=qfull@1:20");
  OK(copy_one(e, 0, 0, 3 * MiB, FERRY_COPY_COLD));
  expect_same(dst, src, 3 * MiB, "qfull");
  ferry__dsa_counters_get(&c);
  CHECK(c.retries >= 20);
  OK(ferry_engine_close(e));
  /* device halt: the job in flight fails (FERRY_E_SYS), new work is refused */
  ferry__dsa_counters_reset();
  e = open_dsa("device=emulated,stall_ms=5,inject=halt@2");
  OK(copy_one(e, 0, 0, 5000, FERRY_COPY_HOT));
  CHECK_RC(copy_one(e, 0, 0, 5 * MiB, FERRY_COPY_HOT), FERRY_E_SYS);
  CHECK_RC(ferry_engine_copy(e, dst, src, 10, 0, &comps[0]), FERRY_E_SYS);
  CHECK(strstr(ferry_last_error(), "halted") != NULL);
  ferry__dsa_counters_get(&c);
  CHECK(c.halts == 1);
  OK(ferry_engine_close(e));
  /* dedicated queue halt: descriptors dropped after it, still detected */
  e = open_dsa("device=emulated,wq_mode=dedicated,stall_ms=5,inject=halt@1");
  CHECK_RC(copy_one(e, 0, 0, 5000, FERRY_COPY_HOT), FERRY_E_SYS);
  OK(ferry_engine_close(e));
}

static void test_batch_faults(void) {
  /* ten small jobs in one batch, the 4th bad: 1-3 and 5-10 done (the device goes on), 4 fails */
  ferry_engine *e = open_dsa("device=emulated,inject=bad_opcode@4+pf_write@7:100");
  ferry_copy_desc d[10];
  for (int i = 0; i < 10; i++)
    d[i] = (ferry_copy_desc){.dst = dst + i * 8192, .src = src + i * 8192, .len = 5000, .comp = &comps[i]};
  memset(dst, 0, 10 * 8192);
  CHECK_RC(ferry_engine_submit(e, d, 10), 10);
  for (int i = 0; i < 10; i++) {
    int r = ferry_engine_wait(e, &comps[i], FERRY_WAIT_SPIN, -1);
    CHECK_RC(r, i == 3 ? FERRY_E_INVAL : 0);
    if (i != 3) expect_same(d[i].dst, d[i].src, 5000, "batch member");
  }
  OK(ferry_engine_close(e));
  /* close with work queued: everything ends DONE or CLOSED, nothing stays pending */
  e = open_dsa("device=emulated,max_transfer=65536,ring=8");
  ferry_copy_desc big[32];
  for (int i = 0; i < 32; i++) big[i] = (ferry_copy_desc){.dst = dst + i * 2 * MiB, .src = src, .len = 2 * MiB, .comp = &comps[i]};
  CHECK_RC(ferry_engine_submit(e, big, 32), 32);
  OK(ferry_engine_close(e));
  int done = 0, closed = 0;
  for (int i = 0; i < 32; i++) {
    uint32_t st = __atomic_load_n(&comps[i].status, __ATOMIC_ACQUIRE);
    CHECK(st == FERRY_JOB_DONE || (st == FERRY_JOB_ERROR && comps[i].error == FERRY_E_CLOSED));
    done += st == FERRY_JOB_DONE;
    closed += st == FERRY_JOB_ERROR;
  }
  CHECK(done + closed == 32 && closed > 0);
}

/* The emulator alone: drops, retries and the real error statuses. */
static void test_emulator(void) {
  struct dsa_portal *p;
  struct dsa_emu_config cfg = {.dedicated = true, .wq_size = 2, .max_transfer = 4096, .max_batch = 4, .cache_control = false};
  OK(ferry__dsa_emu_open(&cfg, &p));
  static _Alignas(64) struct dsa_hw_desc d[8];
  static _Alignas(32) struct dsa_completion_record r[8];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 3; i++) {
    memset(&d[i], 0, 64);
    dsa_desc_set_op(&d[i], DSA_OPCODE_MEMMOVE, IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR);
    d[i].completion_addr = (uintptr_t)&r[i];
    d[i].src_addr = (uintptr_t)src;
    d[i].dst_addr = (uintptr_t)dst + i * 4096;
    d[i].xfer_size = 4096;
  }
  ferry__dsa_emu_pause(p, true);
  for (int i = 0; i < 3; i++) CHECK_RC(p->ops->submit(p, &d[i]), DSA_SUBMIT_OK);
  struct dsa_emu_counters c;
  ferry__dsa_emu_counters(p, &c);
  CHECK(c.accepted == 2 && c.dropped == 1); /* the third was dropped silently */
  ferry__dsa_emu_pause(p, false);
  while (!dsa_comp_status(&r[1])) sched_yield();
  CHECK(r[0].status == DSA_COMP_SUCCESS && r[1].status == DSA_COMP_SUCCESS && r[2].status == 0);
  CHECK(r[0].bytes_completed == 4096);
  /* error statuses, run synchronously */
  struct {
    uint32_t op, flags, xfer, count;
    uint64_t list;
    uint8_t want;
  } cases[] = {
      {DSA_OPCODE_MEMMOVE, IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_CC, 64, 0, 0, DSA_COMP_INVALID_FLAGS}, /* cc not in gen_cap */
      {DSA_OPCODE_MEMMOVE, IDXD_OP_FLAG_CRAV | 0x40, 64, 0, 0, DSA_COMP_INVALID_FLAGS},
      {DSA_OPCODE_MEMMOVE, IDXD_OP_FLAG_CRAV, 8192, 0, 0, DSA_COMP_XFER_ERANGE},
      {0x20, IDXD_OP_FLAG_CRAV, 64, 0, 0, DSA_COMP_BAD_OPCODE},
      {DSA_OPCODE_BATCH, IDXD_OP_FLAG_CRAV, 0, 1, (uintptr_t)&d[4], DSA_COMP_DESC_CNT_ERANGE},
      {DSA_OPCODE_BATCH, IDXD_OP_FLAG_CRAV, 0, 5, (uintptr_t)&d[4], DSA_COMP_DESC_CNT_ERANGE},
      {DSA_OPCODE_BATCH, IDXD_OP_FLAG_CRAV, 0, 2, (uintptr_t)&d[4] + 32, DSA_COMP_DESCLIST_ALIGN},
      {DSA_OPCODE_MEMMOVE, IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR, 64, 0, 0, DSA_COMP_SUCCESS},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct dsa_hw_desc x;
    memset(&x, 0, sizeof x);
    dsa_desc_set_op(&x, cases[i].op, cases[i].flags);
    memset(&r[3], 0, 32);
    x.completion_addr = (uintptr_t)&r[3];
    if (cases[i].op == DSA_OPCODE_BATCH) {
      x.desc_list_addr = cases[i].list;
      x.desc_count = cases[i].count;
    } else {
      x.src_addr = (uintptr_t)src;
      x.dst_addr = (uintptr_t)dst;
      x.xfer_size = cases[i].xfer;
    }
    ferry__dsa_emu_execute(p, &x);
    if (r[3].status != cases[i].want) {
      fprintf(stderr, "emulator case %zu: status 0x%x (%s), want %s\n", i, r[3].status, ferry__dsa_status_name(r[3].status),
              ferry__dsa_status_name(cases[i].want));
      exit(1);
    }
  }
  CHECK(ferry__dsa_status_code(DSA_COMP_XFER_ERANGE) == FERRY_E_TOOBIG);
  CHECK(ferry__dsa_status_code(DSA_COMP_BAD_OPCODE) == FERRY_E_INVAL);
  CHECK(ferry__dsa_status_code(DSA_COMP_HW_ERR1) == FERRY_E_SYS);
  CHECK(!strcmp(ferry__dsa_status_name(DSA_COMP_PAGE_FAULT_NOBOF | DSA_COMP_STATUS_WRITE), "PAGE_FAULT_NOBOF"));
  /* a misaligned completion record cannot be written: a software error instead */
  struct dsa_hw_desc x;
  memset(&x, 0, sizeof x);
  dsa_desc_set_op(&x, DSA_OPCODE_NOOP, IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR);
  x.completion_addr = (uintptr_t)&r[4] + 8;
  ferry__dsa_emu_execute(p, &x);
  char why[256];
  uint64_t addr = 0;
  uint8_t st = 0;
  CHECK_RC(p->ops->health(p, why, sizeof why, &addr, &st), DSA_HEALTH_SWERR);
  CHECK(addr == x.completion_addr && st == DSA_COMP_CRA_ALIGN);
  CHECK_RC(p->ops->health(p, why, sizeof why, &addr, &st), DSA_HEALTH_OK);
  p->ops->close(p);
  /* shared: a full queue says retry */
  cfg.dedicated = false;
  OK(ferry__dsa_emu_open(&cfg, &p));
  ferry__dsa_emu_pause(p, true);
  memset(r, 0, sizeof r);
  CHECK_RC(p->ops->submit(p, &d[0]), DSA_SUBMIT_OK);
  CHECK_RC(p->ops->submit(p, &d[1]), DSA_SUBMIT_OK);
  CHECK_RC(p->ops->submit(p, &d[2]), DSA_SUBMIT_RETRY);
  ferry__dsa_emu_pause(p, false);
  while (!dsa_comp_status(&r[1])) sched_yield();
  p->ops->close(p);
}

/* ---- discovery against fake sysfs trees ---- */

static char root[256];

static void put(const char *rel, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = 0;
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  CHECK(system(cmd) == 0);
  FILE *f = fopen(path, "w");
  CHECK(f);
  fputs(text, f);
  fclose(f);
}

static void make_wq(const char *wq, const char *mode, const char *state, const char *type) {
  char rel[128];
  snprintf(rel, sizeof rel, "sys/%s/mode", wq), put(rel, mode);
  snprintf(rel, sizeof rel, "sys/%s/state", wq), put(rel, state);
  snprintf(rel, sizeof rel, "sys/%s/type", wq), put(rel, type);
  snprintf(rel, sizeof rel, "sys/%s/size", wq), put(rel, "16\n");
  snprintf(rel, sizeof rel, "sys/%s/max_transfer_size", wq), put(rel, "2097152\n");
  snprintf(rel, sizeof rel, "sys/%s/max_batch_size", wq), put(rel, "32\n");
  snprintf(rel, sizeof rel, "sys/%s/block_on_fault", wq), put(rel, "0\n");
}

static int probe_fixture(const char *extra, char *reason) {
  char opts[700];
  snprintf(opts, sizeof opts, "sysfs=%s/sys,dev=%s/dev%s%s", root, root, extra[0] ? "," : "", extra);
  ferry_engine_config cfg = {.size = sizeof cfg, .options = opts};
  ferry_engine_probe_info pi;
  int r = ferry_engine_probe("dsa", &cfg, &pi);
  snprintf(reason, 512, "%s", pi.reason);
  return r;
}

#define EXPECT_REASON(extra, want_rc, needle)                                                     \
  do {                                                                                           \
    char reason_[512];                                                                           \
    int r_ = probe_fixture(extra, reason_);                                                      \
    if (r_ != (want_rc) || !strstr(reason_, needle)) {                                           \
      fprintf(stderr, "%s:%d: probe(%s) = %d '%s', want %d and '%s'\n", __FILE__, __LINE__, extra, \
              r_, reason_, want_rc, needle);                                                     \
      exit(1);                                                                                   \
    }                                                                                            \
  } while (0)

static void test_discovery(void) {
  snprintf(root, sizeof root, "/tmp/ferry-dsa-fixture-%d", (int)getpid());
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/dev'", root, root);
  CHECK(system(cmd) == 0);
  EXPECT_REASON("", 0, "no idxd driver");
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/sys'", root);
  CHECK(system(cmd) == 0);
  EXPECT_REASON("", 0, "no DSA device");
  put("sys/dsa0/gen_cap", "0x40915f0107\n");
  put("sys/dsa0/state", "enabled\n");
  EXPECT_REASON("", 0, "no work queue");
  make_wq("wq0.0", "dedicated\n", "disabled\n", "user\n");
  EXPECT_REASON("", 0, "wq0.0: not enabled");
  make_wq("wq0.0", "dedicated\n", "enabled\n", "kernel\n");
  EXPECT_REASON("", 0, "not a user queue");
  make_wq("wq0.0", "dedicated\n", "enabled\n", "user\n");
  EXPECT_REASON("cpu=none", 0, "no MOVDIR64B");
  make_wq("wq0.0", "shared\n", "enabled\n", "user\n");
  EXPECT_REASON("cpu=movdir64b", 0, "no ENQCMD");
  EXPECT_REASON("cpu=enqcmd", 0, "no character device");
  char path[512];
  snprintf(path, sizeof path, "%s/dev/wq0.0", root);
  CHECK(mkfifo(path, 0600) == 0);
  EXPECT_REASON("cpu=enqcmd", 1, "write() to");
  EXPECT_REASON("cpu=enqcmd", 1, "portal mmap failed");
  EXPECT_REASON("cpu=enqcmd", 1, "cache control yes");
  EXPECT_REASON("cpu=enqcmd,mmap=0", 1, "portal mmap not tried");
  if (geteuid() != 0) {
    chmod(path, 0);
    EXPECT_REASON("cpu=enqcmd", 0, "permission denied");
    chmod(path, 0600);
  }
  put("sys/dsa0/gen_cap", "0x40915f0103\n");
  EXPECT_REASON("cpu=enqcmd", 1, "cache control no");
  put("sys/dsa0/state", "halted\n");
  EXPECT_REASON("cpu=enqcmd", 0, "halted");
  put("sys/dsa0/state", "enabled\n");
  /* a regular file maps: the probe then says MOVDIR64B (nothing is ever submitted to it here) */
  unlink(path);
  put("dev/wq0.0", "");
  make_wq("wq0.0", "dedicated\n", "enabled\n", "user\n");
  EXPECT_REASON("cpu=movdir64b", 1, "MOVDIR64B to the mmapped portal");
  EXPECT_REASON("cpu=movdir64b,device=/dev/dsa/wq0.1", 0, "no work queue wq0.1");
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0);
}

/* ---- the real portal's write() path, the emulator behind a FIFO ---- */

struct fake_dev {
  const char *path;
  struct dsa_portal *emu;
  uint64_t seen;
};

static void *fake_device(void *arg) {
  struct fake_dev *f = arg;
  int fd = open(f->path, O_RDONLY);
  CHECK(fd >= 0);
  struct dsa_hw_desc d;
  size_t have = 0;
  for (;;) {
    ssize_t n = read(fd, (uint8_t *)&d + have, sizeof d - have);
    if (n <= 0) break;
    have += (size_t)n;
    if (have == sizeof d) {
      ferry__dsa_emu_execute(f->emu, &d);
      f->seen++;
      have = 0;
    }
  }
  close(fd);
  return NULL;
}

static void test_write_path(void) {
  snprintf(root, sizeof root, "/tmp/ferry-dsa-wfix-%d", (int)getpid());
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/dev'", root, root);
  CHECK(system(cmd) == 0);
  put("sys/dsa0/gen_cap", "0x40915f0107\n");
  put("sys/dsa0/state", "enabled\n");
  make_wq("wq0.0", "dedicated\n", "enabled\n", "user\n");
  char path[512], opts[1400];
  snprintf(path, sizeof path, "%s/dev/wq0.0", root);
  CHECK(mkfifo(path, 0600) == 0);
  struct dsa_emu_config ec = {.dedicated = true, .wq_size = 16, .max_transfer = 2 * MiB, .max_batch = 32, .cache_control = true};
  struct fake_dev f = {.path = path};
  OK(ferry__dsa_emu_open(&ec, &f.emu));
  snprintf(opts, sizeof opts, "device=%s,sysfs=%s/sys,dev=%s/dev,cpu=movdir64b", path, root, root);
  ferry_engine *e = open_dsa(opts);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, fake_device, &f) == 0);
  for (uint64_t len = 1; len <= 5 * MiB; len = len * 7 + 3) {
    OK(copy_one(e, 1, 2, len, FERRY_COPY_HOT));
    expect_same(dst + 2, src + 1, len, "write() path");
  }
  OK(copy_one(e, 0, 0, 5 * MiB, FERRY_COPY_COLD)); /* 3 pieces */
  expect_same(dst, src, 5 * MiB, "write() path, split");
  OK(ferry_engine_close(e));
  pthread_join(t, NULL);
  CHECK(f.seen == 11);
  f.emu->ops->close(f.emu);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0);
}

int main(void) {
  src = malloc(BUF);
  dst = malloc(BUF);
  CHECK(src && dst);
  fill_pattern(src, BUF, 42);
  test_probe();
  test_emulator();
  test_integrity();
  test_split_and_chunk();
  test_batches_and_queues();
  test_faults();
  test_batch_faults();
  test_discovery();
  test_write_path();
  free(src);
  free(dst);
  if (test_failures_) return 1;
  printf("engine_dsa: ok\n");
  return 0;
}
