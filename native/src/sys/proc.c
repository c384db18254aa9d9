/*
 * sys/proc.c — process identity. A participant is (pid, start time): a pid
 * reused by a new process has another start time, and a zombie counts as
 * dead (its memory is gone).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sys/proc.h"

static _Atomic uint32_t cached_pid;

static void refresh_pid(void) { atomic_store_explicit(&cached_pid, (uint32_t)getpid(), memory_order_relaxed); }

__attribute__((constructor)) static void init_pid(void) {
  refresh_pid();
  pthread_atfork(NULL, NULL, refresh_pid);
}

uint32_t ferry__pid(void) {
  uint32_t p = atomic_load_explicit(&cached_pid, memory_order_relaxed);
  return p ? p : (uint32_t)getpid();
}

uint64_t ferry__proc_start(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
  if (!p || !p[1] || !p[2]) return 0;
  if (p[2] == 'Z' || p[2] == 'X') return 0; /* a zombie is dead: its memory is gone */
  /* after ") " come fields 3..; starttime is field 22 */
  int field = 2;
  for (p++; *p && field < 22; p++)
    if (*p == ' ') field++;
  return strtoull(p, NULL, 10);
}

bool ferry__alive(uint32_t pid, uint64_t start) {
  if (pid == 0 || pid > (uint32_t)INT32_MAX) return false;
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return false;
  uint64_t s = ferry__proc_start((pid_t)pid);
  return s != 0 && s == start; /* a reused pid has another start time */
}
