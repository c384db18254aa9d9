/* util.h — tiny test helpers: CHECK macros, unique channel names, fork helpers. */
#ifndef FERRY_TEST_UTIL_H
#define FERRY_TEST_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry.h"

#define CHECK(cond)                                                                       \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      fprintf(stderr, "%s:%d: CHECK(%s) failed [%s]\n", __FILE__, __LINE__, #cond,        \
              ferry_last_error());                                                        \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

#define CHECK_RC(expr, want)                                                              \
  do {                                                                                    \
    int rc_ = (expr);                                                                     \
    if (rc_ != (want)) {                                                                  \
      fprintf(stderr, "%s:%d: %s = %d (%s), want %d (%s) [%s]\n", __FILE__, __LINE__,    \
              #expr, rc_, ferry_err_name(rc_), (want), ferry_err_name(want),              \
              ferry_last_error());                                                        \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

#define OK(expr) CHECK_RC(expr, 0)

static inline const char *test_name(const char *base) {
  static char buf[64];
  snprintf(buf, sizeof buf, "t-%s-%d", base, (int)getpid());
  return buf;
}

/* Wait for a child; returns its exit status, or 128+signal. */
static inline int wait_child(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) < 0) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}
#endif
