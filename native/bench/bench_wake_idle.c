/*
 * bench_wake_idle — what a wake-up after an idle gap costs on this machine,
 * without Ferry: two processes, a request every <gap> µs, the requester busy
 * <post> µs after its send (as its code after a send would be), the responder
 * busy <resp> µs before its reply. The wake-up is an AF_UNIX datagram (a
 * "sync" wake-up, as Ferry's direct wake and any Unix socket use) or an
 * eventfd (not sync); PIN=1 pins the two processes to cpu0 / cpu1.
 *
 *   bench_wake_idle <0 dgram | 1 eventfd> <post µs> <resp µs> <gap µs> [n=300]
 *
 * Prints the round trip p50 and p90. docs/benchmarks.md section 6 ("Where the
 * round trip goes") uses it to show that the kernel keeps the woken process on
 * the waker's CPU either way and that waking the other (halted) vCPU costs more
 * than the work it would overlap.
 */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
static void busy(uint64_t ns) {
  uint64_t end = now() + ns;
  while (now() < end) {
  }
}
static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
static int kind;
static void signal_fd(int fd) {
  uint64_t one = 1;
  ssize_t r = kind == 0 ? send(fd, &one, 1, MSG_DONTWAIT) : write(fd, &one, sizeof one);
  (void)r;
}
static void drain(int fd) {
  uint64_t b;
  ssize_t r = kind == 0 ? recv(fd, &b, sizeof b, MSG_DONTWAIT) : read(fd, &b, sizeof b);
  (void)r;
}
static int epoll_of(int fd) {
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return ep;
}
static void sleep_on(int ep) {
  struct epoll_event ev;
  while (epoll_wait(ep, &ev, 1, -1) != 1) {
  }
}
static void pin(int cpu) {
  if (!getenv("PIN")) return;
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  sched_setaffinity(0, sizeof s, &s);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s <0 dgram | 1 eventfd> <post us> <resp us> <gap us> [n]\n", argv[0]);
    return 2;
  }
  kind = atoi(argv[1]);
  uint64_t post = strtoull(argv[2], 0, 10) * 1000, resp = strtoull(argv[3], 0, 10) * 1000;
  useconds_t gap = (useconds_t)atoi(argv[4]);
  int n = argc > 5 ? atoi(argv[5]) : 300;
  if (n < 10) n = 10;
  int req[2], rep[2]; /* requester -> responder, responder -> requester */
  if (kind == 0) {
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, req) || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, rep)) return 1;
  } else {
    req[0] = req[1] = eventfd(0, EFD_NONBLOCK);
    rep[0] = rep[1] = eventfd(0, EFD_NONBLOCK);
  }
  pid_t child = fork();
  if (child == 0) {
    pin(1);
    int ep = epoll_of(req[1]);
    for (;;) {
      sleep_on(ep);
      drain(req[1]);
      busy(resp);
      signal_fd(rep[1]);
    }
  }
  pin(0);
  int ep = epoll_of(rep[0]);
  uint64_t *rtt = calloc((size_t)n, sizeof *rtt);
  for (int i = -20; i < n; i++) {
    usleep(gap);
    uint64_t t0 = now();
    signal_fd(req[0]);
    busy(post);
    sleep_on(ep);
    drain(rep[0]);
    if (i >= 0) rtt[i] = now() - t0;
  }
  qsort(rtt, (size_t)n, sizeof *rtt, cmp);
  printf("%s%s post %llu us resp %llu us gap %u us: RTT p50 %.1f us p90 %.1f us\n", kind ? "eventfd" : "unix dgram",
         getenv("PIN") ? " pinned" : "", (unsigned long long)(post / 1000), (unsigned long long)(resp / 1000), gap,
         rtt[n / 2] / 1e3, rtt[n * 9 / 10] / 1e3);
  kill(child, 9);
  waitpid(child, 0, 0);
  free(rtt);
  return 0;
}
