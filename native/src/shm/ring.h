/*
 * shm/ring.h — the descriptor ring: the life cycle of one message's
 * descriptor, from publish through claim, release and reclaim, plus the
 * progress word of pipelined messages (shm/ring.c).
 */
#ifndef FERRY_SHM_RING_H
#define FERRY_SHM_RING_H

#include "shm/layout.h"

/* A descriptor to publish (lock held): the payload and header blocks, already allocated. */
struct ferry__ring_msg {
  uint64_t pay_gran, pay_len;
  uint32_t pay_ngran;
  uint32_t hdr_gran, hdr_ngran, hdr_len;
  uint32_t publisher; /* participant slot */
  uint32_t flags;     /* ENT_PIPELINED | ENT_PUBREF for a pipelined message, ENT_PIN for a pinned one (ENT_INLINE: ferry__ring_publish_inline) */
  uint32_t pin_acks;  /* ENT_PIN: acknowledgements wanted */
  uint64_t pin_deadline; /* ENT_PIN: ferry__now_ns() deadline */
};

/* A claimed message, validated against the arena (offsets in bytes). */
struct ferry__claim {
  uint64_t seq;
  uint32_t idx;   /* ring slot */
  uint32_t flags; /* ENT_* as read at claim time */
  uint64_t pay_off, pay_len, hdr_off;
  uint32_t hdr_len;
};

/* -- publishing side, channel lock held -- */
/* Fill the descriptor at the tail, count its references, make it visible; returns its seq. */
uint64_t ferry__ring_publish(ferry_channel *ch, const struct ferry__ring_msg *m);
/* The same for an inline message (ENT_INLINE, no pin): len + hdr_len <= FERRY_INLINE_MAX bytes copied into the
 * descriptor's second line; the caller checked the lengths. */
uint64_t ferry__ring_publish_inline(ferry_channel *ch, uint32_t publisher, const void *pay, uint64_t len,
                                    const void *hdr, uint32_t hdr_len);
/* Advance head over released descriptors, freeing their space; sweep: also out-of-order ones. */
void ferry__ring_reclaim(ferry_channel *ch, bool sweep);
/* head and tail, each read once from shared memory and clamped to at most ring_slots apart
 * (a clamped head is written back): every loop over the ring runs over this window. */
void ferry__ring_window(ferry_channel *ch, uint64_t *head, uint64_t *tail);
/* Free a descriptor's arena blocks (once). */
void ferry__ring_entry_free(ferry_channel *ch, struct ferry_entry *e);
/* drop-oldest: skip the oldest unclaimed messages for every consumer until one descriptor is free. */
bool ferry__ring_drop_oldest(ferry_channel *ch);
/* The lowest cursor of an active consumer in [head, tail] (one outside is a peer's scribble and
 * ignored), or tail: inline descriptors at or above it are still wanted (lock held). */
uint64_t ferry__ring_low_cursor(ferry_channel *ch, uint64_t head, uint64_t tail);
/* Give back every message consumer k will never claim (it leaves). */
void ferry__ring_drop_pending(ferry_channel *ch, struct ferry_consumer *k);

/* -- history (ch->history > 0; channel lock held) -- */
/* Where a new consumer starts: the oldest message the history still holds (the tail without
 * history); takes the consumer's reference on every message from there to the tail. */
uint64_t ferry__ring_hist_start(ferry_channel *ch);
/* Space is short: drop the oldest history reference that is its message's last one and free
 * the message (head_only: only the message at the head, which frees a ring slot). */
bool ferry__ring_hist_trim(ferry_channel *ch, bool head_only);
/* Drop history references older than the last k messages (a publisher that died before dropping one). */
void ferry__ring_hist_expire(ferry_channel *ch);
/* Messages the history holds now. */
uint32_t ferry__ring_hist_count(ferry_channel *ch);
/* Orphan repair: is message s's history reference legitimate (one of the last k before `tail`)?
 * A flag outside that window is cleared (its reference is then not counted). */
bool ferry__ring_hist_holds(ferry_channel *ch, uint64_t s, uint64_t tail);

/* -- pins (ENT_PIN, v7): the channel's reference on a message until acks / TTL / publisher death -- */
/* Is message s's pin reference legitimate (flag + matching pin record)? A forged flag is cleared. */
bool ferry__ring_pin_holds(ferry_channel *ch, uint64_t s);
/* Lock held: drop pins past their deadline (now_ns) and, if publisher < max_parts, every pin of that participant slot. */
void ferry__ring_pin_expire(ferry_channel *ch, uint64_t now_ns, uint32_t publisher);
/* Lock-free: take a reference on pinned message seq (recorded in `pending` first); 0 and claim filled, or an error. */
int ferry__ring_pin_take(ferry_channel *ch, uint64_t seq, _Atomic uint64_t *pending, struct ferry__claim *c,
                         uint32_t *publisher);
/* Lock-free: one acknowledgement on pinned message (idx, seq); the last one drops the pin. */
void ferry__ring_pin_ack(ferry_channel *ch, uint32_t idx, uint64_t seq);
/* Lock-free: drop message s's pin now (its publisher is dead). */
void ferry__ring_pin_drop(ferry_channel *ch, uint64_t seq);
/* Messages pinned now. */
int64_t ferry__ring_pin_count(ferry_channel *ch);

/* -- receiving side, lock-free -- */
/*
 * Claim consumer k's next message: 0 (claim filled, unvalidated), or FERRY_E_AGAIN when none.
 * `pending` (the caller's participant word) holds seq + 1 from before the claim CAS: the caller
 * records the claim in its held list and then clears it with a release store.
 * An inline message (ENT_INLINE) is copied out before the CAS and taken without a reference
 * (consumer cursors protect inline descriptors): 1, its payload at inl_dst and its header at
 * inl_dst + 64 (128 bytes there), `pending` left 0; FERRY_E_CORRUPT (claimed, so skipped) when
 * its lengths exceed FERRY_INLINE_MAX.
 */
int ferry__ring_claim(ferry_channel *ch, struct ferry_consumer *k, _Atomic uint64_t *pending, struct ferry__claim *c,
                      struct ferry_entry **e, uint8_t *inl_dst);
/* Hostile-input check of a claim: every offset and length inside the arena; converts granules to bytes
 * (FERRY_E_CORRUPT for an ENT_INLINE descriptor: those are claimed by ferry__ring_claim only). */
int ferry__ring_check(ferry_channel *ch, struct ferry__claim *c);
/* Is consumer k's next message published? */
bool ferry__ring_ready(ferry_channel *ch, struct ferry_consumer *k);
/* Drop one reference (never below zero); the last one wakes publishers waiting for space. */
void ferry__ring_unref(ferry_channel *ch, struct ferry_entry *e);
/* Release a held message (slot idx, seq): FERRY_E_CORRUPT if the descriptor changed under it. */
int ferry__ring_release(ferry_channel *ch, uint32_t idx, uint64_t seq);

/* -- pipelined progress -- */
/* Store a progress value (only grows; an error word is final) and wake its sleepers. */
void ferry__ring_progress_store(struct ferry_entry *e, uint64_t bytes);
/* The copy failed with `error` after `prefix` bytes: store the final error word. */
void ferry__ring_progress_fail(struct ferry_entry *e, int error, uint64_t prefix);
/* Drop the publisher's reference once (ENT_PUBREF); with error < 0 readers learn the copy failed. */
void ferry__ring_pubref_drop(ferry_channel *ch, struct ferry_entry *e, int error);
/* Bytes of held message (idx, seq) that are final (payload length len, validated at claim), or its error. */
int64_t ferry__ring_progress(ferry_channel *ch, uint32_t idx, uint64_t seq, uint64_t len);
/* Wait until `bytes` are final: the progress, FERRY_E_TIMEOUT, FERRY_E_CLOSED (stop) or the copy's error. */
int64_t ferry__ring_progress_wait(ferry_channel *ch, uint32_t idx, uint64_t seq, uint64_t len, uint64_t bytes,
                                  uint32_t wait, int64_t timeout_ns, _Atomic bool *stop, void (*slice)(void *),
                                  void *slice_arg);

#endif
