/* version.c — version, ABI number, struct sizes and named constants for FFI callers. */
#include <string.h>

#include "ferry.h"
#include "sys/error.h"

#ifndef FERRY_VERSION_STRING
#error "FERRY_VERSION_STRING comes from CMake (native/package.json)"
#endif

FERRY_API const char *ferry_version(void) { return FERRY_VERSION_STRING; }
FERRY_API int ferry_abi_version(void) { return FERRY_ABI_VERSION; }

FERRY_API size_t ferry_sizeof_msg_info(void) { return sizeof(ferry_msg_info); }
FERRY_API size_t ferry_sizeof_channel_info(void) { return sizeof(ferry_channel_info); }
FERRY_API size_t ferry_sizeof_stats(void) { return sizeof(ferry_stats); }
FERRY_API size_t ferry_sizeof_completion(void) { return sizeof(ferry_completion); }
FERRY_API size_t ferry_sizeof_copy_desc(void) { return sizeof(ferry_copy_desc); }
FERRY_API size_t ferry_sizeof_engine_config(void) { return sizeof(ferry_engine_config); }
FERRY_API size_t ferry_sizeof_engine_caps(void) { return sizeof(ferry_engine_caps); }
FERRY_API size_t ferry_sizeof_engine_stats(void) { return sizeof(ferry_engine_stats); }
FERRY_API size_t ferry_sizeof_engine_probe_info(void) { return sizeof(ferry_engine_probe_info); }

/* Every constant an FFI caller keeps a copy of, by its name without FERRY_. */
#define FERRY_CONSTANTS(X)                                                                        \
  X(ABI_VERSION) X(ENGINE_ABI) X(NAME_MAX) X(HEADER_MAX) X(GROUP_MAX) X(MAX_PARTICIPANTS)         \
  X(MAX_CONSUMERS) X(MAX_HELD) X(MAX_JOBS) X(SEND_COPY_MAX) X(ENGINE_NAME_MAX) X(ENGINE_MAX)      \
  X(WAIT_SPIN) X(WAIT_BLOCK) X(WAIT_HYBRID) X(BP_BLOCK) X(BP_ERROR) X(BP_DROP_OLDEST)             \
  X(SEND_OFFLOAD) X(SEND_PIPELINED) X(COPY_AUTO) X(COPY_HOT) X(COPY_COLD) X(MSG_PIPELINED)        \
  X(MSG_INLINE) X(INLINE_MAX)                                                                     \
  X(JOB_IDLE) X(JOB_PENDING) X(JOB_DONE) X(JOB_ERROR) X(CAP_ASYNC) X(CAP_CACHE_HINTS)             \
  X(CAP_PROGRESS) X(CAP_BATCH) X(CAP_HOST_CPU) X(ENGINE_F_DRAIN) X(TRUST_GROUP_WRITE) X(TRUST_WORLD_WRITE) \
  X(FAULT_EXIT)                                                                                   \
  X(ARM_NO_REAP)

FERRY_API int64_t ferry_constant(const char *name) {
  if (!name) return ferry__err(FERRY_E_INVAL, "constant name is NULL");
#define FERRY_CONST_CASE(n) \
  if (!strcmp(name, #n)) return (int64_t)(FERRY_##n);
  FERRY_CONSTANTS(FERRY_CONST_CASE)
#undef FERRY_CONST_CASE
  return ferry__err(FERRY_E_NOTFOUND, "no constant FERRY_%s", name);
}
