/*
 * gen_corpus — seed inputs for the fuzz targets, taken from real segments
 * built by libferry (run by gen-corpus.sh; also by run.sh into a scratch
 * folder, so seeds follow the shared layout when it changes).
 *
 *   gen_corpus <out>/segment <out>/channel
 *
 * segment: the header page of channels made by ferry_channel_create2 on
 * /dev/shm (several capacities and ring sizes), with the file's real size,
 * in fuzz_segment's format (flags 0, and flags 3 = checksum and size fixed up).
 *
 * channel: fuzz_channel's own setup (its code is included below) for a list
 * of scenarios — empty, busy, full ring, wrapped ring, group, loans,
 * pipelined copy in flight, drop-oldest — then a snapshot of the shared state
 * in image.h's format, with an op script that mostly receives, releases,
 * publishes and reclaims. Each seed is then run once through the target.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fuzz_channel.c"

static void write_file(const char *dir, const char *name, const void *buf, size_t len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "gen_corpus: cannot write %s: %s\n", path, strerror(errno));
    exit(1);
  }
}

/* The shared state of s in image.h's format, behind prefix pre. */
static size_t snapshot(struct state *s, const struct fz_prefix *pre, uint8_t *out) {
  memset(out, 0, FZ_IMAGE_BYTES);
  memcpy(out, pre, sizeof *pre);
  ferry_channel *ch = s->ch;
  memcpy(out + FZ_OFF_CTRL, ch->ctrl, sizeof *ch->ctrl);
  memcpy(out + FZ_OFF_CONS, ch->cons, FZ_CONS * sizeof *ch->cons);
  for (uint32_t i = 0; i < FZ_PARTS; i++) memcpy(out + FZ_OFF_PARTS + i * FZ_PART_BYTES, &ch->parts[i], FZ_PART_BYTES);
  memcpy(out + FZ_OFF_RING, ch->ring, FZ_RING * sizeof *ch->ring);
  memcpy(out + FZ_OFF_BITMAP, ch->bitmap, FZ_WORDS * 8);
  /* the lock word is free at rest, and pids are rewritten from the alive bits */
  return FZ_IMAGE_BYTES;
}

static int channel_seeds(const char *dir) {
  static const struct {
    const char *name;
    uint8_t setup, held, loans;
  } sc[] = {
      {"empty", 1, 0, 0},
      {"busy", 1 | 5 << 3, 3, 0},
      {"full-ring", 1 | 16 << 3, 4, 0},
      {"wrapped", 1 | 19 << 3, 11, 2},
      {"group", 1 | 4 | 9 << 3, 6, 0},
      {"loans", 1 | 3 << 3, 1, 5},
      {"pipelined", 1 | 2 << 3, 0, 0x80 | 1},
      {"drop-oldest", 2 | 18 << 3, 2, 3},
      {"block", 0 | 7 << 3, 5, 1},
  };
  /* op scripts: receive/release heavy, publish heavy, reclaim/reap/repair, churn */
  static const uint8_t scripts[4][FZ_NOPS] = {
      {0x00, 0x01, 0x10, 0x11, 0x02, 0x03, 0x04, 0x15, 0x00, 0x01, 0x0e, 0x12, 0x13, 0x08,
       0x00, 0x01, 0x02, 0x03, 0x09, 0x0e, 0x14, 0x00, 0x02, 0x01, 0x03, 0x29, 0x0e, 0x08},
      {0x35, 0x16, 0x27, 0x55, 0x36, 0x07, 0x00, 0x01, 0xf6, 0x47, 0x0c, 0x0d, 0x00, 0x04,
       0x1d, 0x35, 0x55, 0x75, 0x95, 0x00, 0x01, 0x02, 0x03, 0x2d, 0x19, 0x0e, 0x05, 0x08},
      {0x09, 0x19, 0x29, 0x39, 0x08, 0x00, 0x02, 0x0e, 0x29, 0x01, 0x03, 0x09, 0x35, 0x00,
       0x19, 0x02, 0x39, 0x0e, 0x08, 0x29, 0x0e, 0x05, 0x00, 0x01, 0x02, 0x03, 0x09, 0x0e},
      {0x0a, 0x0b, 0x1a, 0x15, 0x0a, 0x00, 0x1b, 0x25, 0x01, 0x0a, 0x1a, 0x0b, 0x00, 0x01,
       0x08, 0x09, 0x0e, 0x1a, 0x0b, 0x15, 0x00, 0x02, 0x0a, 0x2b, 0x35, 0x01, 0x03, 0x0e},
  };
  static uint8_t img[FZ_IMAGE_BYTES];
  int n = 0;
  for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
    for (int k = 0; k < 4; k++) {
      if (k && i % 2 != (size_t)k % 2) continue; /* every scenario with script 0, half of them with each other */
      struct fz_prefix pre = {.alive = 0x7, .setup = sc[i].setup, .held = sc[i].held, .loans = sc[i].loans};
      memcpy(pre.ops, scripts[k], FZ_NOPS);
      struct state *s = setup(&pre);
      size_t len = snapshot(s, &pre, img);
      teardown(s);
      char name[64];
      snprintf(name, sizeof name, "%s-%d", sc[i].name, k);
      write_file(dir, name, img, len);
      LLVMFuzzerTestOneInput(img, len); /* a seed must pass */
      n++;
    }
  }
  return n;
}

static int segment_seeds(const char *dir) {
  static const struct {
    uint64_t capacity;
    uint32_t slots, history;
  } g[] = {{1, 8, 0}, {4096, 16, 15}, {64 * 1024, 64, 7}, {1u << 20, 4096, 0}, {64ull << 20, 1024, 1}};
  int n = 0;
  for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
    char name[64], path[128];
    snprintf(name, sizeof name, "fuzzgen-%d-%zu", (int)getpid(), i);
    snprintf(path, sizeof path, "/dev/shm/ferry.%s", name);
    ferry_channel *ch;
    if (ferry_channel_create2(name, g[i].capacity, g[i].slots, 0, g[i].history, &ch) != 0) {
      fprintf(stderr, "gen_corpus: create %s: %s\n", name, ferry_last_error());
      exit(1);
    }
    int fd = open(path, O_RDONLY);
    struct stat st;
    uint8_t buf[9 + sizeof(struct ferry_seg_hdr)];
    if (fd < 0 || fstat(fd, &st) != 0 || pread(fd, buf + 9, sizeof(struct ferry_seg_hdr), 0) != (ssize_t)sizeof(struct ferry_seg_hdr)) {
      fprintf(stderr, "gen_corpus: read %s: %s\n", path, strerror(errno));
      exit(1);
    }
    close(fd);
    ferry_channel_close(ch); /* the creator: unlinks it */
    uint64_t size = (uint64_t)st.st_size;
    memcpy(buf + 1, &size, 8);
    for (uint8_t flags = 0; flags <= 3; flags += 3) {
      buf[0] = flags;
      char fname[64];
      snprintf(fname, sizeof fname, "cap%llu-slots%u-f%u", (unsigned long long)g[i].capacity, g[i].slots, flags);
      write_file(dir, fname, buf, sizeof buf);
      n++;
    }
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: gen_corpus <segment dir> <channel dir>\n");
    return 2;
  }
  LLVMFuzzerInitialize(&argc, &argv);
  int a = segment_seeds(argv[1]);
  int b = channel_seeds(argv[2]);
  printf("gen_corpus: %d segment seeds in %s, %d channel seeds in %s\n", a, argv[1], b, argv[2]);
  return 0;
}
