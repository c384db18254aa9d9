/* error.c — error names, messages and the per-thread detail of the last failure. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[512];

static const struct {
  int code;
  const char *name;
  const char *msg;
} errors[] = {
    {FERRY_OK, "FERRY_OK", "success"},
    {FERRY_E_INVAL, "FERRY_E_INVAL", "invalid argument"},
    {FERRY_E_NAME, "FERRY_E_NAME", "invalid channel name"},
    {FERRY_E_EXISTS, "FERRY_E_EXISTS", "a live channel with this name already exists"},
    {FERRY_E_NOTFOUND, "FERRY_E_NOTFOUND", "no channel with this name"},
    {FERRY_E_BADMAGIC, "FERRY_E_BADMAGIC", "shared memory segment is not a ferry channel"},
    {FERRY_E_VERSION, "FERRY_E_VERSION", "unsupported channel layout version"},
    {FERRY_E_CORRUPT, "FERRY_E_CORRUPT", "channel control data is corrupt"},
    {FERRY_E_FULL, "FERRY_E_FULL", "channel is full"},
    {FERRY_E_TOOBIG, "FERRY_E_TOOBIG", "message larger than the channel allows"},
    {FERRY_E_AGAIN, "FERRY_E_AGAIN", "no message available"},
    {FERRY_E_TIMEOUT, "FERRY_E_TIMEOUT", "timed out"},
    {FERRY_E_EOF, "FERRY_E_EOF", "end of stream: every publisher closed"},
    {FERRY_E_PEERDEAD, "FERRY_E_PEERDEAD", "end of stream: every publisher is gone and one crashed"},
    {FERRY_E_CLOSED, "FERRY_E_CLOSED", "handle is closed"},
    {FERRY_E_STATE, "FERRY_E_STATE", "loan or message is no longer valid"},
    {FERRY_E_LIMIT, "FERRY_E_LIMIT", "limit reached"},
    {FERRY_E_SYS, "FERRY_E_SYS", "system call failed"},
    {FERRY_E_PERM, "FERRY_E_PERM", "permission denied"},
    {FERRY_E_NOMEM, "FERRY_E_NOMEM", "out of memory"},
    {FERRY_E_BUSY, "FERRY_E_BUSY", "channel lock held too long by another process"},
};

static int find(int code) {
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
    if (errors[i].code == code) return (int)i;
  return -1;
}

FERRY_API const char *ferry_strerror(int code) {
  int i = find(code);
  return i < 0 ? "unknown error" : errors[i].msg;
}

FERRY_API const char *ferry_err_name(int code) {
  int i = find(code);
  return i < 0 ? "FERRY_E_UNKNOWN" : errors[i].name;
}

FERRY_API const char *ferry_last_error(void) { return last_error; }

int ferry__err(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return code;
}

/* Map errno of a failed system call to a ferry code, keeping the detail. */
int ferry__errno(int code, const char *what) {
  int e = errno;
  if (code == 0) {
    switch (e) {
      case ENOENT: code = FERRY_E_NOTFOUND; break;
      case EEXIST: code = FERRY_E_EXISTS; break;
      case EACCES:
      case EPERM: code = FERRY_E_PERM; break;
      case ENOMEM:
      case ENOSPC: code = FERRY_E_NOMEM; break;
      case EINVAL: code = FERRY_E_INVAL; break;
      default: code = FERRY_E_SYS; break;
    }
  }
  return ferry__err(code, "%s: %s", what, strerror(e));
}
