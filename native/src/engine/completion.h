/*
 * engine/completion.h — the completion-record protocol (engine/completion.c)
 * and the host hook through which libferry's own callers (a channel send)
 * follow a job without the engine knowing about them.
 */
#ifndef FERRY_ENGINE_COMPLETION_H
#define FERRY_ENGINE_COMPLETION_H

#include <stdint.h>

#include "ferry.h"

/*
 * The host hook, pointed to by ferry_completion.host. Called by
 * ferry_completion_progress / ferry_completion_finish, in the engine's
 * thread: progress when bytes_done grew; finish before the status becomes
 * final (the hook and its record are still valid); then, after the status
 * is final and nothing may touch the record, after(after_arg) — so `after`
 * and its argument must live on their own (they are read before).
 */
struct ferry__host {
  void (*progress)(struct ferry__host *h, uint64_t bytes);
  void (*finish)(struct ferry__host *h, int error, uint64_t bytes_done);
  void (*after)(void *arg);
  void *after_arg;
  /* a failed job's ferry_completion.detail, copied at finish: the engine's
   * string may be gone (plugin unloaded) by the time the job is collected */
  char detail[64];
};

/* Reset a record for a new job (PENDING, waiters 0) before it is handed to an engine. */
void ferry__completion_start(ferry_completion *c, const ferry_copy_desc *d, struct ferry__host *host);
void ferry__completion_idle(ferry_completion *c); /* not accepted: back to IDLE */
uint32_t ferry__completion_status(ferry_completion *c);
/* Sleep while the record is PENDING, at most slice_ns (the waiter flag protocol). */
void ferry__completion_sleep(ferry_completion *c, int64_t slice_ns);

#endif
