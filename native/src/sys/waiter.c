/*
 * sys/waiter.c — the native waiter behind an event-loop fd: a thread that
 * sleeps on a private futex until armed, runs the owner's wait, then writes
 * an eventfd the event loop watches.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "ferry.h"
#include "sys/error.h"
#include "sys/sys.h"
#include "sys/waiter.h"

static void *waiter_main(void *arg) {
  struct ferry_waiter *w = arg;
  while (!atomic_load(&w->stop)) {
    if (!atomic_load(&w->armed)) {
      ferry__futex_wait_private(&w->armed, 0);
      continue;
    }
    int r = w->fn(w->arg, w->wait, &w->stop);
    if (r == FERRY_E_CLOSED) break;
    atomic_store(&w->armed, 0);
    ferry__efd_signal(w->efd);
  }
  return NULL;
}

int ferry__waiter_start(struct ferry_waiter **out, uint32_t wait, int (*fn)(void *, uint32_t, _Atomic bool *),
                        void *arg) {
  if (wait > FERRY_WAIT_HYBRID) return ferry__err(FERRY_E_INVAL, "unknown wait strategy %u", wait);
  if (*out) return (*out)->efd;
  struct ferry_waiter *w = calloc(1, sizeof *w);
  if (!w) return ferry__err(FERRY_E_NOMEM, "out of memory");
  w->fn = fn;
  w->arg = arg;
  w->wait = wait;
  int r = ferry__thread_efd(&w->thread, &w->efd, waiter_main, w, "waiter thread");
  if (r) {
    free(w);
    return r;
  }
  *out = w;
  return w->efd;
}

/* Stop the thread (it notices within one wait slice at worst) and close the fd. */
void ferry__waiter_stop(struct ferry_waiter *w) {
  atomic_store(&w->stop, true);
  atomic_store(&w->armed, 1);
  ferry__futex_wake_private(&w->armed, 1 << 30);
  pthread_join(w->thread, NULL);
  close(w->efd);
  free(w);
}

int ferry__waiter_arm(struct ferry_waiter *w) {
  if (atomic_exchange(&w->armed, 1) == 0) ferry__futex_wake_private(&w->armed, 1);
  return 0;
}
