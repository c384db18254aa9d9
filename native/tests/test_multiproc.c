/*
 * Several processes on one channel (fork).
 *  (a) 2 publishers x 20k messages (pubid, counter), 1 subscriber: per-publisher
 *      order and completeness, FERRY_BP_BLOCK on a small ring and arena.
 *  (b) broadcast to 3 forked subscribers: each sees every message, intact.
 *  (c) group "w" of 3 forked subscribers (plus one broadcast subscriber) on 10k
 *      messages: every message reaches exactly one member.
 *  (d) ferry_sub_receive with SPIN, BLOCK and HYBRID across processes:
 *      ping-pong, wake-up latency after a delayed publish, timeout, end of stream.
 *  (e) ferry_sub_notify_fd: the eventfd turns readable when a child publishes.
 */
#include <poll.h>
#include <stdatomic.h>

#include "util.h"

static const char *BASE = "mp";

typedef struct {
  uint32_t pubid, counter;
  uint64_t check;
} rec_t;

static uint8_t pat(uint32_t a, uint32_t b, uint64_t i) { return (uint8_t)(a * 97 + b * 31 + i * 7 + 3); }

/* message = rec_t + (counter % 200) pattern bytes; header on every 7th */
static int send_rec(ferry_pub *pub, uint8_t *rw, uint32_t pubid, uint32_t counter) {
  uint64_t extra = counter % 200, len = sizeof(rec_t) + extra;
  ferry_msg_info li;
  int r = ferry_pub_loan(pub, len, &li);
  if (r) return r;
  rec_t rec = {pubid, counter, (uint64_t)pubid * 1000003u + counter};
  memcpy(rw + li.offset, &rec, sizeof rec);
  for (uint64_t i = 0; i < extra; i++) rw[li.offset + sizeof rec + i] = pat(pubid, counter, i);
  char hdr[64];
  int hl = counter % 7 == 0 ? snprintf(hdr, sizeof hdr, "{\"p\":%u,\"c\":%u}", pubid, counter) : 0;
  r = ferry_pub_publish(pub, li.token, len, hdr, (uint32_t)hl, NULL);
  if (r) ferry_pub_unloan(pub, li.token);
  return r;
}

/* Validate a received record; returns it. */
static rec_t check_rec(const uint8_t *ro, const ferry_msg_info *m) {
  rec_t rec;
  CHECK(m->length >= sizeof rec);
  memcpy(&rec, ro + m->offset, sizeof rec);
  CHECK(rec.check == (uint64_t)rec.pubid * 1000003u + rec.counter);
  CHECK(m->length == sizeof rec + rec.counter % 200);
  for (uint64_t i = 0; i < rec.counter % 200; i++) CHECK(ro[m->offset + sizeof rec + i] == pat(rec.pubid, rec.counter, i));
  if (rec.counter % 7 == 0) {
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "{\"p\":%u,\"c\":%u}", rec.pubid, rec.counter);
    CHECK(m->hdr_length == (uint32_t)hl && memcmp(ro + m->hdr_offset, hdr, (size_t)hl) == 0);
  } else {
    CHECK(m->hdr_length == 0);
  }
  return rec;
}

struct shared {
  int ready, go, done[8], count[8];
  uint64_t send_ns;
  int hits[10000];
};

struct pubarg {
  const char *name;
  struct shared *sh;
  uint32_t pubid, n;
};

/* ---------------------------------------------------------------- (a) */
static int pub_main(void *arg) {
  struct pubarg *a = arg;
  ferry_channel *ch;
  ferry_pub *pub;
  OK(ferry_channel_open(a->name, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 10000ll * 1000 * 1000, &pub));
  uint8_t *rw = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  bump_counter(&a->sh->ready);
  CHECK(wait_counter(&a->sh->go, 1, 10000) == 0);
  for (uint32_t i = 0; i < a->n; i++) OK(send_rec(pub, rw, a->pubid, i));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  return 0;
}

static void test_two_publishers(void) {
  char name[96];
  test_name_sub(name, sizeof name, BASE, "a");
  ferry_channel *ch;
  ferry_sub *sub;
  ferry_channel_info ci;
  OK(ferry_channel_create(name, 256 * 1024, 64, 0, &ch));
  OK(ferry_channel_info_get(ch, &ci));
  const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  OK(ferry_sub_open(ch, NULL, &sub));
  struct shared *sh = shared_alloc(sizeof *sh);
  const uint32_t N = 20000;
  struct pubarg args[2] = {{name, sh, 0, N}, {name, sh, 1, N}};
  pid_t pids[2];
  for (int i = 0; i < 2; i++) pids[i] = fork_child(pub_main, &args[i]);
  /* both publishers join before either starts, else the first one to finish would end the stream */
  CHECK(wait_counter(&sh->ready, 2, 10000) == 0);
  uint64_t t0 = now_ns();
  __atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
  uint32_t next[2] = {0, 0};
  uint64_t last_seq = 0, got = 0;
  ferry_msg_info m;
  int r;
  while ((r = ferry_sub_receive(sub, &m, FERRY_WAIT_BLOCK, 10000ll * 1000 * 1000)) == 0) {
    rec_t rec = check_rec(ro, &m);
    CHECK(rec.pubid < 2);
    if (rec.counter != next[rec.pubid]) {
      fprintf(stderr, "publisher %u: got counter %u, want %u\n", rec.pubid, rec.counter, next[rec.pubid]);
      exit(1);
    }
    next[rec.pubid]++;
    CHECK(got == 0 || m.seq == last_seq + 1);
    last_seq = m.seq;
    got++;
    OK(ferry_sub_release(sub, m.token));
  }
  CHECK_RC(r, FERRY_E_EOF);
  double secs = (double)(now_ns() - t0) / 1e9;
  CHECK(next[0] == N && next[1] == N && got == 2 * N);
  for (int i = 0; i < 2; i++) CHECK(wait_child_ms(pids[i], 10000) == 0);
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.published == 2 * N && st.dropped == 0 && st.publishers == 0 && st.reclaimed == 0);
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  munmap(sh, sizeof *sh);
  printf("  (a) 2 publishers x %u -> 1 subscriber: in order and complete, %.2f s\n", N, secs);
}

/* ---------------------------------------------------------------- (b) and (c) */
struct subarg {
  const char *name;
  const char *group;
  struct shared *sh;
  int idx;
  uint32_t wait;
  uint32_t n; /* broadcast: expect exactly seqs 0..n-1 */
};

static int sub_main(void *arg) {
  struct subarg *a = arg;
  ferry_channel *ch;
  ferry_sub *sub;
  ferry_channel_info ci;
  OK(ferry_channel_open(a->name, &ch));
  OK(ferry_channel_info_get(ch, &ci));
  const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  OK(ferry_sub_open(ch, a->group, &sub));
  bump_counter(&a->sh->ready);
  ferry_msg_info m;
  int r, count = 0;
  uint64_t last = 0;
  while ((r = ferry_sub_receive(sub, &m, a->wait, 10000ll * 1000 * 1000)) == 0) {
    rec_t rec = check_rec(ro, &m);
    CHECK(rec.counter == m.seq && m.dropped == 0);
    if (a->group) {
      CHECK(count == 0 || m.seq > last); /* a member's share is still in order */
      CHECK(m.seq < 10000);
      __atomic_add_fetch(&a->sh->hits[m.seq], 1, __ATOMIC_RELAXED);
    } else {
      CHECK(m.seq == (uint64_t)count);
    }
    last = m.seq;
    count++;
    OK(ferry_sub_release(sub, m.token));
  }
  CHECK_RC(r, FERRY_E_EOF);
  if (!a->group) CHECK((uint32_t)count == a->n);
  a->sh->count[a->idx] = count;
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  return 0;
}

static void fanout(const char *suffix, int nsub, const char *group, int nbroadcast, uint32_t N) {
  char name[96];
  test_name_sub(name, sizeof name, BASE, suffix);
  ferry_channel *ch;
  ferry_pub *pub;
  OK(ferry_channel_create(name, 128 * 1024, 32, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 10000ll * 1000 * 1000, &pub));
  uint8_t *rw = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  struct shared *sh = shared_alloc(sizeof *sh);
  struct subarg args[8];
  pid_t pids[8];
  int total = nsub + nbroadcast;
  for (int i = 0; i < total; i++) {
    bool in_group = i < nsub && group;
    args[i] = (struct subarg){name, in_group ? group : NULL, sh, i, i % 2 ? FERRY_WAIT_HYBRID : FERRY_WAIT_BLOCK, N};
    pids[i] = fork_child(sub_main, &args[i]);
  }
  CHECK(wait_counter(&sh->ready, total, 10000) == 0);
  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < N; i++) OK(send_rec(pub, rw, 7, i));
  OK(ferry_pub_close(pub));
  for (int i = 0; i < total; i++) {
    int st = wait_child_ms(pids[i], 20000);
    if (st) {
      fprintf(stderr, "%s subscriber %d exited with %d\n", suffix, i, st);
      exit(1);
    }
  }
  double secs = (double)(now_ns() - t0) / 1e9;
  if (group) {
    long sum = 0;
    for (uint32_t s = 0; s < N; s++)
      if (sh->hits[s] != 1) {
        fprintf(stderr, "group: message %u delivered %d times\n", s, sh->hits[s]);
        exit(1);
      }
    for (int i = 0; i < nsub; i++) sum += sh->count[i];
    CHECK(sum == (long)N);
    for (int i = nsub; i < total; i++) CHECK(sh->count[i] == (int)N);
    printf("  (c) group \"%s\" of %d (+%d broadcast), %u messages: shares %d/%d/%d, each exactly once, %.2f s\n",
           group, nsub, nbroadcast, N, sh->count[0], sh->count[1], sh->count[2], secs);
  } else {
    for (int i = 0; i < total; i++) CHECK(sh->count[i] == (int)N);
    printf("  (b) broadcast to %d subscribers, %u messages each, %.2f s\n", total, N, secs);
  }
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.subscribers == 0 && st.dropped == 0 && st.unheard == 0);
  OK(ferry_channel_close(ch));
  munmap(sh, sizeof *sh);
}

/* ---------------------------------------------------------------- (d) waits */
struct pp {
  char a[96], b[96];
  struct shared *sh;
  uint32_t wait;
  int rounds;
};

static const char *wname(uint32_t w) { return w == FERRY_WAIT_SPIN ? "spin" : w == FERRY_WAIT_BLOCK ? "block" : "hybrid"; }

static int echo_main(void *arg) {
  struct pp *p = arg;
  ferry_channel *ca, *cb;
  ferry_sub *sub;
  ferry_pub *pub;
  OK(ferry_channel_open(p->a, &ca));
  OK(ferry_channel_open(p->b, &cb));
  OK(ferry_sub_open(ca, NULL, &sub));
  OK(ferry_pub_open(cb, FERRY_BP_BLOCK, 5000ll * 1000 * 1000, &pub));
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ca, &ci));
  const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  bump_counter(&p->sh->ready);
  ferry_msg_info m;
  for (int i = 0; i < p->rounds; i++) { /* ping-pong */
    OK(ferry_sub_receive(sub, &m, p->wait, 5000ll * 1000 * 1000));
    uint32_t v;
    CHECK(m.length == 4);
    memcpy(&v, ro + m.offset, 4);
    CHECK(v == (uint32_t)i);
    OK(ferry_sub_release(sub, m.token));
    v = ~v;
    OK(ferry_pub_send(pub, &v, 4, NULL, 0, NULL));
  }
  /* delayed publishes: the parent measures its wake-up latency */
  for (int i = 0; i < 5; i++) {
    CHECK(wait_counter(&p->sh->go, i + 1, 5000) == 0);
    sleep_ms(20);
    __atomic_store_n(&p->sh->send_ns, now_ns(), __ATOMIC_RELEASE);
    uint32_t v = 1000u + (uint32_t)i;
    OK(ferry_pub_send(pub, &v, 4, NULL, 0, NULL));
  }
  CHECK(wait_counter(&p->sh->go, 6, 5000) == 0);
  sleep_ms(20);
  __atomic_store_n(&p->sh->send_ns, now_ns(), __ATOMIC_RELEASE);
  OK(ferry_pub_close(pub)); /* end of stream wakes the waiter too */
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ca));
  OK(ferry_channel_close(cb));
  return 0;
}

static void test_wait(uint32_t wait) {
  struct pp *p = calloc(1, sizeof *p);
  char sfx[32];
  snprintf(sfx, sizeof sfx, "pa-%s", wname(wait));
  test_name_sub(p->a, sizeof p->a, BASE, sfx);
  snprintf(sfx, sizeof sfx, "pb-%s", wname(wait));
  test_name_sub(p->b, sizeof p->b, BASE, sfx);
  p->sh = shared_alloc(sizeof *p->sh);
  p->wait = wait;
  p->rounds = wait == FERRY_WAIT_SPIN ? 200 : 2000; /* spinners may share a core with other load */
  ferry_channel *ca, *cb;
  ferry_pub *pub;
  ferry_sub *sub;
  OK(ferry_channel_create(p->a, 64 * 1024, 16, 0, &ca));
  OK(ferry_channel_create(p->b, 64 * 1024, 16, 0, &cb));
  OK(ferry_pub_open(ca, FERRY_BP_BLOCK, 5000ll * 1000 * 1000, &pub));
  OK(ferry_sub_open(cb, NULL, &sub));
  ferry_channel_info ci;
  OK(ferry_channel_info_get(cb, &ci));
  const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  pid_t pid = fork_child(echo_main, p);
  CHECK(wait_counter(&p->sh->ready, 1, 5000) == 0);
  ferry_msg_info m;
  uint64_t t0 = now_ns();
  for (int i = 0; i < p->rounds; i++) {
    uint32_t v = (uint32_t)i;
    OK(ferry_pub_send(pub, &v, 4, NULL, 0, NULL));
    OK(ferry_sub_receive(sub, &m, wait, 5000ll * 1000 * 1000));
    memcpy(&v, ro + m.offset, 4);
    CHECK(v == ~(uint32_t)i);
    OK(ferry_sub_release(sub, m.token));
  }
  double rtt_us = (double)(now_ns() - t0) / 1e3 / p->rounds;
  /* timeout with nothing published */
  t0 = now_ns();
  CHECK_RC(ferry_sub_receive(sub, &m, wait, 30 * 1000 * 1000), FERRY_E_TIMEOUT);
  double to_ms = (double)(now_ns() - t0) / 1e6;
  CHECK(to_ms >= 29 && to_ms < 500);
  /* wake-up after a delayed publish */
  double worst_ms = 0;
  for (int i = 0; i < 5; i++) {
    bump_counter(&p->sh->go);
    OK(ferry_sub_receive(sub, &m, wait, 5000ll * 1000 * 1000));
    uint64_t lat = now_ns() - __atomic_load_n(&p->sh->send_ns, __ATOMIC_ACQUIRE);
    uint32_t v;
    memcpy(&v, ro + m.offset, 4);
    CHECK(v == 1000u + (uint32_t)i);
    OK(ferry_sub_release(sub, m.token));
    if ((double)lat / 1e6 > worst_ms) worst_ms = (double)lat / 1e6;
  }
  CHECK(worst_ms < 250);
  /* end of stream while waiting */
  bump_counter(&p->sh->go);
  CHECK_RC(ferry_sub_receive(sub, &m, wait, 5000ll * 1000 * 1000), FERRY_E_EOF);
  double eof_ms = (double)(now_ns() - __atomic_load_n(&p->sh->send_ns, __ATOMIC_ACQUIRE)) / 1e6;
  CHECK(eof_ms < 200);
  CHECK(wait_child_ms(pid, 5000) == 0);
  OK(ferry_pub_close(pub));
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ca));
  OK(ferry_channel_close(cb));
  printf("  (d) %-6s: round trip %.1f us, timeout %.1f ms, wake-up <= %.2f ms, EOF after %.2f ms\n", wname(wait),
         rtt_us, to_ms, worst_ms, eof_ms);
  munmap(p->sh, sizeof *p->sh);
  free(p);
}

/* ---------------------------------------------------------------- (e) notify fd */
static int late_pub_main(void *arg) {
  struct pubarg *a = arg;
  ferry_channel *ch;
  ferry_pub *pub;
  OK(ferry_channel_open(a->name, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, -1, &pub));
  bump_counter(&a->sh->ready);
  CHECK(wait_counter(&a->sh->go, 1, 5000) == 0);
  sleep_ms(50);
  uint8_t *rw = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  OK(send_rec(pub, rw, 3, 0));
  CHECK(wait_counter(&a->sh->go, 2, 5000) == 0);
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  return 0;
}

static void test_notify(uint32_t wait) {
  char name[96], sfx[32];
  snprintf(sfx, sizeof sfx, "fd-%s", wname(wait));
  test_name_sub(name, sizeof name, BASE, sfx);
  ferry_channel *ch;
  ferry_sub *sub;
  OK(ferry_channel_create(name, 64 * 1024, 16, 0, &ch));
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch, &ci));
  OK(ferry_sub_open(ch, NULL, &sub));
  int fd = ferry_sub_notify_fd(sub, wait);
  CHECK(fd >= 0);
  CHECK(ferry_sub_notify_fd(sub, wait) == fd);
  struct shared *sh = shared_alloc(sizeof *sh);
  struct pubarg a = {name, sh, 3, 1};
  pid_t pid = fork_child(late_pub_main, &a);
  CHECK(wait_counter(&sh->ready, 1, 5000) == 0);
  struct pollfd pf = {fd, POLLIN, 0};
  OK(ferry_sub_arm(sub));
  CHECK(poll(&pf, 1, 30) == 0); /* nothing yet */
  bump_counter(&sh->go);
  CHECK(poll(&pf, 1, 5000) == 1 && (pf.revents & POLLIN));
  uint64_t v;
  CHECK(read(fd, &v, sizeof v) == sizeof v && v >= 1);
  ferry_msg_info m;
  OK(ferry_sub_try_receive(sub, &m));
  check_rec((const uint8_t *)(uintptr_t)ci.arena_ro, &m);
  OK(ferry_sub_release(sub, m.token));
  /* end of stream also signals */
  OK(ferry_sub_arm(sub));
  bump_counter(&sh->go);
  CHECK(poll(&pf, 1, 5000) == 1);
  CHECK(read(fd, &v, sizeof v) == sizeof v);
  CHECK(wait_child_ms(pid, 5000) == 0);
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_EOF);
  OK(ferry_sub_close(sub)); /* stops the waiter thread */
  OK(ferry_channel_close(ch));
  munmap(sh, sizeof *sh);
  printf("  (e) notify fd (%s): readable on publish and on end of stream\n", wname(wait));
}

int main(void) {
  test_init(BASE);
  uint64_t t0 = now_ns();
  test_two_publishers();
  fanout("b", 3, NULL, 0, 10000);
  fanout("c", 3, "w", 1, 10000);
  test_wait(FERRY_WAIT_BLOCK);
  test_wait(FERRY_WAIT_HYBRID);
  test_wait(FERRY_WAIT_SPIN);
  test_notify(FERRY_WAIT_BLOCK);
  test_notify(FERRY_WAIT_HYBRID);
  CHECK_NO_LEFTOVERS();
  printf("test_multiproc ok (%.2f s)\n", (double)(now_ns() - t0) / 1e9);
  return 0;
}
