/*
 * engine/dsa_portal.h — the line between the DSA engine (engine/dsa.c) and a
 * device: a work queue's properties and a portal that takes 64-byte
 * descriptors. Two implementations: the idxd work queue (engine/dsa_idxd.c:
 * MOVDIR64B / ENQCMD to the mmapped portal, or write() to the wq's fd) and
 * the emulated device (engine/dsa_emu.c). Everything above this line
 * (descriptors, batching, splitting, completions, faults, cache control) is
 * the same code for both.
 */
#ifndef FERRY_ENGINE_DSA_PORTAL_H
#define FERRY_ENGINE_DSA_PORTAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/dsa_hw.h"

/* One work queue as discovery (sysfs) or the emulator describes it. */
struct dsa_wq_info {
  char name[32];        /* "wq0.0", or "emulated" */
  char device[32];      /* "dsa0", or "emulated" */
  char path[256];       /* /dev/dsa/wq0.0 (empty for the emulator) */
  bool dedicated;       /* dedicated: MOVDIR64B, silent drop when full; shared: ENQCMD, retry */
  uint32_t size;        /* work queue entries */
  uint64_t max_transfer;/* bytes per descriptor */
  uint32_t max_batch;   /* descriptors per batch (0 or 1: no batches) */
  bool block_on_fault;
  bool cache_control;   /* gen_cap bit 2: the CC flag is allowed on memory writes */
  uint64_t gen_cap;
};

enum { DSA_SUBMIT_OK = 0, DSA_SUBMIT_RETRY = 1 };
enum { DSA_HEALTH_OK = 0, DSA_HEALTH_HALTED = 1, DSA_HEALTH_SWERR = 2 };

struct dsa_portal;
struct dsa_portal_ops {
  /* Hand one descriptor to the device: DSA_SUBMIT_OK, DSA_SUBMIT_RETRY (a shared queue said "full"),
   * or a negative FERRY_E_* (detail set). A dedicated queue never says full: it drops silently. */
  int (*submit)(struct dsa_portal *p, const struct dsa_hw_desc *d);
  /* Is the device still working? DSA_HEALTH_OK; DSA_HEALTH_HALTED (why says so); DSA_HEALTH_SWERR:
   * a software error for one descriptor whose record the device could not write (*comp_addr, *status);
   * reading it clears it. */
  int (*health)(struct dsa_portal *p, char *why, size_t cap, uint64_t *comp_addr, uint8_t *status);
  void (*close)(struct dsa_portal *p);
};

struct dsa_portal {
  const struct dsa_portal_ops *ops;
  struct dsa_wq_info wq;
  char how[320]; /* how descriptors are submitted, for caps / probe text */
};

#endif
