/* sys/sys.h — clock, CPU pause and futexes: the only system-call wrappers the waits use (sys/sys.c). */
#ifndef FERRY_SYS_SYS_H
#define FERRY_SYS_SYS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define FERRY__ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((uint64_t)(a)-1))
/*
 * The request path (a small publish and its wake-up, a receive or an arming): these functions
 * sit together in .text.hot, so that a request after an idle gap, when every page is cold,
 * touches a few code pages of libferry rather than one per function (bench_cold).
 */
#define FERRY__HOT __attribute__((hot))
#define FERRY__SLICE_NS (50ll * 1000 * 1000) /* longest sleep between liveness checks of a wait */

uint64_t ferry__now_ns(void); /* CLOCK_MONOTONIC */
void ferry__cpu_relax(void);
/* Futexes shared between processes (words in shared memory): 0, or FERRY_E_TIMEOUT / FERRY_E_SYS. */
int ferry__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns);
void ferry__futex_wake(_Atomic uint32_t *addr);
/* Futexes private to this process (words in private memory): wake at most n. */
void ferry__futex_wait_private(_Atomic uint32_t *addr, uint32_t val);
void ferry__futex_wake_private(_Atomic uint32_t *addr, int n);

/* An eventfd for waking an event loop (nonblocking, close-on-exec): the fd, or a FERRY_E_* code. */
int ferry__efd_open(const char *what);
/* Make it readable (add 1); never fails in a way the caller could act on. */
void ferry__efd_signal(int efd);
/*
 * A thread running fn(arg) that will signal a new eventfd (*efd) when it has
 * something to report: 0, or a FERRY_E_* code with nothing left open.
 */
int ferry__thread_efd(pthread_t *thread, int *efd, void *(*fn)(void *), void *arg, const char *what);

#endif
