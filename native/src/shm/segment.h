/* shm/segment.h — named segments: names, the layout header, mapping, staleness (shm/segment.c). */
#ifndef FERRY_SHM_SEGMENT_H
#define FERRY_SHM_SEGMENT_H

#include <stddef.h>

#include "shm/layout.h"

int ferry__shm_path(const char *name, char *out, size_t cap); /* FERRY_E_NAME for a bad name */
/* Fill a new header for `capacity` arena bytes and `slots` descriptors (creator fields left 0). */
void ferry__seg_layout(struct ferry_seg_hdr *h, uint64_t capacity, uint32_t slots);
uint64_t ferry__checksum(const struct ferry_seg_hdr *h);
/* Check a header copied out of shared memory against the file it came from. */
int ferry__seg_validate(const struct ferry_seg_hdr *h, uint64_t file_size);
/* Map a validated segment (ch->fd open) and fill the handle's local geometry. */
int ferry__seg_map(ferry_channel *ch, const struct ferry_seg_hdr *h);
/* Unmap and close what the handle holds, then free it. */
void ferry__seg_unmap(ferry_channel *ch);
int ferry__seg_stale(const char *path); /* 1 when no live process uses it */

#endif
