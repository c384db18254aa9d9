/*
 * send.c — every copy send of a publisher: "inline" (a CPU copy in the
 * caller's thread: loan, copy, publish), and the engine sends "offload" (the
 * message is published when the copy completes) and "pipelined" (published
 * at once; receivers follow the copy's progress in the descriptor).
 *
 * An engine knows nothing of channels: each engine send hands it a host hook
 * (engine/completion.h) that stores the copy's progress into the message's
 * descriptor (shm/ring.c) and, once the job is final, signals the
 * publisher's notifier (an eventfd and/or a socket, struct ferry_notifier).
 *
 * Each publisher keeps a FIFO of jobs in private memory (completion records
 * must never live where a peer can write: an engine keeps its per-job state
 * in them). JS (or a C caller) collects finished jobs oldest first with
 * ferry_pub_collect. Every job holds a reference on the publisher's
 * notifier: the engine signals it when the job finishes, right after the
 * status is final, so the event loop wakes with no thread in between.
 *
 * An offload message is published by the thread that finishes its copy
 * (publish_ready, from the hook's `after`), in send order: the jobs from
 * the oldest not yet settled up to the first still copying. Readers get the
 * message without waiting for the publisher's thread to wake, and that
 * thread (JS: its event loop) only settles the send when it collects. What
 * cannot be published at once (the channel lock busy, no space, the jobs'
 * lock held by a collect) is published by ferry_pub_collect as before, with
 * the publisher's backpressure. The notifier's mutex orders the two.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/copy.h"
#include "engine/engine.h"
#include "publisher.h"
#include "shm/ring.h"
#include "sys/error.h"
#include "sys/sys.h"

/* ---------------------------------------------------------------- inline */

FERRY__HOT FERRY_API int ferry_pub_send_hint(ferry_pub *p, const void *data, uint64_t len, const void *hdr, uint32_t hdr_len,
                                  uint32_t flags, ferry_msg_info *info) {
  int r = ferry__pub_check(p);
  if (r) return r;
  if (len && !data) return ferry__err(FERRY_E_INVAL, "data is NULL");
  if ((r = ferry__cache_check(flags))) return r;
  if (hdr_len <= FERRY_HEADER_MAX && (r = ferry__pub_fits(p, len, hdr_len))) return r;
  if (p->inline_max && len + hdr_len <= p->inline_max && !p->pin_acks) { /* small: straight into the descriptor */
    if (hdr_len && !hdr) return ferry__err(FERRY_E_INVAL, "header is NULL");
    if (!info) info = &p->info;
    info->offset = 0;
    info->hdr_offset = 0;
    info->token = 0;
    info->data = 0;
    return ferry__publish_inline(p, data, len, hdr, hdr_len, info);
  }
  ferry_msg_info li;
  if ((r = ferry__pub_loan(p, len, &li))) return r;
  if (len) ferry_copy(p->ch->arena_rw + li.offset, data, len, flags); /* cannot fail: checked above */
  r = ferry__publish(p, li.token, len, hdr, hdr_len, 0, info);
  if (r) ferry__pub_unloan(p, li.token);
  return r;
}

FERRY__HOT FERRY_API int ferry_pub_send(ferry_pub *p, const void *data, uint64_t len, const void *hdr, uint32_t hdr_len,
                             ferry_msg_info *info) {
  return ferry_pub_send_hint(p, data, len, hdr, hdr_len, FERRY_COPY_AUTO, info);
}

/* ---------------------------------------------------------------- engine sends */

/*
 * What a publisher's jobs signal when they finish, shared by the publisher
 * and its jobs in flight, freed by the last reference. Each descriptor is
 * opened on first request and never replaced (-1 until then), so the
 * engine's thread reads it with one atomic load:
 *  - efd: an eventfd (ferry_pub_notify_fd), for poll/epoll loops in C;
 *  - sock[1]: one end of a stream socketpair whose other end (sock[0]) an
 *    event loop adopts as a socket (ferry_pub_wake_socket): one byte per
 *    finished job, coalesced by the stream, read by the loop's own socket
 *    layer (Bun: no stream reader and no epoll_ctl per wait).
 * A job finishing before a descriptor exists does not signal it: the waiter
 * checks ferry_pub_arm (or collects) after opening it.
 */
struct ferry_notifier {
  _Atomic uint32_t refs;
  _Atomic int efd;
  _Atomic int sock_w; /* the end the jobs write */
  int sock_r;         /* the end handed out (dup'ed) */
  /* the publisher whose finished offloads a finishing job publishes (publish_ready): set
   * with the jobs, cleared under `mu` when the publisher closes; `mu` also covers every
   * job's `published` and the jobs' `next` (struct ferry_jobs); NULL also makes a collect publish
   * only what fits at once (ferry_pub_quiesce) */
  pthread_mutex_t mu;
  ferry_pub *pub;
};

static void notifier_put(struct ferry_notifier *n) {
  if (atomic_fetch_sub(&n->refs, 1) == 1) {
    int efd = atomic_load(&n->efd), w = atomic_load(&n->sock_w);
    if (efd >= 0) close(efd);
    if (w >= 0) close(w);
    if (n->sock_r >= 0) close(n->sock_r);
    pthread_mutex_destroy(&n->mu);
    free(n);
  }
}

static void publish_ready(ferry_pub *p);

/*
 * After the job is final (the hook's `after`, in the thread that finished it): publish the
 * offloads now ready, unless a collect or another finishing job holds the lock (they do it);
 * then wake whoever watches (it sees the job finished), and drop the job's reference.
 */
static void notifier_signal(void *arg) {
  struct ferry_notifier *n = arg;
  if (pthread_mutex_trylock(&n->mu) == 0) {
    if (n->pub) publish_ready(n->pub);
    pthread_mutex_unlock(&n->mu);
  }
  int efd = atomic_load(&n->efd), w = atomic_load(&n->sock_w);
  if (efd >= 0) ferry__efd_signal(efd);
  if (w >= 0) {
    char b = 1; /* full buffer: a wake-up is pending anyway */
    ssize_t r = send(w, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)r;
  }
  notifier_put(n);
}

struct ferry_job {
  ferry_completion comp; /* first: 64-byte aligned */
  struct ferry__host host; /* the engine's hook back into this send */
  struct ferry_entry *entry; /* pipelined: the message's descriptor */
  ferry_engine *engine;
  char engine_name[FERRY_ENGINE_NAME_MAX + 1]; /* for errors: the engine may be closed before collect */
  uint32_t mode;
  uint32_t loan;  /* offload: the loan published on completion */
  uint64_t seq;   /* pipelined: the message */
  uint32_t idx;   /* pipelined: its ring slot */
  uint32_t hdr_len;
  uint64_t len;
  /* under the notifier's mu: published by a finishing job (publish_ready), at `pseq` */
  bool published;
  uint64_t pseq;
  uint8_t hdr[FERRY_HEADER_MAX]; /* offload: header published with the message */
  /* payloads up to FERRY_SEND_COPY_MAX are copied here at submit, so the
   * engine never reads the caller's memory after the call returns (a JS
   * caller's small typed array may move under a copy that runs later) */
  uint8_t small[FERRY_SEND_COPY_MAX];
};

struct ferry_jobs {
  struct ferry_job *slot; /* FERRY_MAX_JOBS, aligned */
  _Atomic uint32_t head;  /* oldest job not collected */
  _Atomic uint32_t tail;  /* next free */
  uint32_t next;          /* under the notifier's mu: oldest job whose place in send order is open (head <= next <= tail) */
  struct ferry_notifier *notify; /* one reference held here, one per job in flight */
};

/* Host hook of a pipelined send: the copy's progress goes into the message's descriptor. */
static void pipe_progress(struct ferry__host *h, uint64_t bytes) {
  struct ferry_job *job = (struct ferry_job *)((char *)h - offsetof(struct ferry_job, host));
  ferry__ring_progress_store(job->entry, bytes);
}

static void pipe_finish(struct ferry__host *h, int error, uint64_t done) {
  struct ferry_job *job = (struct ferry_job *)((char *)h - offsetof(struct ferry_job, host));
  if (error) ferry__ring_progress_fail(job->entry, error, done); /* its readers learn the copy failed */
}

static void no_progress(struct ferry__host *h, uint64_t bytes) {}
static void no_finish(struct ferry__host *h, int error, uint64_t done) {}

static void jobs_stop(ferry_pub *p);

static int jobs_get(ferry_pub *p, struct ferry_jobs **out) {
  if (!p->jobs) {
    struct ferry_jobs *j = calloc(1, sizeof *j);
    if (!j) return ferry__err(FERRY_E_NOMEM, "out of memory");
    j->slot = aligned_alloc(64, FERRY_MAX_JOBS * sizeof(struct ferry_job));
    if (!j->slot) {
      free(j);
      return ferry__err(FERRY_E_NOMEM, "out of memory");
    }
    memset(j->slot, 0, FERRY_MAX_JOBS * sizeof(struct ferry_job));
    j->notify = calloc(1, sizeof *j->notify);
    if (!j->notify) {
      free(j->slot);
      free(j);
      return ferry__err(FERRY_E_NOMEM, "out of memory");
    }
    atomic_init(&j->notify->efd, -1);
    atomic_init(&j->notify->sock_w, -1);
    j->notify->sock_r = -1;
    pthread_mutex_init(&j->notify->mu, NULL);
    j->notify->pub = p;
    atomic_store(&j->notify->refs, 1);
    p->jobs = j;
    p->on_close = jobs_stop;
  }
  *out = p->jobs;
  return 0;
}

FERRY_API int ferry_pub_send_engine(ferry_pub *p, ferry_engine *engine, const void *data, uint64_t len,
                                    const void *hdr, uint32_t hdr_len, uint32_t mode, uint32_t flags,
                                    uint32_t chunk, ferry_msg_info *info) {
  int r = ferry__pub_check(p);
  if (r) return r;
  if (!engine) return ferry__err(FERRY_E_INVAL, "engine is NULL");
  if (mode != FERRY_SEND_OFFLOAD && mode != FERRY_SEND_PIPELINED)
    return ferry__err(FERRY_E_INVAL, "unknown send mode %u", mode);
  if (len && !data) return ferry__err(FERRY_E_INVAL, "data is NULL");
  /* everything the engine would reject is checked before anything is published */
  if ((r = ferry__cache_check(flags))) return r;
  if (hdr_len > FERRY_HEADER_MAX) return ferry__err(FERRY_E_TOOBIG, "header of %u bytes exceeds %d", hdr_len, FERRY_HEADER_MAX);
  if (hdr_len && !hdr) return ferry__err(FERRY_E_INVAL, "header is NULL");
  if ((r = ferry__pub_fits(p, len, hdr_len))) return r;
  if (!info) info = &p->info;
  struct ferry_jobs *j;
  r = jobs_get(p, &j);
  if (r) return r;
  uint32_t t = atomic_load(&j->tail);
  if (t - atomic_load(&j->head) >= FERRY_MAX_JOBS)
    return ferry__err(FERRY_E_LIMIT, "%d engine sends in flight: collect some first", FERRY_MAX_JOBS);
  struct ferry_job *job = &j->slot[t & (FERRY_MAX_JOBS - 1)];

  ferry_msg_info li;
  if ((r = ferry__pub_loan(p, len, &li))) return r;
  uint8_t *dst = p->ch->arena_rw + li.offset;
  job->engine = engine;
  const char *ename = ferry__engine_name(engine); /* (no snprintf per send: it showed in the sender's profile) */
  size_t elen = strnlen(ename, FERRY_ENGINE_NAME_MAX);
  memcpy(job->engine_name, ename, elen);
  job->engine_name[elen] = 0;
  job->mode = mode;
  job->loan = li.token;
  job->len = len;
  job->hdr_len = 0;
  job->published = false; /* (the slot's last collect is done: nothing else reads it now) */
  job->entry = NULL;
  job->host = (struct ferry__host){.progress = no_progress, .finish = no_finish, .after = notifier_signal, .after_arg = j->notify};
  job->host.detail[0] = 0;
  if (mode == FERRY_SEND_PIPELINED) {
    /* publish first: receivers may start on the first chunks while later ones copy */
    if ((r = ferry__publish(p, li.token, len, hdr, hdr_len, ENT_PIPELINED | ENT_PUBREF, info))) {
      ferry__pub_unloan(p, li.token);
      return r;
    }
    job->seq = info->seq;
    job->idx = (uint32_t)(info->seq & p->ch->ring_mask);
    job->entry = &p->ch->ring[job->idx];
    job->host.progress = pipe_progress;
    job->host.finish = pipe_finish;
  } else if (hdr_len) {
    memcpy(job->hdr, hdr, hdr_len);
    job->hdr_len = hdr_len;
  }
  const void *src = data;
  if (len && len <= FERRY_SEND_COPY_MAX) {
    memcpy(job->small, data, len);
    src = job->small;
  }
  ferry_copy_desc d = {.dst = dst, .src = src, .len = len, .flags = flags, .chunk = chunk, .comp = &job->comp};
  atomic_fetch_add(&j->notify->refs, 1); /* the job's; the hook's `after` drops it */
  bool finishing = false;
  r = ferry__engine_submit_hosted(engine, &d, &job->host, &finishing);
  if (!finishing) notifier_put(j->notify); /* no finish will ever run the hook */
  if (r <= 0) {
    /* not accepted: the record says so (ERROR); a pipelined message's readers already see the failure */
    if (r == 0) r = ferry__err(FERRY_E_FULL, "engine accepted no job");
    if (mode == FERRY_SEND_OFFLOAD) {
      ferry__pub_unloan(p, li.token);
    } else {
      struct ferry_entry *e = job->entry;
      if (atomic_load(&e->seq) == job->seq + 1) ferry__ring_pubref_drop(p->ch, e, r);
    }
    return r;
  }
  atomic_store(&j->tail, t + 1);
  info->token = t;
  return 0;
}

static inline uint32_t job_status(struct ferry_job *job) {
  return __atomic_load_n(&job->comp.status, __ATOMIC_ACQUIRE);
}

/*
 * Settle, in send order, the jobs from the oldest open one up to the first
 * still copying (notifier's mu held, the publisher open): an offload whose
 * copy is done is published if that needs no wait (ferry__publish_now);
 * a failed copy (collect gives its loan back) and a pipelined message
 * (published at submit) pass. Stops at the first offload it cannot publish
 * at once: collect publishes it.
 */
static void publish_ready(ferry_pub *p) {
  struct ferry_jobs *j = p->jobs;
  uint32_t t = atomic_load_explicit(&j->tail, memory_order_acquire); /* jobs below are complete records */
  for (; j->next != t; j->next++) {
    struct ferry_job *job = &j->slot[j->next & (FERRY_MAX_JOBS - 1)];
    if (job->mode == FERRY_SEND_PIPELINED) continue;
    uint32_t st = job_status(job);
    if (st == FERRY_JOB_PENDING) return;
    if (st != FERRY_JOB_DONE) continue;
    ferry_msg_info info;
    if (ferry__publish_now(p, job->loan, job->len, job->hdr_len ? job->hdr : NULL, job->hdr_len, &info)) return;
    job->pseq = info.seq;
    job->published = true;
  }
}

FERRY_API int ferry_pub_collect(ferry_pub *p, ferry_msg_info *info) {
  if (!p) return ferry__err(FERRY_E_INVAL, "publisher is NULL");
  if (!info) info = &p->info;
  struct ferry_jobs *j = p->jobs;
  if (!j) return 0;
  uint32_t h = atomic_load(&j->head);
  if (h == atomic_load(&j->tail)) return 0;
  struct ferry_job *job = &j->slot[h & (FERRY_MAX_JOBS - 1)];
  uint32_t st = job_status(job);
  if (st == FERRY_JOB_PENDING && !p->closed) {
    int pr = ferry_engine_poll(job->engine, &job->comp); /* engines that finish records when polled */
    if (pr == 0) return 0;
    st = job_status(job);
  }
  int32_t err = st == FERRY_JOB_DONE ? 0 : st == FERRY_JOB_ERROR ? job->comp.error : FERRY_E_STATE;
  if (err > 0 || (err == 0 && st != FERRY_JOB_DONE)) err = FERRY_E_SYS;
  if (err) { /* this job's own detail (copied at finish), never a stale one of this thread */
    const char *why = job->host.detail;
    ferry__err(err, "engine %s: copy failed%s%s", job->engine_name, why[0] ? ": " : "", why);
  }
  info->token = h;
  info->flags = job->mode == FERRY_SEND_PIPELINED ? FERRY_MSG_PIPELINED : 0;
  /* its place in send order: settled by a finishing job (publish_ready), or here */
  pthread_mutex_lock(&j->notify->mu);
  bool published = h != j->next && job->published;
  if (h == j->next) j->next = h + 1;
  if (published) {
    pthread_mutex_unlock(&j->notify->mu);
    info->seq = job->pseq;
  } else if (job->mode == FERRY_SEND_OFFLOAD) {
    /* (the lock stays held: a finishing job must not publish one sent after this before it) */
    if (err == 0 && !p->closed && !p->ch->closed) {
      const void *hdr = job->hdr_len ? job->hdr : NULL;
      /* detached (ferry_pub_quiesce: closing): only what fits at once, so that closing never waits */
      int r = j->notify->pub == NULL ? ferry__publish_now(p, job->loan, job->len, hdr, job->hdr_len, info)
                          : ferry__publish(p, job->loan, job->len, hdr, job->hdr_len, 0, info);
      if (r == 1) r = ferry__err(FERRY_E_CLOSED, "publisher closing: no room to publish finished engine send %u", h);
      if (r) err = r;
    } else if (err == 0) {
      err = FERRY_E_CLOSED;
    }
    if (err) ferry__pub_unloan(p, job->loan); /* nothing is published half-copied */
    pthread_mutex_unlock(&j->notify->mu);
    info->seq = err ? UINT64_MAX : info->seq;
  } else {
    pthread_mutex_unlock(&j->notify->mu);
    struct ferry_entry *e = job->entry;
    if (atomic_load(&e->seq) == job->seq + 1) ferry__ring_pubref_drop(p->ch, e, err);
    info->seq = job->seq;
  }
  info->status = err;
  info->token = h; /* ferry__publish wrote the loan's token there */
  atomic_store(&j->head, h + 1);
  return 1;
}

/* The engines' threads publish nothing more for this publisher (jobs_stop does the same at close). */
static void jobs_detach(struct ferry_jobs *j) {
  pthread_mutex_lock(&j->notify->mu); /* waits for a finishing job's publish in progress */
  j->notify->pub = NULL;
  pthread_mutex_unlock(&j->notify->mu);
}

FERRY_API int ferry_pub_quiesce(ferry_pub *p) {
  if (!p) return ferry__err(FERRY_E_INVAL, "publisher is NULL");
  if (p->jobs) jobs_detach(p->jobs);
  return 0;
}

FERRY_API int ferry_pub_jobs_pending(ferry_pub *p) {
  if (!p || !p->jobs) return 0;
  return (int)(atomic_load(&p->jobs->tail) - atomic_load(&p->jobs->head));
}

/* The eventfd signalled whenever an engine send finishes (read it, then ferry_pub_collect). */
FERRY_API int ferry_pub_notify_fd(ferry_pub *p) {
  int r = ferry__pub_check(p);
  if (r) return r;
  struct ferry_jobs *j = NULL;
  if ((r = jobs_get(p, &j))) return r;
  int efd = atomic_load(&j->notify->efd);
  if (efd >= 0) return efd;
  if ((efd = ferry__efd_open("eventfd(jobs)")) < 0) return efd;
  atomic_store(&j->notify->efd, efd); /* jobs finishing from now on signal it */
  return efd;
}

/* The socket end signalled (one byte) whenever an engine send finishes, as a new descriptor the caller owns. */
FERRY_API int ferry_pub_wake_socket(ferry_pub *p) {
  int r = ferry__pub_check(p);
  if (r) return r;
  struct ferry_jobs *j = NULL;
  if ((r = jobs_get(p, &j))) return r;
  struct ferry_notifier *n = j->notify;
  if (n->sock_r < 0) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) return ferry__errno(0, "socketpair(jobs)");
    n->sock_r = sv[0];
    atomic_store(&n->sock_w, sv[1]); /* jobs finishing from now on signal it */
  }
  int dup = fcntl(n->sock_r, F_DUPFD_CLOEXEC, 0);
  return dup >= 0 ? dup : ferry__errno(0, "dup(jobs wake socket)");
}

/* Nothing to arm (the engine signals the fd): 1 when the oldest job already finished. */
FERRY_API int ferry_pub_arm(ferry_pub *p) {
  if (!p || !p->jobs) return ferry__err(FERRY_E_STATE, "no engine sends: call ferry_pub_notify_fd first");
  struct ferry_jobs *j = p->jobs;
  uint32_t h = atomic_load(&j->head);
  if (h == atomic_load(&j->tail)) return 1;
  return job_status(&j->slot[h & (FERRY_MAX_JOBS - 1)]) != FERRY_JOB_PENDING;
}

/*
 * Publisher close (its on_close hook): wait for every job to leave PENDING
 * (the engine still writes into our loans), then collect them all — offload
 * copies that finished are not published after close: their loans go back.
 */
static void jobs_stop(ferry_pub *p) {
  struct ferry_jobs *j = p->jobs;
  jobs_detach(j); /* a finishing job publishes nothing from now on */
  for (uint32_t h = atomic_load(&j->head); h != atomic_load(&j->tail); h++) {
    struct ferry_job *job = &j->slot[h & (FERRY_MAX_JOBS - 1)];
    while (job_status(job) == FERRY_JOB_PENDING) {
      if (ferry_engine_poll(job->engine, &job->comp) != 0) break;
      ferry__completion_sleep(&job->comp, 1000 * 1000);
    }
  }
  ferry_msg_info info;
  while (ferry_pub_collect(p, &info) == 1) {
  }
  notifier_put(j->notify); /* closed by the last job still signalling, if any */
  free(j->slot);
  free(j);
  p->jobs = NULL;
}
