/*
 * sys/wait.c — the one wait loop behind every wait of libferry: messages to
 * receive, pipelined progress, free space, engine completions.
 *
 * Dekker order against the waker: read the futex word, count ourselves in
 * `waiters`, re-check, sleep on the value read. A change in between makes
 * the sleep return at once, so no wakeup is lost, and a waker that sees no
 * waiter makes no system call.
 *
 * Hybrid: one definition. Spin for a budget adapted per thread between 2 µs
 * and 100 µs: doubled when spinning paid off (ready before the budget ran
 * out); when the wait had to sleep, twice the whole wait if that is within
 * 100 µs (a longer spin would have caught it: replies that come back in tens
 * of µs), else halved. After its first 2 µs the spin yields the CPU every
 * 4 µs (every poll while it shares a CPU with its peer, see below), so a woken
 * peer queued on this CPU runs instead of waiting it out. FERRY__WAIT_HYBRID_SPIN
 * is the spin phase alone, for event loops that sleep on their own wake-up.
 */
#include <sched.h>

#include "ferry.h"
#include "sys/sys.h"
#include "sys/wait.h"

#define SPIN_MIN_NS 2000
#define SPIN_MAX_NS 100000
#define SPIN_SLICE_MASK 0xffff /* while spinning, run the slice hook every 64k polls */
#define CLOCK_POLLS 8          /* while spinning, read the clock every 8 polls (a power of two) */
/* hybrid's spin yields the CPU between polls after this long: a peer we just
 * woke may be queued on this very CPU (Linux places a task woken through a
 * socket or futex near its waker), and a pure spin would hold it off until
 * the budget ran out; with nothing else runnable here, the yield returns at once */
#define SPIN_YIELD_AFTER_NS 2000
/*
 * ...unless this thread and its peer share a CPU (the scheduler put a waker
 * and its wakee together, and two threads that never sleep stay there): then
 * nothing can arrive until we yield, and 2 µs of spin per hop is the whole
 * cost (a hybrid ping-pong at 4.3 µs one-way against 0.43 µs on two CPUs).
 * The sign: a message found right after a yield that ran someone else for a
 * peer's hop (YIELD_RAN_NS..YIELD_SLICE_NS; longer is another task's time
 * slice, which says nothing). Two such waits in a row and this thread yields
 * from the first poll; two found after a yield that ran nobody (or without
 * a yield) and it spins first again.
 */
/* Not sharing (the last votes said so): a yield every YIELD_EVERY_NS of spin, not every poll
 * (each is a system call, ~0.5-1 µs here, during which an arriving message waits: a 1 MiB
 * hop, ~13 µs of waiting, was 1.11x spin's); sharing: every poll. */
#define YIELD_EVERY_NS 4000
#define YIELD_RAN_NS 1500
#define YIELD_SLICE_NS 50000
#define COLOC_VOTES 2
static _Thread_local int64_t spin_budget = 20000;
static _Thread_local int64_t yield_after = SPIN_YIELD_AFTER_NS;
static _Thread_local int coloc; /* votes: +COLOC_VOTES shares a CPU, -COLOC_VOTES does not */
static _Thread_local int abort_code; /* set by a slice hook through ferry__wait_abort */

void ferry__wait_abort(int code) { abort_code = code; }

/* Run the slice hook; a negative code when it asked to end the wait. */
static int run_slice(const struct ferry__wait *w) {
  if (!w->slice) return 0;
  w->slice(w->slice_arg);
  int a = abort_code;
  abort_code = 0;
  return a;
}

/* A hybrid spin found its message: after a yield that took `yield_ns` (0: found without one). */
static void vote(int64_t yield_ns) {
  if (yield_ns >= YIELD_SLICE_NS) return;
  bool shared = yield_ns >= YIELD_RAN_NS;
  if (shared ? coloc < COLOC_VOTES : coloc > -COLOC_VOTES) coloc += shared ? 1 : -1;
  if (coloc == COLOC_VOTES) yield_after = 0;
  else if (coloc == -COLOC_VOTES) yield_after = SPIN_YIELD_AFTER_NS;
}

static void adapt(bool spun_ok) {
  if (spun_ok)
    spin_budget = spin_budget * 2 > SPIN_MAX_NS ? SPIN_MAX_NS : spin_budget * 2;
  else
    spin_budget = spin_budget / 2 < SPIN_MIN_NS ? 0 : spin_budget / 2; /* 0: no spin until a short wait (learn) */
}

FERRY__HOT void ferry__wait_learn(int64_t waited_ns) {
  if (waited_ns <= 0 || waited_ns >= SPIN_MAX_NS) {
    adapt(false);
    return;
  }
  int64_t b = 2 * waited_ns;
  spin_budget = b < SPIN_MIN_NS ? SPIN_MIN_NS : b > SPIN_MAX_NS ? SPIN_MAX_NS : b;
}

int ferry__wait_run(const struct ferry__wait *w, uint32_t strategy, int64_t timeout_ns, _Atomic bool *stop) {
  uint64_t start = ferry__now_ns();
  abort_code = 0;
  bool adaptive = strategy == FERRY_WAIT_HYBRID || strategy == FERRY__WAIT_HYBRID_SPIN;
  uint64_t spin_until = strategy == FERRY_WAIT_SPIN ? UINT64_MAX : adaptive ? start + (uint64_t)spin_budget : 0;
  int64_t yielded = 0; /* how long the yield before this poll took (0: none) */
  /* the clock is read every CLOCK_POLLS polls while spinning (a read costs about as much as a
   * poll here), after every yield and every sleep: spin budgets and timeouts end at most that
   * many polls late */
  uint64_t now = start, last_yield = 0;
  bool stale = false;
  for (uint32_t i = 0;; i++) {
    int r = w->ready(w->arg);
    if (r) {
      if (r > 0 && adaptive) {
        bool in_budget = now < spin_until;
        if (in_budget) vote(yielded);
        adapt(in_budget);
      }
      return r < 0 ? r : 0;
    }
    if (stop && atomic_load_explicit(stop, memory_order_relaxed)) return FERRY_E_CLOSED;
    if (stale || (i & (CLOCK_POLLS - 1)) == CLOCK_POLLS - 1) now = ferry__now_ns();
    stale = false;
    if (timeout_ns >= 0 && now - start >= (uint64_t)timeout_ns) return FERRY_E_TIMEOUT;
    if (now < spin_until) {
      if (adaptive && (int64_t)(now - start) >= yield_after && (yield_after == 0 || now - last_yield >= YIELD_EVERY_NS)) {
        sched_yield();
        uint64_t t = ferry__now_ns();
        yielded = (int64_t)(t - now);
        if (yielded <= 0) yielded = 1;
        now = last_yield = t;
      } else {
        ferry__cpu_relax();
        yielded = 0;
      }
      if ((i & SPIN_SLICE_MASK) == SPIN_SLICE_MASK && (r = run_slice(w)) < 0) return r;
      continue;
    }
    now = ferry__now_ns(); /* the sleep's slice and the timeout from the clock as it is */
    stale = true;          /* and read it again after the sleep */
    if (timeout_ns >= 0 && now - start >= (uint64_t)timeout_ns) return FERRY_E_TIMEOUT;
    if (strategy == FERRY__WAIT_HYBRID_SPIN) return FERRY_E_TIMEOUT; /* the caller sleeps, then learns */
    int64_t slice = FERRY__SLICE_NS;
    if (timeout_ns >= 0 && timeout_ns - (int64_t)(now - start) < slice) slice = timeout_ns - (int64_t)(now - start);
    if (w->word) {
      uint32_t v = atomic_load(w->word);
      atomic_fetch_add(w->waiters, 1);
      r = w->ready(w->arg);
      int a = 0;
      if (!r) {
        if (!(stop && atomic_load(stop))) ferry__futex_wait(w->word, v, slice);
        /* the slice hook first: it may find the shared memory gone (and replace
         * the mapping) before anything here touches it again */
        a = run_slice(w);
      }
      atomic_fetch_sub(w->waiters, 1);
      if (a < 0) return a;
      if (r) {
        if (r > 0 && adaptive) ferry__wait_learn((int64_t)(ferry__now_ns() - start));
        return r < 0 ? r : 0;
      }
    } else {
      w->sleep(w->arg, slice);
      if ((r = run_slice(w)) < 0) return r;
    }
  }
}
