/* sys/error.c — error names, messages (from ferry/errors.h) and the per-thread detail of the last failure. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sys/error.h"

static _Thread_local char last_error[512];

static const struct {
  int code;
  const char *name;
  const char *msg;
} errors[] = {
    {FERRY_OK, "FERRY_OK", "success"},
#define FERRY__ERR_ROW(name, code, msg) {FERRY_E_##name, "FERRY_E_" #name, msg},
    FERRY_ERRNO_MAP(FERRY__ERR_ROW)
#undef FERRY__ERR_ROW
};

static int find(int code) {
  if (code > 0 || code < FERRY_E__LAST) return -1;
  return -code; /* the map is dense: row i holds code -i */
}

_Static_assert(sizeof errors / sizeof errors[0] == (size_t)(1 - FERRY_E__LAST), "error codes must be dense");

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

FERRY_API int ferry_set_error(int code, const char *msg) { return ferry__err(code, "%s", msg ? msg : ""); }

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

void ferry__err_clear(void) { last_error[0] = 0; }

int ferry__err_engine(int code, const char *engine, const char *what) {
  if (code >= 0 || code < FERRY_E__LAST) /* a plugin returned errno or -errno: never guess which code it meant */
    return ferry__err(FERRY_E_SYS, "engine '%s' %s returned %d, which is not a FERRY_E_* code", engine, what, code);
  if (!last_error[0]) ferry__err(code, "engine '%s' %s failed: %s", engine, what, ferry_strerror(code));
  return code;
}
