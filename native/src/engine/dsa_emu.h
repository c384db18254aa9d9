/*
 * engine/dsa_emu.h — the emulated DSA device (engine/dsa_emu.c): one work
 * queue, dedicated or shared, served by worker threads that decode the real
 * descriptor format and write the real completion record, with fault
 * injection driven by tests.
 */
#ifndef FERRY_ENGINE_DSA_EMU_H
#define FERRY_ENGINE_DSA_EMU_H

#include "engine/dsa_portal.h"

struct dsa_emu_config {
  bool dedicated;         /* default shared */
  uint32_t wq_size;       /* entries (default 32) */
  uint64_t max_transfer;  /* bytes per descriptor (default 2 MiB) */
  uint32_t max_batch;     /* descriptors per batch (default 32; 0: batches are BAD_OPCODE) */
  bool cache_control;     /* gen_cap bit 2 (default on) */
  uint32_t workers;       /* device engines = worker threads (default 1) */
  const char *inject;     /* fault injection list, see dsa_emu.c (NULL: none) */
};

/* Counters of the emulated device (white-box tests). */
struct dsa_emu_counters {
  uint64_t accepted, dropped, retried, processed, batches, faults, errors;
};

/* Parse the injection list without opening anything: 0, or FERRY_E_INVAL with the detail set. */
int ferry__dsa_emu_check_inject(const char *spec);
int ferry__dsa_emu_open(const struct dsa_emu_config *cfg, struct dsa_portal **out);
void ferry__dsa_emu_counters(struct dsa_portal *p, struct dsa_emu_counters *out);
/* Descriptors dropped by full dedicated queues of every emulated device of this process (white-box tests). */
uint64_t ferry__dsa_emu_total_dropped(void);
/* Stop / restart the workers (descriptors stay queued): lets tests fill a queue. */
void ferry__dsa_emu_pause(struct dsa_portal *p, bool paused);
/* Run one descriptor synchronously, as the device would (used as the "device" behind a fake wq fd in tests). */
void ferry__dsa_emu_execute(struct dsa_portal *p, const struct dsa_hw_desc *d);

#endif
