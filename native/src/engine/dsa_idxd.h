/*
 * engine/dsa_idxd.h — real DSA work queues through the Linux idxd driver
 * (engine/dsa_idxd.c): discovery in sysfs and the work-queue portal.
 */
#ifndef FERRY_ENGINE_DSA_IDXD_H
#define FERRY_ENGINE_DSA_IDXD_H

#include "engine/dsa_portal.h"

struct dsa_discover_opts {
  const char *sysfs;   /* /sys/bus/dsa/devices unless a test points elsewhere */
  const char *devroot; /* /dev/dsa unless a test points elsewhere */
  const char *want;    /* a wq path (/dev/dsa/wq0.0) or NULL: the first usable one */
  uint32_t cpu;        /* DSA_CPU_* the CPU has (ferry__dsa_cpu_features, or a test's) */
  bool no_mmap;        /* do not try the portal mmap: submit with write() */
};

/*
 * Find a usable user work queue: 1 with *wq filled and reason saying what was
 * found and how it would be used; 0 with reason the exact cause when none is
 * (no idxd driver, no device, no enabled user wq, missing CPU feature, no
 * character device, permission, queue busy). Opens and maps the portal of the
 * chosen queue once to check it can be, and closes it again.
 */
int ferry__dsa_discover(const struct dsa_discover_opts *o, struct dsa_wq_info *wq, char *reason, size_t cap);
/* Open the portal of a discovered queue: MOVDIR64B / ENQCMD to the mmapped portal, or write() when the mmap is refused. */
int ferry__dsa_idxd_open(const struct dsa_discover_opts *o, const struct dsa_wq_info *wq, struct dsa_portal **out);

#endif
