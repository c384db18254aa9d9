#!/usr/bin/env bash
# Makes sure clang with libFuzzer (Debian: clang + libclang-rt-dev) is here for
# native/fuzz/run.sh. Exit 0: it is (installed now if allowed); exit 3: it is
# not, and installing was not allowed or failed (the caller skips, saying so).
#
# Installing: scripts/lib/apt-install.sh (only under CI=true or
# FERRY_INSTALL_DEPS=1, as root).
set -u

probe() { # can clang build and link a libFuzzer target with ASan + UBSan?
  command -v clang >/dev/null 2>&1 || return 1
  local dir
  dir=$(mktemp -d) || return 1
  printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' >"$dir/t.c"
  clang -fsanitize=fuzzer,address,undefined "$dir/t.c" -o "$dir/t" >/dev/null 2>&1
  local rc=$?
  rm -rf "$dir"
  return $rc
}

probe && exit 0

. "$(dirname "$0")/lib/apt-install.sh"
apt_install ensure-clang clang libclang-rt-dev || exit 3
probe || { echo "ensure-clang: clang installed but cannot link a libFuzzer target" >&2; exit 3; }
echo "ensure-clang: $(clang --version | head -n 1)" >&2
