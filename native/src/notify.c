/*
 * notify.c — futexes on shared memory, the spin/block/hybrid wait loop and
 * the native waiter that wakes a JS event loop through an eventfd.
 *
 * Publish side: bump pub_futex, then FUTEX_WAKE only if a subscriber sleeps
 * (sub_waiters), so a busy channel makes no syscalls. Wait side: read the
 * futex word first, then check, then sleep on the value read: a publish in
 * between changes the word and the sleep returns at once (no lost wakeup).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

uint64_t ferry__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

FERRY_API uint64_t ferry_now_ns(void) { return ferry__now_ns(); }

void ferry__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

/* Shared (not private) futexes: waiters and wakers are different processes. */
int ferry__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns) {
  struct timespec ts, *tp = NULL;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1000000000ll;
    ts.tv_nsec = timeout_ns % 1000000000ll;
    tp = &ts;
  }
  long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, val, tp, NULL, 0);
  if (r == 0 || errno == EAGAIN || errno == EINTR) return 0;
  return errno == ETIMEDOUT ? FERRY_E_TIMEOUT : FERRY_E_SYS;
}

void ferry__futex_wake(_Atomic uint32_t *addr) { syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0); }

/*
 * The one wait loop of libferry: spin until spin_until (UINT64_MAX: spin only;
 * 0: sleep at once), then sleep on `word`, registered in `waiters` so the
 * waker knows to FUTEX_WAKE. `ready` returns > 0 (done), 0 (not yet) or a
 * negative code (give up with it). Dekker order: read the word, count
 * ourselves, re-check, sleep on the value read: a change in between returns
 * at once. Dead peers are reaped every slice (and now and then while spinning).
 */
int ferry__wait_until(ferry_channel *ch, int (*ready)(void *), void *arg, _Atomic uint32_t *word,
                      _Atomic uint32_t *waiters, uint64_t spin_until, int64_t timeout_ns, _Atomic bool *stop) {
  uint64_t start = ferry__now_ns(), last_reap = start; /* this thread's own reap clock */
  for (uint32_t i = 0;; i++) {
    int r = ready(arg);
    if (r) return r < 0 ? r : 0;
    if (stop && atomic_load_explicit(stop, memory_order_relaxed)) return FERRY_E_CLOSED;
    uint64_t now = ferry__now_ns();
    if (timeout_ns >= 0 && now - start >= (uint64_t)timeout_ns) return FERRY_E_TIMEOUT;
    if (now < spin_until) {
      ferry__cpu_relax();
      if ((i & 0xffff) == 0xffff) ferry__reap_if_due(ch, &last_reap);
      continue;
    }
    int64_t slice = FERRY_SLICE_NS;
    if (timeout_ns >= 0 && timeout_ns - (int64_t)(now - start) < slice) slice = timeout_ns - (int64_t)(now - start);
    uint32_t v = atomic_load(word);
    atomic_fetch_add(waiters, 1);
    r = ready(arg);
    if (!r && !(stop && atomic_load(stop))) ferry__futex_wait(word, v, slice);
    atomic_fetch_sub(waiters, 1);
    if (r) return r < 0 ? r : 0;
    ferry__reap_if_due(ch, &last_reap);
  }
}

/* Hybrid: spin this long before sleeping; adapted per thread between the bounds. */
#define SPIN_MIN_NS 2000
#define SPIN_MAX_NS 100000
static _Thread_local int64_t spin_budget = 20000;

static int receivable(void *s) { return ferry__receivable(s); }

/* Wait until the subscriber has something to claim or the stream ended. */
int ferry__wait_receivable(ferry_sub *s, uint32_t wait, int64_t timeout_ns, _Atomic bool *stop) {
  struct ferry_ctrl *c = s->ch->ctrl;
  uint64_t start = ferry__now_ns();
  uint64_t spin_until = wait == FERRY_WAIT_SPIN ? UINT64_MAX : wait == FERRY_WAIT_HYBRID ? start + (uint64_t)spin_budget : 0;
  int r = ferry__wait_until(s->ch, receivable, s, &c->pub_futex, &c->sub_waiters, spin_until, timeout_ns, stop);
  if (wait == FERRY_WAIT_HYBRID && r == 0) { /* adapt: grow when spinning paid off, shrink when we slept */
    if (ferry__now_ns() < spin_until)
      spin_budget = spin_budget * 2 > SPIN_MAX_NS ? SPIN_MAX_NS : spin_budget * 2;
    else
      spin_budget = spin_budget / 2 < SPIN_MIN_NS ? SPIN_MIN_NS : spin_budget / 2;
  }
  return r;
}

/* ---------------------------------------------------------------- waiter thread */

static void *waiter_main(void *arg) {
  struct ferry_waiter *w = arg;
  while (!atomic_load(&w->stop)) {
    if (!atomic_load(&w->armed)) {
      syscall(SYS_futex, (uint32_t *)&w->armed, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
      continue;
    }
    int r = w->fn(w->arg, w->wait, &w->stop);
    if (r == FERRY_E_CLOSED) break;
    atomic_store(&w->armed, 0);
    uint64_t one = 1;
    ssize_t n = write(w->efd, &one, sizeof one);
    (void)n;
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
  w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->efd < 0) {
    free(w);
    return ferry__errno(0, "eventfd");
  }
  int r = pthread_create(&w->thread, NULL, waiter_main, w);
  if (r) {
    close(w->efd);
    free(w);
    errno = r;
    return ferry__errno(0, "pthread_create(waiter)");
  }
  *out = w;
  return w->efd;
}

/* Stop the thread (it notices within one wait slice at worst) and close the fd. */
void ferry__waiter_stop(struct ferry_waiter *w) {
  atomic_store(&w->stop, true);
  atomic_store(&w->armed, 1);
  syscall(SYS_futex, (uint32_t *)&w->armed, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
  pthread_join(w->thread, NULL);
  close(w->efd);
  free(w);
}

int ferry__waiter_arm(struct ferry_waiter *w) {
  if (atomic_exchange(&w->armed, 1) == 0)
    syscall(SYS_futex, (uint32_t *)&w->armed, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  return 0;
}

/* Subscriber: a message to claim, end of stream, or the armed progress target. */
static int sub_wait(void *arg, uint32_t wait, _Atomic bool *stop) {
  ferry_sub *s = arg;
  if (atomic_load(&s->arm_progress)) {
    atomic_store(&s->arm_progress, false);
    int64_t r = ferry__progress_wait(s->ch, s->arm_idx, s->arm_seq1, s->arm_bytes, wait, -1, stop);
    return r == FERRY_E_CLOSED ? FERRY_E_CLOSED : 0;
  }
  return ferry__wait_receivable(s, wait, -1, stop);
}

FERRY_API int ferry_sub_notify_fd(ferry_sub *s, uint32_t wait) {
  if (!s) return ferry__err(FERRY_E_INVAL, "subscriber is NULL");
  if (s->closed || s->ch->closed) return ferry__err(FERRY_E_CLOSED, "subscriber or channel is closed");
  return ferry__waiter_start(&s->waiter, wait, sub_wait, s);
}

FERRY_API int ferry_sub_arm(ferry_sub *s) {
  if (!s || !s->waiter) return ferry__err(FERRY_E_STATE, "no notify fd: call ferry_sub_notify_fd first");
  if (s->closed || s->ch->closed) return ferry__err(FERRY_E_CLOSED, "subscriber or channel is closed");
  return ferry__waiter_arm(s->waiter);
}
