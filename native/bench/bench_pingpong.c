/*
 * bench_pingpong.c — one-way latency of a libferry message between two
 * processes, measured by ping-pong.
 *
 * The parent (ping, cpu0) and a forked child (pong, cpu1) talk over two
 * channels, ping->pong ("a") and pong->ping ("b"). One hop is
 *   ferry_pub_loan + write the whole payload + ferry_pub_publish   (sender)
 *   receive (spin: ferry_sub_try_receive in a loop; block/hybrid:
 *   ferry_sub_receive) + read the whole payload + ferry_sub_release (receiver)
 * and pong answers every message with a fresh message of the same size. The
 * parent takes one timestamp per iteration (rdtsc, calibrated), so an
 * iteration's round trip is the difference of consecutive timestamps;
 * one-way = RTT / 2. p50/p99 over N iterations after a warmup.
 *
 * "floor" is the same ping-pong over a bare cache line pair in a MAP_SHARED
 * anonymous page between the same two processes (atomic store, spin load):
 * the hardware limit any shared-memory IPC pays per hop.
 *
 * Usage: bench_pingpong [--json] [--quick] [--no-pin] [-n N] [--arena BYTES] [--inline N]
 *                       [--size BYTES] [--wait floor|spin|block|hybrid]
 */
#include "bench_common.h"

#include <sys/mman.h>

#include "ferry.h"

enum { IMPL_FLOOR, IMPL_FERRY };

struct shared {
  _Alignas(64) _Atomic uint64_t ping; /* floor: ping's line */
  _Alignas(64) _Atomic uint64_t pong; /* floor: pong's line */
  _Alignas(64) _Atomic uint32_t ready; /* handshake: child opened its endpoints */
  _Atomic uint32_t go;
};

struct config {
  int impl;
  uint32_t wait;
  uint64_t size;
  uint64_t iters, warmup;
  uint64_t arena;
  char name_a[64], name_b[64];
  struct shared *sh;
};

static const char *wait_name(uint32_t w) {
  return w == FERRY_WAIT_SPIN ? "spin" : w == FERRY_WAIT_BLOCK ? "block" : "hybrid";
}

#define RECV_TIMEOUT_NS (20ll * 1000 * 1000 * 1000)

/* Receive one message with the configured strategy; dies on any error. */
static inline void recv_one(ferry_sub *sub, uint32_t wait, ferry_msg_info *mi) {
  if (wait == FERRY_WAIT_SPIN) {
    uint64_t k = 0, t0 = 0;
    for (;;) {
      int r = ferry_sub_try_receive(sub, mi);
      if (r == 0) return;
      if (r != FERRY_E_AGAIN)
        bench_die("ferry_sub_try_receive: %s: %s", ferry_err_name(r), ferry_last_error());
      if ((++k & 0xfffff) == 0) { /* every ~1M empty polls: is anybody there? */
        uint64_t now = bench_mono_ns();
        if (!t0) t0 = now;
        if (!bench_peer_alive()) bench_die("peer process died");
        if (now - t0 > (uint64_t)RECV_TIMEOUT_NS) bench_die("no message for 20 s");
      }
    }
  }
  int r = ferry_sub_receive(sub, mi, wait, RECV_TIMEOUT_NS);
  if (r) bench_die("ferry_sub_receive(%s): %s: %s", wait_name(wait), ferry_err_name(r), ferry_last_error());
}

/* Expected bench_sum of a payload written by bench_fill(size, seq). */
static inline uint64_t expected_sum(uint64_t size, uint64_t seq) {
  if (size < 8) return size * (seq & 0xff);
  uint64_t b = seq & 0xff;
  uint64_t word = b * 0x0101010101010101ull;
  return seq + (size / 8 - 1) * word + (size % 8) * b;
}

static inline void send_one(ferry_pub *pub, uint8_t *arena, uint64_t size, uint64_t seq) {
  ferry_msg_info li;
  int r = ferry_pub_loan(pub, size, &li);
  if (r) bench_die("ferry_pub_loan(%" PRIu64 "): %s: %s", size, ferry_err_name(r), ferry_last_error());
  (void)arena;
  bench_fill((uint8_t *)(uintptr_t)li.data, size, seq); /* the arena, or the staging slot of an inline loan */
  r = ferry_pub_publish(pub, li.token, size, NULL, 0, NULL);
  if (r) bench_die("ferry_pub_publish: %s: %s", ferry_err_name(r), ferry_last_error());
}

/* Receive, read fully and check one message; returns its seq. */
static inline void take_one(ferry_sub *sub, const uint8_t *arena, uint32_t wait, uint64_t size, uint64_t seq) {
  ferry_msg_info mi;
  recv_one(sub, wait, &mi);
  if (mi.length != size) bench_die("message %" PRIu64 ": length %" PRIu64 ", expected %" PRIu64, seq, mi.length, size);
  (void)arena;
  uint64_t s = bench_sum((const uint8_t *)(uintptr_t)mi.data, size); /* the arena, or this subscriber's inline copy */
  if (s != expected_sum(size, seq)) bench_die("message %" PRIu64 ": payload checksum mismatch", seq);
  bench_sink += s;
  int r = ferry_sub_release(sub, mi.token);
  if (r) bench_die("ferry_sub_release: %s: %s", ferry_err_name(r), ferry_last_error());
}

/* ---------------------------------------------------------------- pong (child) */

static int pong_main(void *arg) {
  struct config *c = arg;
  bench_role = "pong";
  uint64_t total = c->warmup + c->iters;
  if (c->impl == IMPL_FLOOR) {
    struct shared *sh = c->sh;
    atomic_store(&sh->ready, 1);
    for (uint64_t i = 1; i <= total; i++) {
      BENCH_SPIN_UNTIL(atomic_load_explicit(&sh->ping, memory_order_acquire) == i, "ping", 20);
      atomic_store_explicit(&sh->pong, i, memory_order_release);
    }
    return 0;
  }
  ferry_channel *ca, *cb;
  ferry_sub *sub;
  ferry_pub *pub;
  ferry_channel_info ia;
  FCHK(ferry_channel_open(c->name_a, &ca));
  FCHK(ferry_channel_open(c->name_b, &cb));
  FCHK(ferry_sub_open(ca, NULL, &sub));
  FCHK(ferry_pub_open(cb, FERRY_BP_BLOCK, RECV_TIMEOUT_NS, &pub));
  FCHK(ferry_pub_inline(pub, bench_o.inline_max));
  FCHK(ferry_channel_info_get(ca, &ia));
  const uint8_t *in = (const uint8_t *)(uintptr_t)ia.arena_ro;
  uint8_t *out = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  atomic_store(&c->sh->ready, 1);
  for (uint64_t i = 0; i < total; i++) {
    take_one(sub, in, c->wait, c->size, i);
    send_one(pub, out, c->size, i);
  }
  /* the parent closes first (after the last reply); closing here is safe at any time */
  FCHK(ferry_pub_close(pub));
  FCHK(ferry_sub_close(sub));
  FCHK(ferry_channel_close(cb));
  FCHK(ferry_channel_close(ca));
  return 0;
}

/* ---------------------------------------------------------------- ping (parent) */

struct result {
  double p50, p99, p999, min, mean;
};

static void summarize(uint64_t *ts, uint64_t n, struct result *res) {
  /* ts[0..n] are iteration start stamps: rtt[i] = ts[i+1] - ts[i] */
  uint64_t *rtt = malloc(n * sizeof *rtt);
  if (!rtt) bench_die("out of memory");
  double sum = 0;
  for (uint64_t i = 0; i < n; i++) {
    rtt[i] = ts[i + 1] - ts[i];
    sum += (double)rtt[i];
  }
  qsort(rtt, n, sizeof *rtt, bench_cmp_u64);
  res->p50 = bench_ticks_to_ns(bench_pct_u64(rtt, n, 0.50)) / 2;
  res->p99 = bench_ticks_to_ns(bench_pct_u64(rtt, n, 0.99)) / 2;
  res->p999 = bench_ticks_to_ns(bench_pct_u64(rtt, n, 0.999)) / 2;
  res->min = bench_ticks_to_ns(rtt[0]) / 2;
  res->mean = bench_ticks_to_ns((uint64_t)(sum / (double)n)) / 2;
  free(rtt);
}

static void run_one(const struct bench_opts *o, struct config *c, struct result *res) {
  struct shared *sh = c->sh;
  atomic_store(&sh->ping, 0);
  atomic_store(&sh->pong, 0);
  atomic_store(&sh->ready, 0);
  uint64_t total = c->warmup + c->iters;
  uint64_t *ts = malloc((c->iters + 1) * sizeof *ts);
  if (!ts) bench_die("out of memory");
  memset(ts, 0, (c->iters + 1) * sizeof *ts); /* fault the pages in now */

  ferry_channel *ca = NULL, *cb = NULL;
  ferry_pub *pub = NULL;
  ferry_sub *sub = NULL;
  const uint8_t *in = NULL;
  uint8_t *out = NULL;
  if (c->impl == IMPL_FERRY) {
    snprintf(c->name_a, sizeof c->name_a, "bench-pp-%d-a", (int)getpid());
    snprintf(c->name_b, sizeof c->name_b, "bench-pp-%d-b", (int)getpid());
    bench_cleanup_add(c->name_a);
    bench_cleanup_add(c->name_b);
    FCHK(ferry_channel_create(c->name_a, c->arena, 0, 0, &ca));
    FCHK(ferry_channel_create(c->name_b, c->arena, 0, 0, &cb));
    FCHK(ferry_pub_open(ca, FERRY_BP_BLOCK, RECV_TIMEOUT_NS, &pub));
    FCHK(ferry_pub_inline(pub, o->inline_max));
    FCHK(ferry_sub_open(cb, NULL, &sub));
    ferry_channel_info ib;
    FCHK(ferry_channel_info_get(cb, &ib));
    in = (const uint8_t *)(uintptr_t)ib.arena_ro;
    out = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  }
  pid_t child = bench_fork(pong_main, c);
  BENCH_SPIN_UNTIL(atomic_load(&sh->ready) == 1, "the pong process to start", 20);

  if (c->impl == IMPL_FLOOR) {
    for (uint64_t i = 1; i <= total; i++) {
      if (i > c->warmup) ts[i - 1 - c->warmup] = bench_ticks();
      atomic_store_explicit(&sh->ping, i, memory_order_release);
      BENCH_SPIN_UNTIL(atomic_load_explicit(&sh->pong, memory_order_acquire) == i, "pong", 20);
    }
  } else {
    for (uint64_t i = 0; i < total; i++) {
      if (i >= c->warmup) ts[i - c->warmup] = bench_ticks();
      send_one(pub, out, c->size, i);
      take_one(sub, in, c->wait, c->size, i);
    }
  }
  ts[c->iters] = bench_ticks();

  int rc = bench_join(child);
  if (rc) bench_die("pong exited with status %d", rc);
  if (c->impl == IMPL_FERRY) {
    FCHK(ferry_sub_close(sub));
    FCHK(ferry_pub_close(pub));
    FCHK(ferry_channel_close(ca)); /* the creator's close removes the name */
    FCHK(ferry_channel_close(cb));
    bench_cleanup_forget(c->name_a);
    bench_cleanup_forget(c->name_b);
  }
  (void)o;
  summarize(ts, c->iters, res);
  free(ts);
}

static void report(const struct bench_opts *o, const struct config *c, const struct result *r) {
  const char *impl = c->impl == IMPL_FLOOR ? "floor" : "ferry";
  const char *wait = wait_name(c->wait);
  char sz[32];
  fprintf(bench_table, "%-6s %-7s %8s %8" PRIu64 " %9.0f %9.0f %9.0f %9.0f %9.0f\n", impl, wait,
          bench_size_str(c->size, sz, sizeof sz), c->iters, r->p50, r->p99, r->p999, r->min, r->mean);
  fflush(bench_table);
  if (o->json) {
    printf("{\"bench\":\"pingpong\",\"impl\":\"%s\",\"wait\":\"%s\",\"size\":%" PRIu64
           ",\"p50_ns\":%.1f,\"p99_ns\":%.1f,\"n\":%" PRIu64 "}\n",
           impl, wait, c->size, r->p50, r->p99, c->iters);
    fflush(stdout);
  }
}

static uint64_t default_iters(const struct bench_opts *o, int impl, uint32_t wait, uint64_t size) {
  uint64_t n;
  if (o->n) return o->n;
  if (impl == IMPL_FLOOR) n = 100000;
  else if (wait == FERRY_WAIT_SPIN) n = size >= (1u << 20) ? 3000 : 100000;
  else if (wait == FERRY_WAIT_HYBRID) n = size >= (1u << 20) ? 2000 : 50000;
  else n = size >= (1u << 20) ? 1000 : 20000;
  if (o->quick) n /= 10;
  return n < 100 ? 100 : n;
}

int main(int argc, char **argv) {
  struct bench_opts o;
  bench_parse_opts(argc, argv, &o, " [--wait floor|spin|block|hybrid]");
  bench_clock_init();
  bench_cleanup_init();
  bench_pin(&o, 0);

  struct shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) bench_die("mmap(shared page): %s", strerror(errno));

  static const uint64_t sizes[] = {64, 4096, 1u << 20};
  static const uint32_t waits[] = {FERRY_WAIT_SPIN, FERRY_WAIT_BLOCK, FERRY_WAIT_HYBRID};
  bool want_floor = !o.only || !strcmp(o.only, "floor");

  fprintf(bench_table, "# one-way latency = RTT/2, two processes%s, clock %s, ns\n",
          o.pin ? " pinned to cpu0/cpu1" : " (not pinned)", bench_use_tsc ? "tsc" : "clock_gettime");
  fprintf(bench_table, "%-6s %-7s %8s %8s %9s %9s %9s %9s %9s\n", "impl", "wait", "size", "n", "p50", "p99",
          "p99.9", "min", "mean");

  struct config c;
  struct result r;
  if (want_floor) {
    memset(&c, 0, sizeof c);
    c.impl = IMPL_FLOOR;
    c.wait = FERRY_WAIT_SPIN;
    c.size = 64;
    c.iters = default_iters(&o, IMPL_FLOOR, 0, 64);
    c.warmup = c.iters / 10 < 1000 ? 1000 : c.iters / 10;
    c.sh = sh;
    run_one(&o, &c, &r);
    report(&o, &c, &r);
  }
  for (size_t w = 0; w < sizeof waits / sizeof waits[0]; w++) {
    if (o.only && strcmp(o.only, wait_name(waits[w]))) continue;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      if (o.only_size && o.only_size != sizes[s]) continue;
      memset(&c, 0, sizeof c);
      c.impl = IMPL_FERRY;
      c.wait = waits[w];
      c.size = sizes[s];
      c.iters = default_iters(&o, IMPL_FERRY, c.wait, c.size);
      c.warmup = c.iters / 10 < 500 ? 500 : c.iters / 10;
      c.arena = o.arena ? o.arena : (sizes[s] * 4 > (4u << 20) ? sizes[s] * 4 : (4u << 20));
      c.sh = sh;
      run_one(&o, &c, &r);
      report(&o, &c, &r);
    }
  }
  munmap(sh, 4096);
  return 0;
}
