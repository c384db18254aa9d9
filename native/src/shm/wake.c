/*
 * shm/wake.c — publish notification. Publish side: only if a subscriber
 * sleeps (sub_waiters), bump pub_futex and FUTEX_WAKE, so a busy channel
 * makes no system call and a spinning receiver costs no locked instruction; and one byte to the abstract datagram socket of
 * every subscriber armed for a direct wake (direct_waiters), so an event
 * loop wakes with no helper thread in between. Space side: a release that
 * frees a descriptor bumps rel_futex only while publishers wait for space.
 *
 * Direct wake: while a subscriber's bit is set in ctrl->wake_mask, a
 * publisher sends one byte to "ferry-wake.<pid>.<slot>.<nonce>" and clears it
 * (one wake per arming). A dead or foreign socket just fails the send; nothing
 * read from shared memory is trusted beyond naming an address.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shm/wake.h"
#include "sys/error.h"
#include "sys/proc.h"
#include "sys/sys.h"

/* Decimal digits of v at o; returns the end. (No snprintf: a publish to an idle peer formats
 * this address, and after an idle gap glibc's printf machinery is cold code, ~3 µs here.) */
static char *put_u32(char *o, uint32_t v) {
  char tmp[10];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n) *o++ = tmp[--n];
  return o;
}

/* "\0ferry-wake.<pid>.<slot>.<nonce>": the abstract address of a subscriber's wake socket. */
FERRY__HOT static socklen_t wake_addr(struct sockaddr_un *a, uint32_t pid, uint32_t slot, uint32_t nonce) {
  static const char prefix[] = "ferry-wake.";
  a->sun_family = AF_UNIX;
  char *o = a->sun_path;
  *o++ = 0;
  memcpy(o, prefix, sizeof prefix - 1);
  o = put_u32(o + sizeof prefix - 1, pid);
  *o++ = '.';
  o = put_u32(o, slot);
  *o++ = '.';
  o = put_u32(o, nonce);
  _Static_assert(1 + sizeof prefix - 1 + 3 * 10 + 2 <= sizeof a->sun_path, "wake address fits sun_path");
  return (socklen_t)(o - (char *)a);
}

int ferry__wake_bind(ferry_channel *ch, uint32_t slot) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ferry__errno(0, "socket(wake)");
  struct ferry_part *part = &ch->parts[slot];
  struct sockaddr_un a;
  for (int attempt = 0;; attempt++) {
    uint32_t nonce = (uint32_t)(ferry__now_ns() ^ ((uint64_t)(uintptr_t)part >> 4)) + (uint32_t)attempt;
    if (bind(fd, (struct sockaddr *)&a, wake_addr(&a, ferry__pid(), slot, nonce)) == 0) {
      part->wake_nonce = nonce;
      return fd;
    }
    if (attempt == 8) {
      int r = ferry__errno(0, "bind(wake)");
      close(fd);
      return r;
    }
  }
}

static inline uint64_t part_bit(ferry_channel *ch, struct ferry_part *part) {
  _Static_assert(FERRY_MAX_PARTICIPANTS <= 64, "wake_mask has one bit per participant slot");
  return 1ull << (uint32_t)(part - ch->parts);
}

FERRY__HOT void ferry__wake_arm(ferry_channel *ch, struct ferry_part *part) {
  atomic_fetch_or(&ch->ctrl->wake_mask, part_bit(ch, part));
}

FERRY__HOT void ferry__wake_disarm(ferry_channel *ch, struct ferry_part *part) {
  uint64_t bit = part_bit(ch, part);
  if (atomic_load_explicit(&ch->ctrl->wake_mask, memory_order_relaxed) & bit) atomic_fetch_and(&ch->ctrl->wake_mask, ~bit);
}

static _Atomic int wake_send_fd = -1; /* one unbound sending socket per process, kept open */

FERRY__HOT static int send_fd(void) {
  int fd = atomic_load(&wake_send_fd);
  if (fd >= 0) return fd;
  int n = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (n < 0) return -1;
  int expect = -1;
  if (!atomic_compare_exchange_strong(&wake_send_fd, &expect, n)) {
    close(n);
    return expect;
  }
  return n;
}

/* Every armed subscriber, disarmed at once (an arming is good for one wake): only their records are read. */
FERRY__HOT static __attribute__((noinline)) void wake_direct(ferry_channel *ch) {
  uint64_t armed = atomic_exchange(&ch->ctrl->wake_mask, 0);
  int fd = send_fd();
  if (fd < 0) return;
  while (armed) {
    uint32_t i = (uint32_t)__builtin_ctzll(armed);
    armed &= armed - 1;
    struct ferry_part *p = &ch->parts[i];
    struct sockaddr_un a;
    char b = 1;
    sendto(fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, wake_addr(&a, p->pid, i, p->wake_nonce));
  }
}

/* A full barrier right after an atomic read-modify-write: nothing on x86, where a locked
 * instruction already orders every earlier load and store before every later one (Intel SDM
 * vol. 3A 8.2.2; Linux's smp_mb__after_atomic), a seq_cst fence elsewhere. */
static inline void mb_after_rmw(void) {
#if defined(__x86_64__) || defined(__i386__)
  atomic_signal_fence(memory_order_seq_cst); /* the compiler keeps the order */
#else
  atomic_thread_fence(memory_order_seq_cst);
#endif
}

/*
 * Dekker against each waiter: the waiter (sys/wait.c) reads pub_futex, counts itself in
 * sub_waiters (seq_cst RMW), re-checks (ferry__ring_ready: seq_cst load of the seq) and sleeps
 * on the value it read; an event loop arms its direct wake the same way (ferry_sub_arm_wake:
 * its bit in wake_mask). Here: the seq stores, the caller's unlock (an atomic exchange) + the
 * barrier, then the count and the mask. Either the waiter's re-check sees the message, or this sees the waiter and bumps the
 * word (its sleep on the old value returns at once) and wakes it. With nobody asleep the word
 * is not written: a spinning receiver costs the publisher no locked instruction here.
 */
FERRY__HOT void ferry__wake_published(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  mb_after_rmw();
  if (atomic_load(&c->sub_waiters)) {
    atomic_fetch_add(&c->pub_futex, 1);
    ferry__futex_wake(&c->pub_futex);
  }
  if (atomic_load(&c->wake_mask)) wake_direct(ch);
}

void ferry__wake_space(ferry_channel *ch) {
  /* pairs with the space wait (publisher.c): the waiter counts itself, then
   * reads the word, then re-checks refs under the lock; both sides seq_cst */
  struct ferry_ctrl *c = ch->ctrl;
  if (atomic_load(&c->space_waiters)) {
    atomic_fetch_add(&c->rel_futex, 1);
    ferry__futex_wake(&c->rel_futex);
  }
}

void ferry__wake_all(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  atomic_fetch_add(&c->pub_futex, 1);
  ferry__futex_wake(&c->pub_futex);
  atomic_fetch_add(&c->rel_futex, 1);
  ferry__futex_wake(&c->rel_futex);
}
