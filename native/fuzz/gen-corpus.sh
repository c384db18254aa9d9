#!/usr/bin/env bash
# Regenerate native/fuzz/corpus/ from real segments (gen_corpus.c); run after
# a change of the shared layout (shm/layout.h) or of image.h, and commit it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/../../scripts/ensure-clang.sh"
CC=clang cmake -S "$here" -B "$here/../build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$here/../build-fuzz" -j2 --target gen_corpus >/dev/null
rm -rf "$here/corpus/segment" "$here/corpus/channel"
mkdir -p "$here/corpus/segment" "$here/corpus/channel"
UBSAN_OPTIONS=halt_on_error=1 "$here/../build-fuzz/gen_corpus" "$here/corpus/segment" "$here/corpus/channel"
