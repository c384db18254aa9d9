/*
 * test_engine_abi2: what engine ABI 2 adds — the probe op and
 * ferry_engine_probe, the per-descriptor chunk hint, the range check of
 * engine return codes (a plugin's -errno never poses as a FERRY_E_* code),
 * the refusal of a v1 plugin, the opaque host word, the error list's end and
 * named constants.
 */
#include "util.h"

static uint8_t src[4 << 20], dst[4 << 20];

/* ---- in-process engines ---- */
static int ok_open(const ferry_engine_config *cfg, void **impl) {
  *impl = NULL;
  return 0;
}
static int errno_open(const ferry_engine_config *cfg, void **impl) { return -95; /* -EOPNOTSUPP, not a ferry code */ }
static int ok_close(void *impl) { return 0; }
static int errno_submit(void *impl, const ferry_copy_desc *d, uint32_t n) { return -22; /* -EINVAL */ }
static int finish_errno_submit(void *impl, const ferry_copy_desc *d, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) ferry_completion_finish(d[i].comp, -22);
  return (int)n;
}
static int probe_no(const ferry_engine_config *cfg, ferry_engine_probe_info *out) {
  out->available = 0;
  snprintf(out->reason, sizeof out->reason, "no device here (options: %s)", cfg->options ? cfg->options : "-");
  return 0;
}
static int probe_fails(const ferry_engine_config *cfg, ferry_engine_probe_info *out) { return -95; /* -EOPNOTSUPP */ }
static int probe_ferry_code(const ferry_engine_config *cfg, ferry_engine_probe_info *out) { return FERRY_E_PERM; }

#define OPS(nm, op, sub, pr) \
  {.abi = FERRY_ENGINE_ABI, .size = sizeof(ferry_engine_ops), .name = nm, .open = op, .close = ok_close, .submit = sub, .probe = pr}
static const ferry_engine_ops e_errno_open = OPS("errno-open", errno_open, errno_submit, NULL);
static const ferry_engine_ops e_errno_submit = OPS("errno-submit", ok_open, errno_submit, NULL);
static const ferry_engine_ops e_errno_finish = OPS("errno-finish", ok_open, finish_errno_submit, NULL);
static const ferry_engine_ops e_probe_no = OPS("probe-no", ok_open, finish_errno_submit, probe_no);
static const ferry_engine_ops e_probe_fails = OPS("probe-fails", ok_open, finish_errno_submit, probe_fails);
static const ferry_engine_ops e_probe_perm = OPS("probe-perm", ok_open, finish_errno_submit, probe_ferry_code);

static void probe(void) {
  ferry_engine_probe_info pi;
  CHECK_RC(ferry_engine_probe("cpu", NULL, &pi), 1);
  CHECK(pi.available == 1 && pi.size == sizeof pi && strstr(pi.reason, "stores") && (pi.flags & FERRY_CAP_CACHE_HINTS));
  ferry_engine_config one = {.threads = 1};
  CHECK_RC(ferry_engine_probe("sw", &one, &pi), 1);
  CHECK(strstr(pi.reason, "1 copy thread") && (pi.flags & FERRY_CAP_ASYNC));
  ferry_engine_config many = {.threads = 65};
  CHECK_RC(ferry_engine_probe("sw", &many, &pi), 0);
  CHECK(pi.available == 0 && strstr(pi.reason, "at most"));
  CHECK_RC(ferry_engine_probe("nope", NULL, &pi), FERRY_E_NOTFOUND);
  CHECK_RC(ferry_engine_probe("BAD", NULL, &pi), FERRY_E_NAME);
  CHECK_RC(ferry_engine_probe("cpu", NULL, NULL), FERRY_E_INVAL);
  OK(ferry_engine_register(&e_probe_no));
  ferry_engine_config opt = {.options = "k=v"};
  CHECK_RC(ferry_engine_probe("probe-no", &opt, &pi), 0);
  CHECK(strstr(pi.reason, "no device here (options: k=v)") != NULL);
  OK(ferry_engine_register(&e_probe_fails));
  CHECK_RC(ferry_engine_probe("probe-fails", NULL, &pi), FERRY_E_SYS);
  CHECK(strstr(ferry_last_error(), "probe-fails") && strstr(ferry_last_error(), "-95"));
  /* a FERRY_E_* code without a detail of its own gets one naming the engine */
  OK(ferry_engine_register(&e_probe_perm));
  CHECK_RC(ferry_engine_probe("probe-perm", NULL, &pi), FERRY_E_PERM);
  CHECK(strstr(ferry_last_error(), "engine 'probe-perm' probe failed") != NULL);
  OK(ferry_engine_unregister("probe-perm"));
  OK(ferry_engine_register(&e_errno_submit)); /* no probe op: assumed available, and says so */
  CHECK_RC(ferry_engine_probe("errno-submit", NULL, &pi), 1);
  CHECK(strstr(pi.reason, "no probe op") != NULL);
  /* a probe does not open: unregistering right after works */
  OK(ferry_engine_unregister("probe-no"));
  OK(ferry_engine_unregister("probe-fails"));
}

static void errno_range(void) {
  ferry_engine *e;
  static ferry_completion c;
  OK(ferry_engine_register(&e_errno_open));
  CHECK_RC(ferry_engine_open("errno-open", NULL, &e), FERRY_E_SYS);
  CHECK(strstr(ferry_last_error(), "-95") && strstr(ferry_last_error(), "not a FERRY_E_* code"));
  OK(ferry_engine_open("errno-submit", NULL, &e));
  CHECK_RC(ferry_engine_copy(e, dst, src, 100, 0, &c), FERRY_E_SYS);
  CHECK(strstr(ferry_last_error(), "submit returned -22") != NULL);
  CHECK(c.status == FERRY_JOB_ERROR && c.error == FERRY_E_SYS);
  OK(ferry_engine_close(e));
  OK(ferry_engine_register(&e_errno_finish));
  OK(ferry_engine_open("errno-finish", NULL, &e));
  OK(ferry_engine_copy(e, dst, src, 100, 0, &c));
  CHECK_RC(ferry_engine_wait(e, &c, FERRY_WAIT_BLOCK, -1), FERRY_E_SYS);
  CHECK(c.error == FERRY_E_SYS);
  OK(ferry_engine_close(e));
  for (const char *n = "errno-open"; n; n = strcmp(n, "errno-open") == 0 ? "errno-submit" : strcmp(n, "errno-submit") == 0 ? "errno-finish" : NULL)
    OK(ferry_engine_unregister(n));
}

static void v1_plugin(void) {
  char name[32];
  CHECK_RC(ferry_engine_load(PLUGIN_V1ABI, name, sizeof name), FERRY_E_VERSION);
  CHECK(strstr(ferry_last_error(), "engine ABI 1, libferry speaks 2") && strstr(ferry_last_error(), "rebuild"));
}

static void chunk_hint_and_host(void) {
  ferry_engine *e;
  ferry_engine_config cfg = {.threads = 1, .chunk_bytes = 1 << 20};
  OK(ferry_engine_open("sw", &cfg, &e));
  for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 7 + 1);
  static ferry_completion c;
  ferry_copy_desc d = {.dst = dst, .src = src, .len = 4 << 20, .chunk = 64 << 10, .comp = &c};
  CHECK_RC(ferry_engine_submit(e, &d, 1), 1);
  OK(ferry_engine_wait(e, &c, FERRY_WAIT_HYBRID, -1));
  CHECK(memcmp(dst, src, sizeof src) == 0 && c.host == 0);
  ferry_engine_stats st;
  OK(ferry_engine_stats_get(e, &st));
  CHECK(st.chunks == 64); /* 4 MiB in 64 KiB chunks, not 4 in the engine's 1 MiB */
  d.chunk = 100;          /* below the engine's minimum: its own chunk size */
  CHECK_RC(ferry_engine_submit(e, &d, 1), 1);
  OK(ferry_engine_wait(e, &c, FERRY_WAIT_BLOCK, -1));
  OK(ferry_engine_stats_get(e, &st));
  CHECK(st.chunks == 64 + 4);
  OK(ferry_engine_close(e));
}

static void errors_and_constants(void) {
  CHECK(strcmp(ferry_err_name(FERRY_E__LAST), "FERRY_E_UNKNOWN") != 0);
  CHECK(strcmp(ferry_err_name(FERRY_E__LAST - 1), "FERRY_E_UNKNOWN") == 0);
  CHECK(strcmp(ferry_err_name(1), "FERRY_E_UNKNOWN") == 0);
  for (int c = -1; c >= FERRY_E__LAST; c--) CHECK(strncmp(ferry_err_name(c), "FERRY_E_", 8) == 0 && strcmp(ferry_strerror(c), "unknown error"));
  CHECK(ferry_constant("HEADER_MAX") == FERRY_HEADER_MAX && ferry_constant("WAIT_HYBRID") == FERRY_WAIT_HYBRID);
  CHECK(ferry_constant("ENGINE_ABI") == 2 && ferry_constant("SEND_COPY_MAX") == FERRY_SEND_COPY_MAX);
  CHECK_RC((int)ferry_constant("NO_SUCH"), FERRY_E_NOTFOUND);
  uint64_t t0 = ferry_now_ns();
  usleep(2000);
  CHECK(ferry_now_ns() - t0 >= 2000000);
  CHECK(ferry_sizeof_completion() == 128 && ferry_sizeof_engine_probe_info() == sizeof(ferry_engine_probe_info));
}

int main(void) {
  probe();
  errno_range();
  v1_plugin();
  chunk_hint_and_host();
  errors_and_constants();
  printf("test_engine_abi2: ok\n");
  return 0;
}
