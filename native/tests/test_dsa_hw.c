/*
 * test_dsa_hw: the `dsa` engine on real Intel DSA hardware. Skips (exit 77)
 * with the probe's exact reason where no usable work queue exists (every
 * machine this project has run on so far). Where one exists: integrity from
 * 0 B to 64 MiB (split at the queue's max transfer), hot and cold, a batch of
 * many small copies, and a page fault on a fresh, never-touched destination.
 */
#include <sys/mman.h>

#include "util.h"

#define MiB (1ull << 20)

int main(void) {
  ferry_engine_probe_info pi;
  ferry_engine_config cfg = {.size = sizeof cfg, .options = "device=auto"};
  int r = ferry_engine_probe("dsa", &cfg, &pi);
  if (r != 1) {
    printf("SKIP: no usable DSA here: %s\n", pi.reason);
    return 77;
  }
  printf("dsa: %s\n", pi.reason);
  ferry_engine *e;
  OK(ferry_engine_open("dsa", &cfg, &e));
  uint64_t big = 64 * MiB;
  uint8_t *src = malloc(big), *dst = malloc(big);
  CHECK(src && dst);
  for (uint64_t i = 0; i < big; i++) src[i] = (uint8_t)(i * 131 + (i >> 12));
  memset(dst, 0, big);
  static _Alignas(64) ferry_completion c[512];
  for (uint64_t len = 0; len <= big; len = len ? len * 4 : 1) {
    for (uint32_t hint = FERRY_COPY_HOT; hint <= FERRY_COPY_COLD; hint++) {
      OK(ferry_engine_copy(e, dst, src, len, hint, &c[0]));
      OK(ferry_engine_wait(e, &c[0], FERRY_WAIT_SPIN, 10ll * 1000000000));
      CHECK(memcmp(dst, src, len) == 0);
    }
  }
  ferry_copy_desc d[512];
  for (int i = 0; i < 512; i++) d[i] = (ferry_copy_desc){.dst = dst + i * 4096, .src = src + i * 64, .len = 256, .comp = &c[i]};
  CHECK_RC(ferry_engine_submit(e, d, 512), 512);
  for (int i = 0; i < 512; i++) OK(ferry_engine_wait(e, &c[i], FERRY_WAIT_SPIN, 10ll * 1000000000));
  for (int i = 0; i < 512; i++) CHECK(memcmp(dst + i * 4096, src + i * 64, 256) == 0);
  /* never-touched destination pages: the device faults (no BOF), the engine recovers */
  uint8_t *fresh = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(fresh != MAP_FAILED);
  OK(ferry_engine_copy(e, fresh, src, 16 * MiB, FERRY_COPY_COLD, &c[0]));
  OK(ferry_engine_wait(e, &c[0], FERRY_WAIT_SPIN, 10ll * 1000000000));
  CHECK(memcmp(fresh, src, 16 * MiB) == 0);
  ferry_engine_stats st;
  OK(ferry_engine_stats_get(e, &st));
  printf("dsa hw: %llu jobs, %llu descriptors, %llu queue-full waits\n", (unsigned long long)st.jobs,
         (unsigned long long)st.chunks, (unsigned long long)st.full_waits);
  OK(ferry_engine_close(e));
  printf("dsa_hw: ok\n");
  return 0;
}
