/*
 * test_engine_registry: the registry (built-ins, register, list, unregister),
 * plugins loaded from shared libraries built by CMake (a working one driven
 * through a channel, a failing one, a wrong-ABI one, one without the entry
 * symbol).
 */
#include "util.h"

static uint8_t src[1 << 20], dst[1 << 20];

static int has_engine(const char *name) {
  char buf[512];
  int n = ferry_engine_list(buf, sizeof buf);
  CHECK(n >= 2);
  char *save, *tok;
  for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
    if (!strcmp(tok, name)) return 1;
  return 0;
}

/* ---- an engine registered from inside the process ---- */
static int ip_open(const ferry_engine_config *cfg, void **impl) {
  *impl = (void *)cfg->options; /* just to see options arrive */
  return 0;
}
static int ip_close(void *impl) { return 0; }
static int ip_submit(void *impl, const ferry_copy_desc *d, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    memcpy(d[i].dst, d[i].src, d[i].len);
    ferry_completion_finish(d[i].comp, 0);
  }
  return (int)n;
}
static const ferry_engine_ops inproc = {.abi = FERRY_ENGINE_ABI, .size = sizeof(ferry_engine_ops), .name = "inproc",
                                        .open = ip_open, .close = ip_close, .submit = ip_submit};

static void registry(void) {
  CHECK(has_engine("cpu") && has_engine("sw"));
  char tiny[4];
  CHECK(ferry_engine_list(tiny, sizeof tiny) >= 2 && strlen(tiny) < sizeof tiny);
  CHECK(ferry_engine_list(NULL, 0) >= 2);
  ferry_engine *e;
  CHECK_RC(ferry_engine_open("nope", NULL, &e), FERRY_E_NOTFOUND);
  CHECK_RC(ferry_engine_open("Bad Name", NULL, &e), FERRY_E_NAME);
  CHECK(e == NULL);

  OK(ferry_engine_register(&inproc));
  CHECK(has_engine("inproc"));
  CHECK_RC(ferry_engine_register(&inproc), FERRY_E_EXISTS);
  ferry_engine_ops bad = inproc;
  bad.name = "inproc2";
  bad.abi = FERRY_ENGINE_ABI + 1;
  CHECK_RC(ferry_engine_register(&bad), FERRY_E_VERSION);
  CHECK(strstr(ferry_last_error(), "ABI") != NULL);
  bad.abi = FERRY_ENGINE_ABI;
  bad.size = 8;
  CHECK_RC(ferry_engine_register(&bad), FERRY_E_VERSION);
  bad.size = sizeof bad;
  bad.submit = NULL;
  CHECK_RC(ferry_engine_register(&bad), FERRY_E_INVAL);
  bad.submit = ip_submit;
  bad.name = "UPPER";
  CHECK_RC(ferry_engine_register(&bad), FERRY_E_NAME);
  CHECK_RC(ferry_engine_register(NULL), FERRY_E_INVAL);

  /* open it with options, copy, caps default to zero, stats count submissions */
  ferry_engine_config cfg = {.options = "hello=1"};
  OK(ferry_engine_open("inproc", &cfg, &e));
  static ferry_completion c;
  memset(src, 7, 1000);
  OK(ferry_engine_copy(e, dst, src, 1000, FERRY_COPY_HOT, &c));
  OK(ferry_engine_wait(e, &c, FERRY_WAIT_HYBRID, -1));
  CHECK(memcmp(dst, src, 1000) == 0 && c.bytes_done == 1000);
  ferry_engine_caps caps;
  OK(ferry_engine_caps_get(e, &caps));
  CHECK(!strcmp(caps.name, "inproc") && caps.flags == 0);
  ferry_engine_stats st;
  OK(ferry_engine_stats_get(e, &st));
  CHECK(st.submitted == 1);
  CHECK_RC(ferry_engine_unregister("inproc"), FERRY_E_BUSY);
  OK(ferry_engine_close(e));
  OK(ferry_engine_unregister("inproc"));
  CHECK(!has_engine("inproc"));
  CHECK_RC(ferry_engine_unregister("cpu"), FERRY_E_PERM);
  CHECK_RC(ferry_engine_unregister("inproc"), FERRY_E_NOTFOUND);
  printf("registry: ok\n");
}

/* ---- the working plugin, driven through a channel ---- */
static void plugin_messages(void) {
  char name[64];
  OK(ferry_engine_load(PLUGIN_TESTPLUG, name, sizeof name));
  CHECK(!strcmp(name, "testplug") && has_engine("testplug"));
  CHECK_RC(ferry_engine_load(PLUGIN_TESTPLUG, NULL, 0), FERRY_E_EXISTS);
  ferry_engine *e;
  OK(ferry_engine_open("testplug", NULL, &e));
  ferry_engine_caps caps;
  OK(ferry_engine_caps_get(e, &caps));
  CHECK(caps.max_batch == 64 && (caps.flags & FERRY_CAP_ASYNC) && caps.max_transfer == 1ull << 30);

  /* partial acceptance: 100 descriptors, the plugin holds at most 64 */
  enum { N = 100 };
  static ferry_completion comp[N];
  ferry_copy_desc d[N];
  for (int i = 0; i < N; i++) {
    for (int k = 0; k < 1000; k++) src[i * 1000 + k] = (uint8_t)(i + k);
    d[i] = (ferry_copy_desc){.dst = dst + i * 1000, .src = src + i * 1000, .len = 1000, .comp = &comp[i]};
  }
  int r = ferry_engine_submit(e, d, N);
  CHECK_RC(r, 64);
  CHECK(comp[63].status == FERRY_JOB_PENDING && comp[64].status == FERRY_JOB_IDLE);
  CHECK_RC(ferry_engine_poll(e, &comp[0]), 1); /* the plugin copies when polled */
  CHECK_RC(ferry_engine_submit(e, d + 64, N - 64), N - 64);
  for (int i = 0; i < N; i++) OK(ferry_engine_wait(e, &comp[i], (uint32_t)(i % 3), -1));
  CHECK(memcmp(dst, src, N * 1000) == 0);
  CHECK_RC(ferry_engine_copy(e, dst, src, (1ull << 30) + 1, 0, &comp[0]), FERRY_E_TOOBIG);

  /* messages: loan, copy into the arena through the plugin, publish, receive */
  test_init("engreg");
  ferry_channel *ch;
  ferry_pub *pub;
  ferry_sub *sub;
  OK(ferry_channel_create(test_name("msg"), 4u << 20, 64, 0, &ch));
  OK(ferry_pub_open(ch, FERRY_BP_ERROR, 0, &pub));
  OK(ferry_sub_open(ch, NULL, &sub));
  ferry_channel_info ci;
  OK(ferry_channel_info_get(ch, &ci));
  uint8_t *arena = (uint8_t *)(uintptr_t)ferry_pub_arena(pub);
  const uint8_t *ro = (const uint8_t *)(uintptr_t)ci.arena_ro;
  uint64_t seed = 99;
  for (int m = 0; m < 50; m++) {
    uint64_t len = 1 + xorshift(&seed) % (256 * 1024);
    for (uint64_t k = 0; k < len; k++) src[k] = (uint8_t)(m * 31 + k);
    ferry_msg_info li, ri;
    OK(ferry_pub_loan(pub, len, &li));
    OK(ferry_engine_copy(e, arena + li.offset, src, len, FERRY_COPY_HOT, &comp[0]));
    OK(ferry_engine_wait(e, &comp[0], FERRY_WAIT_SPIN, -1));
    OK(ferry_pub_publish(pub, li.token, len, NULL, 0, &li));
    OK(ferry_sub_try_receive(sub, &ri));
    CHECK(ri.length == len && memcmp(ro + ri.offset, src, len) == 0);
    OK(ferry_sub_release(sub, ri.token));
  }
  ferry_engine_stats st;
  OK(ferry_engine_stats_get(e, &st));
  CHECK(st.jobs == N + 50 && st.submitted == N + 50);
  printf("plugin testplug: %d messages through a channel ok\n", 50);

  CHECK_RC(ferry_engine_unregister("testplug"), FERRY_E_BUSY);
  OK(ferry_engine_close(e));
  OK(ferry_engine_unregister("testplug")); /* dlclose */
  OK(ferry_engine_load(PLUGIN_TESTPLUG, NULL, 0)); /* and back */
  OK(ferry_engine_unregister("testplug"));

  /* the failing plugin: the error surfaces on the job, and the loan is given back */
  OK(ferry_engine_load(PLUGIN_FAILPLUG, name, sizeof name));
  CHECK(!strcmp(name, "failplug"));
  OK(ferry_engine_open("failplug", NULL, &e));
  for (int m = 0; m < 3; m++) {
    ferry_msg_info li;
    OK(ferry_pub_loan(pub, ci.arena_size, &li)); /* the whole arena: a leaked loan would fail the next one */
    int rc = ferry_engine_copy(e, arena + li.offset, src, 4096, 0, &comp[0]);
    CHECK_RC(rc, FERRY_E_SYS);
    CHECK(strstr(ferry_last_error(), "refused") != NULL);
    CHECK(comp[0].status == FERRY_JOB_ERROR && comp[0].error == FERRY_E_SYS);
    CHECK_RC(ferry_engine_wait(e, &comp[0], FERRY_WAIT_BLOCK, -1), FERRY_E_SYS);
    CHECK_RC(ferry_engine_poll(e, &comp[0]), FERRY_E_SYS);
    OK(ferry_pub_unloan(pub, li.token));
  }
  OK(ferry_engine_close(e));
  /* failing asynchronously: accepted, then finished with an error and a partial prefix */
  ferry_engine_config acfg = {.options = "mode=async"};
  OK(ferry_engine_open("failplug", &acfg, &e));
  OK(ferry_engine_copy(e, dst, src, 5000, 0, &comp[1]));
  CHECK(comp[1].status == FERRY_JOB_PENDING);
  CHECK_RC(ferry_engine_wait(e, &comp[1], FERRY_WAIT_HYBRID, -1), FERRY_E_SYS);
  CHECK(comp[1].status == FERRY_JOB_ERROR && comp[1].bytes_done == 2500);
  OK(ferry_engine_stats_get(e, &st));
  CHECK(st.errors == 1 && st.jobs == 0);
  /* closing with a job accepted and not yet polled still finishes it */
  OK(ferry_engine_copy(e, dst, src, 100, 0, &comp[2]));
  OK(ferry_engine_close(e));
  CHECK(comp[2].status == FERRY_JOB_ERROR);
  OK(ferry_engine_unregister("failplug"));
  printf("plugin failplug: errors surface on the job ok\n");

  OK(ferry_sub_close(sub));
  OK(ferry_pub_close(pub));
  OK(ferry_channel_close(ch));
  CHECK_NO_LEFTOVERS();
}

static void bad_plugins(void) {
  CHECK_RC(ferry_engine_load(PLUGIN_BADABI, NULL, 0), FERRY_E_VERSION);
  printf("badabi: %s\n", ferry_last_error());
  CHECK(strstr(ferry_last_error(), "999") != NULL);
  CHECK(!has_engine("badabi"));
  CHECK_RC(ferry_engine_load(PLUGIN_NOENTRY, NULL, 0), FERRY_E_NOTFOUND);
  printf("noentry: %s\n", ferry_last_error());
  CHECK(strstr(ferry_last_error(), FERRY_ENGINE_ENTRY) != NULL);
  CHECK(!has_engine("noentry"));
  CHECK_RC(ferry_engine_load("/nonexistent/libnothing.so", NULL, 0), FERRY_E_NOTFOUND);
  CHECK_RC(ferry_engine_load("", NULL, 0), FERRY_E_INVAL);
  CHECK_RC(ferry_engine_load("/etc/passwd", NULL, 0), FERRY_E_SYS); /* exists, not a library */
  printf("bad plugins rejected: ok\n");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  registry();
  plugin_messages();
  bad_plugins();
  printf("engine_registry: ok\n");
  return 0;
}
