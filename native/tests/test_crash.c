/*
 * Crashes (kill -9) of participants.
 *  (a) a lagging subscriber that holds messages is killed: the blocked
 *      publisher (BP_BLOCK, small arena + ring) reaps it while waiting and
 *      goes on; reclaimed >= 1, subscribers decremented, the space comes back;
 *      the other (live) subscriber loses nothing. Once with the dead child
 *      waited for, once left a zombie.
 *  (b) the only publisher is killed while the subscriber waits in
 *      ferry_sub_receive(timeout 5 s): FERRY_E_PEERDEAD within 1 s of the kill
 *      (BLOCK, HYBRID, SPIN); messages published before the crash are still
 *      delivered first.
 *  (c) a process dies while holding the channel lock (in the middle of a
 *      publish, with the shared bitmap and counters scribbled over): the next
 *      loan takes the lock over, repairs, and the accounting is exact again.
 *      A live holder that never lets go gives FERRY_E_BUSY, not a hang.
 *  (d) ferry_gc removes segments whose creator and participants are all dead
 *      (and corrupt ones, and dead temporaries), keeps live ones; creating
 *      over a stale name succeeds, over a name still in use gives EXISTS.
 *      Runs in a private mount namespace with its own /dev/shm where
 *      permitted, so gc does not sweep other tests' leaks away before a leak
 *      check sees them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "publisher.h"
#include "shm/layout.h"
#include "util.h"

static const char *BASE = "crash";

struct shared {
  int ready, holding, go, received;
  uint64_t kill_ns;
};

static uint8_t pat(uint64_t seq, uint64_t i) { return (uint8_t)(seq * 29 + i * 11 + 1); }

static int send_pat(ferry_pub *pub, uint64_t seq, uint64_t len) {
  uint8_t *rw = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  ferry_msg_info li;
  int r = ferry_pub_loan(pub, len, &li);
  if (r) return r;
  for (uint64_t i = 0; i < len; i++) rw[li.offset + i] = pat(seq, i);
  r = ferry_pub_publish(pub, li.token, len, NULL, 0, NULL);
  if (r) ferry_pub_unloan(pub, li.token);
  return r;
}

static void check_pat(const uint8_t *ro, const ferry_msg_info *m) {
  for (uint64_t i = 0; i < m->length; i++) CHECK(ro[m->offset + i] == pat(m->seq, i));
}

static uint64_t popcount_bitmap(ferry_channel *ch) {
  uint64_t n = 0;
  for (uint64_t w = 0; w < ch->nwords; w++) n += (uint64_t)__builtin_popcountll(ch->bitmap[w]);
  return n;
}

/* A killer thread: after delay_ms, SIGKILL pid (and wait for it unless zombie). */
struct killer {
  pthread_t t;
  pid_t pid;
  unsigned delay_ms;
  bool reap;
  uint64_t kill_ns;
  int status;
};
static void *killer_main(void *arg) {
  struct killer *k = arg;
  sleep_ms(k->delay_ms);
  k->kill_ns = now_ns();
  kill(k->pid, SIGKILL);
  if (k->reap) k->status = wait_child(k->pid);
  return NULL;
}
static void killer_start(struct killer *k, pid_t pid, unsigned delay_ms, bool reap) {
  *k = (struct killer){.pid = pid, .delay_ms = delay_ms, .reap = reap};
  CHECK(pthread_create(&k->t, NULL, killer_main, k) == 0);
}
static void killer_join(struct killer *k) {
  pthread_join(k->t, NULL);
  if (!k->reap) k->status = wait_child(k->pid);
  CHECK(k->status == 128 + SIGKILL);
}

/* ---------------------------------------------------------------- (a) */
struct subarg {
  const char *name;
  struct shared *sh;
  int hold; /* >0: receive this many, keep them, then stall */
  uint32_t n;
};

static int lag_main(void *arg) {
  struct subarg *a = arg;
  ferry_channel *ch;
  ferry_sub *sub;
  OK(ferry_channel_open(a->name, &ch));
  OK(ferry_sub_open(ch, NULL, &sub));
  bump_counter(&a->sh->ready);
  ferry_msg_info m;
  for (int i = 0; i < a->hold; i++) OK(ferry_sub_receive(sub, &m, FERRY_WAIT_BLOCK, 5000000000ll));
  bump_counter(&a->sh->holding);
  for (;;) pause(); /* killed here, holding its messages and lagging */
}

static int live_main(void *arg) {
  struct subarg *a = arg;
  ferry_channel *ch;
  ferry_sub *sub;
  ferry_channel_info ci;
  OK(ferry_channel_open(a->name, &ch));
  OK(ferry_channel_info_get(ch, &ci));
  OK(ferry_sub_open(ch, NULL, &sub));
  bump_counter(&a->sh->ready);
  ferry_msg_info m;
  int r;
  uint32_t got = 0;
  while ((r = ferry_sub_receive(sub, &m, FERRY_WAIT_HYBRID, 10000000000ll)) == 0) {
    CHECK(m.seq == got);
    check_pat((const uint8_t *)(uintptr_t)ci.arena_ro, &m);
    OK(ferry_sub_release(sub, m.token));
    got++;
    __atomic_store_n(&a->sh->received, (int)got, __ATOMIC_RELEASE);
  }
  CHECK_RC(r, FERRY_E_EOF);
  CHECK(got == a->n);
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  return 0;
}

static void test_dead_subscriber(bool reap) {
  char name[96];
  test_name_sub(name, sizeof name, BASE, reap ? "a-reaped" : "a-zombie");
  ferry_channel *ch;
  ferry_pub *pub;
  OK(ferry_channel_create(name, 64 * 1024, 16, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 10000ll * 1000 * 1000, &pub));
  struct shared *sh = shared_alloc(sizeof *sh);
  const uint32_t N = 3000;
  struct subarg la = {name, sh, 3, N}, va = {name, sh, 0, N};
  pid_t lag = fork_child(lag_main, &la);
  pid_t live = fork_child(live_main, &va);
  CHECK(wait_counter(&sh->ready, 2, 5000) == 0);
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.subscribers == 2);
  for (uint32_t i = 0; i < 3; i++) OK(send_pat(pub, i, 1000));
  CHECK(wait_counter(&sh->holding, 1, 5000) == 0);
  struct killer k;
  killer_start(&k, lag, 300, reap);
  uint64_t longest = 0, resumed_ns = 0;
  for (uint32_t i = 3; i < N; i++) {
    uint64_t t = now_ns();
    OK(send_pat(pub, i, 1000 + (i % 7) * 500));
    uint64_t d = now_ns() - t;
    if (d > longest) {
      longest = d;
      resumed_ns = now_ns();
    }
  }
  killer_join(&k);
  double blocked_ms = (double)longest / 1e6, after_kill_ms = ((double)resumed_ns - (double)k.kill_ns) / 1e6;
  CHECK(blocked_ms >= 250);    /* it really waited for the dead subscriber */
  CHECK(after_kill_ms < 1000); /* and went on soon after the kill */
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.reclaimed >= 1 && st.subscribers == 1 && st.publishers == 1);
  /* the space held by the dead one came back: once the live one released all, nothing is used */
  CHECK(wait_counter(&sh->received, (int)N, 10000) == 0);
  ferry_msg_info li;
  OK(ferry_pub_loan(pub, 0, &li)); /* a publisher call reclaims released messages */
  OK(ferry_pub_unloan(pub, li.token));
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.arena_used == 0 && st.head == st.tail && popcount_bitmap(ch) == 0);
  OK(ferry_pub_close(pub));
  CHECK(wait_child_ms(live, 10000) == 0);
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.subscribers == 0);
  OK(ferry_channel_close(ch));
  munmap(sh, sizeof *sh);
  printf("  (a) dead lagging subscriber (%s): publisher blocked %.0f ms, resumed %.0f ms after the kill\n",
         reap ? "waited for" : "zombie", blocked_ms, after_kill_ms);
}

/* ---------------------------------------------------------------- (b) */
struct pubarg {
  const char *name;
  struct shared *sh;
  int n;
};

static int pub_then_hang_main(void *arg) {
  struct pubarg *a = arg;
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_msg_info li;
  OK(ferry_channel_open(a->name, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, -1, &pub));
  for (int i = 0; i < a->n; i++) OK(send_pat(pub, (uint64_t)i, 100));
  OK(ferry_pub_loan(pub, 5000, &li)); /* dies with an open loan */
  bump_counter(&a->sh->ready);
  for (;;) pause();
}

static void test_dead_publisher(uint32_t wait, bool reap, bool drain_after) {
  char name[96], sfx[32];
  snprintf(sfx, sizeof sfx, "b-%u-%d-%d", wait, reap, drain_after);
  test_name_sub(name, sizeof name, BASE, sfx);
  ferry_channel *ch;
  ferry_sub *sub;
  ferry_channel_info ci;
  OK(ferry_channel_create(name, 64 * 1024, 16, 0, &ch));
  OK(ferry_channel_info_get(ch, &ci));
  OK(ferry_sub_open(ch, NULL, &sub));
  struct shared *sh = shared_alloc(sizeof *sh);
  struct pubarg a = {name, sh, 5};
  pid_t pid = fork_child(pub_then_hang_main, &a);
  CHECK(wait_counter(&sh->ready, 1, 5000) == 0);
  ferry_msg_info m;
  struct killer k;
  if (drain_after) { /* killed first, then its messages are still delivered */
    killer_start(&k, pid, 0, reap);
    killer_join(&k);
  } else {
    for (int i = 0; i < 5; i++) {
      OK(ferry_sub_receive(sub, &m, wait, 5000000000ll));
      OK(ferry_sub_release(sub, m.token));
    }
    killer_start(&k, pid, 200, reap);
  }
  for (uint64_t i = drain_after ? 0 : 5; i < 5; i++) {
    OK(ferry_sub_receive(sub, &m, wait, 5000000000ll));
    CHECK(m.seq == i && m.length == 100);
    check_pat((const uint8_t *)(uintptr_t)ci.arena_ro, &m);
    OK(ferry_sub_release(sub, m.token));
  }
  int r = ferry_sub_receive(sub, &m, wait, 5000000000ll);
  uint64_t t_ret = now_ns();
  if (!drain_after) killer_join(&k);
  double ms = ((double)t_ret - (double)k.kill_ns) / 1e6;
  CHECK_RC(r, FERRY_E_PEERDEAD);
  CHECK(ms < 1000);
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_PEERDEAD);
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.publishers == 0 && st.reclaimed == 1 && st.subscribers == 1);
  CHECK(st.arena_used == 0); /* its open loan and the released messages were given back */
  CHECK(popcount_bitmap(ch) * ci.granule == st.arena_used);
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  munmap(sh, sizeof *sh);
  printf("  (b) dead publisher, wait %s, %s%s: PEERDEAD %.0f ms after the kill\n",
         wait == FERRY_WAIT_BLOCK ? "block" : wait == FERRY_WAIT_SPIN ? "spin" : "hybrid",
         reap ? "waited for" : "zombie", drain_after ? ", 5 queued messages drained first" : "", ms);
}

/* ---------------------------------------------------------------- (c) */

/* Take the channel lock the way a participant would (pid word; robust mutex in older layouts). */
static void take_lock(ferry_channel *ch) {
  void *l = (void *)&ch->ctrl->lock;
  if (sizeof(ch->ctrl->lock) == sizeof(pthread_mutex_t)) {
    CHECK(pthread_mutex_lock((pthread_mutex_t *)l) == 0);
    return;
  }
  _Atomic uint32_t *w = (_Atomic uint32_t *)l;
  for (;;) {
    uint32_t z = 0;
    if (atomic_compare_exchange_strong(w, &z, (uint32_t)getpid())) return;
    usleep(100);
  }
}

struct lockarg {
  const char *name;
  struct shared *sh;
  int how; /* 0: SIGKILL mid-publish with scribbles; 1: _exit holding it; 2: hold for 7 s */
};

static int lock_holder_main(void *arg) {
  struct lockarg *a = arg;
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_msg_info li;
  OK(ferry_channel_open(a->name, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  uint8_t *rw = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  OK(ferry_pub_loan(pub, 3000, &li)); /* a loan it never gives back */
  ferry_msg_info li2;
  OK(ferry_pub_loan(pub, 2000, &li2)); /* and one it half publishes */
  take_lock(ch);
  if (a->how == 0) {
    struct ferry_ctrl *c = ch->ctrl;
    struct ferry_pub *p = (struct ferry_pub *)pub;
    struct ferry_part *part = &ch->parts[p->part];
    uint64_t s = c->tail;
    /* what ferry_pub_publish does, stopped between the seq store and the tail store */
    for (uint64_t i = 0; i < 2000; i++) rw[li2.offset + i] = pat(s, i);
    struct ferry_held hd = part->held[li2.token];
    part->held[li2.token].used = 0;
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    e->pay_gran = hd.a;
    e->pay_len = 2000;
    e->pay_ngran = hd.b;
    e->hdr_gran = 0;
    e->hdr_len = 0;
    e->hdr_ngran = 0;
    e->publisher = p->part;
    e->flags = 0;
    atomic_store(&e->refs, c->n_consumers_active);
    atomic_store_explicit(&e->seq, s + 1, memory_order_release);
    /* and the things the lock guards are garbage */
    uint64_t rng = 77;
    for (uint64_t w = 0; w < ch->nwords; w++) ch->bitmap[w] = xorshift(&rng);
    c->arena_used = 123456789;
    bump_counter(&a->sh->holding);
    raise(SIGKILL);
  }
  bump_counter(&a->sh->holding);
  if (a->how == 1) _exit(0); /* a clean exit does not unlock either */
  sleep_ms(7000);            /* alive, never lets go */
  _exit(0);
}

static void test_lock_holder_dies(int how) {
  char name[96], sfx[32];
  snprintf(sfx, sizeof sfx, "c%d", how);
  test_name_sub(name, sizeof name, BASE, sfx);
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_channel_info ci;
  ferry_msg_info m, held, loans[2];
  OK(ferry_channel_create(name, 64 * 1024, 32, 0, &ch));
  OK(ferry_channel_info_get(ch, &ci));
  const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  const uint64_t g = ci.granule;
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 8000ll * 1000 * 1000, &pub));
  OK(ferry_sub_open(ch, NULL, &sub));
  /* state before the crash: 5 published, 1 released, 1 held, 3 queued, 2 open loans */
  for (uint64_t i = 0; i < 5; i++) OK(send_pat(pub, i, 700));
  OK(ferry_sub_try_receive(sub, &m));
  OK(ferry_sub_release(sub, m.token));
  OK(ferry_sub_try_receive(sub, &held));
  OK(ferry_pub_loan(pub, 1500, &loans[0]));
  OK(ferry_pub_loan(pub, 10, &loans[1]));
  struct shared *sh = shared_alloc(sizeof *sh);
  struct lockarg a = {name, sh, how};
  pid_t pid = fork_child(lock_holder_main, &a);
  CHECK(wait_counter(&sh->holding, 1, 5000) == 0);
  if (how == 2) { /* a live holder: BUSY after the lock timeout, no hang */
    uint64_t t = now_ns();
    CHECK_RC(ferry_pub_loan(pub, 10, &m), FERRY_E_BUSY);
    double s = (double)(now_ns() - t) / 1e9;
    CHECK(s >= 4.5 && s < 7);
    kill(pid, SIGKILL);
    CHECK(wait_child(pid) == 128 + SIGKILL);
    printf("  (c) live lock holder: FERRY_E_BUSY after %.1f s\n", s);
  } else {
    sleep_ms(20);
  }
  /* receiving never takes the lock */
  OK(ferry_sub_try_receive(sub, &m));
  CHECK(m.seq == 2);
  OK(ferry_sub_release(sub, m.token));
  uint64_t t = now_ns();
  ferry_msg_info l3;
  OK(ferry_pub_loan(pub, 4000, &l3)); /* takes the lock over and repairs */
  double ms = (double)(now_ns() - t) / 1e6;
  CHECK(ms < 1000);
  if (how != 2) CHECK(wait_child(pid) == (how == 0 ? 128 + SIGKILL : 0));
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  uint64_t want_tail = how == 0 ? 6 : 5;
  CHECK(st.tail == want_tail && st.publishers == 1 && st.subscribers == 1 && st.reclaimed == 1);
  /* exact accounting: held (seq 1) + queued (3, 4[, 5]) + loans of 1500, 10, 4000 B */
  uint64_t want = 3 * ((700 + g - 1) / g) + (how == 0 ? (2000 + g - 1) / g : 0) + (1500 + g - 1) / g + 1 +
                  (4000 + g - 1) / g;
  uint64_t bits = popcount_bitmap(ch);
  if (bits != want || st.arena_used != want * g) {
    fprintf(stderr, "after repair: bitmap %llu granules, arena_used %llu B, want %llu granules\n",
            (unsigned long long)bits, (unsigned long long)st.arena_used, (unsigned long long)want);
    exit(1);
  }
  /* everything still flows, including the half-published message */
  check_pat(ro, &held);
  OK(ferry_sub_release(sub, held.token));
  for (uint64_t i = 3; i < want_tail; i++) {
    OK(ferry_sub_try_receive(sub, &m));
    CHECK(m.seq == i && m.length == (i == 5 ? 2000u : 700u));
    check_pat(ro, &m);
    OK(ferry_sub_release(sub, m.token));
  }
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);
  OK(ferry_pub_unloan(pub, loans[0].token));
  OK(ferry_pub_unloan(pub, loans[1].token));
  OK(ferry_pub_unloan(pub, l3.token));
  for (uint64_t i = 0; i < 200; i++) {
    OK(send_pat(pub, want_tail + i, 3000));
    OK(ferry_sub_try_receive(sub, &m));
    CHECK(m.seq == want_tail + i);
    check_pat(ro, &m);
    OK(ferry_sub_release(sub, m.token));
  }
  OK(ferry_pub_loan(pub, 0, &m));
  OK(ferry_pub_unloan(pub, m.token));
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.arena_used == 0 && popcount_bitmap(ch) == 0 && st.head == st.tail);
  OK(ferry_pub_loan(pub, ci.arena_size, &m)); /* nothing leaked: the whole arena in one piece */
  OK(ferry_pub_unloan(pub, m.token));
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  munmap(sh, sizeof *sh);
  if (how != 2)
    printf("  (c) lock holder %s: next loan recovered in %.1f ms, accounting exact\n",
           how == 0 ? "SIGKILLed mid-publish (bitmap scribbled)" : "_exit()ed", ms);
}

/* ---------------------------------------------------------------- (d) */
struct gcarg {
  const char *name;
  struct shared *sh;
  int role; /* 0 create+publish, 1 open+subscribe */
};

static int gc_child(void *arg) {
  struct gcarg *a = arg;
  ferry_channel *ch;
  if (a->role == 0) {
    ferry_pub *pub;
    OK(ferry_channel_create(a->name, 64 * 1024, 16, 0, &ch));
    OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
    OK(send_pat(pub, 0, 100));
  } else {
    ferry_sub *sub;
    OK(ferry_channel_open(a->name, &ch));
    OK(ferry_sub_open(ch, NULL, &sub));
  }
  bump_counter(&a->sh->ready);
  for (;;) pause();
}

static pid_t spawn_gc(const char *name, struct shared *sh, int role) {
  static struct gcarg a;
  a = (struct gcarg){name, sh, role};
  int before = sh->ready;
  pid_t pid = fork_child(gc_child, &a);
  CHECK(wait_counter(&sh->ready, before + 1, 5000) == 0);
  return pid;
}

static void kill_wait(pid_t pid) {
  kill(pid, SIGKILL);
  CHECK(wait_child(pid) == 128 + SIGKILL);
}

static void test_gc(void) {
  char dead[96], live[96], inuse[96], stale[96], junk[96], p[256];
  test_name_sub(dead, sizeof dead, BASE, "gc-dead");
  test_name_sub(live, sizeof live, BASE, "gc-live");
  test_name_sub(inuse, sizeof inuse, BASE, "gc-inuse");
  test_name_sub(stale, sizeof stale, BASE, "gc-stale");
  test_name_sub(junk, sizeof junk, BASE, "gc-junk");
  struct shared *sh = shared_alloc(sizeof *sh);
  ferry_channel *lch, *ch;
  ferry_sub *lsub;
  OK(ferry_channel_create(live, 64 * 1024, 16, 0, &lch));
  OK(ferry_sub_open(lch, NULL, &lsub));

  /* dead: creator (publisher) and a subscriber, both kill -9'd */
  pid_t c1 = spawn_gc(dead, sh, 0), c2 = spawn_gc(dead, sh, 1);
  /* in use: creator dead, a subscriber alive */
  pid_t c3 = spawn_gc(inuse, sh, 0), c4 = spawn_gc(inuse, sh, 1);
  /* stale: only the creator, dead */
  pid_t c5 = spawn_gc(stale, sh, 0);
  kill_wait(c1);
  kill_wait(c2);
  kill_wait(c3);
  kill_wait(c5);
  /* a corrupt segment and temporaries of a live and a dead process */
  shm_path_of(junk, p, sizeof p);
  int fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
  CHECK(fd >= 0);
  char buf[8192];
  uint64_t rng = 5;
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)xorshift(&rng);
  CHECK(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf);
  close(fd);
  char tmp_live[128], tmp_dead[128];
  snprintf(tmp_live, sizeof tmp_live, "/dev/shm/ferry.~tmp.%d.9999", (int)getpid());
  snprintf(tmp_dead, sizeof tmp_dead, "/dev/shm/ferry.~tmp.%d.9999", (int)c1);
  CHECK((fd = open(tmp_live, O_RDWR | O_CREAT | O_EXCL, 0600)) >= 0);
  close(fd);
  CHECK((fd = open(tmp_dead, O_RDWR | O_CREAT | O_EXCL, 0600)) >= 0);
  close(fd);
  CHECK(shm_exists(dead) && shm_exists(inuse) && shm_exists(stale));

  /* creating over a name still in use fails; over a stale one succeeds */
  ch = NULL;
  EXPECT_RC(ferry_channel_create(inuse, 4096, 0, 0, &ch), FERRY_E_EXISTS);
  CHECK(ch == NULL && shm_exists(inuse));
  OK(ferry_channel_create(stale, 8192, 8, 0, &ch));
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch, &ci));
  CHECK(ci.ring_slots == 8); /* ours, not the old one */
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_msg_info m;
  OK(ferry_sub_open(ch, NULL, &sub));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(send_pat(pub, 0, 100));
  OK(ferry_sub_try_receive(sub, &m));
  OK(ferry_sub_release(sub, m.token));

  int n = ferry_gc();
  CHECK(n >= 3); /* dead, junk, tmp_dead (others' stale segments may add to it) */
  CHECK(!shm_exists(dead));
  shm_path_of(junk, p, sizeof p);
  CHECK(access(p, F_OK) != 0);
  CHECK(access(tmp_dead, F_OK) != 0);
  CHECK(access(tmp_live, F_OK) == 0);
  CHECK(shm_exists(live) && shm_exists(inuse) && shm_exists(stale));
  unlink(tmp_live);
  /* the live channel still works */
  ferry_pub *lpub;
  OK(ferry_pub_open(lch, FERRY_BP_ERROR, 0, &lpub));
  OK(send_pat(lpub, 0, 10));
  OK(ferry_sub_try_receive(lsub, &m));
  OK(ferry_sub_release(lsub, m.token));
  /* the last user of "inuse" dies: now it goes */
  kill_wait(c4);
  CHECK(ferry_gc() >= 1);
  CHECK(!shm_exists(inuse));
  CHECK(shm_exists(live) && shm_exists(stale));
  OK(ferry_pub_close(lpub));
  OK(ferry_sub_close(lsub));
  OK(ferry_channel_close(lch));
  OK(ferry_pub_close(pub));
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  munmap(sh, sizeof *sh);
  printf("  (d) gc: removed dead, corrupt and dead-temporary segments; kept live and in-use ones\n");
}

int main(void) {
  test_init(BASE);
  signal(SIGPIPE, SIG_IGN);
  uint64_t t0 = now_ns();
  test_dead_subscriber(true);
  test_dead_subscriber(false);
  test_dead_publisher(FERRY_WAIT_BLOCK, true, false);
  test_dead_publisher(FERRY_WAIT_BLOCK, false, false);
  test_dead_publisher(FERRY_WAIT_HYBRID, false, false);
  test_dead_publisher(FERRY_WAIT_SPIN, true, false);
  test_dead_publisher(FERRY_WAIT_BLOCK, false, true);
  test_lock_holder_dies(0);
  test_lock_holder_dies(1);
  test_lock_holder_dies(2);
  fflush(stdout);
  pid_t gcp = fork();
  CHECK(gcp >= 0);
  if (gcp == 0) {
    bool priv = test_private_dev_shm("64m");
    printf(priv ? "  (d) gc runs in a private mount namespace with its own /dev/shm\n"
                : "  (d) note: no private /dev/shm (unshare/mount not permitted): gc runs on the real one\n");
    test_gc();
    CHECK_NO_LEFTOVERS();
    fflush(stdout);
    _exit(test_failures_ ? 3 : 0);
  }
  int gst = wait_child_ms(gcp, 20000);
  if (gst == 3) test_failures_++;
  else CHECK(gst == 0);
  CHECK_NO_LEFTOVERS();
  if (test_failures_) {
    fprintf(stderr, "test_crash: %d expectation(s) failed\n", test_failures_);
    return 1;
  }
  printf("test_crash ok (%.2f s)\n", (double)(now_ns() - t0) / 1e9);
  return 0;
}
