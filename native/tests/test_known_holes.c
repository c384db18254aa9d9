/*
 * Holes found by the fuzz targets and the hostile campaign
 * (native/fuzz/README.md), each reproduced in a forked child (alarm 3 s).
 * All are fixed; the test is strict by default, so a case that reproduces
 * again fails it (FERRY_TEST_STRICT=0 only reports).
 *
 *  (1) shm/segment.c: ferry__seg_validate adds region offsets and sizes
 *      without overflow checks. A header with a valid checksum and
 *      parts_off = 2^64 - 6464 passes (parts_off + 64 x sizeof(part) wraps
 *      below ring_off), and ch->parts points outside the mapping:
 *      (1a) ferry_channel_open succeeds, ferry_sub_open dies with SIGSEGV;
 *      (1b) ferry_gc() dies with SIGSEGV when the creator is gone (the
 *           liveness scan reads the participants at parts_off);
 *      (1c) ferry_channel_create of the same name dies the same way (its
 *           EEXIST path asks whether the old segment is stale).
 *  (2) shm/ring.c: ferry__ring_drop_oldest walks head..tail re-reading both
 *      from shared memory, unbounded: with tail moved far ahead (what a peer
 *      can do between its caller's clamp and the loop) it does not return.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>

#include "channel.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "util.h"

static const char *BASE = "holes";
static bool strict;
static int known, fixed, fails;

/* Run fn in a child with alarm(3): its exit status, or 128 + signal. A child
 * that died inside ferry_channel_create leaves its "ferry.~tmp.<pid>.*"
 * file behind: remove it. */
static int in_child(int (*fn)(void *), void *arg) {
  pid_t pid = fork_child(fn, arg);
  int st = wait_child_ms(pid, 6000);
  shm_leftovers("~tmp.none.", pid, 1);
  return st;
}

static void verdict(const char *what, int st, const char *owner) {
  if (st == 0) {
    printf("  %s: fixed (does not reproduce)\n", what);
    fixed++;
    return;
  }
  const char *how = st == 128 + SIGALRM || st == -2 ? "hangs" : st > 128 ? strsignal(st - 128) : "fails";
  printf("  %s: KNOWN OPEN (%s) -> %s [status %d]\n", what, owner, how, st);
  known++;
  if (strict) fails++;
}

/* ---------------------------------------------------------------- (1) region offsets that wrap */

static void wrap_parts_off(const char *name) {
  char path[256];
  shm_path_of(name, path, sizeof path);
  int fd = open(path, O_RDWR);
  CHECK(fd >= 0);
  struct ferry_seg_hdr h;
  CHECK(pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
  h.parts_off = 0ull - 6464; /* + 64 participants wraps to below ring_off */
  h.checksum = ferry__checksum(&h);
  CHECK(pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
  close(fd);
}

static int open_and_subscribe(void *arg) {
  alarm(3);
  ferry_channel *ch;
  int rc = ferry_channel_open(arg, &ch);
  if (rc != 0) return rc == FERRY_E_CORRUPT ? 0 : 2; /* the fix: refused at open */
  ferry_sub *s;
  if (ferry_sub_open(ch, NULL, &s) == 0) ferry_sub_close(s);
  ferry_channel_close(ch);
  return 3; /* opened a channel whose participants lie outside the mapping, and survived */
}

static int gc_child(void *arg) {
  alarm(3);
  int n = ferry_gc();
  return n >= 0 ? 0 : 2;
}

static int create_child(void *arg) {
  alarm(3);
  ferry_channel *ch;
  int rc = ferry_channel_create(arg, 4096, 8, 0, &ch);
  if (rc == 0) ferry_channel_close(ch);
  return 0;
}

static int orphan_create(void *arg) { /* a creator that dies without closing */
  ferry_channel *ch;
  return ferry_channel_create(arg, 64 * 1024, 16, 0, &ch) == 0 ? 0 : 1;
}

static void test_wrap(void) {
  char name[96];
  test_name_sub(name, sizeof name, BASE, "wrap");
  CHECK(in_child(orphan_create, name) == 0); /* creator gone: gc and create scan the participants */
  wrap_parts_off(name);
  verdict("(1a) parts_off wraps: open + subscribe", in_child(open_and_subscribe, name), "shm/segment.c");
  verdict("(1b) parts_off wraps: ferry_gc with the creator gone", in_child(gc_child, name), "shm/segment.c");
  if (shm_exists(name)) {
    verdict("(1c) parts_off wraps: create over it", in_child(create_child, name), "shm/segment.c");
  }
  if (shm_exists(name)) ferry_unlink(name);
}

/* ---------------------------------------------------------------- (2) drop-oldest over moved words */

static int drop_oldest_child(void *arg) {
  alarm(3);
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  OK(ferry_channel_create(arg, 64 * 1024, 16, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_DROP_OLDEST, 0, &pub));
  OK(ferry_sub_open(ch, NULL, &sub));
  ferry_msg_info m;
  for (int i = 0; i < 4; i++) { /* received and held: nothing left to drop, so the walk goes on */
    OK(ferry_pub_send(pub, "abc", 3, NULL, 0, NULL));
    OK(ferry_sub_try_receive(sub, &m));
  }
  OK(ferry__chan_lock(ch));
  ch->ctrl->tail = 1ull << 62; /* moved by a peer after the caller's clamp */
  ferry__ring_drop_oldest(ch);
  ch->ctrl->tail = 4;
  ferry__chan_unlock(ch);
  ferry_sub_close(sub);
  ferry_pub_close(pub);
  ferry_channel_close(ch);
  return 0;
}

static void test_drop_oldest(void) {
  char name[96];
  test_name_sub(name, sizeof name, BASE, "drop");
  verdict("(2) drop-oldest with tail moved far ahead", in_child(drop_oldest_child, name), "shm/ring.c");
  if (shm_exists(name)) ferry_unlink(name);
}

int main(void) {
  /* (1b) runs ferry_gc over a segment it made stale on purpose: keep that gc off the real /dev/shm */
  bool priv = test_private_dev_shm("16m");
  test_init(BASE);
  const char *s = getenv("FERRY_TEST_STRICT");
  strict = !(s && strcmp(s, "0") == 0); /* every case is fixed: a reproduction is a regression */
  printf("test_known_holes%s%s\n", strict ? " (strict)" : "", priv ? "" : " (no private /dev/shm: gc runs on the real one)");
  test_wrap();
  test_drop_oldest();
  CHECK_NO_LEFTOVERS();
  printf("test_known_holes: %d known open, %d no longer reproduce%s\n", known, fixed,
         strict && fails ? " (strict: failing)" : "");
  return fails ? 1 : 0;
}
