/*
 * bench_iox_pingpong.c — the iceoryx peer of bench_pingpong: one-way latency
 * of a message between two processes over iceoryx (C binding, v2.0.x), busy
 * polling, measured exactly like bench_pingpong (same payload handling, same
 * clock, one timestamp per iteration, one-way = RTT/2, p50/p99 after warmup).
 *
 * One hop: iox_pub_loan_chunk + write the whole payload + iox_pub_publish_chunk
 * on one side; iox_sub_take_chunk in a loop + read the whole payload +
 * iox_sub_release_chunk on the other. Parent = ping (cpu0), forked child =
 * pong (cpu1); each creates its own iceoryx runtime after the fork.
 *
 * Needs a running iox-roudi whose config has a mempool for the message size
 * (run_iox.sh starts one with roudi_config.toml and cleans up after it).
 * Exits 77 (skip) when no RouDi is running.
 *
 * Usage: bench_iox_pingpong [--json] [--quick] [--no-pin] [-n N] [--size BYTES]
 *        (default size 64 B; the config in this directory also serves 4 KiB and 1 MiB)
 */
#include "bench_common.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <iceoryx_binding_c/api.h>

#define PING_NAME "ferry-bench-iox-ping"
#define PONG_NAME "ferry-bench-iox-pong"
#define CONNECT_TIMEOUT_NS (20ull * 1000 * 1000 * 1000)

struct shared {
  _Alignas(64) _Atomic uint32_t ready;
};

struct config {
  uint64_t size, iters, warmup;
};

struct endpoint {
  iox_pub_storage_t pub_storage;
  iox_sub_storage_t sub_storage;
  iox_pub_t pub;
  iox_sub_t sub;
};

/* Publishes on event `out`, subscribes to event `in`. */
static void endpoint_init(struct endpoint *ep, const char *out, const char *in) {
  iox_pub_options_t po;
  iox_pub_options_init(&po);
  po.historyCapacity = 0;
  ep->pub = iox_pub_init(&ep->pub_storage, "Ferry", "Bench", out, &po);
  iox_sub_options_t so;
  iox_sub_options_init(&so);
  so.queueCapacity = 16;
  so.historyRequest = 0;
  ep->sub = iox_sub_init(&ep->sub_storage, "Ferry", "Bench", in, &so);
  if (!ep->pub || !ep->sub) bench_die("iox_pub_init/iox_sub_init failed");
}

static void endpoint_deinit(struct endpoint *ep) {
  iox_sub_deinit(ep->sub);
  iox_pub_deinit(ep->pub);
}

/* Until our subscriber is connected and our publisher has a subscriber. */
static void endpoint_wait_connected(struct endpoint *ep) {
  uint64_t t0 = bench_mono_ns();
  while (iox_sub_get_subscription_state(ep->sub) != SubscribeState_SUBSCRIBED || !iox_pub_has_subscribers(ep->pub)) {
    if (bench_mono_ns() - t0 > CONNECT_TIMEOUT_NS) bench_die("timed out waiting for the peer to connect");
    if (!bench_peer_alive()) bench_die("peer process died before connecting");
    usleep(1000);
  }
}

static inline uint64_t expected_sum(uint64_t size, uint64_t seq) {
  if (size < 8) return size * (seq & 0xff);
  uint64_t b = seq & 0xff;
  uint64_t word = b * 0x0101010101010101ull;
  return seq + (size / 8 - 1) * word + (size % 8) * b;
}

static inline void send_one(iox_pub_t pub, uint64_t size, uint64_t seq) {
  void *chunk = NULL;
  enum iox_AllocationResult r = iox_pub_loan_chunk(pub, &chunk, (uint32_t)size);
  if (r != AllocationResult_SUCCESS)
    bench_die("iox_pub_loan_chunk(%" PRIu64 ") failed: %d (does the RouDi config have a mempool this big?)", size,
              (int)r);
  bench_fill(chunk, size, seq);
  iox_pub_publish_chunk(pub, chunk);
}

static inline void take_one(iox_sub_t sub, uint64_t size, uint64_t seq) {
  const void *chunk = NULL;
  uint64_t k = 0, t0 = 0;
  for (;;) {
    enum iox_ChunkReceiveResult r = iox_sub_take_chunk(sub, &chunk);
    if (r == ChunkReceiveResult_SUCCESS) break;
    if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE) bench_die("iox_sub_take_chunk failed: %d", (int)r);
    if ((++k & 0xfffff) == 0) {
      uint64_t now = bench_mono_ns();
      if (!t0) t0 = now;
      if (!bench_peer_alive()) bench_die("peer process died");
      if (now - t0 > 20ull * 1000000000ull) bench_die("no message for 20 s");
    }
  }
  uint64_t s = bench_sum(chunk, size);
  if (s != expected_sum(size, seq)) bench_die("message %" PRIu64 ": payload checksum mismatch", seq);
  bench_sink += s;
  iox_sub_release_chunk(sub, chunk);
}

static struct config cfg;
static struct shared *sh;

static int pong_main(void *arg) {
  (void)arg;
  bench_role = "pong";
  iox_runtime_init(PONG_NAME);
  struct endpoint ep;
  endpoint_init(&ep, "Pong", "Ping");
  atomic_store(&sh->ready, 1);
  endpoint_wait_connected(&ep);
  uint64_t total = cfg.warmup + cfg.iters;
  for (uint64_t i = 0; i < total; i++) {
    take_one(ep.sub, cfg.size, i);
    send_one(ep.pub, cfg.size, i);
  }
  /* let ping take the last reply before our publisher goes away */
  usleep(50000);
  endpoint_deinit(&ep);
  iox_runtime_shutdown();
  fflush(stdout);
  fflush(stderr);
  exit(0); /* exit, not _exit: iceoryx's static destructors remove /tmp/ferry-bench-iox-pong{,.lock} */
}

int main(int argc, char **argv) {
  struct bench_opts o;
  bench_parse_opts(argc, argv, &o, "");
  bench_clock_init();
  bench_cleanup_init();
  iox_set_loglevel(Iceoryx_LogLevel_Warn);

  struct stat st;
  if (stat("/tmp/roudi", &st) != 0) {
    fprintf(stderr, "bench_iox_pingpong: no iox-roudi running (/tmp/roudi missing); use run_iox.sh\n");
    return 77;
  }
  cfg.size = o.only_size ? o.only_size : 64;
  uint64_t n = o.n ? o.n : (cfg.size >= (1u << 20) ? 3000 : 100000);
  if (o.quick && !o.n) n /= 10;
  cfg.iters = n < 100 ? 100 : n;
  cfg.warmup = cfg.iters / 10 < 1000 ? 1000 : cfg.iters / 10;

  sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) bench_die("mmap(shared page): %s", strerror(errno));
  /* the runtime must be created after the fork, in each process */
  bench_pin(&o, 0);
  pid_t child = bench_fork(pong_main, NULL);
  /* allocated after the fork: pong exit()s (for iceoryx's destructors) and must not own them */
  uint64_t *ts = malloc((cfg.iters + 1) * sizeof *ts);
  uint64_t *rtt = malloc(cfg.iters * sizeof *rtt);
  if (!ts || !rtt) bench_die("out of memory");
  memset(ts, 0, (cfg.iters + 1) * sizeof *ts);
  BENCH_SPIN_UNTIL(atomic_load(&sh->ready) == 1, "the pong process to start", 20);
  iox_runtime_init(PING_NAME);
  struct endpoint ep;
  endpoint_init(&ep, "Ping", "Pong");
  endpoint_wait_connected(&ep);

  uint64_t total = cfg.warmup + cfg.iters;
  for (uint64_t i = 0; i < total; i++) {
    if (i >= cfg.warmup) ts[i - cfg.warmup] = bench_ticks();
    send_one(ep.pub, cfg.size, i);
    take_one(ep.sub, cfg.size, i);
  }
  ts[cfg.iters] = bench_ticks();

  int rc = bench_join(child);
  endpoint_deinit(&ep);
  iox_runtime_shutdown();
  if (rc) bench_die("pong exited with status %d", rc);

  double sum = 0;
  for (uint64_t i = 0; i < cfg.iters; i++) {
    rtt[i] = ts[i + 1] - ts[i];
    sum += (double)rtt[i];
  }
  qsort(rtt, cfg.iters, sizeof *rtt, bench_cmp_u64);
  double p50 = bench_ticks_to_ns(bench_pct_u64(rtt, cfg.iters, 0.50)) / 2;
  double p99 = bench_ticks_to_ns(bench_pct_u64(rtt, cfg.iters, 0.99)) / 2;
  double p999 = bench_ticks_to_ns(bench_pct_u64(rtt, cfg.iters, 0.999)) / 2;
  double mn = bench_ticks_to_ns(rtt[0]) / 2;
  double mean = bench_ticks_to_ns((uint64_t)(sum / (double)cfg.iters)) / 2;

  char sz[32];
  fprintf(bench_table, "# one-way latency = RTT/2, iceoryx 2.0 C binding, two processes%s, clock %s, ns\n",
          o.pin ? " pinned to cpu0/cpu1" : " (not pinned)", bench_use_tsc ? "tsc" : "clock_gettime");
  fprintf(bench_table, "%-8s %-7s %8s %8s %9s %9s %9s %9s %9s\n", "impl", "wait", "size", "n", "p50", "p99",
          "p99.9", "min", "mean");
  fprintf(bench_table, "%-8s %-7s %8s %8" PRIu64 " %9.0f %9.0f %9.0f %9.0f %9.0f\n", "iceoryx", "spin",
          bench_size_str(cfg.size, sz, sizeof sz), cfg.iters, p50, p99, p999, mn, mean);
  if (o.json)
    printf("{\"bench\":\"pingpong\",\"impl\":\"iceoryx\",\"wait\":\"spin\",\"size\":%" PRIu64
           ",\"p50_ns\":%.1f,\"p99_ns\":%.1f,\"n\":%" PRIu64 "}\n",
           cfg.size, p50, p99, cfg.iters);
  fflush(stdout);
  free(ts);
  free(rtt);
  munmap(sh, 4096);
  return 0;
}
