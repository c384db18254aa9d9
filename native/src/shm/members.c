/*
 * shm/members.c — who uses a channel. A participant is a process's publisher
 * or subscriber (pid + start time, and what it holds: loans or received
 * messages, mirrored here only so a reaper can give them back after a crash).
 * A consumer is a broadcast subscriber or a worker group: it owns a cursor
 * and one reference on every message published while it is active.
 *
 * Every function here runs with the channel lock held.
 */
#include <string.h>

#include "shm/alloc.h"
#include "shm/members.h"
#include "shm/ring.h"
#include "shm/wake.h"
#include "sys/error.h"
#include "sys/proc.h"
#include "sys/sys.h"

static void consumer_leave(ferry_channel *ch, uint32_t ci) {
  if (ci >= FERRY_MAX_CONSUMERS) return;
  struct ferry_consumer *k = &ch->cons[ci];
  if (k->state != CONS_ACTIVE) return;
  if (k->members > 1) {
    k->members--;
    return;
  }
  ferry__ring_drop_pending(ch, k);
  k->state = CONS_FREE;
  k->members = 0;
  k->group[0] = 0;
  if (ch->ctrl->n_consumers_active) ch->ctrl->n_consumers_active--;
}

/* Give back everything participant i holds and free its slot. */
static void part_reclaim(ferry_channel *ch, uint32_t i, bool crashed) {
  struct ferry_part *p = &ch->parts[i];
  struct ferry_ctrl *c = ch->ctrl;
  for (int h = 0; h < FERRY_MAX_HELD; h++) {
    struct ferry_held hd = p->held[h];
    if (!hd.used) continue;
    if (p->kind == PART_PUB) {
      if (hd.b) ferry__free(ch, hd.a, hd.b);
    } else if (p->kind == PART_SUB && hd.b <= ch->ring_mask) {
      struct ferry_entry *e = &ch->ring[hd.b];
      if (atomic_load(&e->seq) == hd.a + 1) ferry__ring_unref(ch, e);
    }
  }
  if (p->kind == PART_PUB) {
    /* pipelined messages it was still copying: their readers get PEERDEAD, its references go */
    uint64_t head, tail;
    ferry__ring_window(ch, &head, &tail);
    for (uint64_t q = head; q < tail; q++) {
      struct ferry_entry *e = &ch->ring[q & ch->ring_mask];
      if (atomic_load(&e->seq) == q + 1 && e->publisher == i && (__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENT_PUBREF))
        ferry__ring_pubref_drop(ch, e, FERRY_E_PEERDEAD);
    }
    /* its pins go with it: their references now name a publisher that is gone */
    if (FERRY__COUNT_GET(c->pins_used)) ferry__ring_pin_expire(ch, 0, i);
    if (c->pubs_live) FERRY__COUNT_SET(c->pubs_live, c->pubs_live - 1);
    if (crashed) FERRY__COUNT_SET(c->pubs_crashed, c->pubs_crashed + 1);
  } else if (p->kind == PART_SUB) {
    if (p->consumer < FERRY_MAX_CONSUMERS) { /* a pin reader (no cursor) is not counted */
      consumer_leave(ch, p->consumer);
      if (c->subs_live) FERRY__COUNT_SET(c->subs_live, c->subs_live - 1);
    }
  }
  if (crashed) c->reclaimed++;
  ferry__wake_disarm(ch, p); /* its slot's wake bit goes with it */
  memset(p, 0, sizeof *p); /* (a claim or release it had in flight, `pending`, is left to ferry__orphans_fix) */
  ferry__wake_all(ch); /* state changed for everyone waiting: space, end of stream */
}

/*
 * Does live subscriber p hold message s (ring slot idx)? Read in the order
 * that cannot miss a holder moving between states (see ferry__orphans_fix):
 * its in-flight word, its held records, its in-flight word again.
 */
static bool holds(const struct ferry_part *p, uint64_t s, uint32_t idx) {
  _Atomic uint64_t *pend = (_Atomic uint64_t *)&p->pending;
  if (atomic_load_explicit(pend, memory_order_acquire) == s + 1) return true;
  for (int h = 0; h < FERRY_MAX_HELD; h++) {
    const struct ferry_held *hd = &p->held[h];
    if (__atomic_load_n(&hd->used, __ATOMIC_ACQUIRE) && __atomic_load_n(&hd->a, __ATOMIC_RELAXED) == s &&
        __atomic_load_n(&hd->b, __ATOMIC_RELAXED) == idx)
      return true;
  }
  return atomic_load_explicit(pend, memory_order_acquire) == s + 1;
}

/*
 * A subscriber killed inside claim (after the cursor CAS, before recording the
 * message) or inside release (after clearing the record, before the unref)
 * leaves a reference nobody will drop: the descriptor, and after it the whole
 * ring, would never be reclaimed. Here every descriptor that every consumer
 * has moved past (so no new claim of it can start) keeps only the references
 * someone can prove: a live subscriber holding it (held record or in-flight
 * word), the publisher's reference of a pipelined copy, and the history's
 * (ENT_HIST on one of the last `history` messages; a flag on an older one is
 * cleared, not counted). Excess references
 * are dropped, with a CAS from a value read before the holders were counted
 * and read again after, so a release racing with the count makes this skip
 * the descriptor (it is looked at again next time) instead of dropping a
 * reference twice. Readers never take the lock; publishers and membership
 * changes are excluded by it. Returns the references dropped.
 */
int ferry__orphans_fix(ferry_channel *ch) {
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  uint64_t low = tail; /* every active consumer's cursor is at or past `low` */
  for (uint32_t k = 0; k < FERRY_MAX_CONSUMERS; k++) {
    if (ch->cons[k].state != CONS_ACTIVE) continue;
    uint64_t cur = atomic_load_explicit(&ch->cons[k].cursor, memory_order_acquire);
    if (cur < low) low = cur;
  }
  if (low < head) return 0;
  uint64_t dropped = 0; /* refs are 32-bit words a peer may have scribbled on: count wide */
  for (uint64_t s = head; s < low; s++) {
    uint32_t idx = (uint32_t)(s & ch->ring_mask);
    struct ferry_entry *e = &ch->ring[idx];
    if (atomic_load_explicit(&e->seq, memory_order_acquire) != s + 1) continue;
    uint32_t r1 = atomic_load_explicit(&e->refs, memory_order_acquire);
    if (r1 == 0) continue;
    uint32_t proven = (__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENT_PUBREF) ? 1 : 0;
    if (ferry__ring_hist_holds(ch, s, tail)) proven++; /* the channel's own: one of the last k messages */
    if (ferry__ring_pin_holds(ch, s)) proven++;         /* the channel's pin (flag + matching pin record) */
    for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS && proven < r1; i++) {
      const struct ferry_part *p = &ch->parts[i];
      if (p->kind == PART_SUB && holds(p, s, idx)) proven++;
    }
    if (proven >= r1) continue;
    uint32_t r2 = r1;
    if (atomic_load_explicit(&e->refs, memory_order_acquire) != r1 ||
        !atomic_compare_exchange_strong(&e->refs, &r2, proven))
      continue; /* a release raced with the count: look again next time */
    dropped += r1 - proven;
    if (proven == 0) ferry__wake_space(ch);
  }
  if (dropped) ferry__ring_reclaim(ch, true);
  return dropped > INT32_MAX ? INT32_MAX : (int)dropped;
}

uint32_t ferry__parts_snapshot(ferry_channel *ch, struct ferry__part_id *out) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS; i++) {
    const struct ferry_part *p = &ch->parts[i];
    if (p->kind == PART_FREE) continue;
    /* garbage kinds (hostile memory) count as dead: reap_locked frees their slots */
    out[n++] = (struct ferry__part_id){ .pid = (p->kind == PART_PUB || p->kind == PART_SUB) ? p->pid : 0, .start = p->start };
  }
  return n;
}

bool ferry__parts_any_dead(const struct ferry__part_id *ids, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (!ferry__alive(ids[i].pid, ids[i].start)) return true;
  return false;
}

int ferry__reap_locked(ferry_channel *ch) {
  int n = 0;
  for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS; i++) {
    struct ferry_part *p = &ch->parts[i];
    if (p->kind == PART_FREE) continue;
    if (p->kind != PART_PUB && p->kind != PART_SUB) {
      memset(p, 0, sizeof *p); /* garbage: free the slot */
      continue;
    }
    if (ferry__alive(p->pid, p->start)) continue;
    part_reclaim(ch, i, true);
    n++;
  }
  if (n) {
    ferry__orphans_fix(ch); /* what the dead left half-claimed or half-released */
    ferry__ring_reclaim(ch, true);
  }
  ferry__reap_pins_locked(ch);
  return n;
}

void ferry__reap_pins_locked(ferry_channel *ch) {
  if (FERRY__COUNT_GET(ch->ctrl->pins_used)) ferry__ring_pin_expire(ch, ferry__now_ns(), UINT32_MAX); /* TTLs */
}

void ferry__repair(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  uint64_t t = c->tail;
  for (uint32_t i = 0; i < ch->ring_slots; i++) {
    struct ferry_entry *e = &ch->ring[t & ch->ring_mask];
    if (atomic_load(&e->seq) != t + 1) break;
    t++; /* published but the tail store was lost */
  }
  c->tail = t;
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  memset(ch->bitmap, 0, ch->nwords * 8);
  c->arena_used = 0;
  c->free_hint = 0;
  for (uint64_t s = head; s < tail; s++) {
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load(&e->seq) != s + 1 || (__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & ENT_RECLAIMED)) continue;
    if (e->pay_ngran && ferry__mark(ch, e->pay_gran, e->pay_ngran)) e->pay_ngran = 0;
    if (e->hdr_ngran && ferry__mark(ch, e->hdr_gran, e->hdr_ngran)) e->hdr_ngran = 0;
  }
  for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS; i++) {
    struct ferry_part *p = &ch->parts[i];
    if (p->kind != PART_PUB) continue;
    for (int h = 0; h < FERRY_MAX_HELD; h++)
      if (p->held[h].used && p->held[h].b && ferry__mark(ch, p->held[h].a, p->held[h].b)) p->held[h].used = 0;
  }
  ferry__ring_hist_expire(ch); /* died after publishing, before dropping the oldest history reference */
  ferry__reap_locked(ch);
}

/* A free participant slot for this process (reaping the dead once if the table is full). */
static int part_join(ferry_channel *ch, uint32_t kind, uint32_t *out) {
  uint32_t pid = ferry__pid();
  uint64_t start = ferry__proc_start((pid_t)pid);
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t i = 0; i < FERRY_MAX_PARTICIPANTS; i++) {
      struct ferry_part *p = &ch->parts[i];
      if (p->kind != PART_FREE) continue;
      memset(p, 0, sizeof *p);
      p->kind = kind;
      p->pid = pid;
      p->start = start;
      *out = i;
      return 0;
    }
    if (pass == 0 && ferry__reap_locked(ch) == 0) break; /* full: free the slots of the dead */
  }
  return ferry__err(FERRY_E_LIMIT, "channel \"%s\" has %d participants already", ch->name, FERRY_MAX_PARTICIPANTS);
}

int ferry__member_join(ferry_channel *ch, uint32_t kind, const char *group, uint32_t *part, uint32_t *consumer) {
  struct ferry_ctrl *c = ch->ctrl;
  if (kind == PART_SUB && !group) { /* a pin reader: a participant that holds messages, with no consumer cursor */
    int r = part_join(ch, PART_SUB, part);
    if (r) return r;
    ch->parts[*part].consumer = FERRY_MAX_CONSUMERS;
    *consumer = FERRY_MAX_CONSUMERS;
    return 0;
  }
  if (kind == PART_PUB) {
    int r = part_join(ch, PART_PUB, part);
    if (r) return r;
    if (c->pubs_live == 0) FERRY__COUNT_SET(c->pubs_crashed, 0); /* a new generation: an earlier crash is not its end of stream */
    FERRY__COUNT_SET(c->pubs_live, c->pubs_live + 1);
    FERRY__COUNT_SET(c->pubs_ever, c->pubs_ever + 1);
    return 0;
  }
  size_t gl = strlen(group);
  uint32_t ci = FERRY_MAX_CONSUMERS, free_ci = FERRY_MAX_CONSUMERS;
  for (uint32_t k = 0; k < FERRY_MAX_CONSUMERS; k++) {
    struct ferry_consumer *kc = &ch->cons[k];
    if (kc->state != CONS_ACTIVE) {
      if (free_ci == FERRY_MAX_CONSUMERS) free_ci = k;
    } else if (gl && strncmp(kc->group, group, sizeof kc->group) == 0) {
      ci = k;
      break;
    }
  }
  if (ci == FERRY_MAX_CONSUMERS && free_ci == FERRY_MAX_CONSUMERS)
    return ferry__err(FERRY_E_LIMIT, "channel \"%s\" has %d subscribers/groups already", ch->name, FERRY_MAX_CONSUMERS);
  int r = part_join(ch, PART_SUB, part);
  if (r) return r;
  if (ci == FERRY_MAX_CONSUMERS) {
    /* a new consumer starts at the tail (it sees what comes next), or with a history at the
     * oldest message the history holds: a new group gets the history once, shared by its members */
    ci = free_ci;
    struct ferry_consumer *kc = &ch->cons[ci];
    memset(kc->group, 0, sizeof kc->group);
    memcpy(kc->group, group, gl);
    atomic_store(&kc->cursor, ferry__ring_hist_start(ch));
    atomic_store(&kc->dropped, 0);
    kc->members = 1;
    kc->state = CONS_ACTIVE;
    c->n_consumers_active++;
  } else {
    ch->cons[ci].members++;
  }
  ch->parts[*part].consumer = ci;
  FERRY__COUNT_SET(c->subs_live, c->subs_live + 1);
  *consumer = ci;
  return 0;
}

uint32_t ferry__members_count(ferry_channel *ch, const char *group) {
  if (!group || !group[0]) return FERRY__COUNT_GET(ch->ctrl->subs_live);
  for (uint32_t k = 0; k < FERRY_MAX_CONSUMERS; k++) {
    struct ferry_consumer *kc = &ch->cons[k];
    if (__atomic_load_n(&kc->state, __ATOMIC_RELAXED) == CONS_ACTIVE &&
        strncmp(kc->group, group, sizeof kc->group) == 0)
      return __atomic_load_n(&kc->members, __ATOMIC_RELAXED);
  }
  return 0;
}

void ferry__member_leave(ferry_channel *ch, uint32_t part, uint32_t kind) {
  struct ferry_part *p = &ch->parts[part];
  if (p->kind == kind && p->pid == ferry__pid()) part_reclaim(ch, part, false);
  ferry__ring_reclaim(ch, true);
}
