#!/usr/bin/env bash
# ctest under sanitizers, in builds of their own beside the normal one
# (native's "test:sanitize", run by the test command):
#   native/build-asan  AddressSanitizer + UndefinedBehaviorSanitizer (FERRY_SANITIZE)
#   native/build-tsan  ThreadSanitizer (FERRY_TSAN)
# Both RelWithDebInfo without LTO or benchmarks, built with -j2. Any report
# fails the run: UBSan halts on the first error, ASan and TSan exit non-zero.
# TSan reads native/tests/tsan.supp: each entry carries the comment that
# justifies it (add none without one).
# FERRY_SANITIZERS="asan" (or "tsan") runs one of the two.
set -euo pipefail
native=$(cd "$(dirname "$0")/../native" && pwd)
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$native/tests/tsan.supp"
for san in ${FERRY_SANITIZERS:-asan tsan}; do
  case $san in
    asan) opt=-DFERRY_SANITIZE=ON ;;
    tsan) opt=-DFERRY_TSAN=ON ;;
    *) echo "native-sanitizers: unknown sanitizer '$san'" >&2; exit 2 ;;
  esac
  dir="$native/build-$san"
  start=$SECONDS
  cmake -S "$native" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_BENCH=OFF -DFERRY_LTO=OFF "$opt" >/dev/null
  cmake --build "$dir" -j2 >/dev/null
  echo "native-sanitizers: $san build ready ($((SECONDS - start)) s); ctest:"
  ctest --test-dir "$dir" --output-on-failure --timeout 300 | sed "s/^/[$san] /"
  echo "native-sanitizers: $san ok ($((SECONDS - start)) s)"
done
