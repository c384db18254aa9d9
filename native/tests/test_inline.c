/*
 * test_inline: small messages carried in the descriptor (layout v8, ENT_INLINE).
 * White box: it reads and forges descriptors.
 *
 *  (a) round trip at 0, 1, 64 bytes (inline: FERRY_MSG_INLINE, data in the
 *      subscriber's copy area, no arena space) and 65 bytes (the arena);
 *      loans of at most the limit are private staging (no arena), a header
 *      that does not fit with the payload sends it through the arena; C
 *      publishers without ferry_pub_inline publish through the arena.
 *  (b) broadcast (two subscribers) and a worker group (each message once).
 *  (c) history: a late joiner gets the last k inline messages, then live ones.
 *  (d) drop-oldest on a ring full of unclaimed inline messages: the publisher
 *      never waits, the subscriber counts drops and reads the newest intact.
 *  (e) block: a publisher waiting for a ring slot is woken by a claim.
 *  (f) hostile: an ENT_INLINE descriptor whose lengths pass the 64-byte line
 *      is FERRY_E_CORRUPT (skipped, nothing copied), the next message flows;
 *      an ENT_INLINE flag where a reference is expected (a pin) is refused.
 *  (g) a subscriber killed holding inline messages (between claim and
 *      release) and one killed mid-stream: reaped, nothing leaks, the ring
 *      is reclaimed to the tail, the orphan repair drops nothing.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "util.h"

#include "channel.h"
#include "shm/layout.h"
#include "shm/members.h"
#include "shm/ring.h"

#define SLOTS 16u

static uint8_t pat(uint64_t n, uint64_t i) { return (uint8_t)(n * 37 + i * 13 + 5); }

static void fill_n(uint8_t *b, uint64_t len, uint64_t n) {
  for (uint64_t i = 0; i < len; i++) b[i] = pat(n, i);
}

static int send_n(ferry_pub *pub, uint64_t len, uint64_t n) {
  uint8_t buf[256];
  fill_n(buf, len, n);
  return ferry_pub_send(pub, buf, len, NULL, 0, NULL);
}

/* Receive message number n of `len` bytes, check it, release it; returns its info flags. */
static uint32_t recv_n(ferry_sub *sub, uint64_t len, uint64_t n) {
  ferry_msg_info m;
  OK(ferry_sub_try_receive(sub, &m));
  if (m.length != len) {
    fprintf(stderr, "message %llu: length %llu, want %llu\n", (unsigned long long)n, (unsigned long long)m.length,
            (unsigned long long)len);
    exit(1);
  }
  const uint8_t *d = (const uint8_t *)(uintptr_t)m.data;
  for (uint64_t i = 0; i < len; i++) CHECK(d[i] == pat(n, i));
  if (m.flags & FERRY_MSG_INLINE) CHECK(m.data % 64 == 0);
  OK(ferry_sub_release(sub, m.token));
  return m.flags;
}

static ferry_stats stats(ferry_channel *ch) {
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  return st;
}

/* ---------------------------------------------------------------- (a) */
static void round_trip(void) {
  const char *name = test_name("inl-rt");
  ferry_channel *ch;
  ferry_pub *pub, *plain;
  ferry_sub *sub;
  ferry_msg_info li, m;
  OK(ferry_channel_create(name, 1 << 16, SLOTS, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &plain));
  CHECK_RC(ferry_pub_inline(pub, FERRY_INLINE_MAX + 1), FERRY_E_INVAL);
  OK(ferry_pub_inline(pub, FERRY_INLINE_MAX));
  OK(ferry_sub_open(ch, NULL, &sub));
  const uint64_t sizes[] = {0, 1, 64, 65};
  for (int i = 0; i < 4; i++) {
    OK(send_n(pub, sizes[i], (uint64_t)i));
    ferry_msg_info h;
    OK(ferry_sub_try_receive(sub, &h)); /* held: an inline one keeps no arena space */
    CHECK(!!(h.flags & FERRY_MSG_INLINE) == (sizes[i] <= FERRY_INLINE_MAX));
    CHECK(stats(ch).arena_used == (sizes[i] <= FERRY_INLINE_MAX ? 0 : 2 * ch->granule));
    const uint8_t *d = (const uint8_t *)(uintptr_t)h.data;
    for (uint64_t k = 0; k < sizes[i]; k++) CHECK(d[k] == pat((uint64_t)i, k));
    OK(ferry_sub_release(sub, h.token));
  }
  /* loans: staging up to the limit */
  uint64_t used = stats(ch).arena_used; /* the released 65 B message may not be reclaimed yet */
  OK(ferry_pub_loan(pub, 48, &li));
  CHECK(li.flags & FERRY_MSG_INLINE);
  CHECK(stats(ch).arena_used == used);
  fill_n((uint8_t *)(uintptr_t)li.data, 48, 7);
  OK(ferry_pub_publish(pub, li.token, 40, "{\"h\":1}", 7, NULL)); /* 40 + 7: inline */
  OK(ferry_sub_try_receive(sub, &m));
  CHECK((m.flags & FERRY_MSG_INLINE) && m.length == 40 && m.hdr_length == 7);
  for (uint64_t k = 0; k < 40; k++) CHECK(((const uint8_t *)(uintptr_t)m.data)[k] == pat(7, k));
  CHECK(memcmp((const uint8_t *)(uintptr_t)m.data + 64, "{\"h\":1}", 7) == 0);
  OK(ferry_sub_release(sub, m.token));
  char big[100];
  memset(big, 'x', sizeof big);
  OK(ferry_pub_loan(pub, 64, &li));
  fill_n((uint8_t *)(uintptr_t)li.data, 64, 8);
  OK(ferry_pub_publish(pub, li.token, 64, big, sizeof big, NULL)); /* 64 + 100: through the arena */
  OK(ferry_sub_try_receive(sub, &m));
  CHECK(!(m.flags & FERRY_MSG_INLINE) && m.length == 64 && m.hdr_length == sizeof big);
  for (uint64_t k = 0; k < 64; k++) CHECK(((const uint8_t *)(uintptr_t)m.data)[k] == pat(8, k));
  OK(ferry_sub_release(sub, m.token));
  OK(ferry_pub_loan(pub, 8, &li));
  OK(ferry_pub_unloan(pub, li.token));
  CHECK_RC(ferry_pub_publish(pub, li.token, 8, NULL, 0, NULL), FERRY_E_STATE);
  /* a publisher without an inline limit: the arena, as before v8 */
  OK(send_n(plain, 16, 9));
  CHECK(!(recv_n(sub, 16, 9) & FERRY_MSG_INLINE));
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(plain));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("inline: (a) round trip 0/1/64/65 B, loans, headers: ok\n");
}

/* ---------------------------------------------------------------- (b) */
static void fan_out(void) {
  const char *name = test_name("inl-fan");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *a, *b, *w1, *w2;
  ferry_msg_info m;
  OK(ferry_channel_create(name, 1 << 16, SLOTS, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(ferry_pub_inline(pub, FERRY_INLINE_MAX));
  OK(ferry_sub_open(ch, NULL, &a));
  OK(ferry_sub_open(ch, NULL, &b));
  OK(ferry_sub_open(ch, "workers", &w1));
  OK(ferry_sub_open(ch, "workers", &w2));
  for (uint64_t round = 0; round < 5; round++) { /* 5 x 10 messages through a 16-slot ring */
    for (uint64_t n = 0; n < 10; n++) OK(send_n(pub, 32, round * 10 + n));
    for (uint64_t n = 0; n < 10; n++) {
      recv_n(a, 32, round * 10 + n);
      recv_n(b, 32, round * 10 + n);
      recv_n((n & 1) ? w1 : w2, 32, round * 10 + n);
    }
    CHECK_RC(ferry_sub_try_receive(a, &m), FERRY_E_AGAIN);
    CHECK_RC(ferry_sub_try_receive(w1, &m), FERRY_E_AGAIN);
    CHECK_RC(ferry_sub_try_receive(w2, &m), FERRY_E_AGAIN);
  }
  OK(ferry_sub_close(a));
  OK(ferry_sub_close(b));
  OK(ferry_sub_close(w1));
  OK(ferry_sub_close(w2));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("inline: (b) broadcast + group: ok\n");
}

/* ---------------------------------------------------------------- (c) */
static void history(void) {
  const char *name = test_name("inl-hist");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *early, *late;
  ferry_msg_info m;
  OK(ferry_channel_create2(name, 1 << 16, SLOTS, 0, 3, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(ferry_pub_inline(pub, FERRY_INLINE_MAX));
  OK(ferry_sub_open(ch, NULL, &early));
  for (uint64_t n = 0; n < 40; n++) { /* wraps the ring: the history and the reader keep up */
    OK(send_n(pub, 20, n));
    recv_n(early, 20, n);
  }
  CHECK(stats(ch).history == 3);
  OK(ferry_sub_open(ch, NULL, &late));
  for (uint64_t n = 37; n < 40; n++) recv_n(late, 20, n);
  CHECK_RC(ferry_sub_try_receive(late, &m), FERRY_E_AGAIN);
  OK(send_n(pub, 20, 40));
  recv_n(late, 20, 40);
  recv_n(early, 20, 40);
  OK(ferry_sub_close(late));
  OK(ferry_sub_close(early));
  /* nobody reads: the ring fills with history-only messages, which never block the publisher */
  for (uint64_t n = 41; n < 41 + 3 * SLOTS; n++) OK(send_n(pub, 20, n));
  OK(ferry_pub_close(pub));
  OK(ferry_sub_open(ch, NULL, &late)); /* after the end: the history, then EOF */
  for (uint64_t n = 41 + 3 * SLOTS - 3; n < 41 + 3 * SLOTS; n++) recv_n(late, 20, n);
  CHECK_RC(ferry_sub_try_receive(late, &m), FERRY_E_EOF);
  OK(ferry_sub_close(late));
  OK(ferry_channel_close(ch));
  printf("inline: (c) history to late joiners: ok\n");
}

/* ---------------------------------------------------------------- (d) */
static void drop_oldest(void) {
  const char *name = test_name("inl-drop");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_msg_info m;
  OK(ferry_channel_create(name, 1 << 16, SLOTS, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_DROP_OLDEST, 0, &pub));
  OK(ferry_pub_inline(pub, FERRY_INLINE_MAX));
  OK(ferry_sub_open(ch, NULL, &sub));
  for (uint64_t n = 0; n < 100; n++) OK(send_n(pub, 24, n)); /* never waits */
  OK(ferry_sub_try_receive(sub, &m));
  CHECK(m.dropped > 0 && m.seq == m.dropped && m.seq + SLOTS >= 100);
  uint64_t first = m.seq;
  for (uint64_t k = 0; k < 24; k++) CHECK(((const uint8_t *)(uintptr_t)m.data)[k] == pat(first, k));
  OK(ferry_sub_release(sub, m.token));
  for (uint64_t n = first + 1; n < 100; n++) recv_n(sub, 24, n);
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);
  CHECK(stats(ch).dropped == first);
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("inline: (d) drop-oldest (%llu dropped): ok\n", (unsigned long long)first);
}

/* ---------------------------------------------------------------- (e) */
struct blk {
  ferry_pub *pub;
  _Atomic int done;
  int rc;
};

static void *blocked_send(void *arg) {
  struct blk *b = arg;
  b->rc = send_n(b->pub, 8, SLOTS);
  atomic_store(&b->done, 1);
  return NULL;
}

static void block_wakes(void) {
  const char *name = test_name("inl-block");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  OK(ferry_channel_create(name, 1 << 16, SLOTS, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 10ll * 1000 * 1000 * 1000, &pub));
  OK(ferry_pub_inline(pub, FERRY_INLINE_MAX));
  OK(ferry_sub_open(ch, NULL, &sub));
  for (uint64_t n = 0; n < SLOTS; n++) OK(send_n(pub, 8, n)); /* ring full of unclaimed messages */
  struct blk b = {.pub = pub};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, blocked_send, &b) == 0);
  sleep_ms(100);
  CHECK(!atomic_load(&b.done)); /* it waits for a slot */
  uint64_t t0 = now_ns();
  recv_n(sub, 8, 0); /* a claim frees the slot: the waiter wakes */
  while (!atomic_load(&b.done) && now_ns() - t0 < 5ull * 1000 * 1000 * 1000) sleep_ms(1);
  CHECK(atomic_load(&b.done) && b.rc == 0);
  CHECK(now_ns() - t0 < 1000ull * 1000 * 1000);
  pthread_join(t, NULL);
  for (uint64_t n = 1; n <= SLOTS; n++) recv_n(sub, 8, n);
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("inline: (e) a claim wakes a publisher waiting for a slot: ok\n");
}

/* ---------------------------------------------------------------- (f) */
static void hostile(void) {
  const char *name = test_name("inl-hostile");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub, *pins;
  ferry_msg_info m;
  OK(ferry_channel_create(name, 1 << 16, SLOTS, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(ferry_pub_inline(pub, FERRY_INLINE_MAX));
  OK(ferry_sub_open(ch, NULL, &sub));
  struct { uint64_t pay; uint32_t hdr; } bad[] = {{65, 0}, {8, 57}, {UINT64_MAX, 0}, {0, UINT32_MAX}, {64, 1}};
  for (uint64_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    OK(send_n(pub, 8, 100 + i));
    struct ferry_entry *e = &ch->ring[(2 * i) & ch->ring_mask];
    CHECK(__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & ENT_INLINE);
    e->pay_len = bad[i].pay;
    e->hdr_len = bad[i].hdr;
    CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_CORRUPT);
    OK(send_n(pub, 8, 200 + i)); /* the next one flows */
    recv_n(sub, 8, 200 + i);
  }
  /* ENT_INLINE on a pinned descriptor: a pin reader never copies it, it refuses it */
  OK(ferry_pub_inline(pub, 0));
  OK(ferry_pub_pin(pub, 10ull * 1000 * 1000 * 1000, 1));
  OK(send_n(pub, 8, 300));
  uint64_t seq = stats(ch).tail - 1;
  __atomic_fetch_or(&ch->ring[seq & ch->ring_mask].flags, ENT_INLINE, __ATOMIC_RELAXED);
  uint8_t ident[48];
  OK(ferry_channel_ident(ch, ident));
  uint64_t gen;
  memcpy(&gen, ident + 40, 8);
  OK(ferry_sub_open_pins(ch, &pins));
  CHECK_RC(ferry_sub_take_pin(pins, seq, gen, &m), FERRY_E_CORRUPT);
  OK(ferry_sub_close(pins));
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("inline: (f) hostile inline lengths and flags: ok\n");
}

/* ---------------------------------------------------------------- (g) */
struct killed_arg {
  const char *name;
  int hold; /* 1: receive 3 and hold them; 0: receive forever */
  volatile int *ready;
};

static int killed_main(void *arg) {
  struct killed_arg *a = arg;
  ferry_channel *ch;
  ferry_sub *sub;
  ferry_msg_info m;
  if (ferry_channel_open(a->name, &ch) || ferry_sub_open(ch, NULL, &sub)) return 2;
  bump_counter(a->ready);
  for (int got = 0;;) {
    int r = ferry_sub_try_receive(sub, &m);
    if (r == FERRY_E_AGAIN) continue;
    if (r) return 3;
    if (!a->hold) {
      ferry_sub_release(sub, m.token);
      continue;
    }
    if (++got == 3) bump_counter(a->ready);
  }
}

static void killed(void) {
  const char *name = test_name("inl-killed");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *live;
  OK(ferry_channel_create(name, 1 << 16, SLOTS, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 10ll * 1000 * 1000 * 1000, &pub));
  OK(ferry_pub_inline(pub, FERRY_INLINE_MAX));
  OK(ferry_sub_open(ch, NULL, &live));
  volatile int *ready = shared_alloc(2 * sizeof(int));
  struct killed_arg ha = {.name = name, .hold = 1, .ready = &ready[0]};
  struct killed_arg sa = {.name = name, .hold = 0, .ready = &ready[1]};
  pid_t holder = fork_child(killed_main, &ha);
  pid_t spinner = fork_child(killed_main, &sa);
  CHECK(wait_counter(&ready[0], 1, 5000) == 0 && wait_counter(&ready[1], 1, 5000) == 0);
  uint64_t n = 0;
  for (; n < 3; n++) {
    OK(send_n(pub, 16, n));
    recv_n(live, 16, n);
  }
  CHECK(wait_counter(&ready[0], 2, 5000) == 0); /* the holder holds 3 inline messages */
  for (int round = 0; round < 200; round++, n++) { /* the spinner claims while we publish; kill it mid-way */
    OK(send_n(pub, 16, n));
    recv_n(live, 16, n);
    if (round == 100) {
      kill(spinner, SIGKILL);
      kill(holder, SIGKILL);
    }
  }
  CHECK(wait_child(spinner) != 0 && wait_child(holder) != 0);
  CHECK(ferry_channel_reap(ch) >= 0);
  ferry_stats st = stats(ch);
  CHECK(st.subscribers == 1 && st.arena_used == 0);
  /* nothing leaked: a full ring's worth more goes through, the head catches up with the tail */
  for (uint64_t k = 0; k < 3 * SLOTS; k++, n++) {
    OK(send_n(pub, 16, n));
    recv_n(live, 16, n);
  }
  ferry_msg_info li;
  OK(ferry_pub_loan(pub, 1000, &li)); /* an arena loan reclaims released descriptors */
  OK(ferry_pub_unloan(pub, li.token));
  OK(ferry__chan_lock(ch));
  CHECK(ferry__orphans_fix(ch) == 0);
  ferry__ring_reclaim(ch, true);
  ferry__chan_unlock(ch);
  st = stats(ch);
  CHECK(st.head == st.tail && st.arena_used == 0);
  OK(ferry_sub_close(live));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("inline: (g) subscribers killed holding / claiming inline messages: reaped, nothing leaks: ok\n");
}

/* ---------------------------------------------------------------- release later */
static void release_later(void) {
  const char *name = test_name("inl-later");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_msg_info m, big;
  OK(ferry_channel_create(name, 1 << 16, 512, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(ferry_pub_inline(pub, FERRY_INLINE_MAX));
  OK(ferry_sub_open(ch, NULL, &sub));
  uint32_t *later = ferry_sub_release_later(sub);
  CHECK(later != NULL && ferry_sub_release_later(NULL) == NULL);
  /* an arena message: its bit is ignored (it still holds its reference) */
  char hdr[100];
  memset(hdr, 'h', sizeof hdr);
  OK(ferry_pub_send(pub, "x", 1, hdr, sizeof hdr, NULL)); /* 1 + 100 B: through the arena */
  OK(ferry_sub_try_receive(sub, &big));
  CHECK(!(big.flags & FERRY_MSG_INLINE));
  later[big.token / 32] |= 1u << (big.token % 32);
  /* hold every other record with inline messages: the table is full */
  uint32_t toks[FERRY_MAX_HELD];
  for (int i = 0; i < FERRY_MAX_HELD - 1; i++) {
    OK(send_n(pub, 8, (uint64_t)i));
    OK(ferry_sub_try_receive(sub, &m));
    CHECK(m.flags & FERRY_MSG_INLINE);
    toks[i] = m.token;
  }
  OK(send_n(pub, 8, 1000));
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_LIMIT); /* the arena message's bit freed nothing */
  CHECK(stats(ch).arena_used > 0);
  /* released later: the next receive reuses the record, its neighbours keep their bytes */
  uint32_t t = toks[5];
  later[t / 32] |= 1u << (t % 32);
  OK(ferry_sub_try_receive(sub, &m));
  CHECK(m.token == t);
  for (uint64_t k = 0; k < 8; k++) CHECK(((const uint8_t *)(uintptr_t)m.data)[k] == pat(1000, k));
  /* a bit set, then a release now of the same token: the bit must not free the record's next message */
  later[t / 32] |= 1u << (t % 32);
  OK(ferry_sub_release(sub, t));
  OK(send_n(pub, 8, 1001));
  OK(ferry_sub_try_receive(sub, &m));
  CHECK(m.token == t); /* the only free record */
  OK(send_n(pub, 8, 1002));
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_LIMIT);
  OK(ferry_sub_release(sub, t)); /* still held */
  for (int i = 0; i < FERRY_MAX_HELD - 1; i++)
    if (i != 5) later[toks[i] / 32] |= 1u << (toks[i] % 32);
  CHECK(recv_n(sub, 8, 1002) & FERRY_MSG_INLINE);
  OK(ferry_sub_release(sub, big.token));
  /* many more receives than records, each released later */
  for (uint64_t i = 0; i < 4 * FERRY_MAX_HELD; i++) {
    OK(send_n(pub, 16, i));
    OK(ferry_sub_try_receive(sub, &m));
    for (uint64_t k = 0; k < 16; k++) CHECK(((const uint8_t *)(uintptr_t)m.data)[k] == pat(i, k));
    later[m.token / 32] |= 1u << (m.token % 32);
  }
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("inline: release later (bits applied by the next receive, arena bits ignored): ok\n");
}

int main(void) {
  test_init("inline");
  round_trip();
  release_later();
  fan_out();
  history();
  drop_oldest();
  block_wakes();
  hostile();
  killed();
  CHECK_NO_LEFTOVERS();
  return test_failures_ ? 1 : 0;
}
