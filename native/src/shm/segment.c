/*
 * shm/segment.c — named POSIX shared-memory segments: names, the layout
 * header (its writer and its checker side by side), opening a segment
 * only when its type, owner and mode are trusted, mapping a validated
 * segment into a handle, the guard against a segment that shrinks under its
 * mappings, staleness and garbage collection.
 *
 * Nothing here ever opens a name without O_NOFOLLOW | O_NONBLOCK and an
 * fstat of the descriptor it got: a symlink, a FIFO or a directory planted
 * under a ferry name is refused, never followed, read or waited on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shm/segment.h"
#include "sys/error.h"
#include "sys/proc.h"
#include "sys/sys.h"

FERRY_API int ferry_name_check(const char *name) {
  if (!name) return ferry__err(FERRY_E_NAME, "channel name is NULL");
  size_t n = strnlen(name, FERRY_NAME_MAX + 1);
  if (n == 0) return ferry__err(FERRY_E_NAME, "channel name is empty");
  if (n > FERRY_NAME_MAX)
    return ferry__err(FERRY_E_NAME, "channel name longer than %d bytes", FERRY_NAME_MAX);
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || (i > 0 && (c == '-' || c == '_' || c == '.'))) continue;
    return ferry__err(FERRY_E_NAME,
                      "channel name \"%.*s\": character %zu is not allowed (use A-Z a-z 0-9 and, "
                      "after the first, - _ .)",
                      (int)n, name, i);
  }
  return 0;
}

int ferry__shm_path(const char *name, char *out, size_t cap) {
  int r = ferry_name_check(name);
  if (r) return r;
  snprintf(out, cap, "/dev/shm/" FERRY_SHM_PREFIX "%s", name);
  return 0;
}

uint64_t ferry__checksum(const struct ferry_seg_hdr *h) {
  const uint8_t *p = (const uint8_t *)h;
  uint64_t x = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < offsetof(struct ferry_seg_hdr, checksum); i++) {
    x ^= p[i];
    x *= 0x100000001b3ull;
  }
  return x;
}

static uint64_t pick_granule(uint64_t capacity) {
  uint64_t g = 64;
  while (g < 4096 && capacity / g > (1u << 18)) g <<= 1;
  return g;
}

void ferry__seg_layout(struct ferry_seg_hdr *h, uint64_t capacity, uint32_t slots, uint32_t history) {
  memset(h, 0, sizeof *h);
  h->magic = FERRY_MAGIC;
  h->layout_version = FERRY_LAYOUT_VERSION;
  h->hdr_size = sizeof *h;
  h->granule = pick_granule(capacity);
  h->arena_size = FERRY__ALIGN_UP(FERRY__ALIGN_UP(capacity, h->granule), FERRY_PAGE);
  h->ring_slots = slots;
  h->history = history;
  h->max_parts = FERRY_MAX_PARTICIPANTS;
  h->max_consumers = FERRY_MAX_CONSUMERS;
  h->max_held = FERRY_MAX_HELD;
  h->sz_ctrl = sizeof(struct ferry_ctrl);
  h->sz_consumer = sizeof(struct ferry_consumer);
  h->sz_part = sizeof(struct ferry_part);
  h->sz_entry = sizeof(struct ferry_entry);
  h->sz_pin = sizeof(struct ferry_pin);
  memset(h->host_id, '0', sizeof h->host_id); /* valid placeholder: create writes the creator's host (ferry_host_id) */
  uint64_t off = FERRY_PAGE;
  h->ctrl_off = off;
  off = FERRY__ALIGN_UP(off + sizeof(struct ferry_ctrl), FERRY_CACHELINE);
  h->consumers_off = off;
  off = FERRY__ALIGN_UP(off + FERRY_MAX_CONSUMERS * sizeof(struct ferry_consumer), FERRY_CACHELINE);
  h->parts_off = off;
  off = FERRY__ALIGN_UP(off + FERRY_MAX_PARTICIPANTS * sizeof(struct ferry_part), _Alignof(struct ferry_entry));
  h->ring_off = off; /* v8: 128-byte aligned, so each descriptor is one adjacent-line pair */
  off = FERRY__ALIGN_UP(off + (uint64_t)slots * sizeof(struct ferry_entry), FERRY_CACHELINE);
  h->pins_off = off;
  off = FERRY__ALIGN_UP(off + (uint64_t)slots * sizeof(struct ferry_pin), FERRY_CACHELINE);
  h->bitmap_off = off;
  uint64_t nwords = (h->arena_size / h->granule + 63) / 64;
  off = FERRY__ALIGN_UP(off + nwords * 8, FERRY_PAGE);
  h->arena_off = off;
  h->segment_size = off + h->arena_size;
}

/* Map a validated segment and fill the handle's local geometry. */
int ferry__seg_map(ferry_channel *ch, const struct ferry_seg_hdr *h) {
  ch->segment_size = h->segment_size;
  ch->arena_off = h->arena_off;
  ch->arena_size = h->arena_size;
  ch->granule = h->granule;
  ch->gshift = (uint32_t)__builtin_ctzll(h->granule);
  ch->ring_slots = h->ring_slots;
  ch->ring_mask = h->ring_slots - 1;
  ch->history = h->history; /* validated: below ring_slots */
  ch->max_parts = h->max_parts;
  ch->max_consumers = h->max_consumers;
  ch->nbits = h->arena_size / h->granule;
  ch->nwords = (ch->nbits + 63) / 64;
  ch->map_len = h->arena_off;
  uint64_t ctrl_off = h->ctrl_off, cons_off = h->consumers_off, parts_off = h->parts_off,
           ring_off = h->ring_off, pins_off = h->pins_off, bitmap_off = h->bitmap_off;
  ch->generation = h->generation;
  memcpy(ch->host_id, h->host_id, FERRY_HOST_ID_LEN);
  ch->host_id[FERRY_HOST_ID_LEN] = 0;
  ch->base = mmap(NULL, ch->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ch->fd, 0);
  if (ch->base == MAP_FAILED) {
    ch->base = NULL;
    return ferry__errno(0, "mmap(control)");
  }
  ch->arena_ro = mmap(NULL, ch->arena_size, PROT_READ, MAP_SHARED | MAP_POPULATE, ch->fd, (off_t)ch->arena_off);
  if (ch->arena_ro == MAP_FAILED) {
    ch->arena_ro = NULL;
    return ferry__errno(0, "mmap(arena)");
  }
  ch->ctrl = (struct ferry_ctrl *)(ch->base + ctrl_off);
  ch->cons = (struct ferry_consumer *)(ch->base + cons_off);
  ch->parts = (struct ferry_part *)(ch->base + parts_off);
  ch->ring = (struct ferry_entry *)(ch->base + ring_off);
  ch->pins = (struct ferry_pin *)(ch->base + pins_off);
  ch->bitmap = (uint64_t *)(ch->base + bitmap_off);
  return 0;
}

/* Unmap and close everything a handle holds, then free it. */
void ferry__seg_unmap(ferry_channel *ch) {
  struct ferry__bus *b = ch->bus;
  if (b) { /* give the SIGBUS entry back before the ranges it names go */
    for (int k = 0; k < FERRY__BUS_RANGES; k++) atomic_store_explicit(&b->lo[k], 0, memory_order_release);
    atomic_store_explicit(&b->lost, 0, memory_order_relaxed);
    atomic_store_explicit(&b->used, 0, memory_order_release);
    ch->bus = NULL;
  }
  if (ch->arena_rw) munmap(ch->arena_rw, ch->arena_size);
  if (ch->arena_ro) munmap(ch->arena_ro, ch->arena_size);
  if (ch->base) munmap(ch->base, ch->map_len);
  if (ch->fd >= 0) close(ch->fd);
  free(ch);
}

static bool pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* Validate a header copied out of shared memory against the file it came from. */
int ferry__seg_validate(const struct ferry_seg_hdr *h, uint64_t file_size) {
  if (h->magic != FERRY_MAGIC) return ferry__err(FERRY_E_BADMAGIC, "segment magic 0x%016llx is not ferry's",
                                                 (unsigned long long)h->magic);
  if (h->layout_version != FERRY_LAYOUT_VERSION)
    return ferry__err(FERRY_E_VERSION, "segment layout version %u, this libferry reads version %u",
                      h->layout_version, FERRY_LAYOUT_VERSION);
  if (h->hdr_size != sizeof *h) return ferry__err(FERRY_E_VERSION, "segment header size %u, expected %zu", h->hdr_size, sizeof *h);
  if (h->checksum != ferry__checksum(h)) return ferry__err(FERRY_E_CORRUPT, "segment header checksum mismatch");
  if (h->sz_ctrl != sizeof(struct ferry_ctrl) || h->sz_consumer != sizeof(struct ferry_consumer) ||
      h->sz_part != sizeof(struct ferry_part) || h->sz_entry != sizeof(struct ferry_entry) ||
      h->sz_pin != sizeof(struct ferry_pin))
    return ferry__err(FERRY_E_VERSION, "segment was made by a libferry with another shared layout");
  if (h->segment_size != file_size)
    return ferry__err(FERRY_E_CORRUPT, "segment is %llu bytes, header says %llu", (unsigned long long)file_size,
                      (unsigned long long)h->segment_size);
  if (h->max_parts != FERRY_MAX_PARTICIPANTS || h->max_consumers != FERRY_MAX_CONSUMERS ||
      h->max_held != FERRY_MAX_HELD)
    return ferry__err(FERRY_E_VERSION, "segment limits differ from this libferry's");
  if (!pow2(h->ring_slots) || h->ring_slots < FERRY_MIN_RING || h->ring_slots > FERRY_MAX_RING)
    return ferry__err(FERRY_E_CORRUPT, "bad ring size %u", h->ring_slots);
  if (h->history >= h->ring_slots)
    return ferry__err(FERRY_E_CORRUPT, "history of %u messages does not fit a ring of %u slots", h->history,
                      h->ring_slots);
  if (!pow2(h->granule) || h->granule < 64 || h->granule > (1u << 20) || h->arena_size % h->granule ||
      h->arena_size == 0 || h->arena_size > FERRY_MAX_ARENA)
    return ferry__err(FERRY_E_CORRUPT, "bad arena geometry");
  uint64_t nwords = (h->arena_size / h->granule + 63) / 64;
  /* every offset inside the file first, so none of the sums below can wrap (all are then
   * below 2^41 + small constants); then the regions must follow each other in order,
   * aligned, without overlap */
  if (h->arena_off > file_size || h->consumers_off > h->arena_off || h->parts_off > h->arena_off ||
      h->ring_off > h->arena_off || h->pins_off > h->arena_off || h->bitmap_off > h->arena_off || h->consumers_off % FERRY_CACHELINE ||
      h->parts_off % FERRY_CACHELINE)
    return ferry__err(FERRY_E_CORRUPT, "segment regions lie outside the file");
  if (h->ctrl_off != FERRY_PAGE || h->consumers_off < h->ctrl_off + sizeof(struct ferry_ctrl) ||
      h->parts_off < h->consumers_off + (uint64_t)FERRY_MAX_CONSUMERS * sizeof(struct ferry_consumer) ||
      h->ring_off < h->parts_off + (uint64_t)FERRY_MAX_PARTICIPANTS * sizeof(struct ferry_part) ||
      h->ring_off % _Alignof(struct ferry_entry) ||
      h->pins_off < h->ring_off + (uint64_t)h->ring_slots * sizeof(struct ferry_entry) || h->pins_off % FERRY_CACHELINE ||
      h->bitmap_off < h->pins_off + (uint64_t)h->ring_slots * sizeof(struct ferry_pin) ||
      h->bitmap_off % 8 || h->arena_off < h->bitmap_off + nwords * 8 || h->arena_off % FERRY_PAGE ||
      h->arena_off > file_size || h->arena_size != file_size - h->arena_off)
    return ferry__err(FERRY_E_CORRUPT, "segment regions are inconsistent");
  if (strnlen(h->name, sizeof h->name) > FERRY_NAME_MAX) return ferry__err(FERRY_E_CORRUPT, "bad name in header");
  for (int i = 0; i < FERRY_HOST_ID_LEN; i++) {
    char c = h->host_id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return ferry__err(FERRY_E_CORRUPT, "bad host identity in header");
  }
  return 0;
}

/* ---------------------------------------------------------------- host identity */

/* FNV-1a over `n` bytes, continuing from x. */
static uint64_t fnv(uint64_t x, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    x ^= b[i];
    x *= 0x100000001b3ull;
  }
  return x;
}

/* Up to cap - 1 bytes of a small text file (0 bytes if it cannot be read). */
static size_t read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  ssize_t n = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0) n = 0;
  buf[n] = 0;
  return (size_t)n;
}

/*
 * What tells /dev/shm namespaces apart, without leaving a file there: the
 * device number and root inode of the filesystem mounted on /dev/shm. Every
 * process that sees the same /dev/shm (a shared tmpfs, --ipc=host) sees the
 * same pair; a container or a private tmpfs mounted on /dev/shm is another
 * mount with another anonymous device. A device number reused by a later
 * mount in the same boot cannot make an old reference resolve: references
 * also carry the segment's random generation.
 */
static int shm_nonce(char out[33]) {
  struct stat st;
  if (stat("/dev/shm", &st) != 0) return ferry__errno(0, "stat /dev/shm");
  snprintf(out, 33, "%016llx%016llx", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
  return 0;
}

FERRY_API int ferry_host_id(char *out) {
  static char cached[FERRY_HOST_ID_LEN + 1];
  static _Atomic int have;
  if (!out) return ferry__err(FERRY_E_INVAL, "NULL argument");
  if (!atomic_load(&have)) {
    char machine[128], boot[128], nonce[33];
    read_small("/etc/machine-id", machine, sizeof machine);
    read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot);
    int r = shm_nonce(nonce);
    if (r) return r;
    /* machine + boot tell machines (and reboots) apart, the /dev/shm mount tells namespaces apart */
    uint64_t a = fnv(0xcbf29ce484222325ull, machine, strlen(machine));
    a = fnv(a, boot, strlen(boot));
    uint64_t b = fnv(a ^ 0x9e3779b97f4a7c15ull, nonce, 32);
    a = fnv(a, nonce, 32);
    snprintf(cached, sizeof cached, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
    atomic_store(&have, 1);
  }
  memcpy(out, cached, FERRY_HOST_ID_LEN + 1);
  return 0;
}

/* "a FIFO", "a directory", ...: what a non-regular file is, for refusals. */
static const char *file_kind(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a regular file";
}

static bool in_list(uint32_t v, const uint32_t *list, uint32_t n) {
  for (uint32_t i = 0; list && i < n; i++)
    if (list[i] == v) return true;
  return false;
}

int ferry__seg_open(const char *path, const char *name, int oflags, const struct ferry__trust *t, struct stat *st) {
  const bool creating = t && (t->flags & FERRY__TRUST_CREATE);
  const char *verb = creating ? "cannot create channel" : "refusing channel";
  int fd = open(path, oflags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    struct stat ls;
    if (e == ENOENT) return ferry__err(FERRY_E_NOTFOUND, "no channel \"%s\"", name);
    if (lstat(path, &ls) == 0) {
      if (!S_ISREG(ls.st_mode))
        return ferry__err(FERRY_E_PERM, "%s \"%s\": %s is %s owned by uid %u, not a shared-memory segment",
                          verb, name, path, file_kind(ls.st_mode), (unsigned)ls.st_uid);
      if (e == EACCES || e == EPERM)
        return ferry__err(FERRY_E_PERM, "%s \"%s\": %s belongs to uid %u (mode %04o) and uid %u may not open it",
                          verb, name, path, (unsigned)ls.st_uid, (unsigned)(ls.st_mode & 07777), (unsigned)geteuid());
    }
    errno = e;
    return ferry__errno(0, path);
  }
  if (fstat(fd, st) != 0) {
    int r = ferry__errno(0, "fstat");
    close(fd);
    return r;
  }
  int r = 0;
  uid_t me = geteuid();
  uint32_t mode = (uint32_t)(st->st_mode & 07777);
  if (!S_ISREG(st->st_mode)) {
    r = ferry__err(FERRY_E_PERM, "%s \"%s\": %s is %s owned by uid %u, not a shared-memory segment", verb, name,
                   path, file_kind(st->st_mode), (unsigned)st->st_uid);
  } else if (creating) {
    if (st->st_uid != me)
      r = ferry__err(FERRY_E_PERM, "%s \"%s\": the name is taken by a segment of uid %u (this process is uid %u)",
                     verb, name, (unsigned)st->st_uid, (unsigned)me);
  } else {
    bool gid_ok = t && in_list((uint32_t)st->st_gid, t->gids, t->ngids);
    bool owner_ok = st->st_uid == me || (t && in_list((uint32_t)st->st_uid, t->uids, t->nuids)) || gid_ok;
    uint32_t flags = t ? t->flags : 0;
    if (!owner_ok)
      r = ferry__err(FERRY_E_PERM,
                     "%s \"%s\": it belongs to uid %u (gid %u), not to this process's uid %u; trust that owner "
                     "to open it (JS: open(name, { trust: { uids: [%u] } }), C: ferry_channel_open2)",
                     verb, name, (unsigned)st->st_uid, (unsigned)st->st_gid, (unsigned)me, (unsigned)st->st_uid);
    else if ((mode & S_IWOTH) && !(flags & FERRY_TRUST_WORLD_WRITE))
      r = ferry__err(FERRY_E_PERM,
                     "%s \"%s\": it is world-writable (mode %04o): any local user can rewrite it; accept that "
                     "with trust: { worldWritable: true } (C: FERRY_TRUST_WORLD_WRITE)",
                     verb, name, mode);
    else if ((mode & S_IWGRP) && !(flags & (FERRY_TRUST_GROUP_WRITE | FERRY_TRUST_WORLD_WRITE)) && !gid_ok)
      r = ferry__err(FERRY_E_PERM,
                     "%s \"%s\": it is group-writable (mode %04o, gid %u): accept that with trust: { groupWritable: "
                     "true } or by trusting the group, trust: { gids: [%u] } (C: FERRY_TRUST_GROUP_WRITE)",
                     verb, name, mode, (unsigned)st->st_gid, (unsigned)st->st_gid);
  }
  if (r) {
    close(fd);
    return r;
  }
  return fd;
}

/*
 * Does any live process use the segment open at `fd` (a regular file)? 1
 * yes, 0 no (stale or not a valid ferry segment). Reads the header with
 * pread and maps only the participant table, after validating the header
 * against the file's size.
 */
static int seg_in_use(int fd, const struct stat *st) {
  if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size < FERRY_PAGE) return 0;
  struct ferry_seg_hdr h;
  if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) return 0;
  int v = ferry__seg_validate(&h, (uint64_t)st->st_size);
  /* another layout version (an older or newer libferry beside this one): its participant table
   * may lie elsewhere, so it is not ours to judge; never remove it (as `ferry gc` does) */
  if (v == FERRY_E_VERSION) return 1;
  if (v != 0) return 0;
  if (ferry__alive(h.creator_pid, h.creator_start)) return 1;
  size_t len = (size_t)h.ring_off;
  uint8_t *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return 0;
  const struct ferry_part *parts = (const struct ferry_part *)(base + h.parts_off);
  int used = 0;
  for (int i = 0; i < FERRY_MAX_PARTICIPANTS && !used; i++) {
    struct ferry_part p = parts[i];
    if (p.kind != PART_FREE && ferry__alive(p.pid, p.start)) used = 1;
  }
  munmap(base, len);
  return used;
}

int ferry__seg_stale(int fd, const struct stat *st) { return seg_in_use(fd, st) == 0; }

/* Remove `path` only if it is still the file `st` describes (same device and inode). */
int ferry__seg_unlink_if(const char *path, const struct stat *st) {
  struct stat now;
  if (lstat(path, &now) != 0) return ferry__errno(0, path);
  if (now.st_dev != st->st_dev || now.st_ino != st->st_ino)
    return ferry__err(FERRY_E_EXISTS, "%s was replaced meanwhile", path);
  if (unlink(path) != 0) return ferry__errno(0, path);
  return 0;
}

/* ---------------------------------------------------------------- truncation guard */

/* Replace every mapping of the handle, in place, by private zero pages: nothing faults on it any more. */
static void quarantine(ferry_channel *ch) {
  const int anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
  if (ch->base) mmap(ch->base, ch->map_len, PROT_READ | PROT_WRITE, anon, -1, 0);
  if (ch->arena_ro) mmap(ch->arena_ro, ch->arena_size, PROT_READ, anon, -1, 0);
  if (ch->arena_rw) mmap(ch->arena_rw, ch->arena_size, PROT_READ | PROT_WRITE, anon, -1, 0);
}

int ferry__seg_bus_lost(ferry_channel *ch) {
  if (!ch->lost) {
    quarantine(ch); /* the handler replaced the mapping that faulted; the others, before they do */
    ch->lost = FERRY_E_CORRUPT;
  }
  return ch->lost;
}

int ferry__seg_guard(ferry_channel *ch) {
  if (ferry__lost(ch)) return ferry__seg_lost(ch);
  struct stat st;
  if (ch->fd < 0 || fstat(ch->fd, &st) != 0 || (uint64_t)st.st_size >= ch->segment_size) return 0;
  quarantine(ch);
  ch->lost = FERRY_E_CORRUPT;
  return ferry__err(FERRY_E_CORRUPT,
                    "channel \"%s\": its segment shrank to %lld of %llu bytes under this process (someone "
                    "truncated it); this handle's mappings were replaced and every call on it fails: close it",
                    ch->name, (long long)st.st_size, (unsigned long long)ch->segment_size);
}

int ferry__seg_lost(ferry_channel *ch) {
  return ferry__err(ch->lost, "channel \"%s\": its segment was truncated under this process; close this handle",
                    ch->name);
}

FERRY_API int ferry_unlink(const char *name) {
  char path[128];
  int r = ferry__shm_path(name, path, sizeof path);
  if (r) return r;
  if (unlink(path) != 0) return ferry__errno(0, path);
  return 0;
}

/* Temporary names used while a segment is built: "ferry.~tmp.<pid>.<n>". */
static bool tmp_owner(const char *ent, long *pid) {
  const char *pfx = FERRY_SHM_PREFIX "~tmp.";
  if (strncmp(ent, pfx, strlen(pfx)) != 0) return false;
  *pid = strtol(ent + strlen(pfx), NULL, 10);
  return true;
}

FERRY_API int ferry_gc(void) {
  DIR *d = opendir("/dev/shm");
  if (!d) return ferry__errno(0, "opendir(/dev/shm)");
  int removed = 0;
  uid_t me = geteuid();
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, FERRY_SHM_PREFIX, strlen(FERRY_SHM_PREFIX)) != 0) continue;
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/%s", de->d_name);
    struct stat st;
    /* only our own regular files: another user's segment is not ours to judge (root included) */
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != me) continue;
    long pid;
    bool stale;
    if (tmp_owner(de->d_name, &pid)) {
      stale = pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
    } else if (time(NULL) - st.st_mtime < 2 && (uint64_t)st.st_size < FERRY_PAGE) {
      stale = false; /* too young to judge */
    } else {
      int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) continue;
      struct stat fst;
      stale = fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode) && fst.st_uid == me && fst.st_dev == st.st_dev &&
              fst.st_ino == st.st_ino && seg_in_use(fd, &fst) == 0;
      close(fd);
    }
    if (stale && ferry__seg_unlink_if(path, &st) == 0) removed++;
  }
  closedir(d);
  return removed;
}
