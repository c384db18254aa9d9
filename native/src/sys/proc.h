/* sys/proc.h — process identity: cached pid, start time, liveness (sys/proc.c). */
#ifndef FERRY_SYS_PROC_H
#define FERRY_SYS_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

uint32_t ferry__pid(void);            /* cached getpid(), refreshed after fork */
uint64_t ferry__proc_start(pid_t pid); /* start time in clock ticks since boot; 0 when gone or a zombie */
bool ferry__alive(uint32_t pid, uint64_t start); /* that process (not a reuse of its pid) still runs */

#endif
