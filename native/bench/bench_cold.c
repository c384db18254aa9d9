/*
 * bench_cold.c — libferry's idle request path after an idle gap, in one
 * process and one thread, no second process and no JS: what the native code
 * alone costs when its code and data went cold (issue 7, section 6).
 *
 * Per round: sleep <gap> µs, then time
 *   send    ferry_pub_send_hint of 64 B to a channel whose subscriber is armed
 *           for a direct wake (so the publish formats the wake address and
 *           sends the datagram, as a request to an idle peer does);
 *   take    ferry_sub_receive_or_arm (block): takes that message;
 *   release ferry_sub_release of it.
 * Untimed, between rounds: the wake datagram is drained, and the next round's
 * ferry_sub_receive_or_arm finds nothing and arms the wake. --unarmed: the
 * subscriber never arms (take is ferry_sub_try_receive, release is
 * ferry_sub_release), so the publish makes no system call: libferry's own
 * code and shared lines only.
 *
 *   bench_cold [--json] [--quick] [--unarmed] [-n N=300] [--gap µs=10000]
 *
 * Prints each phase's p50 and p90 in ns. Warm numbers: --gap 0. --quick: 40
 * rounds (unless -n). packages/bench's section 4 runs it armed and unarmed.
 */
#include <sys/socket.h>
#include <time.h>

#include "bench_common.h"

#include "ferry.h"

int main(int argc, char **argv) {
  uint64_t n = 0, gap_us = 10000;
  int json = 0, unarmed = 0, quick = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--unarmed")) unarmed = 1;
    else if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "-n") && i + 1 < argc) n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--gap") && i + 1 < argc) gap_us = strtoull(argv[++i], NULL, 10);
    else bench_die("usage: bench_cold [--json] [--quick] [--unarmed] [-n N] [--gap µs]");
  }
  if (n == 0) n = quick ? 40 : 300;
  bench_cleanup_init();
  char name[64];
  snprintf(name, sizeof name, "bench-cold-%d", (int)getpid());
  bench_cleanup_add(name);
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  FCHK(ferry_channel_create(name, 4u << 20, 0, 0, &ch));
  FCHK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  FCHK(ferry_pub_inline(pub, FERRY_INLINE_MAX)); /* as @ferry/channel's publishers */
  FCHK(ferry_sub_open(ch, NULL, &sub));
  int wfd = ferry_sub_wake_fd(sub);
  if (wfd < 0) bench_die("ferry_sub_wake_fd: %d", wfd);
  uint64_t *t = calloc(3 * n, sizeof *t);
  if (!t) bench_die("out of memory");
  uint8_t payload[64] = {1};
  ferry_msg_info mi;
  const uint32_t arm = FERRY_WAIT_BLOCK | FERRY_ARM_NO_REAP;
  for (uint64_t i = 0; i < n + 20; i++) { /* 20 warm-up rounds */
    int r = unarmed ? 1 : ferry_sub_receive_or_arm(sub, &mi, arm);
    if (r != 1) bench_die("arm: expected 1 (armed), got %d", r);
    if (gap_us) {
      struct timespec s = {(time_t)(gap_us / 1000000), (long)(gap_us % 1000000) * 1000};
      nanosleep(&s, NULL);
    }
    uint64_t a = bench_mono_ns();
    FCHK(ferry_pub_send_hint(pub, payload, sizeof payload, NULL, 0, 0, NULL));
    uint64_t b = bench_mono_ns();
    r = unarmed ? ferry_sub_try_receive(sub, &mi) : ferry_sub_receive_or_arm(sub, &mi, arm);
    uint64_t c = bench_mono_ns();
    if (r != 0) bench_die("take: expected a message, got %d", r);
    FCHK(ferry_sub_release(sub, mi.token));
    uint64_t d = bench_mono_ns();
    char buf[8];
    while (recv(wfd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    if (i >= 20) {
      uint64_t k = i - 20;
      t[k] = b - a;
      t[n + k] = c - b;
      t[2 * n + k] = d - c;
    }
  }
  static const char *phase[3] = {"send", "take", "release"};
  for (int p = 0; p < 3; p++) {
    qsort(t + p * n, n, sizeof *t, bench_cmp_u64);
    uint64_t p50 = bench_pct_u64(t + p * n, n, 0.5), p90 = bench_pct_u64(t + p * n, n, 0.9);
    if (json)
      printf("{\"bench\":\"cold\",\"armed\":%s,\"phase\":\"%s\",\"gap_us\":%" PRIu64 ",\"p50_ns\":%" PRIu64 ",\"p90_ns\":%" PRIu64 "}\n", unarmed ? "false" : "true", phase[p],
             gap_us, p50, p90);
    else printf("%-8s gap %6" PRIu64 " µs  p50 %7" PRIu64 " ns  p90 %7" PRIu64 " ns\n", phase[p], gap_us, p50, p90);
  }
  free(t);
  FCHK(ferry_sub_close(sub));
  FCHK(ferry_pub_close(pub));
  FCHK(ferry_channel_close(ch));
  bench_cleanup_forget(name);
  return 0;
}
