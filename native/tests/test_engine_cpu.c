/* test_engine_cpu: the CPU copy routines (every ISA this CPU has, hot and cold) and the `cpu` engine. */
#include "util.h"

#define BIG (64ull << 20)
#define GUARD 4096
#define PAT 0xA5

static uint8_t *src, *dstbuf;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static void fill_src(void) {
  uint64_t s = 0x1234567;
  for (uint64_t i = 0; i < BIG + 2 * GUARD; i += 8) {
    uint64_t v = xorshift(&s);
    memcpy(src + i, &v, 8);
  }
}

/* dst window: dstbuf + GUARD + doff, with guard bytes around it set to PAT. */
static void check_copy(uint64_t soff, uint64_t doff, uint64_t len, uint8_t *d) {
  if (memcmp(d, src + soff, len) != 0) {
    uint64_t i = 0;
    while (d[i] == src[soff + i]) i++;
    fprintf(stderr, "mismatch at byte %llu of %llu (soff %llu doff %llu)\n", (unsigned long long)i,
            (unsigned long long)len, (unsigned long long)soff, (unsigned long long)doff);
    exit(1);
  }
  for (int k = 1; k <= 64; k++) CHECK(d[-k] == PAT);
  for (int k = 0; k < 64; k++) CHECK(d[len + k] == PAT);
}

static uint8_t *prep_dst(uint64_t doff, uint64_t len) {
  uint8_t *d = dstbuf + GUARD + doff;
  memset(d - 64, PAT, len + 128);
  return d;
}

static uint64_t rand_len(uint64_t max) {
  /* log-uniform lengths: many small, some large */
  uint64_t bits = xorshift(&rng) % 27; /* up to 64 MiB */
  uint64_t l = bits ? (xorshift(&rng) & ((1ull << bits) - 1)) : 0;
  return l > max ? max : l;
}

static void isa_sweep(void) {
  const char *isas[] = {"avx512", "avx2", "sse2", "memcpy"};
  for (size_t k = 0; k < 4; k++) {
    int r = ferry_copy_isa_set(isas[k]);
    if (r == FERRY_E_NOTFOUND) {
      printf("isa %s: not available, skipped\n", isas[k]);
      continue;
    }
    OK(r);
    CHECK(strcmp(ferry_copy_isa(), isas[k]) == 0);
    for (uint32_t hint = 0; hint < 3; hint++) {
      /* edges around the small/vector thresholds with every alignment */
      uint64_t edges[] = {0, 1, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097, 8191, 65536 + 17, 1 << 20};
      for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
        for (uint64_t a = 0; a < 64; a += 7) {
          uint8_t *d = prep_dst(a, edges[e]);
          OK(ferry_copy(d, src + GUARD + (63 - a), edges[e], hint));
          check_copy(GUARD + (63 - a), a, edges[e], d);
        }
      for (int i = 0; i < 40; i++) {
        uint64_t len = rand_len(8ull << 20);
        uint64_t soff = xorshift(&rng) % GUARD, doff = xorshift(&rng) % GUARD;
        uint8_t *d = prep_dst(doff, len);
        OK(ferry_copy(d, src + soff, len, hint));
        check_copy(soff, doff, len, d);
      }
    }
    printf("isa %s: ok\n", isas[k]);
  }
  OK(ferry_copy_isa_set("auto"));
  printf("isa in use: %s\n", ferry_copy_isa());
  CHECK_RC(ferry_copy_isa_set("mmx"), FERRY_E_NOTFOUND);
  /* arguments */
  CHECK_RC(ferry_copy(dstbuf, src, 100, 4), FERRY_E_INVAL);
  CHECK_RC(ferry_copy(dstbuf, src, 100, 3), FERRY_E_INVAL);
  CHECK_RC(ferry_copy(src + 10, src, 100, 0), FERRY_E_INVAL); /* overlap */
  CHECK_RC(ferry_copy(NULL, src, 1, 0), FERRY_E_INVAL);
  OK(ferry_copy(NULL, NULL, 0, 0));
}

static double gbps(uint64_t bytes, uint64_t ns) { return (double)bytes / (double)ns; }

static void cpu_engine(void) {
  ferry_engine *e;
  OK(ferry_engine_open("cpu", NULL, &e));
  ferry_engine_caps caps;
  OK(ferry_engine_caps_get(e, &caps));
  CHECK(strcmp(caps.name, "cpu") == 0);
  CHECK(!(caps.flags & FERRY_CAP_ASYNC) && (caps.flags & FERRY_CAP_CACHE_HINTS));
  CHECK(caps.abi == FERRY_ENGINE_ABI && caps.cold_threshold > 0);
  CHECK(ferry_sizeof_completion() == 128 && sizeof(ferry_completion) == 128);

  /* a batch of random jobs, random hints, random offsets */
  enum { N = 48 };
  static ferry_completion comp[N];
  ferry_copy_desc d[N];
  uint64_t soffs[N], doffs[N], total = 0;
  uint64_t doff = 0;
  for (int i = 0; i < N; i++) {
    uint64_t len = rand_len(1ull << 20);
    soffs[i] = xorshift(&rng) % (BIG / 2);
    doffs[i] = doff + (xorshift(&rng) % 256);
    doff = doffs[i] + len + 128;
    d[i] = (ferry_copy_desc){.dst = dstbuf + GUARD + doffs[i], .src = src + soffs[i], .len = len,
                             .flags = (uint32_t)(xorshift(&rng) % 3), .comp = &comp[i], .user = (uint64_t)i};
    memset(dstbuf + GUARD + doffs[i] - 64, PAT, len + 128);
    total += len;
  }
  CHECK(doff < BIG);
  CHECK_RC(ferry_engine_submit(e, d, N), N);
  for (int i = 0; i < N; i++) {
    CHECK(comp[i].status == FERRY_JOB_DONE && comp[i].bytes_done == d[i].len && comp[i].len == d[i].len);
    CHECK(comp[i].user == (uint64_t)i && comp[i].error == 0);
    CHECK_RC(ferry_engine_poll(e, &comp[i]), 1);
    OK(ferry_engine_wait(e, &comp[i], FERRY_WAIT_BLOCK, 0));
    check_copy(soffs[i], doffs[i], d[i].len, dstbuf + GUARD + doffs[i]);
  }
  ferry_engine_stats st;
  OK(ferry_engine_stats_get(e, &st));
  CHECK(st.submitted == N && st.jobs == N && st.bytes == total && st.errors == 0);

  /* validation: nothing is touched when a batch is refused */
  static ferry_completion c1, c2;
  CHECK_RC(ferry_engine_copy(e, dstbuf, src, 10, 0, NULL), FERRY_E_INVAL);
  CHECK_RC(ferry_engine_copy(e, dstbuf, src, 10, 0, (ferry_completion *)((uint8_t *)&c1 + 8)), FERRY_E_INVAL);
  CHECK_RC(ferry_engine_copy(e, dstbuf, src, 10, 8, &c1), FERRY_E_INVAL);
  CHECK_RC(ferry_engine_copy(e, src + 5, src, 10, 0, &c1), FERRY_E_INVAL);
  CHECK(c1.status == FERRY_JOB_IDLE);
  CHECK_RC(ferry_engine_poll(e, &c1), FERRY_E_STATE);
  CHECK_RC(ferry_engine_wait(e, &c1, FERRY_WAIT_SPIN, 0), FERRY_E_STATE);
  ferry_copy_desc two[2] = {{.dst = dstbuf, .src = src, .len = 10, .comp = &c1},
                            {.dst = dstbuf + 100, .src = src, .len = 10, .comp = &c1}};
  CHECK_RC(ferry_engine_submit(e, two, 2), FERRY_E_INVAL); /* shared record */
  c2.status = FERRY_JOB_PENDING;                           /* looks in flight */
  CHECK_RC(ferry_engine_copy(e, dstbuf, src, 10, 0, &c2), FERRY_E_STATE);
  c2.status = FERRY_JOB_DONE;
  OK(ferry_engine_copy(e, dstbuf, src, 0, 0, &c2)); /* zero bytes, record reused */
  CHECK(c2.status == FERRY_JOB_DONE && c2.bytes_done == 0);
  CHECK_RC(ferry_engine_wait(e, &c2, 7, 0), FERRY_E_INVAL);

  /* 64 MiB hot and cold (plus a fill-level check of the whole destination) */
  const char *names[] = {"auto", "hot", "cold"};
  for (uint32_t hint = 0; hint < 3; hint++) {
    uint64_t best = UINT64_MAX;
    for (int rep = 0; rep < 3; rep++) {
      uint8_t *dd = prep_dst(0, BIG);
      uint64_t t0 = now_ns();
      OK(ferry_engine_copy(e, dd, src + GUARD, BIG, hint, &c1));
      uint64_t t = now_ns() - t0;
      if (t < best) best = t;
      CHECK(c1.status == FERRY_JOB_DONE);
      check_copy(GUARD, 0, BIG, dd);
    }
    printf("cpu engine 64 MiB %-4s: %.2f GB/s (best of 3, isa %s)\n", names[hint], gbps(BIG, best), ferry_copy_isa());
  }
  OK(ferry_engine_close(e));
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  src = mmap(NULL, BIG + 2 * GUARD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  dstbuf = mmap(NULL, BIG + 2 * GUARD + 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(src != MAP_FAILED && dstbuf != MAP_FAILED);
  fill_src();
  isa_sweep();
  cpu_engine();
  printf("engine_cpu: ok\n");
  return 0;
}
