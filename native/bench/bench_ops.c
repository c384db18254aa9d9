/*
 * bench_ops.c — single-process cost of the libferry hot path, no second core:
 * one publisher and one subscriber on the same channel in one thread.
 *
 *   hop  = ferry_pub_loan + write payload + ferry_pub_publish
 *          + ferry_sub_try_receive + read payload + ferry_sub_release
 *   loan = ferry_pub_loan + ferry_pub_unloan (lock round trip, allocator)
 *   poll = ferry_sub_try_receive on an empty channel (a spinning receiver's miss)
 *
 * This is the instruction/CPU cost that the cross-process ping-pong adds on
 * top of the cache-line transfers; it is also the program to run under
 * valgrind --tool=callgrind to see where a hop spends its instructions:
 *   valgrind --tool=callgrind ./bench_ops -n 100000 --size 64
 *
 * Usage: bench_ops [--json] [--quick] [-n N] [--size BYTES] [--arena BYTES] [--op hop|loan|poll] [--inline N]
 */
#include "bench_common.h"

#include "ferry.h"

static double per_op(uint64_t t0, uint64_t n) { return bench_ticks_to_ns(bench_ticks() - t0) / (double)n; }

static void report(const struct bench_opts *o, const char *op, uint64_t size, double ns, uint64_t n) {
  char sz[32];
  fprintf(bench_table, "%-6s %8s %10" PRIu64 " %9.1f\n", op, bench_size_str(size, sz, sizeof sz), n, ns);
  if (o->json)
    printf("{\"bench\":\"ops\",\"impl\":\"ferry\",\"op\":\"%s\",\"size\":%" PRIu64 ",\"ns\":%.1f,\"n\":%" PRIu64 "}\n",
           op, size, ns, n);
}

int main(int argc, char **argv) {
  struct bench_opts o;
  bench_parse_opts(argc, argv, &o, "");
  bench_clock_init();
  bench_cleanup_init();
  bench_pin(&o, 0);
  uint64_t n = o.n ? o.n : (o.quick ? 100000 : 1000000);
  uint64_t size = o.only_size ? o.only_size : 64;
  uint64_t arena = o.arena ? o.arena : (size * 4 > (4u << 20) ? size * 4 : (4u << 20));

  char name[64];
  snprintf(name, sizeof name, "bench-ops-%d", (int)getpid());
  bench_cleanup_add(name);
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_channel_info info;
  FCHK(ferry_channel_create(name, arena, 0, 0, &ch));
  FCHK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  FCHK(ferry_pub_inline(pub, o.inline_max));
  FCHK(ferry_sub_open(ch, NULL, &sub));
  FCHK(ferry_channel_info_get(ch, &info));

  fprintf(bench_table, "# single process, one thread, ns per operation\n%-6s %8s %10s %9s\n", "op", "size", "n", "ns");
  ferry_msg_info li, mi;
  for (int pass = 0; pass < 2 && (!o.only || !strcmp(o.only, "hop")); pass++) { /* pass 0 = warmup */
    uint64_t iters = pass ? n : n / 10 + 1;
    uint64_t t0 = bench_ticks();
    for (uint64_t i = 0; i < iters; i++) {
      FCHK(ferry_pub_loan(pub, size, &li));
      bench_fill((uint8_t *)(uintptr_t)li.data, size, i);
      FCHK(ferry_pub_publish(pub, li.token, size, NULL, 0, NULL));
      FCHK(ferry_sub_try_receive(sub, &mi));
      bench_sink += bench_sum((const uint8_t *)(uintptr_t)mi.data, mi.length);
      FCHK(ferry_sub_release(sub, mi.token));
    }
    if (pass) report(&o, "hop", size, per_op(t0, iters), iters);
  }
  uint64_t t0;
  if (!o.only || !strcmp(o.only, "loan")) {
    t0 = bench_ticks();
    for (uint64_t i = 0; i < n; i++) {
      FCHK(ferry_pub_loan(pub, size, &li));
      FCHK(ferry_pub_unloan(pub, li.token));
    }
    report(&o, "loan", size, per_op(t0, n), n);
  }
  if (!o.only || !strcmp(o.only, "poll")) {
    t0 = bench_ticks();
    for (uint64_t i = 0; i < n; i++) {
      int r = ferry_sub_try_receive(sub, &mi);
      if (r != FERRY_E_AGAIN) bench_die("try_receive on an empty channel returned %d", r);
    }
    report(&o, "poll", size, per_op(t0, n), n);
  }

  FCHK(ferry_sub_close(sub));
  FCHK(ferry_pub_close(pub));
  FCHK(ferry_channel_close(ch));
  bench_cleanup_forget(name);
  return 0;
}
