/*
 * sys/sys.c — the clock, the CPU pause hint and futexes: the only SYS_futex
 * calls of libferry. Shared futexes sit in shared memory (waiters and wakers
 * are different processes); private ones in a process's own memory.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ferry.h"
#include "sys/error.h"
#include "sys/sys.h"

FERRY__HOT uint64_t ferry__now_ns(void) {
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

void ferry__futex_wait_private(_Atomic uint32_t *addr, uint32_t val) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

void ferry__futex_wake_private(_Atomic uint32_t *addr, int n) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

int ferry__efd_open(const char *what) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd < 0 ? ferry__errno(0, what) : fd;
}

void ferry__efd_signal(int efd) {
  uint64_t one = 1;
  ssize_t n = write(efd, &one, sizeof one); /* full only after 2^64 - 2 unread signals */
  (void)n;
}

int ferry__thread_efd(pthread_t *thread, int *efd, void *(*fn)(void *), void *arg, const char *what) {
  int fd = ferry__efd_open(what);
  if (fd < 0) return fd;
  *efd = fd;
  int r = pthread_create(thread, NULL, fn, arg);
  if (r) {
    close(fd);
    *efd = -1;
    errno = r;
    return ferry__errno(0, what);
  }
  return 0;
}
