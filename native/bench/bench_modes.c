/*
 * bench_modes.c — cost per message of the three copy modes, in one process
 * with three roles in separate threads, so that per-thread tools (callgrind
 * --separate-threads=yes, CLOCK_THREAD_CPUTIME_ID) can tell them apart:
 *
 *   thread 1 (main)   the sender: inline = ferry_pub_send_hint (loan + CPU copy
 *                     + publish); offload / pipelined = ferry_pub_send_engine on
 *                     a "sw" engine with one copy thread, at most 4 sends in
 *                     flight, completions collected with ferry_pub_collect after
 *                     sleeping on ferry_pub_notify_fd
 *   thread 2          the receiver: ferry_sub_receive (block), for a pipelined
 *                     message ferry_sub_wait_progress (block) to the end, reads
 *                     one byte, releases
 *   thread 3          the sw engine's copy thread (offload / pipelined only)
 *   thread 4          the publisher's waiter thread behind the notify fd
 *
 * Printed per mode and size: wall ns per message and the sending thread's
 * CPU ns per message. Under callgrind (--valgrind: no warm-up, the copy
 * thread sleeps at once instead of polling 20 us) count instructions per
 * thread; packages/bench runs it with N and 2N messages and divides the
 * difference by N:
 *   valgrind --tool=callgrind --separate-threads=yes ./bench_modes --valgrind --mode offload --size 1M -n 50
 *
 * Usage: bench_modes [--json] [--quick] [-n N] [--size BYTES] [--mode inline|offload|pipelined] [--valgrind]
 */
#include <poll.h>
#include <pthread.h>

#include "bench_common.h"

#include "ferry.h"

#define WINDOW 4 /* engine sends in flight */

struct recv_ctx {
  ferry_sub *sub;
  const uint8_t *arena;
  uint64_t count;
  uint64_t sink;
};

static void *recv_main(void *arg) {
  struct recv_ctx *c = arg;
  ferry_msg_info mi;
  for (uint64_t i = 0; i < c->count; i++) {
    FCHK(ferry_sub_receive(c->sub, &mi, FERRY_WAIT_BLOCK, -1));
    if (mi.flags & FERRY_MSG_PIPELINED) {
      int64_t p = ferry_sub_wait_progress(c->sub, mi.token, mi.length, FERRY_WAIT_BLOCK, -1);
      if (p < 0) bench_die("wait_progress: %d", (int)p);
    }
    if (mi.length) c->sink += c->arena[mi.offset + mi.length - 1];
    FCHK(ferry_sub_release(c->sub, mi.token));
  }
  return NULL;
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Collect the oldest engine send, sleeping on the notify fd until it is done. */
static void collect_one(ferry_pub *pub, int fd) {
  ferry_msg_info ci;
  for (;;) {
    int r = ferry_pub_collect(pub, &ci);
    if (r < 0) bench_die("collect: %d", r);
    if (r == 1) break;
    FCHK(ferry_pub_arm(pub));
    if ((r = ferry_pub_collect(pub, &ci)) == 1) break;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    poll(&pfd, 1, 1000);
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof v);
    (void)n;
  }
  if (ci.status) bench_die("engine send failed: %d", ci.status);
}

static int run(const struct bench_opts *o, const char *mode, uint64_t size, uint64_t n, uint64_t warm, bool valgrind) {
  uint32_t smode = !strcmp(mode, "offload") ? FERRY_SEND_OFFLOAD : !strcmp(mode, "pipelined") ? FERRY_SEND_PIPELINED : 0;
  if (smode == 0 && strcmp(mode, "inline")) bench_die("unknown mode %s", mode);
  char name[64];
  snprintf(name, sizeof name, "bench-modes-%d", (int)getpid());
  bench_cleanup_add(name);
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_channel_info info;
  FCHK(ferry_channel_create(name, (WINDOW + 3) * size + (1u << 20), 256, 0, &ch));
  FCHK(ferry_pub_open(ch, FERRY_BP_BLOCK, -1, &pub));
  FCHK(ferry_sub_open(ch, NULL, &sub));
  FCHK(ferry_channel_info_get(ch, &info));
  struct recv_ctx rc = {.sub = sub, .arena = (const uint8_t *)(uintptr_t)info.arena_ro, .count = warm + n};
  pthread_t rt;
  if (pthread_create(&rt, NULL, recv_main, &rc)) bench_die("pthread_create");
  ferry_engine *eng = NULL;
  int fd = -1;
  if (smode) {
    ferry_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    cfg.threads = 1;
    cfg.chunk_bytes = 1u << 20;
    if (valgrind) cfg.idle_spin_ns = 1; /* polling would only count instructions of waiting */
    FCHK(ferry_engine_open("sw", &cfg, &eng));
    fd = ferry_pub_notify_fd(pub);
    if (fd < 0) bench_die("notify_fd: %d", fd);
  }
  uint8_t *src = aligned_alloc(64, (size + 63) & ~(uint64_t)63);
  if (!src) bench_die("out of memory");
  bench_fill(src, size, 1);
  uint64_t t0 = 0, c0 = 0;
  int pending = 0;
  for (uint64_t i = 0; i < warm + n; i++) {
    if (i == warm) {
      while (pending) collect_one(pub, fd), pending--;
      t0 = bench_ticks();
      c0 = thread_cpu_ns();
    }
    if (!smode) {
      FCHK(ferry_pub_send_hint(pub, src, size, NULL, 0, FERRY_COPY_AUTO, NULL));
    } else {
      if (pending >= WINDOW) collect_one(pub, fd), pending--;
      FCHK(ferry_pub_send_engine(pub, eng, src, size, NULL, 0, smode, FERRY_COPY_AUTO, 0, NULL));
      pending++;
    }
  }
  while (pending) collect_one(pub, fd), pending--;
  pthread_join(rt, NULL); /* the receiver has released the last message */
  double wall = bench_ticks_to_ns(bench_ticks() - t0) / (double)n;
  double cpu = (double)(thread_cpu_ns() - c0) / (double)n;
  char sz[32];
  fprintf(bench_table, "%-9s %8s %8" PRIu64 " %12.1f %12.1f\n", mode, bench_size_str(size, sz, sizeof sz), n, wall, cpu);
  if (o->json)
    printf("{\"bench\":\"modes\",\"mode\":\"%s\",\"size\":%" PRIu64 ",\"n\":%" PRIu64 ",\"ns_per_msg\":%.1f,\"sender_cpu_ns_per_msg\":%.1f}\n",
           mode, size, n, wall, cpu);
  fflush(stdout);
  free(src);
  FCHK(ferry_pub_close(pub));
  if (eng) FCHK(ferry_engine_close(eng));
  FCHK(ferry_sub_close(sub));
  FCHK(ferry_channel_close(ch));
  bench_cleanup_forget(name);
  return 0;
}

int main(int argc, char **argv) {
  /* our own flags first; the rest goes to bench_parse_opts */
  const char *only_mode = NULL;
  bool valgrind = false;
  char *rest[64];
  int nrest = 0;
  for (int i = 0; i < argc && nrest < 63; i++) {
    if (!strcmp(argv[i], "--mode") && i + 1 < argc) only_mode = argv[++i];
    else if (!strcmp(argv[i], "--valgrind")) valgrind = true;
    else rest[nrest++] = argv[i];
  }
  rest[nrest] = NULL;
  struct bench_opts o;
  bench_parse_opts(nrest, rest, &o, " [--mode inline|offload|pipelined] [--valgrind]");
  bench_clock_init();
  bench_cleanup_init();
  fprintf(bench_table, "# one process: sending thread, receiver thread, sw copy thread; per message\n%-9s %8s %8s %12s %12s\n",
          "mode", "size", "n", "wall ns", "sender cpu ns");
  const char *modes[] = {"inline", "offload", "pipelined"};
  uint64_t sizes[] = {64u << 10, 1u << 20};
  for (size_t s = 0; s < 2; s++) {
    uint64_t size = sizes[s];
    if (o.only_size && o.only_size != size) {
      if (s == 0) size = o.only_size; /* any size given with --size runs once */
      else continue;
    }
    uint64_t n = o.n ? o.n : size <= (64u << 10) ? (o.quick ? 2000 : 20000) : (o.quick ? 300 : 3000);
    uint64_t warm = valgrind ? 0 : n / 10 + 1;
    for (size_t m = 0; m < 3; m++)
      if (!only_mode || !strcmp(only_mode, modes[m])) run(&o, modes[m], size, n, warm, valgrind);
  }
  return 0;
}
