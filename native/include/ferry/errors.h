/*
 * ferry/errors.h — the one list of libferry's error codes. The enum, the
 * names and the messages (ferry_err_name, ferry_strerror) are generated from
 * it, and JS reads the names from the library at load. Codes are dense,
 * negative and stable: a new code is added at the end, before FERRY_E__LAST.
 */
#ifndef FERRY_ERRORS_H
#define FERRY_ERRORS_H

#define FERRY_ERRNO_MAP(XX)                                                                 \
  XX(INVAL, -1, "invalid argument")                                                         \
  XX(NAME, -2, "invalid channel name")                                                      \
  XX(EXISTS, -3, "a live channel with this name already exists")                            \
  XX(NOTFOUND, -4, "no channel with this name")                                             \
  XX(BADMAGIC, -5, "shared memory segment is not a ferry channel")                          \
  XX(VERSION, -6, "unsupported channel layout version")                                     \
  XX(CORRUPT, -7, "channel control data is corrupt")                                        \
  XX(FULL, -8, "channel is full")                                                           \
  XX(TOOBIG, -9, "message larger than the channel allows")                                  \
  XX(AGAIN, -10, "no message available")                                                    \
  XX(TIMEOUT, -11, "timed out")                                                             \
  XX(EOF, -12, "end of stream: every publisher closed")                                     \
  XX(PEERDEAD, -13, "end of stream: every publisher is gone and one crashed")               \
  XX(CLOSED, -14, "handle is closed")                                                       \
  XX(STATE, -15, "loan or message is no longer valid")                                      \
  XX(LIMIT, -16, "limit reached")                                                           \
  XX(SYS, -17, "system call failed")                                                        \
  XX(PERM, -18, "permission denied")                                                        \
  XX(NOMEM, -19, "out of memory")                                                           \
  XX(BUSY, -20, "channel lock held too long by another process")

/* Error codes: 0 or a negative FERRY_E_*; JS maps them to FerryError.code names. */
enum ferry_error {
  FERRY_OK = 0,
#define FERRY__ERR_ENUM(name, code, msg) FERRY_E_##name = code,
  FERRY_ERRNO_MAP(FERRY__ERR_ENUM)
#undef FERRY__ERR_ENUM
  FERRY_E__LAST = -20 /* the most negative code: everything below it is not libferry's */
};

#endif /* FERRY_ERRORS_H */
