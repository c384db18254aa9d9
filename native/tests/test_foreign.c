/*
 * Another local user's segments (issue 14, item 5). Root only (exit 77
 * otherwise): forked children drop to an unused uid/gid (no passwd entry is
 * needed: the kernel checks numbers) and act as that user. Everything runs
 * in a private mount namespace with its own /dev/shm (gc is called).
 *  (a) The other user creates a world-writable (0666) channel and publishes
 *      "evil payload". Open refuses it (FERRY_E_PERM naming the owner's uid),
 *      even for root, who could read and write the file; trusting that uid
 *      without accepting world write still refuses; trusting both opens it
 *      and the payload arrives. (Before: open attached at once.)
 *  (b) Create over that name says FERRY_E_PERM with the owner's uid, while
 *      the owner lives and after it died (before: FERRY_E_EXISTS, then root
 *      replaced the dead user's segment); root's gc leaves it alone.
 *  (c) The other user cannot open root's 0600 channel (FERRY_E_PERM naming
 *      uid 0), and its gc does not remove root's stale segment.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "util.h"

static const char *BASE = "foreign";
static uid_t U;
static gid_t G;

struct shared {
  int ready, go, sent, done;
  int rc;
  char detail[512];
};

static void become_other(void) {
  if (setgroups(0, NULL) != 0 || setresgid(G, G, G) != 0 || setresuid(U, U, U) != 0) {
    perror("drop to the other user");
    _exit(99);
  }
}

struct arg {
  const char *name;
  struct shared *sh;
};

static int evil_main(void *p) {
  struct arg *a = p;
  alarm(30);
  become_other();
  ferry_channel *ch;
  ferry_pub *pub;
  OK(ferry_channel_create(a->name, 64 * 1024, 16, 0666, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  bump_counter(&a->sh->ready);
  CHECK(wait_counter(&a->sh->go, 1, 20000) == 0);
  OK(ferry_pub_send(pub, "evil payload", 12, NULL, 0, NULL));
  bump_counter(&a->sh->sent);
  for (;;) pause();
}

/* As the other user: try to open `name`, report the result; then gc. */
static int other_open_main(void *p) {
  struct arg *a = p;
  alarm(10);
  become_other();
  ferry_channel *ch = NULL;
  a->sh->rc = ferry_channel_open(a->name, &ch);
  snprintf(a->sh->detail, sizeof a->sh->detail, "%s", ferry_last_error());
  if (ch) ferry_channel_close(ch);
  return ferry_gc() < 0 ? 2 : 0;
}

static int stale_main(void *p) { /* a root channel whose creator dies */
  struct arg *a = p;
  ferry_channel *ch;
  OK(ferry_channel_create(a->name, 4096, 8, 0, &ch));
  _exit(0);
}

static bool pick_ids(void) {
  for (uid_t u = 61000; u < 65000; u++)
    if (!getpwuid(u) && !getgrgid((gid_t)u)) {
      U = u;
      G = (gid_t)u;
      return true;
    }
  return false;
}

int main(void) {
  if (geteuid() != 0) {
    printf("test_foreign: skipped: needs root to act as a second user (setresuid)\n");
    return 77;
  }
  if (!pick_ids()) {
    printf("test_foreign: skipped: no unused uid in 61000..64999\n");
    return 77;
  }
  /* ferry_gc judges every segment: run with a private /dev/shm (util.h) */
  if (!test_private_dev_shm("16m")) {
    printf("test_foreign: skipped: cannot mount a private /dev/shm (%s)\n", strerror(errno));
    return 77;
  }
  test_init(BASE);
  char uidstr[32];
  snprintf(uidstr, sizeof uidstr, "uid %u", (unsigned)U);
  printf("test_foreign: the other user is uid %u gid %u\n", (unsigned)U, (unsigned)G);
  char evil[96], mine[96], stale[96], path[256];
  test_name_sub(evil, sizeof evil, BASE, "evil");
  test_name_sub(mine, sizeof mine, BASE, "mine");
  test_name_sub(stale, sizeof stale, BASE, "stale");
  struct shared *sh = shared_alloc(sizeof *sh);

  /* (a) */
  struct arg ea = {evil, sh};
  pid_t epid = fork_child(evil_main, &ea);
  CHECK(wait_counter(&sh->ready, 1, 10000) == 0);
  shm_path_of(evil, path, sizeof path);
  struct stat st;
  CHECK(stat(path, &st) == 0 && st.st_uid == U && (st.st_mode & 0777) == 0666);
  ferry_channel *ch = NULL;
  EXPECT_RC(ferry_channel_open(evil, &ch), FERRY_E_PERM);
  EXPECT(ch == NULL && strstr(ferry_last_error(), uidstr) != NULL);
  printf("  (a) open of uid %u's 0666 channel: FERRY_E_PERM [%s]\n", (unsigned)U, ferry_last_error());
  uint32_t u = (uint32_t)U;
  EXPECT_RC(ferry_channel_open2(evil, 0, &u, 1, NULL, 0, &ch), FERRY_E_PERM);
  EXPECT(strstr(ferry_last_error(), "world-writable") != NULL);
  OK(ferry_channel_open2(evil, FERRY_TRUST_WORLD_WRITE, &u, 1, NULL, 0, &ch));
  ferry_sub *sub;
  ferry_channel_info ci;
  ferry_msg_info m;
  OK(ferry_channel_info_get(ch, &ci));
  OK(ferry_sub_open(ch, NULL, &sub));
  bump_counter(&sh->go);
  CHECK(wait_counter(&sh->sent, 1, 10000) == 0);
  OK(ferry_sub_receive(sub, &m, FERRY_WAIT_BLOCK, 2000ll * 1000 * 1000));
  CHECK(m.length == 12 && memcmp((const uint8_t *)(uintptr_t)ci.arena_ro + m.offset, "evil payload", 12) == 0);
  OK(ferry_sub_release(sub, m.token));
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  printf("  (a) trusted (uids [%u], world write accepted): opened, received \"evil payload\"\n", (unsigned)U);

  /* (b) */
  ch = NULL;
  EXPECT_RC(ferry_channel_create(evil, 4096, 8, 0, &ch), FERRY_E_PERM);
  EXPECT(ch == NULL && strstr(ferry_last_error(), uidstr) != NULL);
  printf("  (b) create over it, owner alive: FERRY_E_PERM [%s]\n", ferry_last_error());
  kill(epid, SIGKILL);
  CHECK(wait_child(epid) == 128 + SIGKILL);
  EXPECT_RC(ferry_channel_create(evil, 4096, 8, 0, &ch), FERRY_E_PERM);
  EXPECT(ch == NULL && strstr(ferry_last_error(), uidstr) != NULL);
  CHECK(ferry_gc() >= 0);
  EXPECT(stat(path, &st) == 0 && st.st_uid == U);
  printf("  (b) owner dead: create = FERRY_E_PERM, root's gc leaves uid %u's segment alone\n", (unsigned)U);
  unlink(path);

  /* (c) */
  ferry_channel *mch;
  OK(ferry_channel_create(mine, 4096, 8, 0, &mch));
  struct arg sa = {stale, sh};
  CHECK(wait_child(fork_child(stale_main, &sa)) == 0);
  CHECK(shm_exists(stale));
  struct arg oa = {mine, sh};
  CHECK(wait_child(fork_child(other_open_main, &oa)) == 0);
  EXPECT_RC(sh->rc, FERRY_E_PERM);
  EXPECT(strstr(sh->detail, "uid 0") != NULL);
  EXPECT(shm_exists(stale)); /* not the other user's to collect */
  printf("  (c) uid %u opening root's 0600 channel: FERRY_E_PERM [%s]; its gc kept root's stale segment\n",
         (unsigned)U, sh->detail);
  CHECK(ferry_gc() >= 1);
  EXPECT(!shm_exists(stale));
  OK(ferry_channel_close(mch));

  munmap(sh, sizeof *sh);
  CHECK_NO_LEFTOVERS();
  if (test_failures_) {
    fprintf(stderr, "test_foreign: %d failure(s)\n", test_failures_);
    return 1;
  }
  printf("test_foreign ok\n");
  return 0;
}
