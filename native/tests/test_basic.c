/* Single-process basics: create/open, loan/publish/receive/release, headers, errors. */
#include "util.h"

int main(void) {
  const char *name = test_name("basic");
  ferry_channel *ch, *ch2;
  OK(ferry_channel_create(name, 1 << 20, 64, 0, &ch));
  CHECK_RC(ferry_channel_create(name, 1 << 20, 64, 0, &ch2), FERRY_E_EXISTS);
  OK(ferry_channel_open(name, &ch2));
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch2, &ci));
  CHECK(ci.arena_size >= (1 << 20) && ci.ring_slots == 64);

  ferry_pub *pub;
  ferry_sub *sub;
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(ferry_sub_open(ch2, NULL, &sub));
  ferry_msg_info m;
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);

  uint8_t *arena = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  for (int i = 0; i < 1000; i++) {
    ferry_msg_info l;
    uint64_t len = (uint64_t)(i * 37) % 5000;
    OK(ferry_pub_loan(pub, len, &l));
    for (uint64_t j = 0; j < len; j++) arena[l.offset + j] = (uint8_t)(i + j);
    char hdr[32];
    int hl = snprintf(hdr, sizeof hdr, "{\"i\":%d}", i);
    OK(ferry_pub_publish(pub, l.token, UINT64_MAX, hdr, (uint32_t)hl, NULL));
    OK(ferry_sub_try_receive(sub, &m));
    CHECK(m.seq == (uint64_t)i && m.length == len && m.hdr_length == (uint32_t)hl);
    const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
    CHECK(memcmp(ro + m.hdr_offset, hdr, (size_t)hl) == 0);
    for (uint64_t j = 0; j < len; j++) CHECK(ro[m.offset + j] == (uint8_t)(i + j));
    OK(ferry_sub_release(sub, m.token));
    CHECK_RC(ferry_sub_release(sub, m.token), FERRY_E_STATE);
  }
  /* publish of an already published loan */
  ferry_msg_info l;
  OK(ferry_pub_loan(pub, 10, &l));
  OK(ferry_pub_publish(pub, l.token, 10, NULL, 0, NULL));
  CHECK_RC(ferry_pub_publish(pub, l.token, 10, NULL, 0, NULL), FERRY_E_STATE);
  OK(ferry_sub_try_receive(sub, &m));
  OK(ferry_sub_release(sub, m.token));
  /* oversize */
  CHECK_RC(ferry_pub_loan(pub, ci.arena_size + 1, &l), FERRY_E_TOOBIG);
  char big[FERRY_HEADER_MAX + 1] = {0};
  OK(ferry_pub_loan(pub, 1, &l));
  CHECK_RC(ferry_pub_publish(pub, l.token, 1, big, sizeof big, NULL), FERRY_E_TOOBIG);
  OK(ferry_pub_unloan(pub, l.token));
  /* whole arena in one message, then the arena is free again */
  OK(ferry_pub_loan(pub, ci.arena_size, &l));
  OK(ferry_pub_publish(pub, l.token, UINT64_MAX, NULL, 0, NULL));
  CHECK_RC(ferry_pub_loan(pub, 1, &l), FERRY_E_FULL);
  OK(ferry_sub_try_receive(sub, &m));
  CHECK(m.length == ci.arena_size);
  OK(ferry_sub_release(sub, m.token));
  OK(ferry_pub_loan(pub, ci.arena_size, &l));
  OK(ferry_pub_unloan(pub, l.token));

  /* names */
  ferry_channel *bad = (ferry_channel *)1;
  CHECK_RC(ferry_channel_open("../etc/passwd", &bad), FERRY_E_NAME);
  CHECK(bad == NULL);
  CHECK_RC(ferry_channel_open("", &bad), FERRY_E_NAME);
  CHECK_RC(ferry_channel_open("a/b", &bad), FERRY_E_NAME);
  CHECK_RC(ferry_channel_open("no-such-channel-xyz", &bad), FERRY_E_NOTFOUND);

  /* ferry_channel_subscribers: all subscribers, or one group's members; the dead are not counted */
  uint32_t nsub = 99;
  OK(ferry_channel_subscribers(ch, NULL, &nsub));
  CHECK(nsub == 1);
  OK(ferry_channel_subscribers(ch, "", &nsub));
  CHECK(nsub == 1);
  OK(ferry_channel_subscribers(ch, "workers", &nsub));
  CHECK(nsub == 0);
  ferry_sub *w1, *w2;
  OK(ferry_sub_open(ch2, "workers", &w1));
  OK(ferry_sub_open(ch2, "workers", &w2));
  OK(ferry_channel_subscribers(ch, "workers", &nsub));
  CHECK(nsub == 2);
  OK(ferry_channel_subscribers(ch, NULL, &nsub));
  CHECK(nsub == 3);
  OK(ferry_sub_close(w2));
  OK(ferry_channel_subscribers(ch, "workers", &nsub));
  CHECK(nsub == 1);
  OK(ferry_sub_close(w1));
  OK(ferry_channel_subscribers(ch, "workers", &nsub));
  CHECK(nsub == 0);
  CHECK_RC(ferry_channel_subscribers(ch, "a-group-name-longer-than-31-bytes", &nsub), FERRY_E_INVAL);
  pid_t kid = fork();
  if (kid == 0) { /* a subscriber that dies without closing */
    ferry_channel *kc;
    ferry_sub *ks;
    if (ferry_channel_open(name, &kc) || ferry_sub_open(kc, "workers", &ks)) _exit(1);
    _exit(0);
  }
  int status;
  CHECK(waitpid(kid, &status, 0) == kid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  OK(ferry_channel_subscribers(ch, "workers", &nsub));
  CHECK(nsub == 0); /* reaped, not counted */
  OK(ferry_channel_subscribers(ch, NULL, &nsub));
  CHECK(nsub == 1);

  ferry_stats st;
  OK(ferry_channel_stats(ch, &st));
  CHECK(st.publishers == 1 && st.subscribers == 1 && st.arena_used == 0);
  /* end of stream after the publisher closes */
  OK(ferry_pub_close(pub));
  CHECK_RC(ferry_sub_try_receive(sub, &m), FERRY_E_EOF);
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch2));
  OK(ferry_channel_close(ch));
  char path[128];
  snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
  CHECK(access(path, F_OK) != 0);
  printf("test_basic ok\n");
  return 0;
}
