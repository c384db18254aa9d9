/*
 * engine/dsa_idxd.c — Intel DSA work queues of the Linux idxd driver.
 *
 * Discovery reads sysfs (/sys/bus/dsa/devices: dsaN devices with gen_cap and
 * state; wqN.M queues with state, type, mode, size, max_transfer_size,
 * max_batch_size, block_on_fault), checks the CPU (MOVDIR64B for dedicated
 * queues, ENQCMD for shared ones), opens /dev/dsa/wqN.M and maps its portal
 * once, and says exactly why nothing is usable when nothing is. Tests point
 * it at a fake tree (the engine's sysfs= and dev= options).
 *
 * The portal: descriptors go to the mmapped page with MOVDIR64B (dedicated:
 * a posted write, so the engine counts what is in flight against the queue
 * size) or ENQCMD (shared: ZF=1 means retry), after an sfence, stepping the
 * 64-byte offset inside the page. Kernels patched for INTEL-SA-01084 refuse
 * the mmap without CAP_SYS_RAWIO: then each descriptor is write()n to the fd
 * (the kernel checks it and submits it; batches are refused there on DSA 1.0,
 * so the engine does not batch on that path).
 *
 * Health: the device's and the queue's sysfs state ("halted" / not "enabled").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/dsa_idxd.h"
#include "sys/error.h"

#define PORTAL_SIZE 4096u

/* ---------------------------------------------------------------- sysfs */

static bool read_attr(const char *dir, const char *name, char *buf, size_t cap) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0) return false;
  buf[n] = 0;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
  return true;
}

static uint64_t read_num(const char *dir, const char *name, int base, uint64_t dflt) {
  char b[64];
  if (!read_attr(dir, name, b, sizeof b) || !b[0]) return dflt;
  return strtoull(b, NULL, base);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Fill what sysfs says of queue `name` (its device's gen_cap too). */
static void wq_read(const char *sysfs, const char *devroot, const char *name, struct dsa_wq_info *w) {
  memset(w, 0, sizeof *w);
  snprintf(w->name, sizeof w->name, "%s", name);
  unsigned dev = 0, q = 0;
  sscanf(name, "wq%u.%u", &dev, &q);
  snprintf(w->device, sizeof w->device, "dsa%u", dev);
  snprintf(w->path, sizeof w->path, "%s/%s", devroot, name);
  char dir[512], ddir[512], mode[32] = "";
  snprintf(dir, sizeof dir, "%s/%s", sysfs, name);
  snprintf(ddir, sizeof ddir, "%s/%s", sysfs, w->device);
  read_attr(dir, "mode", mode, sizeof mode);
  w->dedicated = !strcmp(mode, "dedicated");
  w->size = (uint32_t)read_num(dir, "size", 0, 0);
  w->max_transfer = read_num(dir, "max_transfer_size", 0, read_num(ddir, "max_transfer_size", 0, 0));
  w->max_batch = (uint32_t)read_num(dir, "max_batch_size", 0, read_num(ddir, "max_batch_size", 0, 0));
  w->block_on_fault = read_num(dir, "block_on_fault", 0, 0) != 0;
  w->gen_cap = read_num(ddir, "gen_cap", 16, 0);
  w->cache_control = (w->gen_cap & DSA_GENCAP_CACHE_CONTROL_MEM) != 0;
}

/* Why this queue cannot be used (empty: it can); on success *mmap_ok says whether the portal maps. */
static void wq_check(const struct dsa_discover_opts *o, const struct dsa_wq_info *w, char *why, size_t cap, bool *mmap_ok,
                     int *map_errno) {
  char dir[512], state[32] = "", type[32] = "", dstate[32] = "";
  snprintf(dir, sizeof dir, "%s/%s", o->sysfs, w->name);
  why[0] = 0;
  *mmap_ok = false;
  *map_errno = 0;
  read_attr(dir, "state", state, sizeof state);
  read_attr(dir, "type", type, sizeof type);
  char ddir[512];
  snprintf(ddir, sizeof ddir, "%s/%s", o->sysfs, w->device);
  read_attr(ddir, "state", dstate, sizeof dstate);
  if (!strcmp(dstate, "halted")) {
    snprintf(why, cap, "device %s is halted (needs a reset: accel-config disable-device / enable-device)", w->device);
    return;
  }
  if (strcmp(state, "enabled")) {
    snprintf(why, cap, "not enabled (state '%s'; accel-config enable-wq %s/%s)", state[0] ? state : "?", w->device, w->name);
    return;
  }
  if (strcmp(type, "user")) {
    snprintf(why, cap, "not a user queue (type '%s'; configure it with accel-config config-wq --type=user)", type[0] ? type : "?");
    return;
  }
  if (!w->size) {
    snprintf(why, cap, "size 0");
    return;
  }
  if (w->dedicated && !(o->cpu & DSA_CPU_MOVDIR64B) && !o->no_mmap) {
    snprintf(why, cap, "dedicated queue, but this CPU has no MOVDIR64B");
    return;
  }
  if (!w->dedicated && !(o->cpu & DSA_CPU_ENQCMD) && !o->no_mmap) {
    snprintf(why, cap, "shared queue, but this CPU has no ENQCMD");
    return;
  }
  int fd = open(w->path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      snprintf(why, cap, "no character device %s (is the idxd user driver bound? udev rules?)", w->path);
    else if (e == EACCES || e == EPERM)
      snprintf(why, cap, "permission denied opening %s (give this user access to it, e.g. its group or a udev rule)", w->path);
    else if (e == EBUSY)
      snprintf(why, cap, "%s is a dedicated queue already opened by another process", w->path);
    else
      snprintf(why, cap, "open %s: %s", w->path, strerror(e));
    return;
  }
  if (!o->no_mmap) {
    void *m = mmap(NULL, PORTAL_SIZE, PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (m == MAP_FAILED) {
      *map_errno = errno;
    } else {
      *mmap_ok = true;
      munmap(m, PORTAL_SIZE);
    }
  }
  close(fd);
}

static void fmt_size(uint64_t b, char *buf, size_t cap) {
  if (b >= (1u << 20) && b % (1u << 20) == 0) snprintf(buf, cap, "%llu MiB", (unsigned long long)(b >> 20));
  else if (b >= 1024 && b % 1024 == 0) snprintf(buf, cap, "%llu KiB", (unsigned long long)(b >> 10));
  else snprintf(buf, cap, "%llu B", (unsigned long long)b);
}

static void how_text(const struct dsa_discover_opts *o, const struct dsa_wq_info *w, bool mmap_ok, int map_errno, char *buf,
                     size_t cap) {
  if (mmap_ok)
    snprintf(buf, cap, "%s to the mmapped portal", w->dedicated ? "MOVDIR64B" : "ENQCMD");
  else if (o->no_mmap)
    snprintf(buf, cap, "write() to %s (portal mmap not tried)", w->path);
  else if (map_errno == EPERM || map_errno == EACCES)
    snprintf(buf, cap, "write() to %.200s: portal mmap refused (%.40s: needs CAP_SYS_RAWIO since INTEL-SA-01084)",
             w->path, strerror(map_errno));
  else
    snprintf(buf, cap, "write() to %s: portal mmap failed (%s)", w->path, strerror(map_errno));
}

int ferry__dsa_discover(const struct dsa_discover_opts *o, struct dsa_wq_info *wq, char *reason, size_t cap) {
  reason[0] = 0;
  DIR *d = opendir(o->sysfs);
  if (!d) {
    snprintf(reason, cap, "no idxd driver: %s does not exist (%s; the idxd kernel module is not loaded, or this machine has no DSA)",
             o->sysfs, strerror(errno));
    return 0;
  }
  char *wqs[256];
  int nwq = 0, ndev = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strncmp(de->d_name, "dsa", 3) && de->d_name[3] >= '0' && de->d_name[3] <= '9') ndev++;
    if (!strncmp(de->d_name, "wq", 2) && nwq < 256) wqs[nwq++] = strdup(de->d_name);
  }
  closedir(d);
  int r = 0;
  if (!ndev) {
    snprintf(reason, cap, "no DSA device: %s lists no dsaN (the idxd driver is loaded but found no DSA)", o->sysfs);
    goto out;
  }
  if (!nwq) {
    snprintf(reason, cap, "no work queue: %d DSA device(s) under %s but no wqN.M is configured (accel-config config-wq, enable-wq)",
             ndev, o->sysfs);
    goto out;
  }
  qsort(wqs, (size_t)nwq, sizeof *wqs, cmp_str);
  const char *want = NULL;
  if (o->want) {
    want = strrchr(o->want, '/');
    want = want ? want + 1 : o->want;
  }
  size_t off = 0;
  bool any = false;
  for (int i = 0; i < nwq; i++) {
    if (want && strcmp(wqs[i], want)) continue;
    any = true;
    struct dsa_wq_info w;
    wq_read(o->sysfs, o->devroot, wqs[i], &w);
    if (o->want && strchr(o->want, '/')) snprintf(w.path, sizeof w.path, "%s", o->want);
    char why[400];
    bool mmap_ok;
    int map_errno;
    wq_check(o, &w, why, sizeof why, &mmap_ok, &map_errno);
    if (!why[0]) {
      *wq = w;
      char how[320], mt[32], cpu[64];
      how_text(o, &w, mmap_ok, map_errno, how, sizeof how);
      fmt_size(w.max_transfer, mt, sizeof mt);
      ferry__dsa_cpu_text(o->cpu, cpu, sizeof cpu);
      snprintf(reason, cap, "%s on %s: %s, %u entries, max transfer %s, max batch %u, block_on_fault %d, cache control %s; cpu: %s; submits with %s",
               w.name, w.device, w.dedicated ? "dedicated" : "shared", w.size, mt, w.max_batch, w.block_on_fault,
               w.cache_control ? "yes" : "no (gen_cap bit 2 clear)", cpu, how);
      r = 1;
      goto out;
    }
    if (off < cap) {
      int n = snprintf(reason + off, cap - off, "%s%s: %s", off ? "; " : "no usable DSA work queue: ", wqs[i], why);
      if (n > 0) off += (size_t)n;
    }
  }
  if (!any) snprintf(reason, cap, "no work queue %s under %s", want, o->sysfs);
out:
  for (int i = 0; i < nwq; i++) free(wqs[i]);
  return r;
}

/* ---------------------------------------------------------------- portal */

struct idxd_portal {
  struct dsa_portal p;
  int fd;
  uint8_t *portal; /* NULL: write() */
  uint32_t off;
  char sysfs[256];
};

static int idxd_submit(struct dsa_portal *pp, const struct dsa_hw_desc *d) {
  struct idxd_portal *p = (struct idxd_portal *)pp;
  dsa_sfence(); /* the descriptor and everything it points at are visible before the device reads them */
  if (!p->portal) {
    ssize_t w = write(p->fd, d, sizeof *d);
    if (w == (ssize_t)sizeof *d) return DSA_SUBMIT_OK;
    if (w < 0 && (errno == EAGAIN || errno == EBUSY || errno == ENOSPC || errno == EINTR)) return DSA_SUBMIT_RETRY;
    return ferry__errno(FERRY_E_SYS, "dsa: write() of a descriptor to the work queue");
  }
  volatile void *dst = p->portal + p->off;
  p->off = (p->off + 64) & (PORTAL_SIZE - 1); /* several submissions in flight on the portal */
  if (pp->wq.dedicated) {
    dsa_movdir64b(dst, d);
    return DSA_SUBMIT_OK;
  }
  return dsa_enqcmd(dst, d) ? DSA_SUBMIT_RETRY : DSA_SUBMIT_OK;
}

static int idxd_health(struct dsa_portal *pp, char *why, size_t cap, uint64_t *addr, uint8_t *status) {
  struct idxd_portal *p = (struct idxd_portal *)pp;
  char dir[512], st[32] = "";
  snprintf(dir, sizeof dir, "%s/%s", p->sysfs, pp->wq.device);
  if (read_attr(dir, "state", st, sizeof st) && !strcmp(st, "halted")) {
    snprintf(why, cap, "DSA device %s halted (sysfs state)", pp->wq.device);
    return DSA_HEALTH_HALTED;
  }
  snprintf(dir, sizeof dir, "%s/%s", p->sysfs, pp->wq.name);
  if (read_attr(dir, "state", st, sizeof st) && strcmp(st, "enabled")) {
    snprintf(why, cap, "DSA work queue %s is no longer enabled (state '%s')", pp->wq.name, st);
    return DSA_HEALTH_HALTED;
  }
  return DSA_HEALTH_OK;
}

static void idxd_close(struct dsa_portal *pp) {
  struct idxd_portal *p = (struct idxd_portal *)pp;
  if (p->portal) munmap(p->portal, PORTAL_SIZE);
  close(p->fd);
  free(p);
}

static const struct dsa_portal_ops idxd_ops = {.submit = idxd_submit, .health = idxd_health, .close = idxd_close};

int ferry__dsa_idxd_open(const struct dsa_discover_opts *o, const struct dsa_wq_info *wq, struct dsa_portal **out) {
  struct idxd_portal *p = calloc(1, sizeof *p);
  if (!p) return ferry__err(FERRY_E_NOMEM, "out of memory");
  p->p.ops = &idxd_ops;
  p->p.wq = *wq;
  snprintf(p->sysfs, sizeof p->sysfs, "%s", o->sysfs);
  p->fd = open(wq->path, O_RDWR | O_CLOEXEC);
  if (p->fd < 0) {
    int e = errno;
    free(p);
    errno = e;
    return ferry__errno(e == EACCES || e == EPERM ? FERRY_E_PERM : e == EBUSY ? FERRY_E_BUSY : FERRY_E_SYS, wq->path);
  }
  int map_errno = 0;
  if (!o->no_mmap) {
    void *m = mmap(NULL, PORTAL_SIZE, PROT_WRITE, MAP_SHARED | MAP_POPULATE, p->fd, 0);
    if (m == MAP_FAILED) map_errno = errno;
    else p->portal = m;
  }
  /* Never execute an instruction CPUID did not report, whatever a test's cpu= option claims. */
  uint32_t need = wq->dedicated ? DSA_CPU_MOVDIR64B : DSA_CPU_ENQCMD;
  if (p->portal && !(ferry__dsa_cpu_features() & need)) {
    munmap(p->portal, PORTAL_SIZE);
    p->portal = NULL;
    map_errno = ENOTSUP;
  }
  how_text(o, wq, p->portal != NULL, map_errno, p->p.how, sizeof p->p.how);
  if (map_errno == ENOTSUP)
    snprintf(p->p.how, sizeof p->p.how, "write() to %s: this CPU has no %s", wq->path, wq->dedicated ? "MOVDIR64B" : "ENQCMD");
  if (!p->portal) p->p.wq.max_batch = 0; /* DSA 1.0 refuses batch descriptors through write() */
  *out = &p->p;
  return 0;
}
