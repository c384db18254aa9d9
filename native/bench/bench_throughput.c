/*
 * bench_throughput.c — one-way throughput of libferry between two processes.
 *
 * The parent (producer, cpu0) publishes a stream of messages of one size; a
 * forked child (consumer, cpu1) receives (ferry_sub_try_receive, spinning)
 * and releases each one at once without reading it, then acknowledges it in
 * a shared counter. A repetition is M messages, timed from the first loan to
 * the consumer's acknowledgement of the last one; per-message time = rep
 * time / M; the reported figure is the median over repetitions.
 *
 * impl
 *   zero-copy          ferry_pub_loan + memset of the whole payload in place
 *                      + ferry_pub_publish (a producer that builds its data
 *                      in the arena writes it exactly once)
 *   zero-copy-nowrite  ferry_pub_loan + ferry_pub_publish, payload untouched
 *                      (control-path cost only)
 *   inline             ferry_pub_send from a private, warmed buffer (CPU copy)
 *   memcpy             reference: single-thread memcpy private -> private of
 *                      the same size, warmed, same process, no IPC
 *
 * The channel holds four messages by default (arena = max(4 x size, 1 MiB)),
 * so the producer rarely waits for a release;
 * --arena overrides it. Backpressure: block.
 *
 * Usage: bench_throughput [--json] [--quick] [--no-pin] [--arena BYTES] [--size BYTES]
 */
#include "bench_common.h"

#include <sys/mman.h>

#include "ferry.h"

struct tshared {
  _Alignas(64) _Atomic uint64_t consumed; /* written by the consumer only */
  _Alignas(64) _Atomic uint32_t ready;
};

enum { V_ZC, V_ZC_NOWRITE, V_INLINE, V_MEMCPY, V_COUNT };
static const char *impl_names[V_COUNT] = {"zero-copy", "zero-copy-nowrite", "inline", "memcpy"};

#define WAIT_NS (20ll * 1000 * 1000 * 1000)

struct ctx {
  char name[64];
  struct tshared *sh;
};

/* ---------------------------------------------------------------- consumer */

static int consumer_main(void *arg) {
  struct ctx *x = arg;
  bench_role = "consumer";
  ferry_channel *ch;
  ferry_sub *sub;
  FCHK(ferry_channel_open(x->name, &ch));
  FCHK(ferry_sub_open(ch, NULL, &sub));
  atomic_store(&x->sh->ready, 1);
  uint64_t n = 0, idle = 0, t0 = 0;
  ferry_msg_info mi;
  for (;;) {
    int r = ferry_sub_try_receive(sub, &mi);
    if (r == 0) {
      FCHK(ferry_sub_release(sub, mi.token));
      atomic_store_explicit(&x->sh->consumed, ++n, memory_order_release);
      idle = 0;
      t0 = 0;
      continue;
    }
    if (r == FERRY_E_EOF) break; /* the producer closed: done */
    if (r != FERRY_E_AGAIN) bench_die("ferry_sub_try_receive: %s: %s", ferry_err_name(r), ferry_last_error());
    if ((++idle & 0xfffff) == 0) {
      uint64_t now = bench_mono_ns();
      if (!t0) t0 = now;
      if (!bench_peer_alive()) bench_die("producer died");
      if (now - t0 > 60ull * 1000000000ull) bench_die("no message for 60 s");
    }
  }
  FCHK(ferry_sub_close(sub));
  FCHK(ferry_channel_close(ch));
  return 0;
}

/* ---------------------------------------------------------------- producer */

static inline void wait_consumed(struct tshared *sh, uint64_t target) {
  BENCH_SPIN_UNTIL(atomic_load_explicit(&sh->consumed, memory_order_acquire) >= target, "the consumer", 60);
}

/* One repetition of m messages; returns elapsed ns. */
static double run_rep(int v, ferry_pub *pub, uint8_t *arena, const uint8_t *src, uint64_t size, uint64_t m,
                      struct tshared *sh, uint64_t *sent) {
  uint64_t t0 = bench_ticks();
  for (uint64_t i = 0; i < m; i++) {
    if (v == V_INLINE) {
      int r = ferry_pub_send(pub, src, size, NULL, 0, NULL);
      if (r) bench_die("ferry_pub_send(%" PRIu64 "): %s: %s", size, ferry_err_name(r), ferry_last_error());
    } else {
      ferry_msg_info li;
      int r = ferry_pub_loan(pub, size, &li);
      if (r) bench_die("ferry_pub_loan(%" PRIu64 "): %s: %s", size, ferry_err_name(r), ferry_last_error());
      if (v == V_ZC) memset(arena + li.offset, (int)(i & 0xff), size);
      r = ferry_pub_publish(pub, li.token, size, NULL, 0, NULL);
      if (r) bench_die("ferry_pub_publish: %s: %s", ferry_err_name(r), ferry_last_error());
    }
  }
  *sent += m;
  wait_consumed(sh, *sent);
  return bench_ticks_to_ns(bench_ticks() - t0);
}

static double run_memcpy_rep(uint8_t *dst, const uint8_t *src, uint64_t size, uint64_t m) {
  uint64_t t0 = bench_ticks();
  for (uint64_t i = 0; i < m; i++) {
    memcpy(dst, src, size);
    __asm__ volatile("" ::"r"(dst) : "memory"); /* keep every copy */
  }
  return bench_ticks_to_ns(bench_ticks() - t0);
}

struct meas {
  double median_ns; /* per message */
  double gbps;
  int reps;
};

static void *alloc_buf(uint64_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) bench_die("mmap(%" PRIu64 " bytes): %s", size, strerror(errno));
  memset(p, 0x5a, size);
  return p;
}

static void measure_size(const struct bench_opts *o, uint64_t size, struct tshared *sh, struct meas out[V_COUNT]) {
  int reps = o->quick ? 3 : 9;
  uint64_t rep_bytes = o->quick ? (16u << 20) : (64u << 20);
  uint64_t m = rep_bytes / size;
  if (m < 2) m = 2;
  if (m > 16384) m = 16384;
  if (o->n) m = o->n;
  uint64_t m_nowrite = m < 1000 ? 1000 : m;
  if (o->n) m_nowrite = o->n;

  uint8_t *src = alloc_buf(size), *dst = alloc_buf(size);
  double *t = calloc((size_t)reps, sizeof *t);
  if (!t) bench_die("out of memory");

  struct ctx x;
  memset(&x, 0, sizeof x);
  snprintf(x.name, sizeof x.name, "bench-tp-%d", (int)getpid());
  x.sh = sh;
  atomic_store(&sh->consumed, 0);
  atomic_store(&sh->ready, 0);
  uint64_t arena = o->arena ? o->arena : (4 * size > (1u << 20) ? 4 * size : (1u << 20));
  ferry_channel *ch;
  ferry_pub *pub;
  bench_cleanup_add(x.name);
  FCHK(ferry_channel_create(x.name, arena, 0, 0, &ch));
  FCHK(ferry_pub_open(ch, FERRY_BP_BLOCK, WAIT_NS, &pub));
  uint8_t *warena = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  pid_t child = bench_fork(consumer_main, &x);
  BENCH_SPIN_UNTIL(atomic_load(&sh->ready) == 1, "the consumer to start", 20);

  uint64_t sent = 0;
  for (int v = V_ZC; v <= V_INLINE; v++) {
    uint64_t mm = v == V_ZC_NOWRITE ? m_nowrite : m;
    run_rep(v, pub, warena, src, size, mm, sh, &sent); /* warmup */
    for (int r = 0; r < reps; r++) t[r] = run_rep(v, pub, warena, src, size, mm, sh, &sent) / (double)mm;
    out[v].median_ns = bench_median_dbl(t, (size_t)reps);
    out[v].reps = reps;
  }
  FCHK(ferry_pub_close(pub)); /* the consumer sees end of stream and exits */
  int rc = bench_join(child);
  if (rc) bench_die("consumer exited with status %d", rc);
  FCHK(ferry_channel_close(ch));
  bench_cleanup_forget(x.name);

  /* reference, with the consumer gone */
  run_memcpy_rep(dst, src, size, m);
  for (int r = 0; r < reps; r++) t[r] = run_memcpy_rep(dst, src, size, m) / (double)m;
  out[V_MEMCPY].median_ns = bench_median_dbl(t, (size_t)reps);
  out[V_MEMCPY].reps = reps;

  for (int v = 0; v < V_COUNT; v++) out[v].gbps = (double)size / out[v].median_ns;
  free(t);
  munmap(src, size);
  munmap(dst, size);
}

int main(int argc, char **argv) {
  struct bench_opts o;
  bench_parse_opts(argc, argv, &o, "");
  bench_clock_init();
  bench_cleanup_init();
  bench_pin(&o, 0);
  struct tshared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) bench_die("mmap(shared page): %s", strerror(errno));

  fprintf(bench_table,
          "# one-way throughput, producer -> consumer process%s; GB/s = 1e9 B/s; ns = median per message\n",
          o.pin ? " (pinned cpu0 -> cpu1)" : "");
  fprintf(bench_table, "%8s | %16s | %16s | %16s | %16s | %s\n", "size", "zero-copy", "zc-nowrite", "inline",
          "memcpy", "inline/memcpy");
  fprintf(bench_table, "%8s | %16s | %16s | %16s | %16s | %s\n", "", "GB/s      ns", "GB/s      ns",
          "GB/s      ns", "GB/s      ns", "(GB/s ratio)");
  for (uint64_t size = 4096; size <= (256ull << 20); size *= 4) {
    if (o.only_size && o.only_size != size) continue;
    struct meas mres[V_COUNT];
    measure_size(&o, size, sh, mres);
    char sz[32];
    fprintf(bench_table, "%8s |", bench_size_str(size, sz, sizeof sz));
    for (int v = 0; v < V_COUNT; v++) fprintf(bench_table, " %7.2f %8.0f |", mres[v].gbps, mres[v].median_ns);
    fprintf(bench_table, " %.2f\n", mres[V_INLINE].gbps / mres[V_MEMCPY].gbps);
    fflush(bench_table);
    if (o.json) {
      for (int v = 0; v < V_COUNT; v++)
        printf("{\"bench\":\"throughput\",\"impl\":\"%s\",\"size\":%" PRIu64
               ",\"gbps\":%.3f,\"median_ns\":%.1f,\"reps\":%d}\n",
               impl_names[v], size, mres[v].gbps, mres[v].median_ns, mres[v].reps);
      fflush(stdout);
    }
  }
  munmap(sh, 4096);
  return 0;
}
