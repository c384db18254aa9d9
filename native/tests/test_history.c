/*
 * test_history: history on create (ferry_channel_create2(..., history = k)).
 * White box: it reads the ring and forges shared words.
 *
 *  (a) arguments: k >= ring slots is FERRY_E_INVAL, k = slots - 1 is fine;
 *      ferry_channel_info / ferry_stats report k and what the history holds.
 *  (b) a late subscriber gets the last k messages (bytes checked), then live
 *      ones, no gap, no duplicate; a second late one gets the same; history 0
 *      behaves as before (a late subscriber gets nothing old).
 *  (c) end of stream: every publisher closed, a subscriber created afterwards
 *      gets the history, then FERRY_E_EOF.
 *  (d) groups: a group created late gets the history once, shared by its
 *      members (a member joining later finds it taken); a new group gets it again.
 *  (e) full: a small arena / ring full of history never makes a publisher
 *      wait or fail (block with timeout 0, error, drop-oldest); history held
 *      by a stalled reader is waited for as before (block: TIMEOUT), and
 *      drop-oldest drops it without hanging.
 *  (f) reaping and the orphan repair count history references as legitimate:
 *      a dead subscriber's messages come back, history messages stay intact,
 *      the repair drops nothing of them; arena_used = the history's messages.
 *  (g) a publisher killed holding the lock mid-publish (after the tail store,
 *      before it dropped the oldest history reference): the next publish
 *      repairs, the history is k messages again and the bitmap is exact.
 *  (h) hostile values: a header whose history is >= ring slots (checksum fixed
 *      up) is refused at open (FERRY_E_CORRUPT); forged ENT_HIST flags on old
 *      or reclaimed descriptors and a forged refcount are not trusted (the
 *      late subscriber still starts at the real history, the repair drops
 *      the forged reference).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>

#include "util.h"

#include "channel.h"
#include "publisher.h"
#include "shm/layout.h"
#include "shm/members.h"
#include "shm/ring.h"
#include "shm/segment.h"

#define SLOTS 16u
#define K 3u
#define LEN 1000u /* 16 granules of 64 B: a 4 KiB arena holds 4 */

static uint8_t pat(uint64_t n, uint64_t i) { return (uint8_t)(n * 37 + i * 13 + 5); }

/* Message number n (its payload says n, whatever its seq). */
static int send_n(ferry_pub *pub, uint64_t n) {
  uint8_t buf[LEN];
  for (uint64_t i = 0; i < LEN; i++) buf[i] = pat(n, i);
  return ferry_pub_send(pub, buf, LEN, NULL, 0, NULL);
}

/* Receive one message: it must be number n with its bytes intact; released. */
static void recv_n(ferry_channel *ch, ferry_sub *sub, uint64_t n) {
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch, &ci));
  const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  ferry_msg_info m;
  OK(ferry_sub_try_receive(sub, &m));
  if (m.seq != n || m.length != LEN) {
    fprintf(stderr, "got seq %llu length %llu, want %llu\n", (unsigned long long)m.seq, (unsigned long long)m.length,
            (unsigned long long)n);
    exit(1);
  }
  for (uint64_t i = 0; i < LEN; i++) CHECK(ro[m.offset + i] == pat(n, i));
  OK(ferry_sub_release(sub, m.token));
}

static uint64_t popcount_bitmap(ferry_channel *ch) {
  uint64_t n = 0;
  for (uint64_t w = 0; w < ch->nwords; w++) n += (uint64_t)__builtin_popcountll(ch->bitmap[w]);
  return n;
}

static ferry_stats stats(ferry_channel *ch) {
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  return st;
}

/* The arena holds exactly `msgs` payloads of LEN bytes, and the bitmap agrees. */
static void expect_held(ferry_channel *ch, uint64_t msgs) {
  ferry_stats st = stats(ch);
  uint64_t want = msgs * ((LEN + ch->granule - 1) / ch->granule) * ch->granule;
  if (st.arena_used != want || popcount_bitmap(ch) * ch->granule != want) {
    fprintf(stderr, "arena_used %llu, bitmap %llu, want %llu (%llu messages)\n", (unsigned long long)st.arena_used,
            (unsigned long long)(popcount_bitmap(ch) * ch->granule), (unsigned long long)want,
            (unsigned long long)msgs);
    exit(1);
  }
}

/* ---------------------------------------------------------------- (a) */
static void args(void) {
  const char *name = test_name("hist-args");
  ferry_channel *ch;
  EXPECT_RC(ferry_channel_create2(name, 1 << 16, SLOTS, 0, SLOTS, &ch), FERRY_E_INVAL);
  EXPECT(strstr(ferry_last_error(), "history") != NULL);
  EXPECT_RC(ferry_channel_create2(name, 1 << 16, 0, 0, FERRY_DEFAULT_RING, &ch), FERRY_E_INVAL); /* default ring */
  EXPECT_RC(ferry_channel_create2(name, 1 << 16, SLOTS, 0, UINT32_MAX, &ch), FERRY_E_INVAL);
  CHECK(!shm_exists(name));
  OK(ferry_channel_create2(name, 1 << 16, SLOTS, 0, SLOTS - 1, &ch));
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch, &ci));
  CHECK(ci.history == SLOTS - 1);
  CHECK(stats(ch).history == 0);
  OK(ferry_channel_close(ch));
  OK(ferry_channel_create(name, 1 << 16, SLOTS, 0, &ch)); /* the old call: no history */
  OK(ferry_channel_info_get(ch, &ci));
  CHECK(ci.history == 0);
  OK(ferry_channel_close(ch));
  printf("history: (a) arguments: ok\n");
}

/* ---------------------------------------------------------------- (b) */
static void late_joiner(uint32_t k) {
  const char *name = test_name(k ? "hist-late" : "hist-none");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *a, *b;
  ferry_msg_info m;
  OK(ferry_channel_create2(name, 1 << 16, SLOTS, 0, k, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  for (uint64_t n = 0; n < 5; n++) OK(send_n(pub, n));
  CHECK(stats(ch).history == k);
  expect_held(ch, k);
  OK(ferry_sub_open(ch, NULL, &a));
  for (uint64_t n = 5 - k; n < 5; n++) recv_n(ch, a, n);
  CHECK_RC(ferry_sub_try_receive(a, &m), FERRY_E_AGAIN);
  OK(send_n(pub, 5));
  OK(ferry_sub_open(ch, NULL, &b)); /* joins after message 5: history is 6-k..5 */
  OK(send_n(pub, 6));
  recv_n(ch, a, 5);
  recv_n(ch, a, 6);
  CHECK_RC(ferry_sub_try_receive(a, &m), FERRY_E_AGAIN);
  for (uint64_t n = 6 - k; n < 7; n++) recv_n(ch, b, n);
  CHECK_RC(ferry_sub_try_receive(b, &m), FERRY_E_AGAIN);
  /* many more, both reading: no gap, no duplicate, the history stays k and the arena k messages */
  for (uint64_t n = 7; n < 7 + 5 * SLOTS; n++) {
    OK(send_n(pub, n));
    recv_n(ch, a, n);
    recv_n(ch, b, n);
  }
  OK(ferry_sub_close(a));
  OK(ferry_sub_close(b));
  OK(ferry_channel_reap(ch));
  expect_held(ch, k);
  CHECK(stats(ch).history == k);
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("history: (b) late subscribers, history %u: ok\n", k);
}

/* ---------------------------------------------------------------- (c) */
static void after_eos(void) {
  const char *name = test_name("hist-eos");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_msg_info m;
  OK(ferry_channel_create2(name, 1 << 16, SLOTS, 0, K, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 1000000000ll, &pub));
  for (uint64_t n = 0; n < 5; n++) OK(send_n(pub, n));
  OK(ferry_pub_close(pub));
  expect_held(ch, K); /* closing the last publisher leaves the history */
  OK(ferry_sub_open(ch, NULL, &sub));
  for (uint64_t n = 5 - K; n < 5; n++) recv_n(ch, sub, n);
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_EOF);
  CHECK_RC(ferry_sub_receive(sub, &m, FERRY_WAIT_BLOCK, 1000000000ll), FERRY_E_EOF);
  OK(ferry_sub_close(sub));
  expect_held(ch, K);
  OK(ferry_channel_close(ch));
  printf("history: (c) after every publisher closed: history, then EOF: ok\n");
}

/* ---------------------------------------------------------------- (d) */
static void groups(void) {
  const char *name = test_name("hist-group");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *w1, *w2, *h1;
  ferry_msg_info m;
  OK(ferry_channel_create2(name, 1 << 16, SLOTS, 0, K, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  for (uint64_t n = 0; n < 5; n++) OK(send_n(pub, n));
  OK(ferry_sub_open(ch, "workers", &w1)); /* a new group: the history, once */
  recv_n(ch, w1, 2);
  OK(ferry_sub_open(ch, "workers", &w2)); /* a member of an existing group: the group's cursor */
  recv_n(ch, w2, 3);
  recv_n(ch, w1, 4);
  CHECK_RC(ferry_sub_try_receive(w1, &m), FERRY_E_AGAIN);
  CHECK_RC(ferry_sub_try_receive(w2, &m), FERRY_E_AGAIN);
  OK(ferry_sub_open(ch, "other", &h1)); /* another new group: the history again */
  for (uint64_t n = 2; n < 5; n++) recv_n(ch, h1, n);
  OK(send_n(pub, 5));
  recv_n(ch, h1, 5);
  recv_n(ch, w2, 5);
  CHECK_RC(ferry_sub_try_receive(w1, &m), FERRY_E_AGAIN);
  OK(ferry_sub_close(w1));
  OK(ferry_sub_close(w2));
  OK(ferry_sub_close(h1));
  OK(ferry_pub_close(pub));
  expect_held(ch, K);
  OK(ferry_channel_close(ch));
  printf("history: (d) a late group gets the history once, shared by its members: ok\n");
}

/* ---------------------------------------------------------------- (e) */
static void full(void) {
  const char *name = test_name("hist-full");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_msg_info m;
  /* a 4 KiB arena of 64 B granules holds 4 messages of LEN; a history of 7 wants more */
  OK(ferry_channel_create2(name, 4096, SLOTS, 0, 7, &ch));
  for (uint32_t bp = FERRY_BP_BLOCK; bp <= FERRY_BP_DROP_OLDEST; bp++) {
    OK(ferry_pub_open(ch, bp, 0, &pub)); /* timeout 0: a wait would be FERRY_E_TIMEOUT at once */
    const uint64_t base = (uint64_t)bp * 3 * SLOTS, end = base + 3 * SLOTS; /* seqs go on across rounds */
    for (uint64_t n = base; n < end; n++) {
      int r = send_n(pub, n);
      if (r) {
        fprintf(stderr, "bp %u: message %llu: %s (%s)\n", bp, (unsigned long long)n, ferry_err_name(r), ferry_last_error());
        exit(1);
      }
    }
    CHECK(stats(ch).history == 4); /* as many as the arena holds */
    /* a late subscriber gets the 4 newest */
    OK(ferry_sub_open(ch, NULL, &sub));
    for (uint64_t n = end - 4; n < end; n++) recv_n(ch, sub, n);
    CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);
    OK(ferry_sub_close(sub));
    OK(ferry_pub_close(pub));
  }
  OK(ferry_channel_close(ch));

  /* the ring full of history: slots - 1 history messages, a reader keeping up */
  name = test_name("hist-ring");
  OK(ferry_channel_create2(name, 1 << 16, 8, 0, 7, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 0, &pub));
  OK(ferry_sub_open(ch, NULL, &sub));
  for (uint64_t n = 0; n < 100; n++) {
    OK(send_n(pub, n));
    recv_n(ch, sub, n);
  }
  CHECK(stats(ch).history == 7);
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));

  /* a stalled reader holds the arena: block waits for it as without history (history is
   * dropped first, but frees nothing the reader holds); drop-oldest drops its unread messages */
  name = test_name("hist-stall");
  OK(ferry_channel_create2(name, 4096, SLOTS, 0, 2, &ch));
  OK(ferry_sub_open(ch, NULL, &sub));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 20 * 1000000ll, &pub));
  for (uint64_t n = 0; n < 4; n++) OK(send_n(pub, n));
  CHECK_RC(send_n(pub, 4), FERRY_E_TIMEOUT);
  OK(ferry_pub_close(pub));
  OK(ferry_pub_open(ch, FERRY_BP_DROP_OLDEST, 20 * 1000000ll, &pub));
  for (uint64_t n = 4; n < 20; n++) OK(send_n(pub, n));
  ferry_stats st = stats(ch);
  CHECK(st.dropped > 0);
  uint64_t last = 0, got = 0;
  while (ferry_sub_try_receive(sub, &m) == 0) { /* what is left: in order, the newest last */
    CHECK(got == 0 || m.seq > last);
    last = m.seq;
    got++;
    OK(ferry_sub_release(sub, m.token));
  }
  CHECK(got > 0 && last == 19);
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("history: (e) full arena / ring: history is dropped, no wait, no error: ok\n");
}

/* ---------------------------------------------------------------- (f) */
static void reap_and_repair(void) {
  const char *name = test_name("hist-reap");
  ferry_channel *ch;
  ferry_pub *pub;
  OK(ferry_channel_create2(name, 1 << 16, SLOTS, 0, K, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  int *stage = shared_alloc(sizeof(int) * 2);
  pid_t pid = fork();
  if (pid == 0) { /* a subscriber that takes two messages and dies holding them */
    ferry_channel *c2;
    ferry_sub *s2;
    ferry_msg_info m;
    OK(ferry_channel_open(name, &c2));
    OK(ferry_sub_open(c2, NULL, &s2));
    __atomic_store_n(&stage[0], 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&stage[1], __ATOMIC_ACQUIRE) == 0) sleep_ms(1);
    OK(ferry_sub_try_receive(s2, &m));
    OK(ferry_sub_try_receive(s2, &m));
    kill(getpid(), SIGKILL);
  }
  while (__atomic_load_n(&stage[0], __ATOMIC_ACQUIRE) == 0) sleep_ms(1);
  for (uint64_t n = 0; n < 8; n++) OK(send_n(pub, n));
  __atomic_store_n(&stage[1], 1, __ATOMIC_RELEASE);
  CHECK(wait_child(pid) == 128 + SIGKILL);
  CHECK(ferry_channel_reap(ch) == 1);
  expect_held(ch, K); /* the dead one's 8 came back but the history's 3 */
  /* the repair finds nothing to drop: with no consumer every history message is below `low` */
  OK(ferry__chan_lock(ch));
  CHECK(ferry__orphans_fix(ch) == 0);
  ferry__chan_unlock(ch);
  expect_held(ch, K);
  ferry_sub *sub;
  OK(ferry_sub_open(ch, NULL, &sub));
  for (uint64_t n = 5; n < 8; n++) recv_n(ch, sub, n);
  /* with a live reader part way: the repair leaves its references and the history's */
  OK(send_n(pub, 8));
  OK(send_n(pub, 9));
  ferry_msg_info held;
  OK(ferry_sub_try_receive(sub, &held)); /* holds 8 */
  OK(ferry__chan_lock(ch));
  CHECK(ferry__orphans_fix(ch) == 0);
  ferry__chan_unlock(ch);
  OK(ferry_sub_release(sub, held.token));
  recv_n(ch, sub, 9);
  OK(ferry_sub_close(sub));
  expect_held(ch, K);
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  munmap(stage, sizeof(int) * 2);
  printf("history: (f) reaping and the orphan repair keep the history: ok\n");
}

/* ---------------------------------------------------------------- (g) */
static void take_lock(ferry_channel *ch) {
  for (;;) {
    uint32_t z = 0;
    if (atomic_compare_exchange_strong(&ch->ctrl->lock, &z, (uint32_t)getpid())) return;
    usleep(100);
  }
}

static void crash_mid_publish(void) {
  const char *name = test_name("hist-crash");
  ferry_channel *ch;
  ferry_pub *pub;
  OK(ferry_channel_create2(name, 1 << 16, SLOTS, 0, K, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 2000000000ll, &pub));
  for (uint64_t n = 0; n < 5; n++) OK(send_n(pub, n));
  pid_t pid = fork();
  if (pid == 0) {
    ferry_channel *c2;
    ferry_pub *p2;
    ferry_msg_info li;
    OK(ferry_channel_open(name, &c2));
    OK(ferry_pub_open(c2, FERRY_BP_ERROR, 0, &p2));
    uint8_t *rw = (uint8_t *)(uintptr_t)ferry_pub_arena(p2);
    OK(ferry_pub_loan(p2, LEN, &li));
    take_lock(c2);
    /* ferry__ring_publish up to the tail store; dies before dropping message 2's history reference */
    struct ferry_ctrl *c = c2->ctrl;
    struct ferry_part *part = &c2->parts[((struct ferry_pub *)p2)->part];
    uint64_t s = c->tail;
    for (uint64_t i = 0; i < LEN; i++) rw[li.offset + i] = pat(s, i);
    struct ferry_held hd = part->held[li.token];
    part->held[li.token].used = 0;
    struct ferry_entry *e = &c2->ring[s & c2->ring_mask];
    e->pay_gran = (uint32_t)hd.a;
    e->pay_len = LEN;
    e->pay_ngran = hd.b;
    e->hdr_gran = e->hdr_len = e->hdr_ngran = 0;
    e->publisher = ((struct ferry_pub *)p2)->part;
    e->flags = ENT_HIST;
    atomic_store(&e->refs, c->n_consumers_active + 1);
    atomic_store_explicit(&e->seq, s + 1, memory_order_release);
    c->tail = s + 1;
    c->published++;
    kill(getpid(), SIGKILL);
  }
  CHECK(wait_child(pid) == 128 + SIGKILL);
  /* the next publish takes the dead holder's lock over and repairs */
  OK(send_n(pub, 6));
  ferry_stats st = stats(ch);
  CHECK(st.tail == 7);
  CHECK(st.history == K);
  CHECK(st.reclaimed == 1);
  expect_held(ch, K);
  ferry_sub *sub;
  OK(ferry_sub_open(ch, NULL, &sub));
  for (uint64_t n = 4; n < 7; n++) recv_n(ch, sub, n); /* 5 was published by the dead one, pattern pat(5) */
  for (uint64_t n = 7; n < 7 + 3 * SLOTS; n++) {
    OK(send_n(pub, n));
    recv_n(ch, sub, n);
  }
  OK(ferry_sub_close(sub));
  OK(ferry_channel_reap(ch));
  expect_held(ch, K);
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("history: (g) a publisher killed mid-publish: repaired, history exact: ok\n");
}

/* ---------------------------------------------------------------- (h) */
static void hostile(void) {
  char path[256];
  const char *name = test_name("hist-hostile");
  ferry_channel *ch, *c2;
  ferry_pub *pub;
  OK(ferry_channel_create2(name, 1 << 16, SLOTS, 0, K, &ch));
  /* the header says history >= ring slots: refused at open, checksum or not */
  shm_path_of(name, path, sizeof path);
  int fd = open(path, O_RDWR);
  CHECK(fd >= 0);
  struct ferry_seg_hdr h, orig;
  CHECK(pread(fd, &orig, sizeof orig, 0) == (ssize_t)sizeof orig);
  h = orig;
  h.history = h.ring_slots;
  h.checksum = ferry__checksum(&h);
  CHECK(pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
  CHECK_RC(ferry_channel_open(name, &c2), FERRY_E_CORRUPT);
  EXPECT(strstr(ferry_last_error(), "history") != NULL);
  h.history = UINT32_MAX;
  h.checksum = ferry__checksum(&h);
  CHECK(pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
  CHECK_RC(ferry_channel_open(name, &c2), FERRY_E_CORRUPT);
  h.history = 1; /* without a checksum fix-up */
  CHECK(pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
  CHECK_RC(ferry_channel_open(name, &c2), FERRY_E_CORRUPT);
  CHECK(pwrite(fd, &orig, sizeof orig, 0) == (ssize_t)sizeof orig);
  close(fd);
  OK(ferry_channel_open(name, &c2));
  OK(ferry_channel_close(c2));

  /* forged history flags on the ring: a reader holding message 0 keeps the window at [0, tail) */
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  ferry_sub *old, *sub;
  ferry_msg_info m, held0;
  OK(ferry_sub_open(ch, NULL, &old));
  for (uint64_t n = 0; n < 10; n++) OK(send_n(pub, n));
  OK(ferry_sub_try_receive(old, &held0));
  CHECK(held0.seq == 0);
  for (uint64_t n = 1; n < 10; n++) recv_n(ch, old, n);
  /* message 5: flag forged on a released descriptor; message 6: flag and a reference forged
   * (as a real history message looks), both outside the last K = 7..9 */
  struct ferry_entry *e5 = &ch->ring[5 & ch->ring_mask], *e6 = &ch->ring[6 & ch->ring_mask];
  CHECK(atomic_load(&e5->seq) == 6 && atomic_load(&e6->seq) == 7);
  __atomic_fetch_or(&e5->flags, ENT_HIST, __ATOMIC_SEQ_CST);
  __atomic_fetch_or(&e6->flags, ENT_HIST, __ATOMIC_SEQ_CST);
  atomic_store(&e6->refs, 1);
  OK(ferry_sub_open(ch, NULL, &sub)); /* starts at 7: the window of the last K bounds the walk */
  for (uint64_t n = 7; n < 10; n++) recv_n(ch, sub, n);
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);
  OK(ferry_sub_close(sub));
  CHECK(stats(ch).history == K);
  OK(ferry__chan_lock(ch));
  int fixed = ferry__orphans_fix(ch);
  ferry__chan_unlock(ch);
  CHECK(fixed == 1); /* message 6's forged reference; the history's three are kept */
  CHECK(!(e6->flags & ENT_HIST));
  CHECK(atomic_load(&e6->refs) == 0);
  CHECK(stats(ch).history == K);
  /* a gap: message 8 loses its flag (a peer cleared it): a late joiner starts after the gap */
  struct ferry_entry *e8 = &ch->ring[8 & ch->ring_mask];
  __atomic_fetch_and(&e8->flags, ~(uint32_t)ENT_HIST, __ATOMIC_SEQ_CST);
  OK(ferry_sub_open(ch, NULL, &sub));
  recv_n(ch, sub, 9);
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);
  OK(ferry_sub_close(sub));
  OK(ferry_sub_release(old, held0.token));
  OK(ferry_sub_close(old));
  /* a forged huge refcount on a history message: the publisher still goes on (it cannot free
   * that one, it frees others), nothing hangs */
  struct ferry_entry *e7 = &ch->ring[7 & ch->ring_mask];
  atomic_store(&e7->refs, UINT32_MAX);
  for (uint64_t n = 10; n < 10 + 2 * SLOTS; n++) {
    int r = send_n(pub, n);
    if (r) CHECK(r == FERRY_E_FULL); /* the forged reference wedges the ring slot: an error, no hang */
  }
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  printf("history: (h) hostile history values: bounded: ok\n");
}

int main(void) {
  args();
  late_joiner(K);
  late_joiner(0);
  after_eos();
  groups();
  full();
  reap_and_repair();
  crash_mid_publish();
  hostile();
  return test_failures_ ? 1 : 0;
}
