/*
 * fuzz_segment — ferry__seg_validate over arbitrary header bytes and file
 * sizes, and what the library does with a header it accepted.
 *
 * Input: one flags byte, the file size (8 bytes, little-endian), then the
 * header bytes (missing bytes are zero). Flags bit 0: recompute the checksum
 * before validating, so the geometry checks behind it are reached (a fuzzer
 * cannot invert FNV-1a); bit 1: take the file size from the header's own
 * segment_size (the only size a real open would accept).
 *
 * When the header is accepted, the target checks the promise the rest of the
 * library relies on (every region inside the file, in order, without
 * overlap; geometry within the limits) and aborts if it is broken. A small
 * accepted segment is then built for real on a memfd (header + zeroed control
 * regions, ready = 1), mapped with ferry__seg_map and used by a subscriber and
 * a publisher, which must not crash.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <stdbool.h>
#include <unistd.h>

#include "channel.h"
#include "shm/segment.h"

static void broken(const char *why, const struct ferry_seg_hdr *h) {
  fprintf(stderr,
          "fuzz_segment: header accepted but %s (segment %llu ctrl %llu cons %llu parts %llu ring %llu x%u bitmap %llu "
          "arena %llu+%llu granule %llu)\n",
          why, (unsigned long long)h->segment_size, (unsigned long long)h->ctrl_off,
          (unsigned long long)h->consumers_off, (unsigned long long)h->parts_off, (unsigned long long)h->ring_off,
          h->ring_slots, (unsigned long long)h->bitmap_off, (unsigned long long)h->arena_off,
          (unsigned long long)h->arena_size, (unsigned long long)h->granule);
  abort();
}

/*
 * Holes in ferry__seg_validate found by this target and not fixed yet
 * (shm/segment.c is not this target's file; see native/fuzz/README.md and
 * native/fuzz/crashes/segment/). An input in a known class is counted and
 * skipped (never mapped: that would crash) unless FERRY_FUZZ_STRICT=1, so the
 * short run in the test command keeps looking for new classes. Remove a class
 * once the validator rejects it: the replay test then holds the line.
 */
static bool add_wraps(uint64_t a, uint64_t b) { return a + b < a; }
static const char *known_hole(const struct ferry_seg_hdr *h) {
  uint64_t nwords = h->granule ? (h->arena_size / h->granule + 63) / 64 : 0;
  if (add_wraps(h->consumers_off, (uint64_t)FERRY_MAX_CONSUMERS * sizeof(struct ferry_consumer)) ||
      add_wraps(h->parts_off, (uint64_t)FERRY_MAX_PARTICIPANTS * sizeof(struct ferry_part)) ||
      add_wraps(h->ring_off, (uint64_t)h->ring_slots * sizeof(struct ferry_entry)) || add_wraps(h->bitmap_off, nwords * 8))
    return "region offset + size wraps past 2^64 (the order checks add without overflow checks), so a region lies "
           "outside the mapping";
  return NULL;
}

static bool strict;
static uint64_t known_hits;

/* What an accepted header promises to ferry__seg_map and everything after it. */
static void check_promise(const struct ferry_seg_hdr *h, uint64_t fsize) {
  if (h->segment_size != fsize) broken("the size differs from the file's", h);
  if (!h->granule || (h->granule & (h->granule - 1)) || h->granule < 64) broken("the granule is bad", h);
  if (!h->ring_slots || (h->ring_slots & (h->ring_slots - 1)) || h->ring_slots > (1u << 20))
    broken("the ring size is bad", h);
  if (h->arena_size == 0 || h->arena_size % h->granule || h->arena_size / h->granule > (1ull << 32))
    broken("the arena does not fit 32-bit granule indexes", h);
  uint64_t nwords = (h->arena_size / h->granule + 63) / 64;
  struct {
    uint64_t off, len;
  } r[] = {{h->ctrl_off, sizeof(struct ferry_ctrl)},
           {h->consumers_off, (uint64_t)FERRY_MAX_CONSUMERS * sizeof(struct ferry_consumer)},
           {h->parts_off, (uint64_t)FERRY_MAX_PARTICIPANTS * sizeof(struct ferry_part)},
           {h->ring_off, (uint64_t)h->ring_slots * sizeof(struct ferry_entry)},
           {h->bitmap_off, nwords * 8},
           {h->arena_off, h->arena_size}};
  uint64_t end = sizeof *h;
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
    if (r[i].off < end) broken("regions overlap or run backwards", h);
    if (r[i].off > fsize || r[i].len > fsize - r[i].off) broken("a region runs past the file", h);
    end = r[i].off + r[i].len;
  }
  if (h->ctrl_off % _Alignof(struct ferry_ctrl) || h->consumers_off % _Alignof(struct ferry_consumer) ||
      h->parts_off % _Alignof(struct ferry_part) || h->ring_off % _Alignof(struct ferry_entry) || h->bitmap_off % 8 ||
      h->arena_off % 4096)
    broken("a region is misaligned", h);
  if (memchr(h->name, 0, sizeof h->name) == NULL) broken("the name has no NUL", h);
}

/* Build the accepted segment on a memfd and use it like an opened channel. */
static void use(const struct ferry_seg_hdr *h) {
  ferry_channel *ch = calloc(1, sizeof *ch);
  snprintf(ch->name, sizeof ch->name, "fuzz");
  ch->fd = memfd_create("ferry-fuzz-seg", MFD_CLOEXEC);
  if (ch->fd < 0 || ftruncate(ch->fd, (off_t)h->segment_size) != 0 ||
      pwrite(ch->fd, h, sizeof *h, 0) != (ssize_t)sizeof *h) {
    perror("fuzz_segment: memfd");
    abort();
  }
  if (ferry__seg_map(ch, h) != 0) {
    ferry__seg_unmap(ch);
    return;
  }
  ch->ctrl->ready = 1;
  ferry_sub *s = NULL;
  ferry_pub *p = NULL;
  ferry_msg_info m;
  ferry_sub_open(ch, NULL, &s);
  ferry_pub_open(ch, FERRY_BP_ERROR, 0, &p);
  static const char data[300];
  for (int i = 0; i < 3 && p; i++) ferry_pub_send(p, data, (uint64_t)i * 150, "h", 1, NULL);
  while (s && ferry_sub_try_receive(s, &m) == 0) {
    if (m.offset > ch->arena_size || m.length > ch->arena_size - m.offset) abort();
    ferry_sub_release(s, m.token);
  }
  ferry_channel_reap(ch);
  if (s) ferry_sub_close(s);
  if (p) ferry_pub_close(p);
  ferry_channel_close(ch); /* not the creator: unmaps, unlinks nothing */
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *e = getenv("FERRY_FUZZ_STRICT");
  strict = !(e && strcmp(e, "0") == 0); /* the wrapping offsets are fixed: strict by default */
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 9) return 0;
  uint8_t flags = data[0];
  uint64_t fsize;
  memcpy(&fsize, data + 1, 8);
  struct ferry_seg_hdr h;
  memset(&h, 0, sizeof h);
  memcpy(&h, data + 9, size - 9 < sizeof h ? size - 9 : sizeof h);
  if (flags & 1) h.checksum = ferry__checksum(&h);
  if (flags & 2) fsize = h.segment_size;
  if (ferry__seg_validate(&h, fsize) != 0) return 0;
  const char *known = known_hole(&h);
  if (known) {
    if (strict) broken(known, &h);
    if (known_hits++ == 0) fprintf(stderr, "fuzz_segment: KNOWN OPEN (FERRY_FUZZ_STRICT=1 makes it fatal): %s\n", known);
    return 0;
  }
  check_promise(&h, fsize);
  if (h.segment_size <= (4u << 20)) use(&h);
  return 0;
}
