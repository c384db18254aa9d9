/*
 * shm/ring.c — the descriptor ring, the heart of the data path.
 *
 * Concurrency model
 *  - The channel lock guards the tail, head and the allocator: publishing,
 *    reclaiming and dropping run under it (publisher side).
 *  - Claiming and releasing never take it: a consumer claims message s by a
 *    CAS of its cursor s -> s+1 (members of a group race for it, and a
 *    drop-oldest publisher races the same way), and releases by decrementing
 *    the descriptor's refcount. Publishers reclaim descriptors whose refcount
 *    reached zero.
 *  - A descriptor slot is reused only once its refcount is zero and its space
 *    was reclaimed; cursors only grow; so a claim that succeeds proves the
 *    descriptor was stable while it was read. Everything read from it is then
 *    checked against the arena before use (ferry__ring_check).
 *  - A pipelined message carries one extra reference for its publisher
 *    (ENT_PUBREF) until the copy ends, and a progress word that only grows.
 *  - History (ch->history = k > 0): every message carries one more reference
 *    for the channel itself (ENT_HIST) while it is one of the last k
 *    published; publishing message s drops that reference of message s - k.
 *    The flag is set at publish and cleared only under the lock, so under the
 *    lock ENT_HIST means refs >= 1: the descriptor and its space stay. A new
 *    consumer starts at the oldest history message (ferry__ring_hist_start),
 *    taking its own reference on each one from there to the tail. A
 *    publisher that finds the ring or arena full drops history references
 *    that are the last reference of their message, oldest first
 *    (ferry__ring_hist_trim): history never makes a publisher wait.
 *  - Pins (v7, ENT_PIN): a publisher with a pin set publishes each message
 *    with one more reference, the channel's, like the history's, plus a pin
 *    record in the parallel pin table (acks wanted, deadline, publisher slot)
 *    written before the seq store. The flag is cleared atomically (exactly
 *    one dropper: the last ack, an expiry under the lock, the publisher's
 *    reaping). Pin readers take their own reference by seq (CAS from a
 *    non-zero count, then a re-check of seq and flag), recorded in their
 *    participant like a claim, so a reader killed while holding is reaped.
 *  - A subscriber marks the message whose claim or release is in flight in
 *    its participant record (`pending`) before the step that moves a
 *    reference, so a process killed between the claim CAS and recording the
 *    claim, or between dropping the record and the reference, leaves a state
 *    shm/members.c can prove orphaned and repair.
 *  - Inline messages (v8, ENT_INLINE): a plain message whose payload and
 *    header fit FERRY_INLINE_MAX bytes travels in the descriptor's second
 *    line. Consumers hold no reference on it: refs counts only the history's.
 *    A consumer reads the bytes after seeing the seq and before its cursor
 *    CAS, and keeps them only if the CAS succeeds; a publisher reclaims an
 *    inline descriptor only once refs is 0 and every active consumer's
 *    cursor is past it (ferry__ring_low_cursor, lock held), so a successful
 *    CAS proves the bytes were stable while they were read (cursors only
 *    grow). No reference moves at claim or release: a consumer killed
 *    anywhere leaves nothing to repair, and receiving touches only the
 *    descriptor pair (read) and the consumer's own cursor line.
 *  - Hostile peers: every loop over shared state runs over a window read
 *    once and clamped to the ring (ferry__ring_window), and every CAS retry
 *    loop is bounded, so a bad write costs a bounded error, never a spin.
 */
#include "shm/alloc.h"
#include "shm/ring.h"
#include "shm/wake.h"
#include "sys/error.h"
#include "sys/sys.h"
#include "sys/wait.h"

#include <string.h>

/* CAS retries on a word a peer may keep changing: past this many, give up (the caller's state stays consistent). */
#define CAS_TRIES 4096

/* ---------------------------------------------------------------- references and reclaim */

FERRY__HOT void ferry__ring_unref(ferry_channel *ch, struct ferry_entry *e) {
  uint32_t r = atomic_load_explicit(&e->refs, memory_order_relaxed);
  for (int i = 0;; i++) {
    if (r == 0 || i == CAS_TRIES) return; /* corrupt, double release, or a peer scribbling: never wrap, never spin */
    if (atomic_compare_exchange_weak(&e->refs, &r, r - 1)) break;
  }
  /* the last reference, or the last one besides the history's (which a publisher short of space may drop) */
  if (r == 1 || (r == 2 && (__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & ENT_HIST))) ferry__wake_space(ch);
}

void ferry__ring_entry_free(ferry_channel *ch, struct ferry_entry *e) {
  /* atomic: another thread of this process may read the flags meanwhile (ferry__ring_unref) */
  if (__atomic_fetch_or(&e->flags, ENT_RECLAIMED, __ATOMIC_RELAXED) & ENT_RECLAIMED) return;
  if (e->pay_ngran) ferry__free(ch, e->pay_gran, e->pay_ngran);
  if (e->hdr_ngran) ferry__free(ch, e->hdr_gran, e->hdr_ngran);
}

void ferry__ring_window(ferry_channel *ch, uint64_t *head, uint64_t *tail) {
  struct ferry_ctrl *c = ch->ctrl;
  uint64_t h = c->head, t = c->tail; /* read once: a peer may rewrite them under us */
  if (h > t || t - h > ch->ring_slots) {
    h = t > ch->ring_slots ? t - ch->ring_slots : 0;
    c->head = h;
  }
  *head = h;
  *tail = t;
}

uint64_t ferry__ring_low_cursor(ferry_channel *ch, uint64_t head, uint64_t tail) {
  uint64_t low = tail;
  for (uint32_t k = 0; k < FERRY_MAX_CONSUMERS; k++) {
    struct ferry_consumer *kc = &ch->cons[k];
    if (kc->state != CONS_ACTIVE) continue;
    uint64_t cur = atomic_load(&kc->cursor); /* seq_cst: pairs with the claim's CAS and the space wake */
    if (cur >= head && cur < low) low = cur;
  }
  return low;
}

/* Is e (message s) still wanted by a consumer that has not claimed it? Only inline descriptors ask. */
static inline bool inline_wanted(ferry_channel *ch, struct ferry_entry *e, uint64_t s, uint64_t head, uint64_t tail,
                                 uint64_t *low) {
  if (!(__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & ENT_INLINE)) return false;
  if (*low == UINT64_MAX) *low = ferry__ring_low_cursor(ch, head, tail);
  return s >= *low;
}

void ferry__ring_reclaim(ferry_channel *ch, bool sweep) {
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  uint64_t h = head, low = UINT64_MAX;
  while (h < tail) { /* at most ring_slots steps */
    struct ferry_entry *e = &ch->ring[h & ch->ring_mask];
    if (atomic_load(&e->seq) != h + 1) {
      __atomic_fetch_or(&e->flags, ENT_RECLAIMED, __ATOMIC_RELAXED); /* never published (crashed publisher): skip */
    } else if (atomic_load(&e->refs) != 0 || inline_wanted(ch, e, h, head, tail, &low)) {
      break;
    } else {
      ferry__ring_entry_free(ch, e);
    }
    h++;
  }
  if (h != head) ch->ctrl->head = h;
  if (!sweep) return;
  /* out-of-order releases (groups, slow readers): free every released descriptor */
  for (uint64_t s = h; s < tail; s++) {
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load(&e->seq) == s + 1 && atomic_load(&e->refs) == 0 && !inline_wanted(ch, e, s, head, tail, &low))
      ferry__ring_entry_free(ch, e);
  }
}

/* ---------------------------------------------------------------- history */

/* Drop the history reference of e once (lock held): false if it had none. */
static bool hist_drop(ferry_channel *ch, struct ferry_entry *e) {
  if (!(__atomic_fetch_and(&e->flags, ~(uint32_t)ENT_HIST, __ATOMIC_ACQ_REL) & ENT_HIST)) return false;
  ferry__ring_unref(ch, e);
  return true;
}

/* Is message s (in the window) held by the history: published, flagged, not reclaimed? */
static bool in_history(ferry_channel *ch, uint64_t s) {
  struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
  return atomic_load_explicit(&e->seq, memory_order_acquire) == s + 1 &&
         (__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & (ENT_HIST | ENT_RECLAIMED)) == ENT_HIST &&
         atomic_load_explicit(&e->refs, memory_order_relaxed) - 1u < UINT32_MAX - 1u; /* 1 .. 2^32-2: never wraps */
}

/* The oldest seq the history may hold: max(head, tail - k). */
static uint64_t hist_low(ferry_channel *ch, uint64_t head, uint64_t tail) {
  uint64_t k = ch->history; /* the local copy, validated < ring_slots */
  return tail - head > k ? tail - k : head;
}

uint64_t ferry__ring_hist_start(ferry_channel *ch) {
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  if (!ch->history) return tail;
  uint64_t low = hist_low(ch, head, tail), s = tail;
  while (s > low && in_history(ch, s - 1)) s--; /* at most k steps; stops at the first gap */
  for (uint64_t q = s; q < tail; q++) { /* this consumer's own reference, as if it had been there at publish */
    struct ferry_entry *e = &ch->ring[q & ch->ring_mask];
    if (!(__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & ENT_INLINE)) /* an inline one: the cursor protects it */
      atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
  }
  return s;
}

bool ferry__ring_hist_trim(ferry_channel *ch, bool head_only) {
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  uint64_t end = head_only && tail > head ? head + 1 : tail, low = UINT64_MAX;
  for (uint64_t s = head; s < end; s++) { /* at most ring_slots steps */
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (!in_history(ch, s) || atomic_load(&e->refs) != 1 || inline_wanted(ch, e, s, head, tail, &low))
      continue; /* a reader still needs it: dropping frees nothing */
    if (!hist_drop(ch, e)) continue;
    if (atomic_load(&e->refs) != 0) continue; /* a peer raced us: it is not free after all */
    ferry__ring_reclaim(ch, true);
    return true;
  }
  return false;
}

void ferry__ring_hist_expire(ferry_channel *ch) {
  if (!ch->history) return; /* a flag on a channel without history is forged: the orphan repair clears it */
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  uint64_t low = hist_low(ch, head, tail);
  bool dropped = false;
  for (uint64_t s = head; s < low; s++) { /* a publisher that died before dropping the oldest one's */
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load(&e->seq) == s + 1 && hist_drop(ch, e)) dropped = true;
  }
  if (dropped) ferry__ring_reclaim(ch, true);
}

uint32_t ferry__ring_hist_count(ferry_channel *ch) {
  if (!ch->history) return 0;
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  uint32_t n = 0;
  for (uint64_t s = hist_low(ch, head, tail); s < tail; s++) n += in_history(ch, s);
  return n;
}

bool ferry__ring_hist_holds(ferry_channel *ch, uint64_t s, uint64_t tail) {
  struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
  if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENT_HIST)) return false;
  if (s < tail && tail - s <= ch->history) return true;
  __atomic_fetch_and(&e->flags, ~(uint32_t)ENT_HIST, __ATOMIC_ACQ_REL); /* stale or forged: not a reference to keep */
  return false;
}

bool ferry__ring_drop_oldest(ferry_channel *ch) {
  struct ferry_ctrl *c = ch->ctrl;
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  for (uint64_t s = head; s < tail; s++) {
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load(&e->seq) != s + 1) continue;
    bool inl = (__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & ENT_INLINE) != 0;
    if (atomic_load(&e->refs) == 0 && !(inl && ferry__ring_low_cursor(ch, head, tail) <= s)) continue;
    for (uint32_t k = 0; k < FERRY_MAX_CONSUMERS; k++) {
      struct ferry_consumer *kc = &ch->cons[k];
      if (kc->state != CONS_ACTIVE) continue;
      uint64_t cur = s;
      if (atomic_compare_exchange_strong(&kc->cursor, &cur, s + 1)) {
        atomic_fetch_add(&kc->dropped, 1);
        c->dropped++;
        if (!inl) ferry__ring_unref(ch, e); /* an inline message: no reference, the cursor was it */
      }
    }
    /* every consumer skipped it: the history's reference goes too when it is the last one */
    if (ch->history && atomic_load(&e->refs) == 1) hist_drop(ch, e);
    if (atomic_load(&e->refs) == 0 && !(inl && ferry__ring_low_cursor(ch, head, tail) <= s)) {
      ferry__ring_reclaim(ch, true);
      return true;
    }
  }
  return false;
}

void ferry__ring_drop_pending(ferry_channel *ch, struct ferry_consumer *k) {
  uint64_t tail = ch->ctrl->tail;
  uint64_t cur = atomic_exchange(&k->cursor, tail);
  if (cur > tail || tail - cur > ch->ring_slots) return; /* corrupt cursor: leak rather than double free */
  for (uint64_t s = cur; s < tail; s++) {
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load(&e->seq) == s + 1 && !(__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & ENT_INLINE))
      ferry__ring_unref(ch, e);
  }
}

/* ---------------------------------------------------------------- pins */

/* Drop e's pin reference once: false if it had none. */
static bool pin_drop(ferry_channel *ch, struct ferry_entry *e) {
  if (!(__atomic_fetch_and(&e->flags, ~(uint32_t)ENT_PIN, __ATOMIC_ACQ_REL) & ENT_PIN)) return false;
  ferry__ring_unref(ch, e);
  return true;
}

bool ferry__ring_pin_holds(ferry_channel *ch, uint64_t s) {
  struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
  if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENT_PIN)) return false;
  if (atomic_load_explicit(&ch->pins[s & ch->ring_mask].seq1, memory_order_acquire) == s + 1) return true;
  __atomic_fetch_and(&e->flags, ~(uint32_t)ENT_PIN, __ATOMIC_ACQ_REL); /* forged: not a reference to keep */
  return false;
}

void ferry__ring_pin_expire(ferry_channel *ch, uint64_t now_ns, uint32_t publisher) {
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  bool dropped = false;
  for (uint64_t s = head; s < tail; s++) { /* at most ring_slots steps */
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    if (atomic_load_explicit(&e->seq, memory_order_acquire) != s + 1 ||
        !(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENT_PIN))
      continue;
    struct ferry_pin *pn = &ch->pins[s & ch->ring_mask];
    bool gone = atomic_load_explicit(&pn->seq1, memory_order_acquire) != s + 1 || pn->deadline_ns <= now_ns ||
                (publisher < FERRY_MAX_PARTICIPANTS && pn->publisher == publisher);
    if (gone && pin_drop(ch, e)) dropped = true;
  }
  if (dropped) ferry__ring_reclaim(ch, true);
}

int ferry__ring_pin_take(ferry_channel *ch, uint64_t seq, _Atomic uint64_t *pending, struct ferry__claim *c,
                         uint32_t *publisher) {
  uint32_t idx = (uint32_t)(seq & ch->ring_mask);
  struct ferry_entry *e = &ch->ring[idx];
  struct ferry_pin *pn = &ch->pins[idx];
  if (atomic_load_explicit(&e->seq, memory_order_acquire) != seq + 1)
    return ferry__err(FERRY_E_STATE, "message %llu is not in the ring (reclaimed, or never published)", (unsigned long long)seq);
  uint32_t fl = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
  if (!(fl & ENT_PIN) || (fl & ENT_RECLAIMED) || atomic_load_explicit(&pn->seq1, memory_order_acquire) != seq + 1)
    return ferry__err(FERRY_E_STATE, "message %llu is no longer pinned (acked by every consumer, expired, or its publisher is gone)",
                      (unsigned long long)seq);
  atomic_store_explicit(pending, seq + 1, memory_order_relaxed); /* the CAS (release) publishes it */
  uint32_t r = atomic_load_explicit(&e->refs, memory_order_relaxed);
  bool got = false;
  for (int i = 0; i < CAS_TRIES && r != 0 && r < UINT32_MAX - 1; i++)
    if (atomic_compare_exchange_weak_explicit(&e->refs, &r, r + 1, memory_order_acq_rel, memory_order_relaxed)) {
      got = true;
      break;
    }
  if (!got) {
    atomic_store_explicit(pending, 0, memory_order_release);
    return ferry__err(FERRY_E_STATE, "message %llu was released while it was taken", (unsigned long long)seq);
  }
  /* our reference holds whatever is in the slot now: make sure it is still the pinned message */
  if (atomic_load_explicit(&e->seq, memory_order_acquire) != seq + 1 ||
      !(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENT_PIN)) {
    ferry__ring_unref(ch, e);
    atomic_store_explicit(pending, 0, memory_order_release);
    return ferry__err(FERRY_E_STATE, "message %llu was unpinned while it was taken", (unsigned long long)seq);
  }
  c->seq = seq;
  c->idx = idx;
  c->flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
  c->pay_off = e->pay_gran;
  c->pay_len = e->pay_len;
  c->hdr_off = e->hdr_gran;
  c->hdr_len = e->hdr_len;
  *publisher = pn->publisher;
  return 0; /* the caller records the reference, then clears *pending */
}

void ferry__ring_pin_ack(ferry_channel *ch, uint32_t idx, uint64_t seq) {
  if (idx > ch->ring_mask) return;
  struct ferry_entry *e = &ch->ring[idx];
  struct ferry_pin *pn = &ch->pins[idx];
  if (atomic_load_explicit(&e->seq, memory_order_acquire) != seq + 1 ||
      atomic_load_explicit(&pn->seq1, memory_order_acquire) != seq + 1)
    return;
  uint32_t a = atomic_load_explicit(&pn->acks, memory_order_relaxed);
  for (int i = 0; i < CAS_TRIES && a != 0; i++)
    if (atomic_compare_exchange_weak(&pn->acks, &a, a - 1)) {
      if (a == 1) pin_drop(ch, e); /* the last ack */
      return;
    }
}

void ferry__ring_pin_drop(ferry_channel *ch, uint64_t seq) {
  struct ferry_entry *e = &ch->ring[seq & ch->ring_mask];
  if (atomic_load_explicit(&e->seq, memory_order_acquire) == seq + 1) pin_drop(ch, e);
}

int64_t ferry__ring_pin_count(ferry_channel *ch) {
  uint64_t head, tail;
  ferry__ring_window(ch, &head, &tail);
  int64_t n = 0;
  for (uint64_t s = head; s < tail; s++) {
    struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
    n += atomic_load_explicit(&e->seq, memory_order_acquire) == s + 1 &&
         (__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & (ENT_PIN | ENT_RECLAIMED)) == ENT_PIN;
  }
  return n;
}

/* ---------------------------------------------------------------- publish */

/* After the seq store of message s (lock held): the tail, counters, the history's oldest reference. */
static inline void published(ferry_channel *ch, uint64_t s, uint32_t consumers) {
  struct ferry_ctrl *c = ch->ctrl;
  uint32_t k = ch->history;
  c->tail = s + 1;
  c->published++;
  if (k && s >= k) { /* message s - k leaves the history (a crash before this: ferry__ring_hist_expire) */
    struct ferry_entry *old = &ch->ring[(s - k) & ch->ring_mask];
    if (atomic_load_explicit(&old->seq, memory_order_relaxed) == s - k + 1) hist_drop(ch, old);
  }
  if (consumers == 0) {
    c->unheard++;
    ferry__ring_reclaim(ch, false);
  }
}

FERRY__HOT uint64_t ferry__ring_publish(ferry_channel *ch, const struct ferry__ring_msg *m) {
  struct ferry_ctrl *c = ch->ctrl;
  uint64_t s = c->tail;
  struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
  uint32_t k = ch->history;
  /*
   * Store order: anything on other lines first (the pin record; an inline message's bytes),
   * then every word of the descriptor's first line back to back, seq last. A receiver
   * spinning on seq pulls the first line back as soon as one store to it lands: first-line
   * stores split by stores to another line made the publisher take the line from it a
   * second time before seq was visible (bench_pingpong --wait spin: 170 -> 125 ns).
   */
  uint32_t pin = (m->flags & ENT_PIN) ? 1 : 0;
  if (pin) {
    struct ferry_pin *pn = &ch->pins[s & ch->ring_mask];
    pn->deadline_ns = m->pin_deadline;
    pn->publisher = m->publisher;
    atomic_store_explicit(&pn->acks, m->pin_acks, memory_order_relaxed);
    atomic_store_explicit(&pn->seq1, s + 1, memory_order_relaxed); /* visible with the seq store below */
  }
  uint32_t refs = c->n_consumers_active;
  e->pay_gran = (uint32_t)m->pay_gran;
  e->pay_len = m->pay_len;
  e->pay_ngran = m->pay_ngran;
  e->hdr_gran = m->hdr_gran;
  e->hdr_len = m->hdr_len;
  e->hdr_ngran = m->hdr_ngran;
  e->publisher = m->publisher;
  __atomic_store_n(&e->flags, m->flags | (k ? ENT_HIST : 0), __ATOMIC_RELAXED);
  atomic_store_explicit(&e->progress.bytes, 0, memory_order_relaxed);
  atomic_store_explicit(&e->progress.waiters, 0, memory_order_relaxed);
  atomic_store_explicit(&e->refs, refs + ((m->flags & ENT_PIPELINED) ? 1 : 0) + (k ? 1 : 0) + pin, memory_order_relaxed);
  atomic_store_explicit(&e->seq, s + 1, memory_order_release); /* visible from here */
  published(ch, s, refs);
  return s;
}

FERRY__HOT uint64_t ferry__ring_publish_inline(ferry_channel *ch, uint32_t publisher, const void *pay, uint64_t len,
                                    const void *hdr, uint32_t hdr_len) {
  struct ferry_ctrl *c = ch->ctrl;
  uint64_t s = c->tail;
  struct ferry_entry *e = &ch->ring[s & ch->ring_mask];
  uint32_t k = ch->history;
  /* the order of ferry__ring_publish: the second line, then the first back to back, seq last */
  uint64_t w[FERRY_INLINE_MAX / 8];
  if (len == FERRY_INLINE_MAX) { /* the payload fills the line: a fixed-size copy, no call */
    memcpy(w, pay, FERRY_INLINE_MAX);
  } else { /* len + hdr_len <= FERRY_INLINE_MAX (the caller checked); zero after them */
    memset(w, 0, sizeof w);
    if (len) memcpy(w, pay, len);
    if (hdr_len) memcpy((uint8_t *)w + len, hdr, hdr_len);
  }
#pragma GCC unroll 8
  for (int j = 0; j < FERRY_INLINE_MAX / 8; j++) atomic_store_explicit(&e->inl[j], w[j], memory_order_relaxed);
  uint32_t refs = c->n_consumers_active;
  e->pay_gran = 0;
  e->pay_len = len;
  e->pay_ngran = 0;
  e->hdr_gran = 0;
  e->hdr_len = hdr_len;
  e->hdr_ngran = 0;
  e->publisher = publisher;
  __atomic_store_n(&e->flags, ENT_INLINE | (k ? ENT_HIST : 0), __ATOMIC_RELAXED);
  atomic_store_explicit(&e->progress.bytes, 0, memory_order_relaxed);
  atomic_store_explicit(&e->progress.waiters, 0, memory_order_relaxed);
  atomic_store_explicit(&e->refs, k ? 1 : 0, memory_order_relaxed); /* consumers hold none: their cursors protect it */
  atomic_store_explicit(&e->seq, s + 1, memory_order_release); /* visible from here */
  published(ch, s, refs);
  return s;
}

/* ---------------------------------------------------------------- claim and release */

bool ferry__ring_ready(ferry_channel *ch, struct ferry_consumer *k) {
  uint64_t cur = atomic_load_explicit(&k->cursor, memory_order_acquire);
  struct ferry_entry *e = &ch->ring[cur & ch->ring_mask];
  /* seq_cst: a waiter's re-check after counting itself (the Dekker pair of ferry__wake_published) */
  return atomic_load(&e->seq) == cur + 1;
}

/* Claim an inline message read at cursor `cur` (see the header comment): 1, FERRY_E_CORRUPT, or 0 (lost the CAS). */
static int claim_inline(ferry_channel *ch, struct ferry_consumer *k, _Atomic uint64_t *pending, struct ferry__claim *c,
                        struct ferry_entry *e, uint64_t cur, uint8_t *dst) {
  uint64_t len = c->pay_len, hl = c->hdr_len;
  bool bad = len > FERRY_INLINE_MAX || hl > FERRY_INLINE_MAX - len; /* hostile: never copy past the line */
  /* the whole line straight into this subscriber's private slot (payload at 0): a lost CAS or a
   * hostile descriptor leaves only a free slot written, which nobody reads */
#pragma GCC unroll 8
  for (int j = 0; j < FERRY_INLINE_MAX / 8; j++) {
    uint64_t v = atomic_load_explicit(&e->inl[j], memory_order_relaxed);
    memcpy(dst + 8 * j, &v, 8);
  }
  /* seq_cst: the words above are read before it, and a publisher short of space that counted itself
   * a space waiter either sees the new cursor or is woken (ferry__wake_space below) */
  if (!atomic_compare_exchange_strong(&k->cursor, &cur, cur + 1)) return 0;
  if (atomic_load_explicit(pending, memory_order_relaxed)) atomic_store_explicit(pending, 0, memory_order_release);
  c->seq = cur;
  c->idx = (uint32_t)(cur & ch->ring_mask);
  ferry__wake_space(ch); /* a publisher waiting for a ring slot may reclaim this one now */
  if (bad)
    return ferry__err(FERRY_E_CORRUPT, "inline message %llu claims %llu + %llu bytes (at most %d): skipped",
                      (unsigned long long)cur, (unsigned long long)len, (unsigned long long)hl, FERRY_INLINE_MAX);
  if (hl) memcpy(dst + FERRY_INLINE_MAX, dst + len, hl); /* the header follows the payload in the line: to 64 */
  return 1;
}

FERRY__HOT int ferry__ring_claim(ferry_channel *ch, struct ferry_consumer *k, _Atomic uint64_t *pending, struct ferry__claim *c,
                     struct ferry_entry **out, uint8_t *inl_dst) {
  for (int i = 0; i < CAS_TRIES; i++) {
    uint64_t cur = atomic_load_explicit(&k->cursor, memory_order_acquire);
    struct ferry_entry *e = &ch->ring[cur & ch->ring_mask];
    /* a spinning receiver asks for both lines of the pair each poll, so the publish's two lines
     * travel together instead of one after the other (the inline bytes after the seq) */
    __builtin_prefetch(&e->inl[0]);
    if (atomic_load_explicit(&e->seq, memory_order_acquire) != cur + 1) break;
    c->pay_off = e->pay_gran;
    c->pay_len = e->pay_len;
    c->hdr_off = e->hdr_gran;
    c->hdr_len = e->hdr_len;
    c->flags = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
    if (c->flags & ENT_INLINE) {
      int r = claim_inline(ch, k, pending, c, e, cur, inl_dst);
      if (r == 0) continue; /* another group member (or drop-oldest) took it */
      *out = e;
      return r;
    }
    /* the intent goes first: the CAS (release) publishes it with the claim */
    atomic_store_explicit(pending, cur + 1, memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(&k->cursor, &cur, cur + 1, memory_order_acq_rel, memory_order_relaxed)) {
      c->seq = cur;
      c->idx = (uint32_t)(cur & ch->ring_mask);
      *out = e;
      return 0; /* the caller records the claim, then clears *pending (release) */
    }
  }
  atomic_store_explicit(pending, 0, memory_order_relaxed);
  return FERRY_E_AGAIN;
}

FERRY__HOT int ferry__ring_check(ferry_channel *ch, struct ferry__claim *c) {
  if (c->flags & ENT_INLINE)
    return ferry__err(FERRY_E_CORRUPT, "message %llu is inline where a referenced one was expected", (unsigned long long)c->seq);
  uint64_t asz = ch->arena_size, pg = c->pay_off, hg = c->hdr_off, hl = c->hdr_len;
  if (pg >= ch->nbits || c->pay_len > asz - pg * ch->granule || hl > FERRY_HEADER_MAX ||
      (hl && (hg >= ch->nbits || hl > asz - hg * ch->granule)))
    return ferry__err(FERRY_E_CORRUPT, "descriptor of message %llu points outside the arena", (unsigned long long)c->seq);
  c->pay_off = pg * ch->granule;
  c->hdr_off = hl ? hg * ch->granule : 0;
  return 0;
}

FERRY__HOT int ferry__ring_release(ferry_channel *ch, uint32_t idx, uint64_t seq) {
  if (idx > ch->ring_mask) return ferry__err(FERRY_E_CORRUPT, "ring index out of range");
  struct ferry_entry *e = &ch->ring[idx];
  if (atomic_load(&e->seq) != seq + 1) return ferry__err(FERRY_E_CORRUPT, "descriptor changed while held");
  ferry__ring_unref(ch, e);
  return 0;
}

/* ---------------------------------------------------------------- pipelined progress */

/*
 * Progress word: the completed prefix in bytes, or PROGRESS_ERROR |
 * (-error << 40) | prefix once the copy failed (final). Receivers that sleep
 * on it count themselves in progress.waiters.
 */
void ferry__ring_progress_store(struct ferry_entry *e, uint64_t v) {
  struct ferry_mirror *m = &e->progress;
  uint64_t cur = atomic_load_explicit(&m->bytes, memory_order_relaxed);
  if (v & FERRY_PROGRESS_ERROR)
    atomic_store(&m->bytes, v);
  else
    for (int i = 0; i < CAS_TRIES && cur < v && !(cur & FERRY_PROGRESS_ERROR); i++)
      if (atomic_compare_exchange_weak(&m->bytes, &cur, v)) break;
  if (atomic_load(&m->waiters)) ferry__futex_wake((_Atomic uint32_t *)&m->bytes);
}

void ferry__ring_progress_fail(struct ferry_entry *e, int error, uint64_t prefix) {
  ferry__ring_progress_store(e, FERRY_PROGRESS_ERROR | ((uint64_t)(uint32_t)-error << 40) | (prefix & FERRY_PROGRESS_BYTES));
}

/* Bytes ready, or the copy's negative error (a hostile value never exceeds the payload or the code list). */
static int64_t decode_progress(uint64_t v, uint64_t len) {
  if (v & FERRY_PROGRESS_ERROR) {
    int32_t code = -(int32_t)((v >> 40) & 0x7fffff);
    return code < 0 && code >= FERRY_E__LAST ? code : FERRY_E_CORRUPT;
  }
  return (int64_t)(v < len ? v : len);
}

void ferry__ring_pubref_drop(ferry_channel *ch, struct ferry_entry *e, int error) {
  if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & ENT_PUBREF)) return;
  if (error < 0) { /* the final word goes first: readers that see no reference read it */
    uint64_t v = atomic_load(&e->progress.bytes);
    if (!(v & FERRY_PROGRESS_ERROR) && v < e->pay_len) ferry__ring_progress_fail(e, error, v);
  }
  if (__atomic_fetch_and(&e->flags, ~(uint32_t)ENT_PUBREF, __ATOMIC_SEQ_CST) & ENT_PUBREF) ferry__ring_unref(ch, e);
}

struct progress_arg {
  struct ferry_entry *e;
  uint64_t seq1, len, bytes;
  int64_t result;
};

/* ready() for the wait loop: the wanted prefix landed, or it never will. */
static int progress_ready(void *a) {
  struct progress_arg *pa = a;
  struct ferry_entry *e = pa->e;
  if (atomic_load_explicit(&e->seq, memory_order_acquire) != pa->seq1)
    return ferry__err(FERRY_E_CORRUPT, "descriptor changed while its message was held");
  uint32_t fl = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE); /* before progress: see below */
  int64_t p = decode_progress(atomic_load_explicit(&e->progress.bytes, memory_order_acquire), pa->len);
  if (p < 0) return (int)p;
  pa->result = p;
  if ((uint64_t)p >= pa->bytes) return 1;
  /* the publisher stores the final progress before it drops its reference
   * (ENT_PUBREF): without one, an unfinished message will never finish */
  if (!(fl & ENT_PUBREF))
    return ferry__err(FERRY_E_CORRUPT, "pipelined message %llu is incomplete and nobody is copying it",
                      (unsigned long long)(pa->seq1 - 1));
  return 0;
}

int64_t ferry__ring_progress(ferry_channel *ch, uint32_t idx, uint64_t seq, uint64_t len) {
  if (idx > ch->ring_mask) return ferry__err(FERRY_E_CORRUPT, "ring index out of range");
  struct progress_arg pa = {.e = &ch->ring[idx], .seq1 = seq + 1, .len = len, .bytes = len};
  int r = progress_ready(&pa);
  return r < 0 ? r : pa.result;
}

int64_t ferry__ring_progress_wait(ferry_channel *ch, uint32_t idx, uint64_t seq, uint64_t len, uint64_t bytes,
                                  uint32_t wait, int64_t timeout_ns, _Atomic bool *stop, void (*slice)(void *),
                                  void *slice_arg) {
  if (idx > ch->ring_mask) return ferry__err(FERRY_E_CORRUPT, "ring index out of range");
  struct ferry_entry *e = &ch->ring[idx];
  struct progress_arg pa = {.e = e, .seq1 = seq + 1, .len = len, .bytes = bytes < len ? bytes : len};
  struct ferry__wait w = {.ready = progress_ready,
                          .arg = &pa,
                          .word = (_Atomic uint32_t *)&e->progress.bytes,
                          .waiters = &e->progress.waiters,
                          .slice = slice,
                          .slice_arg = slice_arg};
  int r = ferry__wait_run(&w, wait, timeout_ns, stop);
  return r ? r : pa.result;
}
