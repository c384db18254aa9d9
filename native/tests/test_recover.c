/*
 * test_recover: recovery from crashed and hostile peers (issue 14).
 *
 * Wedge: a process killed at any point of the claim / release protocol
 * must never leave a descriptor that nobody will release (issue 14, item 1).
 *
 * A subscriber dies in one of the windows a real crash can hit:
 *   claim:   after its claim CAS moved the cursor, before it recorded the
 *            message in its participant record (so no reaper knows it held it);
 *   release: after it removed the record, before it dropped the reference.
 * The child reproduces the window exactly (white box: the CAS of its own
 * consumer's cursor, or clearing its own held record) and SIGKILLs itself.
 * Then the channel must keep working with no subscriber left: a publisher with
 * backpressure "error" publishes 4 x slots messages without FERRY_E_FULL, and
 * the arena returns to 0 bytes. Before the fix the first case wedged the
 * channel after slots - 1 messages, forever.
 *
 * A second scenario checks the repair is not too eager: a live member of the
 * same group holds messages while the dead member's leftovers are reclaimed;
 * its messages stay intact and are released exactly once.
 */
#include <pthread.h>

#include "util.h"

#include "channel.h"
#include "shm/layout.h"
#include "shm/members.h"

#define SLOTS 16u

enum window { W_CLAIM, W_RELEASE, W_CLAIM_GROUP };

struct shared {
  _Atomic int stage;
};

static struct ferry_part *my_part(ferry_channel *ch) {
  for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS; i++)
    if (ch->parts[i].kind == PART_SUB && ch->parts[i].pid == (uint32_t)getpid()) return &ch->parts[i];
  return NULL;
}

static void wait_stage(struct shared *sh, int want) {
  for (int i = 0; atomic_load(&sh->stage) < want; i++) {
    if (i > 20000) {
      fprintf(stderr, "timeout waiting for stage %d\n", want);
      exit(1);
    }
    sleep_ms(1);
  }
}

static void child(const char *name, enum window w, struct shared *sh) {
  ferry_channel *ch;
  ferry_sub *sub;
  OK(ferry_channel_open(name, &ch));
  OK(ferry_sub_open(ch, w == W_CLAIM_GROUP ? "workers" : NULL, &sub));
  atomic_store(&sh->stage, 1); /* subscribed */
  wait_stage(sh, 2);           /* message published */
  struct ferry_part *part = my_part(ch);
  CHECK(part != NULL);
  if (w == W_CLAIM || w == W_CLAIM_GROUP) {
    /* the claim CAS succeeded; the process dies before it records the message */
    struct ferry_consumer *k = &ch->cons[part->consumer];
    uint64_t cur = atomic_load(&k->cursor);
    CHECK(atomic_load(&ch->ring[cur & (SLOTS - 1)].seq) == cur + 1);
    CHECK(atomic_compare_exchange_strong(&k->cursor, &cur, cur + 1));
  } else {
    /* received and recorded; release cleared the record, then the process dies before the unref */
    ferry_msg_info mi;
    OK(ferry_sub_try_receive(sub, &mi));
    CHECK(part->held[mi.token].used == 1);
    part->held[mi.token].used = 0;
  }
  kill(getpid(), SIGKILL);
}

static void run(enum window w) {
  const char *name = test_name(w == W_CLAIM ? "wedge-claim" : w == W_RELEASE ? "wedge-release" : "wedge-group");
  ferry_channel *ch;
  OK(ferry_channel_create(name, 1 << 20, SLOTS, 0, &ch));
  struct shared *sh = shared_alloc(sizeof *sh);
  ferry_pub *pub;
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  ferry_sub *live = NULL;
  if (w == W_CLAIM_GROUP) OK(ferry_sub_open(ch, "workers", &live));
  pid_t pid = fork();
  if (pid == 0) child(name, w, sh);
  wait_stage(sh, 1);
  uint8_t buf[256];
  memset(buf, 0xa5, sizeof buf);
  OK(ferry_pub_send(pub, buf, sizeof buf, NULL, 0, NULL));
  ferry_msg_info held[4];
  if (w == W_CLAIM_GROUP) { /* the live member holds two messages across the repair */
    for (int i = 0; i < 2; i++) {
      memset(buf, 0x10 + i, sizeof buf);
      OK(ferry_pub_send(pub, buf, sizeof buf, NULL, 0, NULL));
    }
  }
  atomic_store(&sh->stage, 2);
  CHECK(wait_child(pid) == 128 + SIGKILL);
  if (w == W_CLAIM_GROUP) {
    /* the dead member took message 0; the live one gets 1 and 2 and keeps them */
    for (int i = 0; i < 2; i++) {
      OK(ferry_sub_try_receive(live, &held[i]));
      CHECK(held[i].seq == (uint64_t)i + 1);
    }
  }
  ferry_channel_reap(ch); /* what any waiter does every 50 ms */
  if (w == W_CLAIM_GROUP) {
    /* while the live member holds seqs 1 and 2 (the ring cannot pass them), fill the rest
     * of the ring: the dead member's message 0 must have been freed (else FULL one early),
     * and the held ones must not (first fit would hand their space out and overwrite them) */
    for (uint32_t i = 0; i < SLOTS - 3; i++) {
      memset(buf, 0x80 + (int)i, sizeof buf);
      OK(ferry_pub_send(pub, buf, sizeof buf, NULL, 0, NULL));
    }
    ferry_channel_info ci;
    OK(ferry_channel_info_get(ch, &ci));
    const uint8_t *arena = (const uint8_t *)(uintptr_t)ci.arena_ro;
    for (int i = 0; i < 2; i++) {
      for (int b = 0; b < 256; b++) CHECK(arena[held[i].offset + (uint64_t)b] == 0x10 + i);
      OK(ferry_sub_release(live, held[i].token));
    }
  }
  uint64_t sent = 0;
  for (uint32_t i = 0; i < 4 * SLOTS; i++) {
    memset(buf, (int)i, sizeof buf);
    int r = ferry_pub_send(pub, buf, sizeof buf, NULL, 0, NULL);
    if (w == W_CLAIM_GROUP && r == FERRY_E_FULL) { /* the live member keeps up */
      ferry_msg_info m;
      while (ferry_sub_try_receive(live, &m) == 0) OK(ferry_sub_release(live, m.token));
      r = ferry_pub_send(pub, buf, sizeof buf, NULL, 0, NULL);
    }
    if (r) {
      fprintf(stderr, "publish %u failed: %s (%s)\n", i, ferry_err_name(r), ferry_last_error());
      exit(1);
    }
    sent++;
  }
  CHECK(sent == 4 * SLOTS);
  if (w == W_CLAIM_GROUP) {
    ferry_msg_info m;
    while (ferry_sub_try_receive(live, &m) == 0) OK(ferry_sub_release(live, m.token));
    OK(ferry_sub_close(live));
  }
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.arena_used == 0);
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  munmap(sh, sizeof *sh);
  printf("recover: wedge %s: ok\n", w == W_CLAIM ? "claim" : w == W_RELEASE ? "release" : "claim (group, live member holding)");
}

/*
 * The repair against live readers: two subscriber processes (a broadcast one
 * and a group member) receive, check and release as fast as they can while
 * this process publishes and, between publishes, runs the orphan repair under
 * the lock again and again. It must never take a reference a live reader
 * holds: every payload checks out when read and again just before release,
 * every message is delivered to each consumer, and the arena ends empty.
 */
static int reader(const char *name, const char *group, int n) {
  ferry_channel *ch;
  ferry_sub *sub;
  OK(ferry_channel_open(name, &ch));
  OK(ferry_sub_open(ch, group, &sub));
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch, &ci));
  const uint8_t *arena = (const uint8_t *)(uintptr_t)ci.arena_ro;
  ferry_msg_info held[8];
  int nh = 0, got = 0;
  while (got < n) {
    ferry_msg_info m;
    int r = ferry_sub_receive(sub, &m, FERRY_WAIT_SPIN, 5000000000ll);
    if (r == FERRY_E_EOF) break;
    OK(r);
    for (uint64_t b = 0; b < m.length; b++) CHECK(arena[m.offset + b] == (uint8_t)(m.seq * 7 + b));
    held[nh++] = m;
    got++;
    if (nh == 8 || got == n) { /* hold a few at a time, re-check, release */
      for (int i = 0; i < nh; i++) {
        for (uint64_t b = 0; b < held[i].length; b++) CHECK(arena[held[i].offset + b] == (uint8_t)(held[i].seq * 7 + b));
        OK(ferry_sub_release(sub, held[i].token));
      }
      nh = 0;
    }
  }
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  return got == n ? 0 : 1;
}

static void repair_vs_live_readers(void) {
  const char *name = test_name("wedge-live");
  ferry_channel *ch;
  OK(ferry_channel_create(name, 4 << 20, 64, 0, &ch));
  ferry_pub *pub;
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 10000000000ll, &pub));
  enum { N = 20000 };
  pid_t kids[2];
  for (int i = 0; i < 2; i++) {
    kids[i] = fork();
    if (kids[i] == 0) _exit(reader(name, i ? "workers" : NULL, N));
  }
  ferry_stats st;
  for (int i = 0; i < 2000; i++) { /* wait until both subscribed */
    OK(ferry_channel_stats(ch, &st));
    if (st.subscribers == 2) break;
    sleep_ms(1);
  }
  CHECK(st.subscribers == 2);
  uint8_t buf[512];
  int fixes = 0;
  for (uint64_t s = 0; s < N; s++) {
    uint64_t len = 64 + (s * 37) % 400;
    for (uint64_t b = 0; b < len; b++) buf[b] = (uint8_t)(s * 7 + b);
    OK(ferry_pub_send(pub, buf, len, NULL, 0, NULL));
    if (s % 3 == 0) {
      OK(ferry__chan_lock(ch));
      fixes += ferry__orphans_fix(ch);
      ferry__chan_unlock(ch);
    }
  }
  for (int i = 0; i < 2; i++) CHECK(wait_child(kids[i]) == 0);
  CHECK(fixes == 0); /* nothing was orphaned: nothing may be "repaired" */
  OK(ferry_pub_close(pub));
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.arena_used == 0);
  OK(ferry_channel_close(ch));
  printf("recover: repair never touches live readers' references (%d messages x 2 consumers): ok\n", N);
}

/*
 * Item 3: loops over shared state are bounded by values read once. A hostile
 * thread keeps writing huge and backwards ring tails and heads while this
 * thread publishes, receives and reaps: every call returns (errors allowed,
 * bounded time), nothing spins with the lock held.
 */
static _Atomic bool hostile_stop;
static void *hostile_main(void *arg) {
  struct ferry_ctrl *c = arg;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  while (!atomic_load(&hostile_stop)) {
    uint64_t v = xorshift(&x);
    if (v & 1) c->tail = (v & 2) ? (1ull << 62) + (v >> 40) : v >> 50;
    else c->head = (v & 2) ? ~0ull - (v >> 40) : v >> 50;
  }
  return NULL;
}

static void hostile_ring_words(void) {
  const char *name = test_name("wedge-hostile");
  ferry_channel *ch;
  OK(ferry_channel_create(name, 1 << 20, 64, 0, &ch));
  ferry_pub *pub;
  ferry_sub *sub;
  OK(ferry_pub_open(ch, FERRY_BP_DROP_OLDEST, 1000000ll, &pub));
  OK(ferry_sub_open(ch, NULL, &sub));
  pthread_t t;
  pthread_create(&t, NULL, hostile_main, ch->ctrl);
  uint8_t buf[300] = {0};
  uint64_t worst = 0;
  int ok = 0;
  for (int i = 0; i < 3000; i++) {
    uint64_t t0 = now_ns();
    if (ferry_pub_send(pub, buf, sizeof buf, NULL, 0, NULL) == 0) ok++;
    ferry_msg_info m;
    if (ferry_sub_try_receive(sub, &m) == 0) ferry_sub_release(sub, m.token);
    if (i % 100 == 0) ferry_channel_reap(ch);
    uint64_t dt = now_ns() - t0;
    if (dt > worst) worst = dt;
  }
  atomic_store(&hostile_stop, true);
  pthread_join(t, NULL);
  CHECK(worst < 2000000000ull); /* each round trip bounded (the drop-oldest wait is 1 ms) */
  ferry_sub_close(sub);
  ferry_pub_close(pub);
  OK(ferry_channel_close(ch));
  printf("recover: hostile ring words: 3000 rounds, %d publishes ok, worst call %.1f ms: ok\n", ok, (double)worst / 1e6);
}

/*
 * End of stream per generation of publishers: after publisher A crashed (its
 * readers got FERRY_E_PEERDEAD), publisher B joins, publishes and closes
 * cleanly: that stream ends with FERRY_E_EOF, not a stale PEERDEAD.
 */
static void peerdead_generations(void) {
  const char *name = test_name("recover-gen");
  ferry_channel *ch;
  OK(ferry_channel_create(name, 1 << 20, 64, 0, &ch));
  ferry_sub *sub;
  OK(ferry_sub_open(ch, NULL, &sub));
  pid_t a = fork();
  if (a == 0) {
    ferry_channel *c2;
    ferry_pub *p2;
    OK(ferry_channel_open(name, &c2));
    OK(ferry_pub_open(c2, FERRY_BP_BLOCK, -1, &p2));
    OK(ferry_pub_send(p2, "a", 1, NULL, 0, NULL));
    kill(getpid(), SIGKILL);
  }
  CHECK(wait_child(a) == 128 + SIGKILL);
  ferry_msg_info m;
  OK(ferry_sub_receive(sub, &m, FERRY_WAIT_BLOCK, 2000000000ll));
  OK(ferry_sub_release(sub, m.token));
  ferry_channel_reap(ch);
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_PEERDEAD);
  ferry_pub *b;
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, -1, &b));
  OK(ferry_pub_send(b, "b", 1, NULL, 0, NULL));
  OK(ferry_pub_close(b));
  OK(ferry_sub_try_receive(sub, &m));
  OK(ferry_sub_release(sub, m.token));
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_EOF);
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  printf("recover: end of stream per publisher generation (PEERDEAD, then a clean EOF): ok\n");
}

int main(void) {
  peerdead_generations();
  hostile_ring_words();
  repair_vs_live_readers();
  run(W_CLAIM);
  run(W_RELEASE);
  run(W_CLAIM_GROUP);
  return 0;
}
