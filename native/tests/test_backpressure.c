/*
 * Backpressure policies.
 *  (a) FERRY_BP_ERROR: FERRY_E_FULL when the ring or the arena is full; the
 *      loan survives a failed publish; space comes back after a release; with
 *      no subscriber nothing ever fills (messages are unheard).
 *  (b) FERRY_BP_DROP_OLDEST: never fails on lagging subscribers, counts drops
 *      (stats.dropped == sum of info.dropped), received + dropped == published,
 *      and never drops a held (received, unreleased) message: its bytes stay.
 *  (c) FERRY_BP_BLOCK: FERRY_E_TIMEOUT after the timeout when nobody releases;
 *      success when another process releases in time (ring and arena).
 *  (d) every policy: a message whose payload + header granules exceed the
 *      arena fails at once with FERRY_E_TOOBIG (loan, publish, inline and
 *      engine sends), even with a 30 s block timeout and a subscriber that
 *      never releases; the loan survives a TOOBIG publish.
 */
#include <stdatomic.h>

#include "util.h"

static const char *BASE = "bp";

static uint8_t pat(uint64_t seq, uint64_t i) { return (uint8_t)(seq * 251 + i * 13 + 7); }

static int send_pat(ferry_pub *pub, uint8_t *rw, uint64_t seq_hint, uint64_t len, ferry_msg_info *out) {
  ferry_msg_info li;
  int r = ferry_pub_loan(pub, len, &li);
  if (r) return r;
  for (uint64_t i = 0; i < len; i++) rw[li.offset + i] = pat(seq_hint, i);
  r = ferry_pub_publish(pub, li.token, len, NULL, 0, out);
  if (r) ferry_pub_unloan(pub, li.token);
  return r;
}

static void check_pat(const uint8_t *ro, const ferry_msg_info *m) {
  for (uint64_t i = 0; i < m->length; i++)
    if (ro[m->offset + i] != pat(m->seq, i)) {
      fprintf(stderr, "message %llu byte %llu corrupted\n", (unsigned long long)m->seq, (unsigned long long)i);
      exit(1);
    }
}

/* ---------------------------------------------------------------- (a) error */
static void test_error(void) {
  char name[96];
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_msg_info m, li;
  ferry_stats st;
  /* ring full */
  OK(ferry_channel_create(test_name_sub(name, sizeof name, BASE, "ering"), 1 << 20, 8, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  uint8_t *rw = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch, &ci));
  const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  /* nobody subscribed: never full, every message unheard and freed at once */
  for (int i = 0; i < 100; i++) OK(send_pat(pub, rw, (uint64_t)i, 1000, NULL));
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.unheard == 100 && st.arena_used == 0 && st.head == st.tail);
  OK(ferry_sub_open(ch, NULL, &sub));
  for (int i = 0; i < 8; i++) OK(send_pat(pub, rw, 100 + (uint64_t)i, 100, NULL));
  CHECK_RC(send_pat(pub, rw, 108, 100, NULL), FERRY_E_FULL);
  OK(ferry_pub_loan(pub, 100, &li)); /* a loan needs no ring slot */
  for (int i = 0; i < 100; i++) rw[li.offset + (uint64_t)i] = pat(108, (uint64_t)i);
  CHECK_RC(ferry_pub_publish(pub, li.token, 100, NULL, 0, NULL), FERRY_E_FULL);
  CHECK_RC(ferry_pub_publish(pub, li.token, 100, "h", 1, NULL), FERRY_E_FULL);
  OK(ferry_sub_try_receive(sub, &m));
  CHECK(m.seq == 100);
  CHECK_RC(ferry_pub_publish(pub, li.token, 100, NULL, 0, NULL), FERRY_E_FULL); /* still held */
  OK(ferry_sub_release(sub, m.token));
  OK(ferry_pub_publish(pub, li.token, 100, NULL, 0, &m)); /* the same loan, intact */
  CHECK(m.seq == 108);
  for (int i = 0; i < 8; i++) {
    OK(ferry_sub_try_receive(sub, &m));
    CHECK(m.seq == 101 + (uint64_t)i && m.length == 100);
    check_pat(ro, &m);
    OK(ferry_sub_release(sub, m.token));
  }
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));

  /* arena full */
  OK(ferry_channel_create(test_name_sub(name, sizeof name, BASE, "earena"), 64 * 1024, 256, 0, &ch));
  OK(ferry_channel_info_get(ch, &ci));
  ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  rw = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  OK(ferry_sub_open(ch, NULL, &sub));
  int n = 0;
  while (send_pat(pub, rw, (uint64_t)n, 4096, NULL) == 0) n++;
  CHECK(n == (int)(ci.arena_size / 4096));
  CHECK_RC(send_pat(pub, rw, (uint64_t)n, 4096, NULL), FERRY_E_FULL);
  CHECK_RC(ferry_pub_loan(pub, 1, &li), FERRY_E_FULL);
  OK(ferry_pub_loan(pub, 0, &li)); /* 0 B always fits */
  CHECK_RC(ferry_pub_publish(pub, li.token, 0, "hdr", 3, NULL), FERRY_E_FULL); /* the header needs space */
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.arena_used == ci.arena_size);
  OK(ferry_sub_try_receive(sub, &m));
  OK(ferry_sub_release(sub, m.token));
  OK(ferry_pub_publish(pub, li.token, 0, "hdr", 3, NULL)); /* now there is a granule */
  OK(ferry_sub_try_receive(sub, &m));
  OK(ferry_sub_release(sub, m.token));
  OK(send_pat(pub, rw, (uint64_t)n, 4096 - 64, NULL)); /* exactly the space that is left */
  for (;;) {
    int r = ferry_sub_try_receive(sub, &m);
    if (r == FERRY_E_AGAIN) break;
    OK(r);
    if (m.length == 4096) check_pat(ro, &m);
    OK(ferry_sub_release(sub, m.token));
  }
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("  error: ok\n");
}

/* ---------------------------------------------------------------- (b) drop-oldest */
static void test_drop(void) {
  char name[96];
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *s1, *s2;
  ferry_msg_info m;
  ferry_stats st;
  ferry_channel_info ci;
  const uint32_t ring = 16;
  OK(ferry_channel_create(test_name_sub(name, sizeof name, BASE, "drop"), 64 * 1024, ring, 0, &ch));
  OK(ferry_channel_info_get(ch, &ci));
  const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  OK(ferry_pub_open(ch, FERRY_BP_DROP_OLDEST, 0, &pub));
  uint8_t *rw = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  OK(ferry_sub_open(ch, NULL, &s1));
  OK(ferry_sub_open(ch, NULL, &s2));
  uint64_t rng = 42;
  const uint64_t N = 2000;
  /* lagging subscribers: sizes that fill either the ring (small) or the arena (big) */
  for (uint64_t i = 0; i < N; i++) {
    uint64_t len = (i / 200) % 2 ? 8000 + xorshift(&rng) % 20000 : xorshift(&rng) % 300;
    int r = send_pat(pub, rw, i, len, &m);
    if (r) {
      fprintf(stderr, "drop-oldest publish %llu failed: %s [%s]\n", (unsigned long long)i, ferry_err_name(r),
              ferry_last_error());
      exit(1);
    }
    CHECK(m.seq == i);
    if (i == N / 2) { /* s2 catches up half way: it drops less */
      while (ferry_sub_try_receive(s2, &m) == 0) {
        check_pat(ro, &m);
        OK(ferry_sub_release(s2, m.token));
      }
    }
  }
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.published == N);
  uint64_t drops[2] = {0, 0}, got[2] = {0, 0};
  ferry_sub *subs[2] = {s1, s2};
  for (int k = 0; k < 2; k++) {
    uint64_t last = 0;
    bool first = true;
    int r;
    while ((r = ferry_sub_try_receive(subs[k], &m)) == 0) {
      CHECK(first || m.seq > last);
      first = false;
      last = m.seq;
      check_pat(ro, &m);
      drops[k] = m.dropped;
      got[k]++;
      OK(ferry_sub_release(subs[k], m.token));
    }
    CHECK_RC(r, FERRY_E_AGAIN);
    CHECK(last == N - 1); /* the newest message is never dropped */
  }
  /* s2 received everything before N/2 (not counted in got[1]) */
  printf("  drop: s1 got %llu dropped %llu; s2 got %llu dropped %llu; stats.dropped %llu\n",
         (unsigned long long)got[0], (unsigned long long)drops[0], (unsigned long long)got[1],
         (unsigned long long)drops[1], (unsigned long long)st.dropped);
  CHECK(got[0] + drops[0] == N);
  CHECK(drops[0] > 0 && drops[1] > 0 && drops[1] < drops[0]);
  CHECK(st.dropped == drops[0] + drops[1]);

  /* held messages are never dropped: their bytes and descriptors stay */
  ferry_msg_info h[3];
  for (int i = 0; i < 3; i++) OK(send_pat(pub, rw, N + (uint64_t)i, 5000, NULL));
  for (int i = 0; i < 3; i++) {
    OK(ferry_sub_try_receive(s1, &h[i]));
    CHECK(h[i].seq == N + (uint64_t)i);
  }
  while (ferry_sub_try_receive(s2, &m) == 0) OK(ferry_sub_release(s2, m.token));
  uint64_t flood = 0, fails = 0;
  int first_err = 0;
  for (uint64_t i = 0; i < 10 * ring; i++) {
    uint64_t seq = N + 3 + flood;
    int r = send_pat(pub, rw, seq, 1000 + xorshift(&rng) % 9000, NULL);
    if (r) {
      if (!first_err) {
        first_err = r;
        printf("  drop: with 3 held messages, publish #%llu after them fails: %s [%s]\n",
               (unsigned long long)flood, ferry_err_name(r), ferry_last_error());
      }
      fails++;
      /* the held messages must pin at most their own ring slots: while fewer than
       * ring - 3 messages are in flight, drop-oldest must succeed */
      CHECK(flood >= ring - 3);
      break;
    }
    flood++;
    for (int k = 0; k < 3; k++) check_pat(ro, &h[k]);
  }
  for (int k = 0; k < 3; k++) {
    check_pat(ro, &h[k]);
    OK(ferry_sub_release(s1, h[k].token)); /* not CORRUPT: the descriptor stayed */
  }
  OK(ferry_sub_close(s1));
  OK(ferry_sub_close(s2));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  if (fails && getenv("FERRY_TEST_STRICT")) {
    fprintf(stderr, "drop-oldest is wedged by held messages (FERRY_TEST_STRICT)\n");
    exit(1);
  }
}

/* ---------------------------------------------------------------- (c) block */
static void block_case(bool arena_case) {
  char name[96];
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_msg_info m;
  const uint32_t ring = 8;
  OK(ferry_channel_create(test_name_sub(name, sizeof name, BASE, arena_case ? "barena" : "bring"), 64 * 1024, ring,
                          0, &ch));
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch, &ci));
  const uint64_t len = arena_case ? 16 * 1024 : 64;
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 200 * 1000 * 1000, &pub));
  uint8_t *rw = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);

  /* the subscriber is a child process that lags, then releases */
  volatile int *sh = shared_alloc(4096);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    ferry_channel *c2;
    ferry_sub *s;
    OK(ferry_channel_open(name, &c2));
    OK(ferry_sub_open(c2, NULL, &s));
    bump_counter(&sh[0]); /* subscribed */
    if (wait_counter(&sh[1], 1, 10000)) _exit(2); /* parent timed out once: now release */
    sleep_ms(300);
    ferry_msg_info mm;
    OK(ferry_sub_receive(s, &mm, FERRY_WAIT_BLOCK, 1000000000));
    bump_counter(&sh[2]); /* before the release: the parent may run on at once */
    OK(ferry_sub_release(s, mm.token));
    /* then drain until end of stream */
    int r;
    while ((r = ferry_sub_receive(s, &mm, FERRY_WAIT_HYBRID, 5000000000ll)) == 0) OK(ferry_sub_release(s, mm.token));
    CHECK_RC(r, FERRY_E_EOF);
    OK(ferry_sub_close(s));
    OK(ferry_channel_close(c2));
    _exit(0);
  }
  CHECK(wait_counter(&sh[0], 1, 5000) == 0);
  int n = 0;
  uint64_t t0;
  for (;;) { /* fill: the ring (8 x 64 B) or the arena (4 x 16 KiB) */
    t0 = now_ns();
    int r = send_pat(pub, rw, (uint64_t)n, len, NULL);
    if (r == 0) {
      n++;
      continue;
    }
    CHECK_RC(r, FERRY_E_TIMEOUT);
    break;
  }
  double waited = (double)(now_ns() - t0) / 1e6;
  CHECK(n == (arena_case ? (int)(ci.arena_size / len) : (int)ring));
  CHECK(waited >= 190 && waited < 1500);
  /* timeout 0: fail at once */
  ferry_pub *pub0;
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 0, &pub0));
  t0 = now_ns();
  CHECK_RC(send_pat(pub0, rw, 0, len, NULL), FERRY_E_TIMEOUT);
  CHECK(now_ns() - t0 < 100 * 1000 * 1000ull);
  OK(ferry_pub_close(pub0));
  /* now a publisher that waits long enough: the child releases after ~300 ms */
  ferry_pub *pub5;
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 5000ll * 1000 * 1000, &pub5));
  bump_counter(&sh[1]);
  t0 = now_ns();
  OK(send_pat(pub5, rw, (uint64_t)n, len, &m));
  double unblocked = (double)(now_ns() - t0) / 1e6;
  CHECK(__atomic_load_n(&sh[2], __ATOMIC_ACQUIRE) == 1);
  CHECK(unblocked >= 250 && unblocked < 3000);
  /* timeout < 0 waits forever, until the child drains */
  ferry_pub *pubf;
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, -1, &pubf));
  for (int i = 0; i < 50; i++) OK(send_pat(pubf, rw, 0, len, NULL));
  OK(ferry_pub_close(pubf));
  OK(ferry_pub_close(pub5));
  OK(ferry_pub_close(pub));
  CHECK(wait_child_ms(pid, 10000) == 0);
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.subscribers == 0 && st.publishers == 0);
  OK(ferry_channel_close(ch));
  munmap((void *)sh, 4096);
  printf("  block (%s): timed out after %.0f ms; unblocked by a release after %.0f ms\n",
         arena_case ? "arena" : "ring", waited, unblocked);
}

/* ---------------------------------------------------------------- (d) too big */
static void test_toobig(void) {
  static const uint32_t pols[] = {FERRY_BP_ERROR, FERRY_BP_DROP_OLDEST, FERRY_BP_BLOCK};
  for (int k = 0; k < 3; k++) {
    char name[96], sfx[16];
    snprintf(sfx, sizeof sfx, "big%d", k);
    ferry_channel *ch;
    ferry_pub *pub;
    ferry_sub *sub;
    ferry_msg_info li;
    OK(ferry_channel_create(test_name_sub(name, sizeof name, BASE, sfx), 1 << 16, 8, 0, &ch));
    ferry_channel_info ci;
    OK(ferry_channel_info_get(ch, &ci));
    OK(ferry_pub_open(ch, pols[k], 30ll * 1000000000, &pub));
    OK(ferry_sub_open(ch, NULL, &sub)); /* holds nothing, releases nothing */
    static uint8_t data[1 << 17], hdr[FERRY_HEADER_MAX];
    uint64_t t0 = now_ns();
    CHECK_RC(ferry_pub_loan(pub, ci.arena_size + 1, &li), FERRY_E_TOOBIG);
    CHECK(strstr(ferry_last_error(), "exceeds the arena") != NULL);
    /* the whole arena as payload leaves no granule for a header */
    OK(ferry_pub_loan(pub, ci.arena_size, &li));
    CHECK_RC(ferry_pub_publish(pub, li.token, UINT64_MAX, hdr, 1, NULL), FERRY_E_TOOBIG);
    CHECK(strstr(ferry_last_error(), "can never fit") != NULL);
    OK(ferry_pub_unloan(pub, li.token)); /* the loan survived the failed publish */
    OK(ferry_pub_loan(pub, ci.arena_size - ci.granule, &li));
    OK(ferry_pub_publish(pub, li.token, UINT64_MAX, hdr, 1, NULL)); /* one granule less: it fits */
    ferry_msg_info m;
    OK(ferry_sub_try_receive(sub, &m));
    OK(ferry_sub_release(sub, m.token));
    CHECK_RC(ferry_pub_send(pub, data, ci.arena_size, hdr, 1, NULL), FERRY_E_TOOBIG);
    CHECK_RC(ferry_pub_send(pub, data, ci.arena_size - 1, hdr, (uint32_t)ci.granule + 1, NULL), FERRY_E_TOOBIG);
    CHECK_RC(ferry_pub_send(pub, data, ci.arena_size + 1, NULL, 0, NULL), FERRY_E_TOOBIG);
    ferry_engine *e;
    OK(ferry_engine_open("cpu", NULL, &e));
    CHECK_RC(ferry_pub_send_engine(pub, e, data, ci.arena_size, hdr, 1, FERRY_SEND_OFFLOAD, 0, 0, NULL), FERRY_E_TOOBIG);
    CHECK_RC(ferry_pub_send_engine(pub, e, data, ci.arena_size, hdr, 1, FERRY_SEND_PIPELINED, 0, 0, NULL), FERRY_E_TOOBIG);
    CHECK(now_ns() - t0 < 2000000000ull); /* at once, not after the 30 s timeout */
    /* nothing leaked: the whole arena can be loaned again */
    OK(ferry_pub_loan(pub, ci.arena_size, &li));
    OK(ferry_pub_unloan(pub, li.token));
    OK(ferry_engine_close(e));
    OK(ferry_pub_close(pub));
    OK(ferry_sub_close(sub));
    OK(ferry_channel_close(ch));
  }
}

int main(void) {
  test_init(BASE);
  test_toobig();
  uint64_t t0 = now_ns();
  test_error();
  test_drop();
  block_case(false);
  block_case(true);
  CHECK_NO_LEFTOVERS();
  printf("test_backpressure ok (%.2f s)\n", (double)(now_ns() - t0) / 1e9);
  return 0;
}
