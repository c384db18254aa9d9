/*
 * fault.c — a write to received (read-only) shared memory ends the process
 * with a message that names the cause, instead of an anonymous crash that
 * leaves segments behind.
 *
 * Subscribers see the arena through a PROT_READ mapping; a JS view of a
 * message (msg.bytes) over it is a Uint8Array the runtime lets the program
 * write to, and the write faults (SIGSEGV, SEGV_ACCERR). ferry_fault_guard()
 * records a channel handle's read-only range (and, for the creator, its
 * segment path and inode) in a small fixed table, and installs on first use a
 * SIGSEGV/SIGBUS handler (SA_SIGINFO | SA_ONSTACK) that chains to the one it
 * replaced (Bun's crash reporter, JSC's handlers) for every fault that is not
 * a write to such a range. On a match it, with async-signal-safe calls only:
 *   1. confirms the address lies in a read-only shared mapping of that very
 *      segment (/proc/self/maps), so a stale entry of a closed channel whose
 *      range was reused never claims someone else's fault;
 *   2. writes one line to stderr naming the cause and the channel;
 *   3. unlinks the segments this process created (only if the name still
 *      refers to the same inode: never a successor's);
 *   4. _exit(FERRY_FAULT_EXIT). Peers then find a dead participant and reap
 *      it (its messages and loans come back) as after kill -9: releasing the
 *      membership inside the handler would need the channel lock, which a
 *      signal handler must not take.
 * The hot path is untouched: no code runs per message; the table is written
 * under a mutex at guard time and read lock-free (acquire loads) in the handler.
 *
 * The same handler contains truncation. A segment shrunk under its mappings
 * (ftruncate by anyone with write access) raises SIGBUS (BUS_ADRERR) on the
 * next touch past its new end, from libferry, an engine thread or JS code
 * reading a view. ferry_fault_guard also records the handle's shared
 * mappings (control region, arenas) in a second static table (struct
 * ferry__bus, layout.h); a SIGBUS inside one of them, confirmed against
 * /proc/self/maps, replaces that mapping in place by private zero pages and
 * sets the entry's `lost` flag, and the handler returns: the access runs
 * again and reads zeros, and the handle's next call sees the flag
 * (ferry__lost), quarantines its other mappings and returns FERRY_E_CORRUPT.
 * Such a handle needs no fstat guard on its wait path (channel.c).
 *
 * FERRY_FAULT_GUARD=0 in the environment turns it off (ferry_fault_guard
 * then records nothing and installs nothing).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "shm/layout.h"
#include "shm/segment.h"
#include "sys/error.h"

#define GUARDS 128
#define PATH_CAP 128

struct guard {
  _Atomic uintptr_t lo; /* 0: free slot; set last (release) once the rest is written */
  uintptr_t hi;
  uint64_t dev, ino;
  int creator;
  char name[FERRY_NAME_MAX + 1];
  char path[PATH_CAP];
};

static struct guard tab[GUARDS];
static struct ferry__bus bus_tab[GUARDS]; /* SIGBUS recovery, one per channel handle (layout.h) */
static unsigned next_evict;
static pthread_mutex_t tab_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction prev_segv, prev_bus;
static atomic_int installed; /* 0 not yet, 1 installed, -1 disabled */

/* ---------------------------------------------------------------- async-signal-safe helpers */

static size_t slen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static void put(const char *s) {
  size_t n = slen(s);
  while (n) {
    ssize_t w = write(2, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w, n -= (size_t)w;
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Parse "lo-hi perms offset dev inode path" of one maps line; 1 when addr lies in it. */
static int line_has(const char *l, uintptr_t addr, const char **perms, const char **path, uintptr_t *mlo, uintptr_t *mhi) {
  uintptr_t lo = 0, hi = 0;
  int d;
  while ((d = hexval(*l)) >= 0) lo = lo * 16 + (uintptr_t)d, l++;
  if (*l++ != '-') return 0;
  while ((d = hexval(*l)) >= 0) hi = hi * 16 + (uintptr_t)d, l++;
  if (addr < lo || addr >= hi) return 0;
  *mlo = lo, *mhi = hi;
  while (*l == ' ') l++;
  *perms = l;
  for (int f = 0; f < 4 && *l; f++) { /* perms offset dev inode, then the path */
    while (*l && *l != ' ') l++;
    while (*l == ' ') l++;
  }
  *path = l;
  return 1;
}

/*
 * 1 when addr lies in a shared mapping of path (maybe "(deleted)"), per /proc/self/maps,
 * read-only unless `any`; [*mlo, *mhi) is that mapping. Buffers on the (alternate) signal
 * stack, small: threads faulting at once (a truncation reaches every thread that touches
 * the segment) each parse their own. A longer line is cut; our paths fit in `line`.
 */
static int mapped_from(uintptr_t addr, const char *path, int any, uintptr_t *mlo, uintptr_t *mhi) {
  char buf[1024], line[320];
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t ll = 0;
  int found = 0, done = 0;
  while (!done) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && !done; i++) {
      char c = buf[i];
      if (c != '\n') {
        if (ll < sizeof line - 1) line[ll++] = c;
        continue;
      }
      line[ll] = 0;
      ll = 0;
      const char *perms, *p;
      if (!line_has(line, addr, &perms, &p, mlo, mhi)) continue;
      done = 1;
      size_t pl = slen(path);
      found = perms[0] == 'r' && (any || perms[1] == '-') && perms[3] == 's' && !strncmp(p, path, pl) &&
              (p[pl] == 0 || p[pl] == ' ');
    }
  }
  close(fd);
  return found;
}

static _Noreturn void die(const struct guard *g) {
  put("ferry: this process wrote to a received message (msg.bytes is read-only shared memory, channel \"");
  put(g->name);
  put("\") — copy it first (msg.bytes.slice()); exiting\n");
  for (int i = 0; i < GUARDS; i++) {
    const struct guard *c = &tab[i];
    if (!atomic_load_explicit(&c->lo, memory_order_acquire) || !c->creator) continue;
    struct stat st;
    if (stat(c->path, &st) == 0 && (uint64_t)st.st_dev == c->dev && (uint64_t)st.st_ino == c->ino && unlink(c->path) == 0) {
      put("ferry: removed ");
      put(c->path);
      put(" (created by this process)\n");
    }
  }
  _exit(FERRY_FAULT_EXIT);
}

/*
 * SIGBUS past the end of a truncated segment, in a range of a handle's entry: replace the
 * part of that mapping the fault lies in (as /proc/self/maps has it now: a stale range that
 * something else reuses is never touched) by private zero pages with the same protection,
 * set the entry's `lost`, and return: the access runs again and reads zeros. 1 when handled.
 */
static int bus_recover(uintptr_t a) {
  for (int i = 0; i < GUARDS; i++) {
    struct ferry__bus *b = &bus_tab[i];
    if (!atomic_load_explicit(&b->used, memory_order_acquire)) continue;
    for (int k = 0; k < FERRY__BUS_RANGES; k++) {
      uintptr_t lo = atomic_load_explicit(&b->lo[k], memory_order_acquire);
      if (!lo || a < lo || a >= b->hi[k]) continue;
      uintptr_t mlo, mhi;
      if (!mapped_from(a, b->path, 1, &mlo, &mhi)) return 0;
      uintptr_t qlo = mlo > lo ? mlo : lo, qhi = mhi < b->hi[k] ? mhi : b->hi[k];
      if (mmap((void *)qlo, qhi - qlo, b->prot[k], MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) ==
          MAP_FAILED)
        return 0;
      atomic_store_explicit(&b->lost, 1, memory_order_release);
      return 1;
    }
  }
  return 0;
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
  int saved = errno;
  if (si && si->si_code > 0 && (sig == SIGBUS || si->si_code == SEGV_ACCERR)) {
    uintptr_t a = (uintptr_t)si->si_addr;
    uintptr_t mlo, mhi;
    if (sig == SIGBUS && si->si_code == BUS_ADRERR && bus_recover(a)) {
      errno = saved;
      return;
    }
    for (int i = 0; i < GUARDS; i++) {
      struct guard *g = &tab[i];
      uintptr_t lo = atomic_load_explicit(&g->lo, memory_order_acquire);
      if (lo && a >= lo && a < g->hi && mapped_from(a, g->path, 0, &mlo, &mhi)) die(g);
    }
  }
  errno = saved;
  const struct sigaction *p = sig == SIGSEGV ? &prev_segv : &prev_bus;
  if (p->sa_flags & SA_SIGINFO) {
    if (p->sa_sigaction) p->sa_sigaction(sig, si, uc);
    return;
  }
  if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
    p->sa_handler(sig);
    return;
  }
  /* default action: restore it; a fault re-executes and dies of it, a sent signal is raised again */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
  if (!si || si->si_code <= 0) raise(sig);
}

static int install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &prev_segv) != 0) return ferry__errno(0, "sigaction(SIGSEGV)");
  if (sigaction(SIGBUS, &sa, &prev_bus) != 0) {
    int r = ferry__errno(0, "sigaction(SIGBUS)");
    sigaction(SIGSEGV, &prev_segv, NULL);
    return r;
  }
  return 0;
}

/* Install the handler once (mutex held): 0, or the error; *on: whether guards are recorded. */
static int ensure_installed(bool *on) {
  int r = 0;
  if (!atomic_load_explicit(&installed, memory_order_relaxed)) {
    const char *env = getenv("FERRY_FAULT_GUARD");
    if (env && !strcmp(env, "0")) {
      atomic_store(&installed, -1);
    } else if ((r = install()) == 0) {
      atomic_store(&installed, 1);
    }
  }
  *on = !r && atomic_load_explicit(&installed, memory_order_relaxed) > 0;
  return r;
}

/* A slot for range [lo, ..) of `name` (mutex held): the one already holding it, a free one, else the oldest. */
static struct guard *slot_for(uintptr_t lo) {
  struct guard *g = NULL;
  for (int i = 0; i < GUARDS && !g; i++)
    if (!atomic_load_explicit(&tab[i].lo, memory_order_relaxed)) g = &tab[i];
  if (!g) g = &tab[next_evict++ % GUARDS];
  atomic_store_explicit(&g->lo, 0, memory_order_release); /* the handler skips it while it changes */
  return g;
}

/* Set range k of entry b if it is not yet (mutex held): hi and prot before lo, which the handler reads first. */
static void bus_range(struct ferry__bus *b, int k, const void *addr, uint64_t len, int prot) {
  if (!addr || atomic_load_explicit(&b->lo[k], memory_order_relaxed)) return;
  b->hi[k] = (uintptr_t)addr + len;
  b->prot[k] = prot;
  atomic_store_explicit(&b->lo[k], (uintptr_t)addr, memory_order_release);
}

/*
 * Cover handle ch's shared mappings against truncation (mutex held, handler installed): its
 * entry, claimed on first use, gets every range mapped by now (a publisher's read-write arena
 * comes later than the rest). A full table leaves the handle to the fstat guard.
 */
static void bus_register(ferry_channel *ch) {
  struct ferry__bus *b = ch->bus;
  if (!b) {
    for (int i = 0; i < GUARDS && !b; i++)
      if (!atomic_load_explicit(&bus_tab[i].used, memory_order_acquire)) b = &bus_tab[i];
    if (!b || ferry__shm_path(ch->name, b->path, sizeof b->path) != 0) return;
    atomic_store_explicit(&b->lost, 0, memory_order_relaxed);
    atomic_store_explicit(&b->used, 1, memory_order_release);
    ch->bus = b;
  }
  bus_range(b, 0, ch->base, ch->map_len, PROT_READ | PROT_WRITE);
  bus_range(b, 1, ch->arena_ro, ch->arena_size, PROT_READ);
  bus_range(b, 2, ch->arena_rw, ch->arena_size, PROT_READ | PROT_WRITE);
}

FERRY_API int ferry_fault_guard(ferry_channel *ch) {
  if (!ch) return ferry__err(FERRY_E_INVAL, "channel is NULL");
  if (ch->closed) return ferry__err(FERRY_E_CLOSED, "channel is closed");
  bool on;
  pthread_mutex_lock(&tab_mu);
  int r = ensure_installed(&on);
  if (on && !ferry__lost(ch)) bus_register(ch);
  if (!on || !ch->arena_ro) goto out;
  uintptr_t lo = (uintptr_t)ch->arena_ro;
  for (int i = 0; i < GUARDS; i++)
    if (atomic_load_explicit(&tab[i].lo, memory_order_relaxed) == lo && !strcmp(tab[i].name, ch->name)) goto out; /* already guarded */
  struct guard *g = NULL;
  for (int i = 0; i < GUARDS && !g; i++) /* a slot that held this range (a closed channel's, reused) */
    if (atomic_load_explicit(&tab[i].lo, memory_order_relaxed) == lo) {
      g = &tab[i];
      atomic_store_explicit(&g->lo, 0, memory_order_release);
    }
  if (!g) g = slot_for(lo);
  struct stat st;
  if (ferry__shm_path(ch->name, g->path, sizeof g->path) != 0 || fstat(ch->fd, &st) != 0) goto out;
  memcpy(g->name, ch->name, sizeof g->name);
  g->name[FERRY_NAME_MAX] = 0;
  g->hi = lo + ch->arena_size;
  g->dev = (uint64_t)st.st_dev;
  g->ino = (uint64_t)st.st_ino;
  g->creator = ch->creator;
  atomic_store_explicit(&g->lo, lo, memory_order_release);
out:
  pthread_mutex_unlock(&tab_mu);
  return r;
}

int ferry__fault_guard_range(const void *addr, uint64_t len, const char *name, const char *path) {
  bool on;
  pthread_mutex_lock(&tab_mu);
  int r = ensure_installed(&on);
  if (on) {
    uintptr_t lo = (uintptr_t)addr;
    struct guard *g = NULL;
    for (int i = 0; i < GUARDS && !g; i++)
      if (atomic_load_explicit(&tab[i].lo, memory_order_relaxed) == lo) {
        g = &tab[i];
        atomic_store_explicit(&g->lo, 0, memory_order_release);
      }
    if (!g) g = slot_for(lo);
    snprintf(g->name, sizeof g->name, "%s", name);
    snprintf(g->path, sizeof g->path, "%s", path);
    g->hi = lo + len;
    g->dev = g->ino = 0;
    g->creator = 0; /* not a segment: nothing to unlink */
    atomic_store_explicit(&g->lo, lo, memory_order_release);
  }
  pthread_mutex_unlock(&tab_mu);
  return r;
}

FERRY_API int ferry_fault_guarded(void) {
  struct sigaction cur;
  sigaction(SIGSEGV, NULL, &cur);
  return atomic_load(&installed) > 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_fault;
}
