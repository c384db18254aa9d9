#!/usr/bin/env bash
# Regenerates samples/speech.wav (shipped in the repo, ~4 s, 22.05 kHz 16-bit mono)
# with espeak-ng from Debian (apt-get install espeak-ng). Not needed to run the app.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v espeak-ng >/dev/null || { echo "make-speech: needs espeak-ng (apt-get install espeak-ng)" >&2; exit 3; }
espeak-ng -s 160 -w samples/speech.wav "Ferry moves large tensors between processes through shared memory."
