/* publisher.h — the publisher handle and what send.c builds on (publisher.c). */
#ifndef FERRY_PUBLISHER_H
#define FERRY_PUBLISHER_H

#include "shm/layout.h"

struct ferry_pub {
  ferry_msg_info info; /* results when the caller passes info == NULL (FFI: read in place) */
  ferry_channel *ch;
  uint32_t part;
  uint32_t bp;
  int64_t timeout_ns;
  bool closed;
  /* engine sends (send.c): their state, and the hook that ends them first on close */
  struct ferry_jobs *jobs;
  void (*on_close)(ferry_pub *p);
  /* Private copy of this publisher's loans: the shared copy in its participant
   * record exists only so that a reaper can free them after a crash, and is
   * never trusted by this process (a peer may have scribbled on it). */
  /* loans held: nheld - nfreed. nheld is the publisher's thread's alone (plain, on the loan and publish
   * hot path); a loan published by ferry__publish_now (an engine's thread, or a closing collect) is
   * counted in nfreed */
  uint32_t nheld;
  _Atomic uint32_t nfreed;
  struct ferry_held held[FERRY_MAX_HELD];
  /* ferry_pub_pin: acks wanted per message (0: no pin) and the TTL */
  uint32_t pin_acks;
  uint64_t pin_ttl_ns;
  /* ferry_pub_inline: payload + header bytes published inside the descriptor (0: off), and
   * the staging area of inline loans (FERRY_INLINE_MAX bytes per held slot; held[h].used == 2) */
  uint32_t inline_max;
  uint8_t *stage;
  struct ferry__lease *stage_lease;
};

#define PUB_HELD_INLINE 2u /* ferry_held.used of an inline loan (private record only) */

/* 0, or FERRY_E_INVAL / FERRY_E_CLOSED with the detail set. */
int ferry__pub_check(ferry_pub *p);
/* 0, or FERRY_E_TOOBIG when `len` payload bytes + `hdr_len` header bytes can never fit the arena. */
int ferry__pub_fits(ferry_pub *p, uint64_t len, uint32_t hdr_len);
/* Loan / give back / publish for callers that checked the handle already. */
int ferry__pub_loan(ferry_pub *p, uint64_t size, ferry_msg_info *info);
int ferry__pub_unloan(ferry_pub *p, uint32_t token);
/*
 * Publish loan `token` (lock taken here). `eflags` ENT_PIPELINED |
 * ENT_PUBREF publishes a message whose payload an engine is still copying:
 * it carries one extra reference for the publisher, dropped when the copy
 * ends, so the slot and its space outlive the copy whatever the readers do.
 */
int ferry__publish(ferry_pub *p, uint32_t token, uint64_t len, const void *hdr, uint32_t hdr_len, uint32_t eflags,
                   ferry_msg_info *info);

/*
 * ferry__publish for an engine's thread (an offload whose copy finished, send.c): the
 * same publish if the lock and the space are there at once, else 1 with nothing done
 * and no error detail set (the publisher's thread then publishes it, waiting as its
 * policy says). The caller guarantees the handle stays open meanwhile; `token` is a
 * loan no other thread uses.
 */
int ferry__publish_now(ferry_pub *p, uint32_t token, uint64_t len, const void *hdr, uint32_t hdr_len,
                       ferry_msg_info *info);

/* Publish `len` bytes at `data` + header inline in the descriptor (len + hdr_len <= FERRY_INLINE_MAX, no pin). */
int ferry__publish_inline(ferry_pub *p, const void *data, uint64_t len, const void *hdr, uint32_t hdr_len,
                          ferry_msg_info *info);

#endif
