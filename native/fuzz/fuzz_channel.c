/*
 * fuzz_channel — a live channel whose shared state (control block, consumers,
 * participants with their held records, ring descriptors, allocation bitmap)
 * is replaced by fuzzer bytes under healthy local handles, then driven
 * through the receive path (claim + ferry__ring_check, progress, release),
 * the publish path (loan, publish, inline send, drop-oldest), pipelined
 * progress and the publisher reference, and the reclaim / reap / repair path.
 *
 * Input format: image.h. The channel lives on a memfd (no /dev/shm name, so a
 * crash leaves nothing behind), built by the library's own layout code and
 * mapped by ferry__seg_map like any opened channel.
 *
 * Pass = no crash, no sanitizer report, no hang (libFuzzer -timeout), and
 * every view the library hands out lies inside the arena (else abort()).
 * Every wait runs with timeout 0 and the lock word is kept free, so nothing
 * may block: a hang is a loop over shared state that is not bounded.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "channel.h"
#include "image.h"
#include "publisher.h"
#include "shm/members.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "sys/proc.h"

static uint32_t my_pid;
static bool strict; /* default; FERRY_FUZZ_STRICT=0 would skip a recognised known-open class (none today) */
static uint64_t my_start;

static ferry_channel *make_channel(void) {
  struct ferry_seg_hdr h;
  ferry__seg_layout(&h, FZ_CAPACITY, FZ_SLOTS, FZ_HISTORY);
  h.creator_pid = my_pid;
  h.creator_start = my_start;
  snprintf(h.name, sizeof h.name, "fuzz");
  h.checksum = ferry__checksum(&h);
  if (ferry__seg_validate(&h, h.segment_size) != 0) abort(); /* the writer and the checker disagree */
  ferry_channel *ch = calloc(1, sizeof *ch);
  if (!ch) abort();
  snprintf(ch->name, sizeof ch->name, "fuzz");
  ch->fd = memfd_create("ferry-fuzz", MFD_CLOEXEC);
  if (ch->fd < 0 || ftruncate(ch->fd, (off_t)h.segment_size) != 0 ||
      pwrite(ch->fd, &h, sizeof h, 0) != (ssize_t)sizeof h || ferry__seg_map(ch, &h) != 0) {
    perror("fuzz_channel: memfd channel");
    abort();
  }
  if (ch->nwords != FZ_WORDS || ch->ring_slots != FZ_SLOTS) abort(); /* image.h is out of date */
  atomic_store(&ch->ctrl->pub_futex, 1);
  ch->ctrl->ready = 1;
  return ch;
}

/* Lay the input over the shared state (image.h). */
static void land(ferry_channel *ch, const uint8_t *d, size_t n, uint8_t alive) {
#define PART(dst, off, len)                                                 \
  do {                                                                      \
    size_t o_ = (off), l_ = (len);                                          \
    memset((dst), 0, l_);                                                   \
    if (n > o_) memcpy((dst), d + o_, n - o_ < l_ ? n - o_ : l_);           \
  } while (0)
  PART(ch->ctrl, FZ_OFF_CTRL, sizeof *ch->ctrl);
  atomic_store(&ch->ctrl->lock, 0); /* the lock takeover has its own tests (test_hostile (d)) */
  memset(ch->cons, 0, FERRY_MAX_CONSUMERS * sizeof *ch->cons);
  for (uint32_t k = 0; k < FZ_CONS; k++) PART(&ch->cons[k], FZ_OFF_CONS + k * sizeof *ch->cons, sizeof *ch->cons);
  memset(ch->parts, 0, FERRY_MAX_PARTICIPANTS * sizeof *ch->parts);
  for (uint32_t i = 0; i < FZ_PARTS; i++) {
    PART(&ch->parts[i], FZ_OFF_PARTS + i * FZ_PART_BYTES, FZ_PART_BYTES);
    if (alive & (1u << i)) {
      ch->parts[i].pid = my_pid;
      ch->parts[i].start = my_start;
    }
  }
  PART(ch->ring, FZ_OFF_RING, FZ_RING * sizeof *ch->ring);
  PART(ch->bitmap, FZ_OFF_BITMAP, FZ_WORDS * 8);
#undef PART
}

static volatile uint64_t sink;

/* A view the library handed out must lie inside the arena; touch both ends. */
static void check_view(ferry_channel *ch, const ferry_msg_info *m, const char *what) {
  uint64_t A = ch->arena_size;
  if (m->offset > A || m->length > A - m->offset || m->hdr_length > FERRY_HEADER_MAX || m->hdr_offset > A ||
      m->hdr_length > A - m->hdr_offset) {
    fprintf(stderr, "fuzz_channel: %s outside the arena: offset %llu length %llu header %llu+%u (arena %llu)\n", what,
            (unsigned long long)m->offset, (unsigned long long)m->length, (unsigned long long)m->hdr_offset,
            m->hdr_length, (unsigned long long)A);
    abort();
  }
  if (m->length) sink += ch->arena_ro[m->offset] + ch->arena_ro[m->offset + m->length - 1];
  if (m->hdr_length) sink += ch->arena_ro[m->hdr_offset] + ch->arena_ro[m->hdr_offset + m->hdr_length - 1];
}

struct state {
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub[2];
  uint32_t held[2][FERRY_MAX_HELD];
  int nheld[2];
  uint32_t loans[FERRY_MAX_HELD];
  uint64_t loan_len[FERRY_MAX_HELD];
  int nloans;
  struct ferry_entry *piped; /* the descriptor of our pipelined message (what send.c's host hook keeps) */
  bool group;
};

static void receive(struct state *s, int k, uint32_t arg) {
  if (!s->sub[k]) return;
  ferry_msg_info m;
  int rc = arg & 1 ? ferry_sub_receive(s->sub[k], &m, arg >> 1 & 1 ? FERRY_WAIT_HYBRID : FERRY_WAIT_SPIN, 0)
                   : ferry_sub_try_receive(s->sub[k], &m);
  if (rc != 0) return;
  check_view(s->ch, &m, "received message");
  if (s->nheld[k] < FERRY_MAX_HELD) s->held[k][s->nheld[k]++] = m.token;
}

static void release(struct state *s, int k, uint32_t arg) {
  if (!s->sub[k]) return;
  if (arg == 15 || !s->nheld[k]) {
    ferry_sub_release(s->sub[k], arg * 7919u);
    return;
  }
  int i = (int)(arg % (uint32_t)s->nheld[k]);
  ferry_sub_release(s->sub[k], s->held[k][i]);
  s->held[k][i] = s->held[k][--s->nheld[k]];
}

static void progress(struct state *s, uint32_t arg) {
  int k = arg & 1;
  if (!s->sub[k] || !s->nheld[k]) return;
  uint32_t t = s->held[k][(arg >> 1) % (uint32_t)s->nheld[k]];
  int64_t p = ferry_sub_progress(s->sub[k], t);
  int64_t w = ferry_sub_wait_progress(s->sub[k], t, (uint64_t)arg * 1000, FERRY_WAIT_SPIN, 0);
  if (p > (int64_t)FZ_CAPACITY || w > (int64_t)FZ_CAPACITY) {
    fprintf(stderr, "fuzz_channel: progress %lld / %lld beyond the arena\n", (long long)p, (long long)w);
    abort();
  }
}

static void loan(struct state *s, uint32_t arg) {
  if (!s->pub || s->nloans >= FERRY_MAX_HELD) return;
  ferry_msg_info m;
  uint64_t len = arg == 15 ? FZ_CAPACITY : (uint64_t)arg * 211;
  if (ferry_pub_loan(s->pub, len, &m) != 0) return;
  check_view(s->ch, &m, "loan");
  if (m.length) {
    s->ch->arena_rw[m.offset] = 0xa5;
    s->ch->arena_rw[m.offset + m.length - 1] = 0x5a;
  }
  s->loans[s->nloans] = m.token;
  s->loan_len[s->nloans++] = m.length;
}

static void publish_loan(struct state *s, uint32_t arg) {
  if (!s->pub || !s->nloans) return;
  int i = (int)(arg % (uint32_t)s->nloans);
  ferry_msg_info m;
  int rc;
  if (arg & 8) {
    rc = ferry_pub_unloan(s->pub, s->loans[i]);
  } else {
    char hdr[64];
    memset(hdr, 'h', sizeof hdr);
    rc = ferry_pub_publish(s->pub, s->loans[i], s->loan_len[i] / (1 + (arg & 3)), hdr, (arg & 4) ? sizeof hdr : 0, &m);
    if (rc == 0) check_view(s->ch, &m, "published message");
  }
  if (rc != FERRY_E_FULL && rc != FERRY_E_TIMEOUT && rc != FERRY_E_BUSY) s->loans[i] = s->loans[--s->nloans];
}

static void send_inline(struct state *s, uint32_t arg) {
  if (!s->pub) return;
  static uint8_t buf[4096];
  ferry_msg_info m;
  if (ferry_pub_send(s->pub, buf, (uint64_t)arg * 271, "{\"k\":1}", arg & 1 ? 7 : 0, &m) == 0)
    check_view(s->ch, &m, "sent message");
}

/* A pipelined publish (what send.c does for mode "pipelined"), from a held loan. */
static void publish_pipelined(struct state *s) {
  if (!s->pub || s->piped || !s->nloans) return;
  int i = s->nloans - 1;
  ferry_msg_info m;
  int rc = ferry__publish(s->pub, s->loans[i], s->loan_len[i], NULL, 0, ENT_PIPELINED | ENT_PUBREF, &m);
  if (rc == FERRY_E_FULL || rc == FERRY_E_TIMEOUT || rc == FERRY_E_BUSY) return;
  s->loans[i] = s->loans[--s->nloans];
  if (rc != 0) return;
  check_view(s->ch, &m, "pipelined message");
  s->piped = &s->ch->ring[m.seq & s->ch->ring_mask];
}

/* The copy engine's host hook on our pipelined message: progress, failure, end of copy. */
static void pipeline_step(struct state *s, uint32_t arg) {
  if (!s->piped) return;
  switch (arg & 3) {
    case 0: ferry__ring_progress_store(s->piped, (uint64_t)arg * 1000); break;
    case 1: ferry__ring_progress_fail(s->piped, FERRY_E_SYS, (uint64_t)arg * 100); break;
    default:
      ferry__ring_pubref_drop(s->ch, s->piped, arg & 1 ? FERRY_E_PEERDEAD : 0);
      s->piped = NULL;
  }
}

static void locked(struct state *s, uint32_t arg) {
  if (ferry__chan_lock(s->ch) != 0) return;
  switch (arg % 5) {
    case 0: ferry__ring_reclaim(s->ch, true); break;
    case 1: ferry__ring_drop_oldest(s->ch); break; /* on the raw words: it clamps its own window */
    case 2: ferry__repair(s->ch); break; /* what the next locker runs after a holder died */
    case 3: ferry__orphans_fix(s->ch); break; /* references no live holder can prove */
    default: ferry__reap_locked(s->ch);
  }
  ferry__chan_unlock(s->ch);
}

static void sub_churn(struct state *s, uint32_t arg) {
  int k = arg & 1;
  if (s->sub[k]) {
    ferry_sub_close(s->sub[k]);
    s->sub[k] = NULL;
    s->nheld[k] = 0;
  } else {
    ferry_sub_open(s->ch, k && s->group ? "g" : NULL, &s->sub[k]);
  }
}

static void pub_churn(struct state *s, uint32_t arg) {
  if (s->pub) {
    ferry_pub_close(s->pub);
    s->pub = NULL;
    s->nloans = 0;
    s->piped = NULL; /* the close dropped what it still held */
  } else {
    ferry_pub_open(s->ch, arg % 3, 0, &s->pub);
  }
}

static void op(struct state *s, uint8_t code) {
  uint32_t arg = code >> 4;
  switch (code & 15) {
    case 0: receive(s, 0, arg); break;
    case 1: receive(s, 1, arg); break;
    case 2: release(s, 0, arg); break;
    case 3: release(s, 1, arg); break;
    case 4: progress(s, arg); break;
    case 5: send_inline(s, arg); break;
    case 6: loan(s, arg); break;
    case 7: publish_loan(s, arg); break;
    case 8: ferry_channel_reap(s->ch); break;
    case 9: locked(s, arg); break;
    case 10: sub_churn(s, arg); break;
    case 11: pub_churn(s, arg); break;
    case 12: publish_pipelined(s); break;
    case 13: pipeline_step(s, arg); break;
    default: {
      ferry_stats st;
      if (ferry_channel_stats(s->ch, &st) == 0) sink += st.arena_used + st.tail + st.head;
      if (st.arena_used > FZ_CAPACITY) {
        fprintf(stderr, "fuzz_channel: stats report %llu B used of a %u B arena\n", (unsigned long long)st.arena_used,
                FZ_CAPACITY);
        abort();
      }
    }
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  my_pid = ferry__pid();
  my_start = ferry__proc_start((pid_t)my_pid);
  const char *e = getenv("FERRY_FUZZ_STRICT");
  strict = !(e && strcmp(e, "0") == 0);
  return 0;
}

/* Healthy local handles on a lived-in channel, as the prefix asks (also used by gen_corpus.c). */
static struct state *setup(const struct fz_prefix *pre) {
  struct state *s = calloc(1, sizeof *s);
  if (!s) abort();
  s->ch = make_channel();
  s->group = pre->setup & 4;
  ferry_pub_open(s->ch, (pre->setup & 3) % 3, 0, &s->pub);
  ferry_sub_open(s->ch, NULL, &s->sub[0]);
  ferry_sub_open(s->ch, s->group ? "g" : NULL, &s->sub[1]);
  for (uint32_t i = 0; i < (uint32_t)(pre->setup >> 3) % 20; i++) send_inline(s, i % 16);
  for (uint32_t i = 0; i < pre->held % 12u; i++) receive(s, (int)(i & 1), 0);
  for (uint32_t i = 0; i < (pre->loans & 7u) % 6u; i++) loan(s, 3 + i);
  if (pre->loans & 0x80) {
    loan(s, 5);
    publish_pipelined(s);
    if (s->piped) ferry__ring_progress_store(s->piped, 300);
  }
  return s;
}

/* Everyone leaves: must not hang or crash either. */
static void teardown(struct state *s) {
  for (int k = 0; k < 2; k++)
    if (s->sub[k]) ferry_sub_close(s->sub[k]);
  if (s->pub) ferry_pub_close(s->pub);
  ferry_channel_close(s->ch);
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fz_prefix pre = {0};
  memcpy(&pre, data, size < sizeof pre ? size : sizeof pre);
  struct state *s = setup(&pre);
  land(s->ch, data, size, pre.alive); /* the hostile peer rewrites the shared state */
  for (uint32_t i = 0; i < FZ_NOPS; i++) op(s, pre.ops[i]);
  teardown(s);
  return 0;
}
