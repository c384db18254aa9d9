/*
 * ferry_sub_receive_or_arm: the event loop's one call per receive attempt.
 *  - wait other than block/hybrid is FERRY_E_INVAL;
 *  - nothing published: 1, and the wake is armed (a publish from another
 *    process then writes the wake socket, which becomes readable);
 *  - a message there: 0 with its info, whatever the wait;
 *  - hybrid: a message published by another process while the call spins is
 *    taken by the spin itself (0, no arming, no byte on the wake socket);
 *  - end of stream: FERRY_E_EOF;
 *  - FERRY_ARM_NO_REAP: a publisher killed with -9 is not reaped by these
 *    calls (armed, again and again, past several reap slices), and
 *    ferry_sub_reap then turns the stream into FERRY_E_PEERDEAD.
 */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/socket.h>

#include "util.h"

static int readable(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void drain(int fd) {
  char b[64];
  while (recv(fd, b, sizeof b, MSG_DONTWAIT) > 0) {
  }
}

int main(void) {
  const char *name = test_name("rcvarm");
  ferry_channel *ch;
  OK(ferry_channel_create(name, 1 << 20, 64, 0600, &ch));
  ferry_sub *sub;
  OK(ferry_sub_open(ch, NULL, &sub));
  int wfd = ferry_sub_wake_fd(sub);
  CHECK(wfd >= 0);
  ferry_msg_info info;

  CHECK_RC(ferry_sub_receive_or_arm(sub, &info, FERRY_WAIT_SPIN), FERRY_E_INVAL);
  CHECK_RC(ferry_sub_receive_or_arm(sub, &info, 7), FERRY_E_INVAL);

  /* a publisher in another process, told by a pipe when to publish */
  int go[2];
  CHECK(pipe(go) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]); /* EOF on go[0] when the parent exits, whatever happens there */
    ferry_channel *c2;
    ferry_pub *p;
    if (ferry_channel_open(name, &c2) || ferry_pub_open(c2, 0, -1, &p)) _exit(2);
    char cmd;
    while (read(go[0], &cmd, 1) == 1) {
      if (cmd == 'q') break;
      if (cmd == 'd') usleep(1000); /* 1 ms later: outside any spin budget */
      if (cmd == 'b') {                /* 30 µs later: inside a spin budget, far after a call that does not spin */
        uint64_t t = now_ns();
        while (now_ns() - t < 30000) {
        }
      }
      uint8_t v = (uint8_t)cmd;
      if (ferry_pub_send(p, &v, 1, NULL, 0, NULL)) _exit(3);
    }
    ferry_pub_close(p);
    ferry_channel_close(c2);
    _exit(0);
  }
  close(go[0]);

  /* nothing yet: armed (1) with either wait; a publish then wakes the socket */
  for (uint32_t w = FERRY_WAIT_BLOCK; w <= FERRY_WAIT_HYBRID; w++) {
    CHECK_RC(ferry_sub_receive_or_arm(sub, &info, w), 1);
    CHECK(!readable(wfd, 0));
    CHECK(write(go[1], "a", 1) == 1);
    CHECK(readable(wfd, 5000));
    drain(wfd);
    CHECK_RC(ferry_sub_receive_or_arm(sub, &info, FERRY_WAIT_BLOCK), 0);
    CHECK(info.length == 1);
    OK(ferry_sub_release(sub, info.token));
  }

  /* hybrid spins before arming: a message that lands during the spin is taken
   * by it. The budget adapts per thread (2-100 µs); a publish 1 ms after the
   * request is outside any budget, so hits below come from the spin catching
   * a publish 30 µs after the request. Count hits over tries (a loaded machine may delay the
   * child past a budget now and then, so stop at the first 20 hits). */
  int hits = 0, tries = 0;
  for (; tries < 400 && hits < 20; tries++) {
    CHECK(write(go[1], "b", 1) == 1); /* the child publishes 30 µs after it reads this */
    int rc = ferry_sub_receive_or_arm(sub, &info, FERRY_WAIT_HYBRID);
    if (rc == 0) {
      hits++;
      CHECK(!readable(wfd, 0)); /* never armed: no wake byte was sent */
    } else {
      CHECK_RC(rc, 1);
      CHECK(readable(wfd, 5000));
      drain(wfd);
      CHECK_RC(ferry_sub_receive_or_arm(sub, &info, FERRY_WAIT_BLOCK), 0);
    }
    OK(ferry_sub_release(sub, info.token));
  }
  fprintf(stderr, "hybrid spin caught %d of %d immediate publishes\n", hits, tries);
  CHECK(hits >= 20); /* without the spin: a few at most in 400 (measured 2) */

  /* block never spins: a publish 1 ms later always finds it armed */
  CHECK(write(go[1], "d", 1) == 1);
  CHECK_RC(ferry_sub_receive_or_arm(sub, &info, FERRY_WAIT_BLOCK), 1);
  CHECK(readable(wfd, 5000));
  drain(wfd);
  CHECK_RC(ferry_sub_receive_or_arm(sub, &info, FERRY_WAIT_BLOCK), 0);
  OK(ferry_sub_release(sub, info.token));

  /* end of stream */
  CHECK(write(go[1], "q", 1) == 1);
  CHECK_RC(wait_child(pid), 0);
  CHECK_RC(ferry_sub_receive_or_arm(sub, &info, FERRY_WAIT_HYBRID), FERRY_E_EOF);

  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  ferry_unlink(name);

  /* FERRY_ARM_NO_REAP: the reap is the caller's (ferry_sub_reap) */
  const char *n2 = test_name("rcvarm-noreap");
  OK(ferry_channel_create(n2, 1 << 20, 64, 0600, &ch));
  OK(ferry_sub_open(ch, NULL, &sub));
  CHECK(ferry_sub_wake_fd(sub) >= 0);
  int ready[2];
  CHECK(pipe(ready) == 0);
  pid = fork();
  if (pid == 0) {
    ferry_channel *c2;
    ferry_pub *p;
    if (ferry_channel_open(n2, &c2) || ferry_pub_open(c2, 0, -1, &p)) _exit(2);
    if (write(ready[1], "r", 1) != 1) _exit(3);
    pause(); /* killed below */
    _exit(0);
  }
  char r;
  CHECK(read(ready[0], &r, 1) == 1);
  kill(pid, SIGKILL);
  CHECK(waitpid(pid, NULL, 0) == pid); /* gone, not a zombie that looks alive */
  uint64_t t0 = now_ns();
  while (now_ns() - t0 < 300 * 1000 * 1000ull) { /* six reap slices */
    CHECK_RC(ferry_sub_receive_or_arm(sub, &info, FERRY_WAIT_BLOCK | FERRY_ARM_NO_REAP), 1);
    usleep(5000);
  }
  OK(ferry_sub_reap(sub));
  CHECK_RC(ferry_sub_receive_or_arm(sub, &info, FERRY_WAIT_BLOCK | FERRY_ARM_NO_REAP), FERRY_E_PEERDEAD);
  OK(ferry_sub_close(sub));
  OK(ferry_channel_close(ch));
  ferry_unlink(n2);
  return 0;
}
