/* util.h — tiny test helpers: CHECK macros, unique channel names, fork helpers. */
#ifndef FERRY_TEST_UTIL_H
#define FERRY_TEST_UTIL_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
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

/* Non-fatal variants: report, count in test_failures_, go on (the test exits 1 at the end). */
static int test_failures_ __attribute__((unused));
#define EXPECT(cond)                                                                      \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      fprintf(stderr, "%s:%d: EXPECT(%s) failed [%s]\n", __FILE__, __LINE__, #cond,       \
              ferry_last_error());                                                        \
      test_failures_++;                                                                   \
    }                                                                                     \
  } while (0)
#define EXPECT_RC(expr, want)                                                             \
  do {                                                                                    \
    int rc_ = (expr);                                                                     \
    if (rc_ != (want)) {                                                                  \
      fprintf(stderr, "%s:%d: %s = %d (%s), want %d (%s) [%s]\n", __FILE__, __LINE__,    \
              #expr, rc_, ferry_err_name(rc_), (want), ferry_err_name(want),              \
              ferry_last_error());                                                        \
      test_failures_++;                                                                   \
    }                                                                                     \
  } while (0)

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

/* n bytes of a seeded pseudo-random pattern (the tail too when n is not a multiple of 8). */
static inline void fill_pattern(uint8_t *p, uint64_t n, uint64_t seed) {
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = xorshift(&seed);
    memcpy(p + i, &v, 8);
  }
  if (i < n) {
    uint64_t v = xorshift(&seed);
    memcpy(p + i, &v, n - i);
  }
}

/* Exit 1 naming the first differing byte when d and s differ in their first len bytes. */
static inline void expect_same(const uint8_t *d, const uint8_t *s, uint64_t len, const char *what) {
  if (memcmp(d, s, len) == 0) return;
  uint64_t i = 0;
  while (d[i] == s[i]) i++;
  fprintf(stderr, "%s: mismatch at byte %llu of %llu\n", what, (unsigned long long)i, (unsigned long long)len);
  exit(1);
}

/* ---- helpers for the multi-process, crash and hostile tests ---- */

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Zeroed memory shared with forked children (MAP_SHARED | MAP_ANONYMOUS). */
static inline void *shared_alloc(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap(shared)");
    exit(1);
  }
  return p;
}

/* Channel name "<test_name(base)>-<suffix>" in a caller buffer (test_name's buffer is static). */
static inline const char *test_name_sub(char *buf, size_t cap, const char *base, const char *suffix) {
  snprintf(buf, cap, "t-%s-%d-%s", base, (int)getpid(), suffix);
  return buf;
}

static inline void shm_path_of(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "/dev/shm/ferry.%s", name);
}

static inline int shm_exists(const char *name) {
  char p[256];
  shm_path_of(name, p, sizeof p);
  return access(p, F_OK) == 0;
}

/*
 * Number of /dev/shm entries "ferry.<prefix>*" (when unlink_them, remove them
 * too) plus the temporary "ferry.~tmp.<pid>.*" files of process `pid`.
 */
static inline int shm_leftovers(const char *prefix, pid_t pid, int unlink_them) {
  char pfx[200], tmp[64];
  snprintf(pfx, sizeof pfx, "ferry.%s", prefix);
  snprintf(tmp, sizeof tmp, "ferry.~tmp.%d.", (int)pid);
  DIR *d = opendir("/dev/shm");
  if (!d) return 0;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, pfx, strlen(pfx)) != 0 && strncmp(de->d_name, tmp, strlen(tmp)) != 0) continue;
    n++;
    if (unlink_them) {
      char p[512];
      snprintf(p, sizeof p, "/dev/shm/%s", de->d_name);
      if (unlink(p) == 0) fprintf(stderr, "cleanup: removed leftover %s\n", p);
    }
  }
  closedir(d);
  return n;
}

/* Every channel of this test is named test_name(base)...: register once in main. */
static pid_t test_main_pid_ __attribute__((unused));
static char test_prefix_[80] __attribute__((unused));
static inline void test_cleanup_atexit_(void) {
  if (getpid() == test_main_pid_) shm_leftovers(test_prefix_, test_main_pid_, 1);
}
static inline void test_init(const char *base) {
  test_main_pid_ = getpid();
  snprintf(test_prefix_, sizeof test_prefix_, "t-%s-%d", base, (int)getpid());
  atexit(test_cleanup_atexit_);
  setvbuf(stdout, NULL, _IOLBF, 0);
}
/* End-of-test check: no segment of this test is left in /dev/shm. */
#define CHECK_NO_LEFTOVERS() CHECK(shm_leftovers(test_prefix_, test_main_pid_, 0) == 0)

/*
 * ferry_gc judges every segment in /dev/shm: run in the calling process, it would also sweep
 * away what tests running beside this one (ctest -j) look at, e.g. a header test_hostile has
 * corrupted on purpose. Where we may (root), move this process into a private mount namespace
 * with its own /dev/shm (a tmpfs of `size`, e.g. "16m"); false where unshare/mount is refused.
 * ctest also keeps every such test apart (RESOURCE_LOCK dev_shm_gc) for when this fails.
 */
#ifdef CLONE_NEWNS /* declared where _GNU_SOURCE came before the first system header */
static inline bool test_private_dev_shm(const char *size) {
  char opts[64];
  snprintf(opts, sizeof opts, "size=%s,mode=1777", size);
  if (unshare(CLONE_NEWNS) != 0) return false;
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return false;
  return mount("ferry-test", "/dev/shm", "tmpfs", 0, opts) == 0;
}
#endif

/* Fork a child that runs fn(arg) and _exits with its return value. */
static inline pid_t fork_child(int (*fn)(void *), void *arg) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) _exit(fn(arg));
  return pid;
}

/* Like wait_child, but SIGKILLs the child after timeout_ms: returns -2 then. */
static inline int wait_child_ms(pid_t pid, unsigned timeout_ms) {
  uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0) return -1;
    if (now_ns() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -2;
    }
    sleep_ms(2);
  }
}

/* Spin-then-sleep until *v >= want (shared counter written by another process). */
static inline int wait_counter(volatile int *v, int want, unsigned timeout_ms) {
  uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
  while (__atomic_load_n(v, __ATOMIC_ACQUIRE) < want) {
    if (now_ns() > end) return -1;
    usleep(200);
  }
  return 0;
}
static inline void bump_counter(volatile int *v) { __atomic_add_fetch(v, 1, __ATOMIC_ACQ_REL); }
#endif
