/* sys/error.h — setting the calling thread's error detail (sys/error.c). */
#ifndef FERRY_SYS_ERROR_H
#define FERRY_SYS_ERROR_H

#include "ferry.h"

/* Record the detail of a failure for ferry_last_error(); returns code. */
int ferry__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for a failed system call: errno's text, and code 0 maps errno to a FERRY_E_* code. */
int ferry__errno(int code, const char *what);
/* Clear the detail before calling into an engine, so ferry__err_engine knows whether it set one. */
void ferry__err_clear(void);
/* An engine's return value as a FERRY_E_* code: > 0 and codes outside the list become FERRY_E_SYS;
 * a code without a detail from the engine gets one naming the engine. */
int ferry__err_engine(int code, const char *engine, const char *what);

#endif
