/*
 * fuzz/image.h — the input format of fuzz_channel, shared by the target and
 * the corpus generator (gen_corpus.c).
 *
 * One fixed channel geometry (16 KiB arena of 64 B granules = 256 granules,
 * 4 bitmap words; 16 ring slots; a history of 3). An input is
 *
 *   struct fz_prefix                          32 bytes: op script and flags
 *   struct ferry_ctrl                          the control block
 *   FZ_CONS  x struct ferry_consumer           the first consumer slots
 *   FZ_PARTS x (participant head + FZ_HELD held records)
 *   FZ_RING  x struct ferry_entry              every ring descriptor
 *   FZ_WORDS x uint64_t                        the whole allocation bitmap
 *
 * in that order, each part copied raw over the live channel's shared memory
 * (missing bytes are zero; consumers, participants and held records past the
 * ones listed are zeroed too). Anything the input says is hostile; the target
 * only keeps the lock word free (the lock takeover has its own tests) and,
 * for participants whose bit is set in `alive`, rewrites pid + start time to
 * this process's, so that "live" records exist (a fuzzer cannot guess a pid).
 */
#ifndef FERRY_FUZZ_IMAGE_H
#define FERRY_FUZZ_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "shm/layout.h"

#define FZ_CAPACITY (16u * 1024u)
#define FZ_SLOTS 16u
#define FZ_HISTORY 3u /* the channel keeps 3 messages for late joiners: history flags are fuzz bytes too */
#define FZ_CONS 4u
#define FZ_PARTS 4u
#define FZ_HELD 8u
#define FZ_RING FZ_SLOTS
#define FZ_WORDS 4u /* 256 granules of 64 B */
#define FZ_NOPS 28u

struct fz_prefix {
  uint8_t alive;     /* bit i: participant i is this process (pid + start rewritten) */
  uint8_t setup;     /* bits 0-1: backpressure of the local publisher; bit 2: group subscriber; bits 3-7: messages before */
  uint8_t held;      /* messages the local subscribers receive (and hold) before the image lands */
  uint8_t loans;     /* loans the local publisher holds before the image lands */
  uint8_t ops[FZ_NOPS]; /* op script run after the image landed (see fuzz_channel.c) */
};
_Static_assert(sizeof(struct fz_prefix) == 32, "prefix is 32 bytes");

#define FZ_PART_HEAD offsetof(struct ferry_part, held)
#define FZ_PART_BYTES (FZ_PART_HEAD + FZ_HELD * sizeof(struct ferry_held))

#define FZ_OFF_CTRL sizeof(struct fz_prefix)
#define FZ_OFF_CONS (FZ_OFF_CTRL + sizeof(struct ferry_ctrl))
#define FZ_OFF_PARTS (FZ_OFF_CONS + FZ_CONS * sizeof(struct ferry_consumer))
#define FZ_OFF_RING (FZ_OFF_PARTS + FZ_PARTS * FZ_PART_BYTES)
#define FZ_OFF_BITMAP (FZ_OFF_RING + FZ_RING * sizeof(struct ferry_entry))
#define FZ_IMAGE_BYTES (FZ_OFF_BITMAP + FZ_WORDS * 8u)

#endif
