/*
 * bench_common.h — helpers shared by the libferry C microbenchmarks:
 * options, CPU pinning, a cheap clock, percentiles, JSON/table output,
 * and cleanup of the channels a benchmark creates (also on failure paths
 * and on SIGINT/SIGTERM/crash signals).
 *
 * Header-only on purpose: every benchmark is one .c file plus this header.
 */
#ifndef FERRY_BENCH_COMMON_H
#define FERRY_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ options */

struct bench_opts {
  bool json;   /* machine-readable lines on stdout, the table on stderr */
  bool quick;  /* ~10x fewer iterations */
  bool pin;    /* pin the two processes to cpu0 / cpu1 (env FERRY_PIN=0 disables) */
  uint64_t n;  /* iteration override (0: per-benchmark default) */
  uint64_t arena; /* channel capacity override (0: per-benchmark default) */
  const char *only;      /* --wait (pingpong) / --op (ops): run only this one */
  uint64_t only_size;    /* restrict to one size */
  uint32_t inline_max;   /* publishers' inline limit (ferry_pub_inline): --inline N, default FERRY_INLINE_MAX */
};

static FILE *bench_table; /* where the human-readable table goes */
static struct bench_opts bench_o; /* copy of the parsed options (bench_fork pins the child) */

static inline uint64_t bench_parse_size(const char *s) {
  char *end;
  double v = strtod(s, &end);
  uint64_t m = 1;
  if (*end == 'k' || *end == 'K') m = 1024;
  else if (*end == 'm' || *end == 'M') m = 1024 * 1024;
  else if (*end == 'g' || *end == 'G') m = 1024ull * 1024 * 1024;
  return (uint64_t)(v * (double)m);
}

static inline void bench_parse_opts(int argc, char **argv, struct bench_opts *o, const char *usage_extra) {
  memset(o, 0, sizeof *o);
  const char *pin = getenv("FERRY_PIN");
  o->pin = !(pin && strcmp(pin, "0") == 0);
  o->inline_max = 64;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--json")) o->json = true;
    else if (!strcmp(a, "--quick")) o->quick = true;
    else if (!strcmp(a, "--no-pin")) o->pin = false;
    else if (!strcmp(a, "-n") && i + 1 < argc) o->n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--arena") && i + 1 < argc) o->arena = bench_parse_size(argv[++i]);
    else if ((!strcmp(a, "--wait") || !strcmp(a, "--op")) && i + 1 < argc) o->only = argv[++i];
    else if (!strcmp(a, "--size") && i + 1 < argc) o->only_size = bench_parse_size(argv[++i]);
    else if (!strcmp(a, "--inline") && i + 1 < argc) o->inline_max = (uint32_t)strtoul(argv[++i], NULL, 10);
    else {
      fprintf(stderr,
              "usage: %s [--json] [--quick] [--no-pin] [-n N] [--arena BYTES] [--size BYTES] [--inline N]%s\n"
              "  --json    one JSON line per measurement on stdout (the table goes to stderr)\n"
              "  --quick   ~10x fewer iterations\n"
              "  --inline  publishers carry payloads of at most N bytes in the descriptor (0: off; default 64)\n"
              "  env FERRY_PIN=0 disables pinning to cpu0/cpu1\n",
              argv[0], usage_extra ? usage_extra : "");
      exit(strcmp(a, "-h") && strcmp(a, "--help") ? 2 : 0);
    }
  }
  bench_table = o->json ? stderr : stdout;
  bench_o = *o;
}

/* --------------------------------------------------------------- pinning */

static inline void bench_pin(const struct bench_opts *o, int cpu) {
  if (!o->pin) return;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % ncpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) fprintf(stderr, "warning: sched_setaffinity(cpu%d): %s\n", cpu, strerror(errno));
}

/* ----------------------------------------------------------------- clocks */

static inline uint64_t bench_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Ticks: the TSC on x86 (constant and invariant on every CPU this runs on;
 * calibrated against CLOCK_MONOTONIC), else CLOCK_MONOTONIC. One rdtsc is
 * ~10 ns cheaper than a vDSO clock_gettime, which matters at ~100 ns.
 * FERRY_BENCH_CLOCK=mono forces clock_gettime.
 */
static double bench_ns_per_tick = 1.0;
static bool bench_use_tsc = false;

static inline uint64_t bench_ticks(void) {
#if defined(__x86_64__)
  if (bench_use_tsc) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
  }
#endif
  return bench_mono_ns();
}

static inline void bench_clock_init(void) {
#if defined(__x86_64__)
  const char *c = getenv("FERRY_BENCH_CLOCK");
  if (c && !strcmp(c, "mono")) return;
  FILE *f = fopen("/proc/cpuinfo", "r");
  bool invariant = false;
  if (f) {
    char line[4096];
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "flags", 5)) {
        invariant = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
        break;
      }
    fclose(f);
  }
  if (!invariant) return;
  bench_use_tsc = true;
  uint64_t t0 = bench_mono_ns(), c0 = bench_ticks();
  struct timespec d = {0, 50 * 1000 * 1000};
  nanosleep(&d, NULL);
  uint64_t t1 = bench_mono_ns(), c1 = bench_ticks();
  if (c1 <= c0 || t1 <= t0) {
    bench_use_tsc = false;
    return;
  }
  bench_ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
#endif
}

static inline double bench_ticks_to_ns(uint64_t t) { return (double)t * bench_ns_per_tick; }

static inline void bench_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

/* ------------------------------------------------------------ statistics */

static inline int bench_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}
static inline int bench_cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array (p in [0,1]). */
static inline uint64_t bench_pct_u64(const uint64_t *v, size_t n, double p) {
  size_t k = (size_t)(p * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

static inline double bench_median_dbl(double *v, size_t n) {
  qsort(v, n, sizeof *v, bench_cmp_dbl);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------ failure handling */

#define BENCH_MAX_CLEANUP 16
static char bench_cleanup_paths[BENCH_MAX_CLEANUP][128];
static int bench_cleanup_n;
static pid_t bench_owner_pid;   /* only this process removes the channels */
static pid_t bench_child_pid;   /* killed on abnormal exit of the owner */
static pid_t bench_parent_pid;  /* in a child: the process that forked it */

/* Async-signal-safe: only unlink(2) and kill(2). */
static void bench_cleanup_now(void) {
  if (getpid() != bench_owner_pid) return;
  if (bench_child_pid > 0) kill(bench_child_pid, SIGKILL);
  for (int i = 0; i < bench_cleanup_n; i++)
    if (bench_cleanup_paths[i][0]) unlink(bench_cleanup_paths[i]);
}

static void bench_on_signal(int sig) {
  bench_cleanup_now();
  signal(sig, SIG_DFL);
  raise(sig);
}

/*
 * Remove channels that an earlier benchmark run left behind when it was
 * SIGKILLed (no handler runs then): /dev/shm/ferry.bench-<kind>-<pid>[-x]
 * whose <pid> no longer exists. Only our own names, never other segments.
 */
static inline void bench_cleanup_stale(void) {
  DIR *d = opendir("/dev/shm");
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    const char *n = de->d_name;
    if (strncmp(n, "ferry.bench-", 12) != 0) continue;
    const char *dash = strchr(n + 12, '-'); /* after <kind> */
    if (!dash) continue;
    char *end;
    long pid = strtol(dash + 1, &end, 10);
    if (pid <= 0 || (*end && *end != '-')) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* still running (or not ours to judge) */
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/%s", n);
    if (unlink(path) == 0) fprintf(stderr, "removed stale %s\n", path);
  }
  closedir(d);
}

static inline void bench_cleanup_init(void) {
  bench_cleanup_stale();
  bench_owner_pid = getpid();
  atexit(bench_cleanup_now);
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = bench_on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(sigs[i], &sa, NULL);
  }
}

/* Remember /dev/shm/ferry.<name> for removal on any exit of the owner. */
static inline void bench_cleanup_add(const char *name) {
  for (int i = 0; i < bench_cleanup_n; i++)
    if (!bench_cleanup_paths[i][0]) {
      snprintf(bench_cleanup_paths[i], sizeof bench_cleanup_paths[i], "/dev/shm/ferry.%s", name);
      return;
    }
  if (bench_cleanup_n < BENCH_MAX_CLEANUP) {
    snprintf(bench_cleanup_paths[bench_cleanup_n], sizeof bench_cleanup_paths[0], "/dev/shm/ferry.%s", name);
    bench_cleanup_n++;
  }
}

/* The channel was closed normally: nothing to remove any more. */
static inline void bench_cleanup_forget(const char *name) {
  char p[128];
  snprintf(p, sizeof p, "/dev/shm/ferry.%s", name);
  for (int i = 0; i < bench_cleanup_n; i++)
    if (!strcmp(bench_cleanup_paths[i], p)) bench_cleanup_paths[i][0] = 0;
}

static const char *bench_role = "main";

__attribute__((noreturn, format(printf, 1, 2))) static void bench_die(const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "[%s] error: ", bench_role);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1); /* atexit: the owner removes its channels and kills its child */
}

/* A libferry call that must succeed. */
#define FCHK(call)                                                                                     \
  do {                                                                                                 \
    int fchk_r_ = (call);                                                                              \
    if (fchk_r_ < 0)                                                                                   \
      bench_die("%s failed: %s (%s): %s [%s:%d]", #call, ferry_err_name(fchk_r_), ferry_strerror(fchk_r_), \
                ferry_last_error(), __FILE__, __LINE__);                                               \
  } while (0)

/*
 * Fork a child that dies with its parent, pinned to cpu1 (the parent pins
 * itself to cpu0). The child runs fn and _exits with its status.
 */
static inline pid_t bench_fork(int (*fn)(void *), void *arg) {
  fflush(stdout);
  fflush(stderr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) bench_die("fork: %s", strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    bench_parent_pid = parent;
    bench_child_pid = 0;
    bench_role = "child";
    bench_pin(&bench_o, 1);
    int rc = fn(arg);
    fflush(stdout);
    fflush(stderr);
    _exit(rc); /* fn calls exit() itself where library destructors must run (iceoryx) */
  }
  bench_child_pid = pid;
  return pid;
}

/* Wait for the child; returns its exit code (or 128+signal). */
static inline int bench_join(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) bench_die("waitpid: %s", strerror(errno));
  bench_child_pid = 0;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

/* Is the other process still there? (child: the parent; parent: the child). */
static inline bool bench_peer_alive(void) {
  if (bench_child_pid > 0) {
    int st;
    pid_t r = waitpid(bench_child_pid, &st, WNOHANG);
    return r == 0;
  }
  return bench_parent_pid == 0 || getppid() == bench_parent_pid;
}

/*
 * Spin on a condition (no pause: lowest wake-up latency) with a liveness
 * check every 2^20 iterations and an overall deadline.
 */
#define BENCH_SPIN_UNTIL(cond, what, deadline_s)                                                    \
  do {                                                                                              \
    uint64_t bsu_i_ = 0, bsu_t0_ = 0;                                                               \
    while (!(cond)) {                                                                               \
      if ((++bsu_i_ & 0xfffff) == 0) {                                                              \
        uint64_t bsu_now_ = bench_mono_ns();                                                        \
        if (!bsu_t0_) bsu_t0_ = bsu_now_;                                                           \
        if (!bench_peer_alive()) bench_die("peer process died while waiting for %s", what);         \
        if (bsu_now_ - bsu_t0_ > (uint64_t)(deadline_s) * 1000000000ull)                            \
          bench_die("timed out after %d s waiting for %s", (int)(deadline_s), what);                \
      }                                                                                             \
    }                                                                                               \
  } while (0)

/* Human-readable size: 64 B, 4 KiB, 1 MiB. */
static inline const char *bench_size_str(uint64_t s, char *buf, size_t cap) {
  if (s >= (1ull << 30) && s % (1ull << 30) == 0) snprintf(buf, cap, "%" PRIu64 " GiB", s >> 30);
  else if (s >= (1u << 20) && s % (1u << 20) == 0) snprintf(buf, cap, "%" PRIu64 " MiB", s >> 20);
  else if (s >= 1024 && s % 1024 == 0) snprintf(buf, cap, "%" PRIu64 " KiB", s >> 10);
  else snprintf(buf, cap, "%" PRIu64 " B", s);
  return buf;
}

/* Payload helpers: fill fully, and read fully (sum of 64-bit words). */
static inline void bench_fill(uint8_t *p, uint64_t size, uint64_t seq) {
  memset(p, (int)(seq & 0xff), size);
  if (size >= 8) memcpy(p, &seq, 8);
}

static inline uint64_t bench_sum(const uint8_t *p, uint64_t size) {
  uint64_t s = 0;
  uint64_t n = size / 8;
  const uint64_t *w = (const uint64_t *)(const void *)p;
  for (uint64_t i = 0; i < n; i++) s += w[i];
  for (uint64_t i = n * 8; i < size; i++) s += p[i];
  return s;
}

static volatile uint64_t bench_sink;

#endif
