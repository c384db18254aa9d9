/* sys/waiter.h — a native thread that runs a wait and then signals an eventfd (sys/waiter.c). */
#ifndef FERRY_SYS_WAITER_H
#define FERRY_SYS_WAITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * While armed, the thread runs fn(arg, wait, &stop) — a wait that returns
 * when there is something for the event loop to do — then disarms and
 * writes the eventfd. fn returning FERRY_E_CLOSED ends the thread.
 */
struct ferry_waiter {
  pthread_t thread;
  int efd;
  uint32_t wait;
  _Atomic uint32_t armed; /* private futex word: 1 while the event loop waits for a signal */
  _Atomic bool stop;
  int (*fn)(void *arg, uint32_t wait, _Atomic bool *stop);
  void *arg;
};

/* Start once (returns the eventfd; a second call returns the same fd). */
int ferry__waiter_start(struct ferry_waiter **out, uint32_t wait, int (*fn)(void *, uint32_t, _Atomic bool *), void *arg);
int ferry__waiter_arm(struct ferry_waiter *w);
/* Set stop (the caller cuts fn's wait short first if it can), join the thread, close the fd. */
void ferry__waiter_stop(struct ferry_waiter *w);

#endif
