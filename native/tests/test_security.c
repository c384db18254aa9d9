/*
 * Hostile local processes (issue 14, items 4–6), one user.
 *  (a) A live process holds the channel lock and is stopped (SIGSTOP): every
 *      call honours its own bound. A publisher's loan gives FERRY_E_BUSY, naming
 *      the holder's pid, after its timeout (1 s), or after the 20 ms grace with
 *      timeout 0; ferry_sub_receive(timeout 150 ms) times out on time with each
 *      wait strategy (its reap slices skip the contended lock); try_receive
 *      and ferry_sub_arm_wake (the event-loop calls) never wait for the lock.
 *      Once the holder is killed, a receive's reap slice takes the lock over.
 *  (b) The segment is truncated by another process: the next
 *      ferry_channel_reap (which looks before it touches) says FERRY_E_CORRUPT,
 *      and so does every call on that handle after it; the handle's mappings
 *      read as zeros instead of raising SIGBUS; a blocked receive ends with
 *      FERRY_E_CORRUPT within a slice or two of the truncation.
 *  (c) A FIFO, a symlink (dangling and not), a directory and a socket planted
 *      under a ferry name: open and create refuse at once with FERRY_E_PERM
 *      and a detail naming the file's kind, leave no temporary file behind,
 *      and ferry_gc neither blocks on nor removes them (checked where a
 *      private /dev/shm can be mounted). (Before: create blocked forever in
 *      open() of the FIFO, leaving its temporary file.)
 *  (d) Write bits for group or world: open refuses unless trusted
 *      (ferry_channel_open2 flags, or the group's gid); read bits are fine.
 * Another user's segments are test_foreign.c (root only).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "shm/layout.h"
#include "util.h"

static const char *BASE = "security";

struct shared {
  int holding, go, done;
};

static double secs_since(uint64_t t) { return (double)(now_ns() - t) / 1e9; }

#define EXPECT_WITHIN(s, lo, hi, what)                                                              \
  do {                                                                                              \
    double s_ = (s);                                                                                \
    if (s_ < (lo) || s_ > (hi)) {                                                                   \
      fprintf(stderr, "%s:%d: %s took %.3f s, want %.3f .. %.3f s\n", __FILE__, __LINE__, (what), s_, \
              (double)(lo), (double)(hi));                                                          \
      test_failures_++;                                                                             \
    }                                                                                               \
  } while (0)

/* ---------------------------------------------------------------- (a) */

static int holder_main(void *arg) {
  ferry_channel *ch = arg; /* inherited mapping: the same shared lock word */
  _Atomic uint32_t *w = &ch->ctrl->lock;
  uint32_t z = 0;
  if (!atomic_compare_exchange_strong(w, &z, (uint32_t)getpid())) return 3;
  raise(SIGSTOP); /* stopped inside the critical section */
  return 0;
}

static void test_lock_bounds(void) {
  char name[96];
  test_name_sub(name, sizeof name, BASE, "lock");
  ferry_channel *ch;
  ferry_pub *pub1, *pub0;
  ferry_sub *sub;
  ferry_msg_info m;
  OK(ferry_channel_create(name, 64 * 1024, 16, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_BLOCK, 1000ll * 1000 * 1000, &pub1));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub0));
  OK(ferry_sub_open(ch, NULL, &sub));
  CHECK(ferry_sub_wake_fd(sub) >= 0);

  pid_t pid = fork_child(holder_main, ch);
  int st;
  CHECK(waitpid(pid, &st, WUNTRACED) == pid && WIFSTOPPED(st)); /* holding the lock, stopped */
  CHECK((atomic_load(&ch->ctrl->lock) & 0x7fffffffu) == (uint32_t)pid);
  char pidstr[32];
  snprintf(pidstr, sizeof pidstr, "pid %d", (int)pid);

  /* publishers: BUSY at their own bound, naming the holder */
  uint64_t t = now_ns();
  EXPECT_RC(ferry_pub_loan(pub1, 100, &m), FERRY_E_BUSY);
  double s = secs_since(t);
  EXPECT_WITHIN(s, 0.95, 1.6, "loan, timeout 1 s, stopped lock holder");
  EXPECT(strstr(ferry_last_error(), pidstr) != NULL && strstr(ferry_last_error(), name) != NULL);
  printf("  (a) loan with timeout 1 s: FERRY_E_BUSY after %.3f s [%s]\n", s, ferry_last_error());
  t = now_ns();
  EXPECT_RC(ferry_pub_send(pub0, "x", 1, NULL, 0, NULL), FERRY_E_BUSY);
  s = secs_since(t);
  EXPECT_WITHIN(s, 0.015, 0.5, "send, timeout 0, stopped lock holder");
  printf("  (a) send with timeout 0: FERRY_E_BUSY after %.1f ms (the lock's grace)\n", s * 1e3);

  /* a receive with a timeout returns on time, whatever its strategy */
  static const char *wn[] = {"spin", "block", "hybrid"};
  for (uint32_t w = 0; w <= FERRY_WAIT_HYBRID; w++) {
    t = now_ns();
    EXPECT_RC(ferry_sub_receive(sub, &m, w, 150ll * 1000 * 1000), FERRY_E_TIMEOUT);
    s = secs_since(t);
    EXPECT_WITHIN(s, 0.149, 0.45, "receive(timeout 150 ms), stopped lock holder");
    printf("  (a) receive(%s, 150 ms): FERRY_E_TIMEOUT after %.1f ms\n", wn[w], s * 1e3);
  }

  /* the event-loop calls: polls and arming the direct wake, each reap due */
  double worst = 0;
  int calls = 0;
  uint64_t end = now_ns() + 300ull * 1000 * 1000;
  while (now_ns() < end) {
    t = now_ns();
    EXPECT_RC(ferry_sub_try_receive(sub, &m), FERRY_E_AGAIN);
    s = secs_since(t);
    if (s > worst) worst = s;
    calls++;
    if (calls % 64 == 0) sleep_ms(1);
  }
  EXPECT_WITHIN(worst, 0, 0.02, "slowest try_receive, stopped lock holder");
  double worst_arm = 0;
  for (int i = 0; i < 4; i++) {
    sleep_ms(60); /* a reap is due at every arm */
    t = now_ns();
    int r = ferry_sub_arm_wake(sub);
    s = secs_since(t);
    EXPECT(r == 0);
    if (s > worst_arm) worst_arm = s;
  }
  EXPECT_WITHIN(worst_arm, 0, 0.02, "slowest arm_wake, stopped lock holder");
  printf("  (a) %d try_receive polls over 300 ms: slowest %.3f ms; arm_wake with a reap due: slowest %.3f ms\n",
         calls, worst * 1e3, worst_arm * 1e3);

  /* the holder dies: a receive's reap slice takes the lock over (and releases it) */
  kill(pid, SIGKILL);
  CHECK(wait_child(pid) == 128 + SIGKILL);
  EXPECT_RC(ferry_sub_receive(sub, &m, FERRY_WAIT_BLOCK, 200ll * 1000 * 1000), FERRY_E_TIMEOUT);
  EXPECT(atomic_load(&ch->ctrl->lock) == 0);
  t = now_ns();
  OK(ferry_pub_send(pub0, "y", 1, NULL, 0, NULL));
  EXPECT_WITHIN(secs_since(t), 0, 0.05, "send after the holder was reaped");
  OK(ferry_sub_try_receive(sub, &m));
  CHECK(m.length == 1);
  OK(ferry_sub_release(sub, m.token));
  printf("  (a) holder killed: a receive's reap slice took the lock over; publishing works again\n");
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub0));
  OK(ferry_pub_close(pub1));
  OK(ferry_channel_close(ch));
}

/* ---------------------------------------------------------------- (b) */

static int truncate_main(void *arg) {
  const char *path = ((const char **)arg)[0];
  unsigned delay_ms = (unsigned)(uintptr_t)((void **)arg)[1];
  if (delay_ms) sleep_ms(delay_ms);
  int fd = open(path, O_RDWR);
  if (fd < 0 || ftruncate(fd, 4096) != 0) return 3;
  close(fd);
  return 0;
}

static void test_truncation(void) {
  char name[96], path[256];
  test_name_sub(name, sizeof name, BASE, "trunc");
  shm_path_of(name, path, sizeof path);
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  ferry_channel_info ci;
  ferry_stats stats;
  ferry_msg_info m;
  OK(ferry_channel_create(name, 64 * 1024, 16, 0, &ch));
  OK(ferry_channel_info_get(ch, &ci));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(ferry_sub_open(ch, NULL, &sub));
  CHECK(ferry_sub_wake_fd(sub) >= 0);
  OK(ferry_pub_send(pub, "hello", 5, NULL, 0, NULL));
  OK(ferry_sub_try_receive(sub, &m));
  uint32_t held = m.token;

  void *arg[2] = {path, (void *)(uintptr_t)0};
  CHECK(wait_child(fork_child(truncate_main, arg)) == 0);
  /* from here on, only calls that look before they touch: reap first */
  EXPECT_RC(ferry_channel_reap(ch), FERRY_E_CORRUPT);
  EXPECT(strstr(ferry_last_error(), "shrank") != NULL);
  printf("  (b) truncated by another process: reap = FERRY_E_CORRUPT [%s]\n", ferry_last_error());
  EXPECT_RC(ferry_sub_try_receive(sub, &m), FERRY_E_CORRUPT);
  EXPECT_RC(ferry_sub_receive(sub, &m, FERRY_WAIT_BLOCK, 1000000), FERRY_E_CORRUPT);
  EXPECT_RC(ferry_sub_release(sub, held), FERRY_E_CORRUPT);
  EXPECT_RC(ferry_sub_arm_wake(sub), FERRY_E_CORRUPT);
  EXPECT_RC(ferry_pub_loan(pub, 10, &m), FERRY_E_CORRUPT);
  EXPECT_RC(ferry_pub_send(pub, "x", 1, NULL, 0, NULL), FERRY_E_CORRUPT);
  EXPECT_RC(ferry_channel_stats(ch, &stats), FERRY_E_CORRUPT);
  EXPECT_RC(ferry_channel_info_get(ch, &ci), FERRY_E_CORRUPT);
  EXPECT_RC(ferry_channel_reap(ch), FERRY_E_CORRUPT);
  ferry_pub *p2;
  ferry_sub *s2;
  EXPECT_RC(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &p2), FERRY_E_CORRUPT);
  EXPECT_RC(ferry_sub_open(ch, NULL, &s2), FERRY_E_CORRUPT);
  /* the lost pages are not touched any more: the mappings read as zeros */
  volatile const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  EXPECT(ro[0] == 0 && ro[ci.arena_size - 1] == 0);
  volatile const uint32_t *ctrl = (const uint32_t *)(uintptr_t)ci.ctrl;
  EXPECT(ctrl[0] == 0);
  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  CHECK(!shm_exists(name));
  printf("  (b) every call on the handle: FERRY_E_CORRUPT; its mappings read as zeros; closed cleanly\n");

  /* a blocked receive notices within a slice or two */
  OK(ferry_channel_create(name, 64 * 1024, 16, 0, &ch));
  OK(ferry_sub_open(ch, NULL, &sub));
  arg[1] = (void *)(uintptr_t)120;
  pid_t pid = fork_child(truncate_main, arg);
  uint64_t t = now_ns();
  EXPECT_RC(ferry_sub_receive(sub, &m, FERRY_WAIT_BLOCK, 3000ll * 1000 * 1000), FERRY_E_CORRUPT);
  double s = secs_since(t);
  EXPECT_WITHIN(s, 0.1, 0.6, "blocked receive, segment truncated after 120 ms");
  CHECK(wait_child(pid) == 0);
  printf("  (b) receive(block, 3 s), truncated after 120 ms: FERRY_E_CORRUPT after %.0f ms\n", s * 1e3);
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
}

/* ---------------------------------------------------------------- (c) */

enum { P_FIFO, P_SYMLINK, P_DANGLING, P_DIR, P_SOCKET, P_N };
static const char *pname[P_N] = {"FIFO", "symbolic link", "symbolic link", "directory", "socket"};
static const char *psfx[P_N] = {"fifo", "link", "dangling", "dir", "sock"};

static void plant(int kind, const char *path, const char *target) {
  switch (kind) {
    case P_FIFO: CHECK(mkfifo(path, 0666) == 0); break;
    case P_SYMLINK: CHECK(symlink(target, path) == 0); break;
    case P_DANGLING: CHECK(symlink("/dev/shm/ferry-no-such-target", path) == 0); break;
    case P_DIR: CHECK(mkdir(path, 0777) == 0); break;
    default: {
      int s = socket(AF_UNIX, SOCK_STREAM, 0);
      struct sockaddr_un a = {.sun_family = AF_UNIX};
      snprintf(a.sun_path, sizeof a.sun_path, "%.100s", path);
      CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0);
      close(s);
    }
  }
}

static void unplant(int kind, const char *path) {
  if (kind == P_DIR)
    rmdir(path);
  else
    unlink(path);
}

struct planted {
  int kind;
  const char *name;
};

/* In a child with an alarm: a call that blocks fails the test instead of hanging it. */
static int planted_child(void *arg) {
  const struct planted *pl = arg;
  const char *kind = pname[pl->kind];
  alarm(5);
  bool priv = test_private_dev_shm("16m");
  char path[256], target[] = "/dev/shm/ferry-security-target-XXXXXX";
  shm_path_of(pl->name, path, sizeof path);
  int tf = mkstemp(target);
  if (tf < 0) return 20;
  close(tf);
  plant(pl->kind, path, target);
  printf("  (c) %s planted at %s%s:\n", kind, path, priv ? " (private /dev/shm)" : "");
  int rc = 0;
  ferry_channel *ch = NULL;
  int r = ferry_channel_open(pl->name, &ch);
  if (r != FERRY_E_PERM || ch || !strstr(ferry_last_error(), kind)) {
    fprintf(stderr, "open: %s [%s]\n", ferry_err_name(r), ferry_last_error());
    rc = 10;
    goto out;
  }
  printf("      open:   %s\n", ferry_last_error());
  r = ferry_channel_create(pl->name, 64 * 1024, 16, 0, &ch);
  if (r != FERRY_E_PERM || ch || !strstr(ferry_last_error(), kind)) {
    fprintf(stderr, "create: %s [%s]\n", ferry_err_name(r), ferry_last_error());
    rc = 11;
    goto out;
  }
  printf("      create: %s\n", ferry_last_error());
  if (shm_leftovers("~tmp.", getpid(), 0) != 0) {
    fprintf(stderr, "create left a temporary file behind\n");
    rc = 12;
    goto out;
  }
  if (priv) { /* gc neither blocks on it nor removes it: not a segment */
    struct stat ls;
    if (ferry_gc() < 0 || lstat(path, &ls) != 0) rc = 13;
  } else {
    printf("      (gc not run: no private /dev/shm here)\n");
  }
out:
  unplant(pl->kind, path);
  unlink(target);
  fflush(stdout);
  return rc;
}

static void test_planted(void) {
  for (int k = 0; k < P_N; k++) {
    char name[96];
    test_name_sub(name, sizeof name, BASE, psfx[k]);
    uint64_t t = now_ns();
    struct planted pl = {k, name};
    int st = wait_child_ms(fork_child(planted_child, &pl), 8000);
    double s = secs_since(t);
    if (st != 0) {
      fprintf(stderr, "(c) %s: child status %d (%s)\n", pname[k], st,
              st == 128 + SIGALRM ? "blocked" : st == 10 ? "open" : st == 11 ? "create" : st == 12 ? "temporary left"
                                  : st == 13 ? "gc" : "?");
      test_failures_++;
    }
    EXPECT_WITHIN(s, 0, 2, "open + create + gc over a planted file");
  }
}

/* ---------------------------------------------------------------- (d) */

static void test_modes(void) {
  char name[96];
  test_name_sub(name, sizeof name, BASE, "modes");
  ferry_channel *ch, *o;
  uint32_t mygid = (uint32_t)getegid();
  struct {
    uint32_t mode;
    int plain;     /* ferry_channel_open */
    uint32_t flag; /* open2 with this flag: 0 */
    const char *word;
  } cases[] = {
      {0600, 0, 0, NULL},
      {0644, 0, 0, NULL},
      {0660, FERRY_E_PERM, FERRY_TRUST_GROUP_WRITE, "group-writable"},
      {0666, FERRY_E_PERM, FERRY_TRUST_WORLD_WRITE, "world-writable"},
      {0662, FERRY_E_PERM, FERRY_TRUST_WORLD_WRITE, "world-writable"}, /* world write accepts group write too */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    OK(ferry_channel_create(name, 4096, 8, cases[i].mode, &ch));
    o = NULL;
    int r = ferry_channel_open(name, &o);
    EXPECT_RC(r, cases[i].plain);
    if (r == 0) OK(ferry_channel_close(o));
    if (cases[i].word) {
      EXPECT(o == NULL && strstr(ferry_last_error(), cases[i].word) != NULL);
      printf("  (d) mode %04o: open = FERRY_E_PERM [%s]\n", cases[i].mode, ferry_last_error());
      OK(ferry_channel_open2(name, cases[i].flag, NULL, 0, NULL, 0, &o));
      OK(ferry_channel_close(o));
    }
    if (cases[i].mode == 0660) { /* trusting the segment's group accepts its group write bit */
      OK(ferry_channel_open2(name, 0, NULL, 0, &mygid, 1, &o));
      OK(ferry_channel_close(o));
      uint32_t other = mygid + 1;
      EXPECT_RC(ferry_channel_open2(name, 0, NULL, 0, &other, 1, &o), FERRY_E_PERM);
    }
    if (cases[i].mode == 0666) /* the group flag alone does not accept world write */
      EXPECT_RC(ferry_channel_open2(name, FERRY_TRUST_GROUP_WRITE, NULL, 0, NULL, 0, &o), FERRY_E_PERM);
    OK(ferry_channel_close(ch));
  }
  EXPECT_RC(ferry_channel_open2(name, 4, NULL, 0, NULL, 0, &o), FERRY_E_INVAL);
  EXPECT_RC(ferry_channel_open2(name, 0, NULL, 1, NULL, 0, &o), FERRY_E_INVAL);
  EXPECT_RC(ferry_channel_open2(name, 0, NULL, 0, NULL, 0, &o), FERRY_E_NOTFOUND);
  printf("  (d) 0600/0644 open; group/world write bits need FERRY_TRUST_* (or the group's gid)\n");
}

int main(void) {
  test_init(BASE);
  uint64_t t0 = now_ns();
  test_modes();
  test_planted();
  test_truncation();
  test_lock_bounds();
  CHECK_NO_LEFTOVERS();
  if (test_failures_) {
    fprintf(stderr, "test_security: %d failure(s)\n", test_failures_);
    return 1;
  }
  printf("test_security ok (%.2f s)\n", secs_since(t0));
  return 0;
}
