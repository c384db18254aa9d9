/*
 * engine/dsa.h — the `dsa` engine's process-wide counters (engine/dsa.c),
 * read by white-box C tests to see which path a job took (page faults
 * resubmitted or finished on the CPU, queue-full retries, batches, ...).
 */
#ifndef FERRY_ENGINE_DSA_H
#define FERRY_ENGINE_DSA_H

#include <stdint.h>

struct ferry__dsa_counters {
  uint64_t descs;         /* work descriptors handed to a device (pieces, fix-ups) */
  uint64_t batches;       /* batch descriptors */
  uint64_t retries;       /* submissions refused (shared queue full) */
  uint64_t wq_full;       /* times the engine stopped because its in-flight count reached the dedicated queue */
  uint64_t page_faults;   /* partial completions seen */
  uint64_t pf_resubmits;  /* remainders resubmitted to the device */
  uint64_t pf_cpu;        /* remainders finished on the CPU */
  uint64_t not_attempted; /* descriptors the device never wrote a record for (batch aborted, halt) */
  uint64_t swerr;         /* software errors reported by the device */
  uint64_t halts;         /* device halts seen */
  uint64_t failed;        /* jobs finished with an error */
  uint8_t last_status;    /* the DSA status of the last failed job */
};

void ferry__dsa_counters_get(struct ferry__dsa_counters *out);
void ferry__dsa_counters_reset(void);

#endif
