/*
 * test_pin: pins (layout v7) — holding published messages by reference until
 * remote acks, the claim check of @ferry/mq. White box: it forges shared words.
 *
 *  (a) identity: ferry_host_id is 32 hex digits and stable; a channel records
 *      its creator's host and a non-zero random generation (two channels differ).
 *  (b) with no subscriber at all, pinned messages stay (arena and ring held);
 *      two pin readers take the same message by seq (bytes checked), each ack
 *      counts, the last one reclaims it; a later take is FERRY_E_STATE; a
 *      wrong generation is FERRY_E_VERSION; a pin reader cannot receive.
 *  (c) TTL: pins past their deadline are dropped by ferry_channel_reap.
 *  (d) a pin reader killed while holding a message: reaped, its reference
 *      goes, the pin stays (the message is taken again and acked).
 *  (e) the publisher killed (SIGKILL) with messages pinned: a take is
 *      FERRY_E_PEERDEAD, and a reap reclaims every pinned byte.
 *  (f) hostile: a forged ENT_PIN flag (no matching pin record) is not counted
 *      by the orphan repair nor taken; a pin record naming an out-of-range
 *      publisher is FERRY_E_CORRUPT and leaves no reference behind.
 *  (g) a publisher short of space drops expired pins instead of failing.
 */
#include <stdatomic.h>

#include "util.h"

#include "channel.h"
#include "shm/layout.h"
#include "shm/members.h"
#include "shm/ring.h"

static uint8_t pat(uint64_t n, uint64_t i) { return (uint8_t)(n * 31 + i * 7 + 3); }

static uint64_t send_n(ferry_pub *pub, uint64_t n, uint64_t len) {
  uint8_t *buf = malloc(len ? len : 1);
  for (uint64_t i = 0; i < len; i++) buf[i] = pat(n, i);
  ferry_msg_info mi;
  OK(ferry_pub_send(pub, buf, len, NULL, 0, &mi));
  free(buf);
  return mi.seq;
}

static int check_bytes(ferry_channel *ch, const ferry_msg_info *mi, uint64_t n) {
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch, &ci));
  const uint8_t *a = (const uint8_t *)(uintptr_t)ci.arena_ro + mi->offset;
  for (uint64_t i = 0; i < mi->length; i++)
    if (a[i] != pat(n, i)) return 0;
  return 1;
}

static uint64_t gen_of(ferry_channel *ch) {
  uint8_t id[48];
  OK(ferry_channel_ident(ch, id));
  uint64_t g;
  memcpy(&g, id + 40, 8);
  return g;
}

static uint64_t arena_used(ferry_channel *ch) {
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  return st.arena_used;
}

static void identity(void) {
  char a[33], b[33];
  OK(ferry_host_id(a));
  OK(ferry_host_id(b));
  CHECK(strlen(a) == 32 && strcmp(a, b) == 0);
  for (int i = 0; i < 32; i++) CHECK((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
  char n1[96], n2[96];
  ferry_channel *c1, *c2;
  OK(ferry_channel_create(test_name_sub(n1, sizeof n1, "pin", "id1"), 1 << 16, 16, 0600, &c1));
  OK(ferry_channel_create(test_name_sub(n2, sizeof n2, "pin", "id2"), 1 << 16, 16, 0600, &c2));
  uint8_t id[48];
  OK(ferry_channel_ident(c1, id));
  CHECK(memcmp(id, a, 32) == 0 && id[32] == 0);
  CHECK(gen_of(c1) != 0 && gen_of(c1) != gen_of(c2));
  ferry_channel *o;
  OK(ferry_channel_open(n1, &o)); /* an opener reads the same identity from the header */
  CHECK(gen_of(o) == gen_of(c1));
  OK(ferry_channel_close(o));
  OK(ferry_channel_close(c1));
  OK(ferry_channel_close(c2));
}

static void basic(void) {
  char name[96];
  ferry_channel *ch;
  OK(ferry_channel_create(test_name_sub(name, sizeof name, "pin", "basic"), 1 << 16, 16, 0600, &ch));
  ferry_pub *pub;
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, -1, &pub));
  EXPECT_RC(ferry_pub_pin(pub, 0, 2), FERRY_E_INVAL);
  OK(ferry_pub_pin(pub, 10ull * 1000000000ull, 2));
  uint64_t s0 = send_n(pub, 0, 1000), s1 = send_n(pub, 1, 3000);
  OK(ferry_pub_pin(pub, 0, 0));
  uint64_t s2 = send_n(pub, 2, 100); /* unpinned, nobody subscribed: gone at once */
  CHECK(ferry_channel_reap(ch) >= 0);
  EXPECT(ferry_channel_pins(ch) == 2);
  EXPECT(arena_used(ch) >= 4000);

  ferry_sub *r1, *r2;
  OK(ferry_sub_open_pins(ch, &r1));
  OK(ferry_sub_open_pins(ch, &r2));
  ferry_msg_info mi;
  EXPECT_RC(ferry_sub_try_receive(r1, &mi), FERRY_E_STATE); /* no cursor */
  EXPECT_RC(ferry_sub_take_pin(r1, s0, gen_of(ch) + 1, &mi), FERRY_E_VERSION);
  EXPECT_RC(ferry_sub_take_pin(r1, s2, gen_of(ch), &mi), FERRY_E_STATE);
  EXPECT_RC(ferry_sub_take_pin(r1, 999, gen_of(ch), &mi), FERRY_E_STATE);
  OK(ferry_sub_take_pin(r1, s0, gen_of(ch), &mi));
  EXPECT(mi.seq == s0 && mi.length == 1000 && check_bytes(ch, &mi, 0));
  OK(ferry_sub_pin_ack(r1, mi.token));
  EXPECT(ferry_channel_pins(ch) == 2); /* one ack of two */
  OK(ferry_sub_take_pin(r2, s0, gen_of(ch), &mi));
  EXPECT(check_bytes(ch, &mi, 0));
  OK(ferry_sub_pin_ack(r2, mi.token));
  EXPECT(ferry_channel_pins(ch) == 1);
  EXPECT_RC(ferry_sub_take_pin(r1, s0, gen_of(ch), &mi), FERRY_E_STATE);
  /* a taken message outlives its pin: the reader's own reference holds it */
  OK(ferry_sub_take_pin(r1, s1, gen_of(ch), &mi));
  uint32_t tok = mi.token;
  ferry_msg_info m2;
  OK(ferry_sub_take_pin(r2, s1, gen_of(ch), &m2));
  OK(ferry_sub_pin_ack(r2, m2.token));
  ferry__ring_pin_drop(ch, s1); /* as if expired */
  EXPECT(ferry_channel_pins(ch) == 0);
  CHECK(ferry_channel_reap(ch) >= 0);
  EXPECT(arena_used(ch) >= 3000);
  EXPECT(check_bytes(ch, &mi, 1));
  OK(ferry_sub_release(r1, tok));
  CHECK(ferry_channel_reap(ch) >= 0);
  EXPECT(arena_used(ch) == 0);
  OK(ferry_sub_close(r1));
  OK(ferry_sub_close(r2));
  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  EXPECT(st.subscribers == 0); /* pin readers are not subscribers */
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
}

static void ttl(void) {
  char name[96];
  ferry_channel *ch;
  OK(ferry_channel_create(test_name_sub(name, sizeof name, "pin", "ttl"), 1 << 16, 16, 0600, &ch));
  ferry_pub *pub;
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, -1, &pub));
  OK(ferry_pub_pin(pub, 30ull * 1000000ull, 1));
  uint64_t s = send_n(pub, 5, 5000);
  CHECK(ferry_channel_reap(ch) >= 0);
  EXPECT(ferry_channel_pins(ch) == 1);
  sleep_ms(60);
  CHECK(ferry_channel_reap(ch) >= 0);
  EXPECT(ferry_channel_pins(ch) == 0);
  EXPECT(arena_used(ch) == 0);
  ferry_sub *r;
  OK(ferry_sub_open_pins(ch, &r));
  ferry_msg_info mi;
  EXPECT_RC(ferry_sub_take_pin(r, s, gen_of(ch), &mi), FERRY_E_STATE);
  OK(ferry_sub_close(r));

  /* (g) a full arena: expired pins are dropped by the publisher itself */
  OK(ferry_pub_pin(pub, 20ull * 1000000ull, 1));
  int sent = 0;
  for (int i = 0; i < 6; i++) {
    uint8_t buf[20000] = {0};
    int rc = ferry_pub_send(pub, buf, sizeof buf, NULL, 0, NULL);
    if (rc == 0) sent++;
    else EXPECT_RC(rc, FERRY_E_FULL);
  }
  EXPECT(sent == 3); /* 64 KiB holds three */
  sleep_ms(40);
  uint8_t buf[20000] = {0};
  OK(ferry_pub_send(pub, buf, sizeof buf, NULL, 0, NULL));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
}

static void reader_killed(void) {
  char name[96];
  ferry_channel *ch;
  OK(ferry_channel_create(test_name_sub(name, sizeof name, "pin", "rkill"), 1 << 16, 16, 0600, &ch));
  ferry_pub *pub;
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, -1, &pub));
  OK(ferry_pub_pin(pub, 10ull * 1000000000ull, 1));
  uint64_t s = send_n(pub, 7, 2000);
  uint64_t g = gen_of(ch);
  pid_t pid = fork();
  if (pid == 0) {
    ferry_channel *c;
    ferry_sub *r;
    ferry_msg_info mi;
    if (ferry_channel_open(name, &c) || ferry_sub_open_pins(c, &r) || ferry_sub_take_pin(r, s, g, &mi)) _exit(2);
    kill(getpid(), SIGKILL);
    _exit(3);
  }
  CHECK(wait_child(pid) == 128 + SIGKILL);
  struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
  EXPECT(atomic_load(&e->refs) == 2);
  CHECK(ferry_channel_reap(ch) >= 0);
  EXPECT(atomic_load(&e->refs) == 1 && ferry_channel_pins(ch) == 1);
  ferry_sub *r;
  ferry_msg_info mi;
  OK(ferry_sub_open_pins(ch, &r));
  OK(ferry_sub_take_pin(r, s, g, &mi));
  EXPECT(check_bytes(ch, &mi, 7));
  OK(ferry_sub_pin_ack(r, mi.token));
  CHECK(ferry_channel_reap(ch) >= 0);
  EXPECT(arena_used(ch) == 0);
  OK(ferry_sub_close(r));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
}

static void publisher_killed(void) {
  char name[96];
  ferry_channel *ch;
  OK(ferry_channel_create(test_name_sub(name, sizeof name, "pin", "pkill"), 1 << 16, 16, 0600, &ch));
  pid_t pid = fork();
  if (pid == 0) {
    ferry_channel *c;
    ferry_pub *p;
    if (ferry_channel_open(name, &c) || ferry_pub_open(c, FERRY_BP_ERROR, -1, &p) ||
        ferry_pub_pin(p, 10ull * 1000000000ull, 1))
      _exit(2);
    send_n(p, 0, 1000);
    send_n(p, 1, 1000);
    kill(getpid(), SIGKILL);
    _exit(3);
  }
  CHECK(wait_child(pid) == 128 + SIGKILL);
  EXPECT(ferry_channel_pins(ch) == 2);
  ferry_sub *r;
  ferry_msg_info mi;
  OK(ferry_sub_open_pins(ch, &r));
  EXPECT_RC(ferry_sub_take_pin(r, 0, gen_of(ch), &mi), FERRY_E_PEERDEAD);
  CHECK(ferry_channel_reap(ch) >= 0);
  EXPECT(ferry_channel_pins(ch) == 0);
  EXPECT(arena_used(ch) == 0);
  EXPECT_RC(ferry_sub_take_pin(r, 1, gen_of(ch), &mi), FERRY_E_STATE);
  OK(ferry_sub_close(r));
  OK(ferry_channel_close(ch));
}

static void hostile(void) {
  char name[96];
  ferry_channel *ch;
  OK(ferry_channel_create(test_name_sub(name, sizeof name, "pin", "hostile"), 1 << 16, 16, 0600, &ch));
  ferry_pub *pub;
  ferry_sub *sub, *r;
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, -1, &pub));
  OK(ferry_sub_open(ch, NULL, &sub));
  OK(ferry_sub_open_pins(ch, &r));
  uint64_t s = send_n(pub, 1, 500); /* unpinned, one subscriber's reference */
  struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
  __atomic_fetch_or(&e->flags, ENT_PIN, __ATOMIC_SEQ_CST); /* forged: no pin record, and a reference to match */
  atomic_fetch_add(&e->refs, 1);
  ferry_msg_info mi;
  EXPECT_RC(ferry_sub_take_pin(r, s, gen_of(ch), &mi), FERRY_E_STATE);
  OK(ferry_sub_try_receive(sub, &mi));
  OK(ferry_sub_release(sub, mi.token));
  OK(ferry__chan_lock(ch));
  ferry__orphans_fix(ch);
  ferry__chan_unlock(ch);
  EXPECT(!(e->flags & ENT_PIN) && atomic_load(&e->refs) == 0);

  OK(ferry_pub_pin(pub, 10ull * 1000000000ull, 1));
  s = send_n(pub, 2, 500);
  OK(ferry_sub_try_receive(sub, &mi));
  OK(ferry_sub_release(sub, mi.token));
  e = &ch->ring[s & ch->ring_mask];
  ch->pins[s & ch->ring_mask].publisher = 1000; /* out of range */
  EXPECT_RC(ferry_sub_take_pin(r, s, gen_of(ch), &mi), FERRY_E_CORRUPT);
  EXPECT(atomic_load(&e->refs) == 1); /* the pin's only: nothing left behind */
  ch->pins[s & ch->ring_mask].seq1 = 12345; /* a record for another message: the flag is forged now */
  OK(ferry__chan_lock(ch));
  ferry__orphans_fix(ch);
  ferry__chan_unlock(ch);
  EXPECT(atomic_load(&e->refs) == 0);
  CHECK(ferry_channel_reap(ch) >= 0);
  EXPECT(arena_used(ch) == 0);
  OK(ferry_sub_close(r));
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
}

int main(void) {
  identity();
  basic();
  ttl();
  reader_killed();
  publisher_killed();
  hostile();
  if (test_failures_) return 1;
  printf("test_pin: ok\n");
  return 0;
}
