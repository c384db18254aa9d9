/* shm/segment.h — named segments: names, the layout header, mapping, staleness (shm/segment.c). */
#ifndef FERRY_SHM_SEGMENT_H
#define FERRY_SHM_SEGMENT_H

#include <stddef.h>
#include <sys/stat.h>

#include "shm/layout.h"

int ferry__shm_path(const char *name, char *out, size_t cap); /* FERRY_E_NAME for a bad name */
/* Fill a new header for `capacity` arena bytes, `slots` descriptors and a history of `history`
 * messages (< slots; creator fields left 0). */
void ferry__seg_layout(struct ferry_seg_hdr *h, uint64_t capacity, uint32_t slots, uint32_t history);
uint64_t ferry__checksum(const struct ferry_seg_hdr *h);
/* Check a header copied out of shared memory against the file it came from. */
int ferry__seg_validate(const struct ferry_seg_hdr *h, uint64_t file_size);
/* Map a validated segment (ch->fd open) and fill the handle's local geometry. */
int ferry__seg_map(ferry_channel *ch, const struct ferry_seg_hdr *h);
/* Unmap and close what the handle holds, then free it. */
void ferry__seg_unmap(ferry_channel *ch);

/* Who may own a segment this process opens, besides its own euid (ferry_channel_open2). */
struct ferry__trust {
  uint32_t flags; /* FERRY_TRUST_* | FERRY__TRUST_CREATE */
  uint32_t nuids, ngids;
  const uint32_t *uids, *gids;
};
#define FERRY__TRUST_CREATE 0x80000000u /* create looks at a name it wants: only its own segments qualify */
/*
 * Open `path` (O_NOFOLLOW | O_NONBLOCK added) and fstat it into *st; refuse
 * with FERRY_E_PERM and a detail naming what is wrong: not a regular file,
 * an owner that is neither us nor trusted, group/world write bits not
 * accepted. The fd (>= 0) or a negative code (FERRY_E_NOTFOUND when absent).
 */
int ferry__seg_open(const char *path, const char *name, int oflags, const struct ferry__trust *t, struct stat *st);
/* 1 when no live process uses the segment open at fd (st: its fstat). */
int ferry__seg_stale(int fd, const struct stat *st);
/* unlink(path) only while it is still the file st describes; 0 or a negative code. */
int ferry__seg_unlink_if(const char *path, const struct stat *st);
/*
 * The truncation guard: fstat the segment; if it shrank below the size this
 * handle maps, replace every mapping by private zero pages (nothing faults
 * on them any more), mark the handle lost and return FERRY_E_CORRUPT. 0 when
 * the size is intact. Cheap enough for every reap slice, not per message.
 */
int ferry__seg_guard(ferry_channel *ch);
/* FERRY_E_CORRUPT with a detail, for every call on a lost handle. */
int ferry__seg_lost(ferry_channel *ch);
/* The SIGBUS handler found the segment truncated under this handle: quarantine it as the guard does. */
int ferry__seg_bus_lost(ferry_channel *ch);

/*
 * Nonzero (FERRY_E_CORRUPT) once the handle is lost: the guard saw the segment
 * shrink, or the SIGBUS handler (fault.c) caught a fault past its end. The
 * common case is two loads.
 */
static inline int ferry__lost(ferry_channel *ch) {
  if (__builtin_expect(ch->lost == 0, 1) &&
      __builtin_expect(!ch->bus || !atomic_load_explicit(&ch->bus->lost, memory_order_relaxed), 1))
    return 0;
  return ch->lost ? ch->lost : ferry__seg_bus_lost(ch);
}

#endif
