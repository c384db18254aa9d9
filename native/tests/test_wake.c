/*
 * test_wake: publish notification (shm/wake.c). White box: it reads the control block.
 *
 *  (a) nobody asleep: publishing (inline and through the arena) never writes pub_futex, so
 *      a spinning receiver costs the publisher no locked instruction there; every message
 *      arrives, in order.
 *  (b) a subscriber asleep in a block receive (counted in sub_waiters) is woken by a publish
 *      at once, not by the end of its 50 ms wait slice: the median over 30 rounds must stay
 *      under 20 ms (a lost wake-up costs the whole slice every round).
 *  (c) the Dekker race: a block receiver and a publisher that publishes the next message
 *      a random 0-30 us after the previous one was taken (so the receiver is somewhere on
 *      its way into the futex wait); 4000 rounds, no lost message, and at most two rounds
 *      as slow as a wait slice (a lost wake-up) — a scheduler stall can cost one on a
 *      loaded machine, a lost wake in that window costs one every few rounds.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "util.h"

#include "channel.h"
#include "shm/layout.h"

#define ROUNDS_B 30
#define ROUNDS_C 4000
#define SLOW_NS (40ull * 1000 * 1000) /* a lost wake-up waits out the 50 ms slice */

struct rx {
  ferry_channel *ch;
  ferry_pub *pub; /* inline sends */
  ferry_sub *sub;
  pthread_t thread;
  int rounds;
  _Atomic int taken;           /* messages received so far */
  _Atomic uint64_t taken_ns[ROUNDS_C];
  _Atomic int bad;
};

static void *rx_main(void *arg) {
  struct rx *r = arg;
  for (int i = 0; i < r->rounds; i++) {
    ferry_msg_info m;
    int rc = ferry_sub_receive(r->sub, &m, FERRY_WAIT_BLOCK, 10ll * 1000 * 1000 * 1000);
    uint64_t t = now_ns();
    uint32_t v = 0;
    if (rc == 0 && m.length == 4) memcpy(&v, (const void *)(uintptr_t)m.data, 4);
    if (rc != 0 || v != (uint32_t)i) {
      fprintf(stderr, "receive %d: rc %d (%s), value %u\n", i, rc, ferry_err_name(rc), v);
      atomic_store(&r->bad, 1);
      atomic_store(&r->taken, r->rounds);
      return NULL;
    }
    ferry_sub_release(r->sub, m.token);
    atomic_store(&r->taken_ns[i], t);
    atomic_store(&r->taken, i + 1);
  }
  return NULL;
}

/* (b), (c): a channel, an inline publisher and a block receiver thread taking `rounds` messages */
static struct rx *rx_start(const char *tag, int rounds) {
  struct rx *r = calloc(1, sizeof *r);
  CHECK(r);
  r->rounds = rounds;
  OK(ferry_channel_create(test_name(tag), 1 << 16, 64, 0, &r->ch));
  OK(ferry_pub_open(r->ch, FERRY_BP_ERROR, 0, &r->pub));
  OK(ferry_pub_inline(r->pub, FERRY_INLINE_MAX));
  OK(ferry_sub_open(r->ch, NULL, &r->sub));
  CHECK(pthread_create(&r->thread, NULL, rx_main, r) == 0);
  return r;
}

static void rx_stop(struct rx *r) {
  CHECK(pthread_join(r->thread, NULL) == 0);
  OK(ferry_sub_close(r->sub));
  OK(ferry_pub_close(r->pub));
  OK(ferry_channel_close(r->ch));
  free(r);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void spin_ns(uint64_t ns) {
  uint64_t end = now_ns() + ns;
  while (now_ns() < end) {
  }
}

/* ---------------------------------------------------------------- (a) */
static void no_sleeper_no_write(void) {
  ferry_channel *ch;
  ferry_pub *pub, *plain;
  ferry_sub *sub;
  OK(ferry_channel_create(test_name("wk-a"), 1 << 16, 64, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(ferry_pub_inline(pub, FERRY_INLINE_MAX));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &plain));
  OK(ferry_sub_open(ch, NULL, &sub));
  uint32_t word = atomic_load(&ch->ctrl->pub_futex);
  CHECK(atomic_load(&ch->ctrl->sub_waiters) == 0);
  for (uint32_t i = 0; i < 200; i++) {
    OK(ferry_pub_send(i & 1 ? plain : pub, &i, sizeof i, NULL, 0, NULL));
    CHECK(atomic_load(&ch->ctrl->pub_futex) == word);
    ferry_msg_info m;
    OK(ferry_sub_try_receive(sub, &m));
    uint32_t v;
    memcpy(&v, (const void *)(uintptr_t)m.data, 4);
    CHECK(m.length == 4 && v == i && m.seq == i);
    CHECK(((m.flags & FERRY_MSG_INLINE) != 0) == ((i & 1) == 0));
    OK(ferry_sub_release(sub, m.token));
  }
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(plain));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("wake: (a) 200 publishes with nobody asleep: pub_futex untouched: ok\n");
}

/* ---------------------------------------------------------------- (b) */
static void sleeper_woken(void) {
  struct rx *r = rx_start("wk-b", ROUNDS_B);
  ferry_channel *ch = r->ch;
  uint64_t lat[ROUNDS_B];
  for (uint32_t i = 0; i < ROUNDS_B; i++) {
    uint64_t end = now_ns() + 5ull * 1000 * 1000 * 1000;
    while (atomic_load(&ch->ctrl->sub_waiters) == 0) CHECK(now_ns() < end); /* counted: about to sleep */
    sleep_ms(2);                                                              /* asleep by now */
    uint64_t t0 = now_ns();
    OK(ferry_pub_send(r->pub, &i, sizeof i, NULL, 0, NULL));
    while (atomic_load(&r->taken) <= (int)i) CHECK(now_ns() < end);
    CHECK(!atomic_load(&r->bad));
    lat[i] = atomic_load(&r->taken_ns[i]) - t0;
  }
  rx_stop(r);
  qsort(lat, ROUNDS_B, sizeof lat[0], cmp_u64);
  printf("wake: (b) a sleeping subscriber woken by each publish: median %.3f ms, max %.3f ms\n",
         (double)lat[ROUNDS_B / 2] / 1e6, (double)lat[ROUNDS_B - 1] / 1e6);
  CHECK(lat[ROUNDS_B / 2] < 20ull * 1000 * 1000);
}

/* ---------------------------------------------------------------- (c) */
static void dekker_race(void) {
  struct rx *r = rx_start("wk-c", ROUNDS_C);
  uint64_t seed = 0x9e3779b97f4a7c15ull, slow = 0, worst = 0, t0 = now_ns();
  for (uint32_t i = 0; i < ROUNDS_C; i++) {
    uint64_t p = now_ns();
    OK(ferry_pub_send(r->pub, &i, sizeof i, NULL, 0, NULL));
    uint64_t end = p + 5ull * 1000 * 1000 * 1000;
    while (atomic_load(&r->taken) <= (int)i) {
      CHECK(now_ns() < end);
      sched_yield(); /* two vCPUs: let the receiver run */
    }
    CHECK(!atomic_load(&r->bad));
    uint64_t lat = atomic_load(&r->taken_ns[i]) - p;
    if (lat > worst) worst = lat;
    if (lat >= SLOW_NS) slow++;
    spin_ns(xorshift(&seed) % 30000); /* the receiver is between its miss and its sleep, or asleep */
  }
  rx_stop(r);
  printf("wake: (c) %d publishes racing a block receiver: %.1f ms, worst %.3f ms, %llu as slow as a wait slice\n",
         ROUNDS_C, (double)(now_ns() - t0) / 1e6, (double)worst / 1e6, (unsigned long long)slow);
  CHECK(slow <= 2);
}

int main(void) {
  test_init("wake");
  no_sleeper_no_write();
  sleeper_woken();
  dekker_race();
  CHECK_NO_LEFTOVERS();
  return test_failures_ ? 1 : 0;
}
