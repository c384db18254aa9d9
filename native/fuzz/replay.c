/*
 * replay — runs a fuzz target's inputs once each without libFuzzer, so any
 * compiler can check the corpus and the saved crash inputs (ctest
 * fuzz_replay_<target>, also under the ASan/UBSan and TSan builds).
 *
 *   fuzz_replay_<target> <file or folder>...
 *
 * A crash or a sanitizer report fails it; a missing folder counts as empty.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap && !(buf = realloc(buf, cap = cap ? cap * 2 : 4096))) abort();
    size_t n = fread(buf + len, 1, cap - len, f);
    if (n == 0) break;
    len += n;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 1;
}

static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  if (!S_ISDIR(st.st_mode)) return run_file(path);
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0) continue;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", path, de->d_name);
    int r = run_path(p);
    if (r < 0) return r;
    n += r;
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  int total = 0;
  for (int i = 1; i < argc; i++) {
    int n = run_path(argv[i]);
    if (n < 0) return 1;
    total += n;
  }
  printf("%s: %d inputs replayed, none crashed\n", argv[0], total);
  return total > 0 ? 0 : 77;
}
