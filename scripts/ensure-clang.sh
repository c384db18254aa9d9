#!/usr/bin/env bash
# Makes sure clang with libFuzzer (Debian: clang + libclang-rt-dev) is here for
# native/fuzz/run.sh. Exit 0: it is (installed now if allowed); exit 3: it is
# not, and installing was not allowed or failed (the caller skips, saying so).
#
# Installing is allowed only under CI (CI=true) or with FERRY_INSTALL_DEPS=1,
# and needs root and apt-get: a developer's machine is never changed unasked.
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

if [ "${CI:-}" != true ] && [ "${FERRY_INSTALL_DEPS:-}" != 1 ]; then
  echo "ensure-clang: no clang with libFuzzer here; not installing it (only when CI=true or FERRY_INSTALL_DEPS=1;" \
    "or: apt-get install clang libclang-rt-dev)" >&2
  exit 3
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-clang: no clang with libFuzzer, and no root apt-get to install it" >&2
  exit 3
fi
echo "ensure-clang: installing clang and libclang-rt-dev (libFuzzer) from Debian" >&2
install() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends clang libclang-rt-dev >/dev/null; }
install || { apt-get -o DPkg::Lock::Timeout=300 update >/dev/null && install; } || {
  echo "ensure-clang: apt-get install clang libclang-rt-dev failed" >&2
  exit 3
}
probe || { echo "ensure-clang: clang installed but cannot link a libFuzzer target" >&2; exit 3; }
echo "ensure-clang: $(clang --version | head -n 1)" >&2
