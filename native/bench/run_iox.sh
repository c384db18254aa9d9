#!/usr/bin/env bash
# run_iox.sh — run bench_iox_pingpong against a private iox-roudi:
# start RouDi with roudi_config.toml, wait until it is ready, run the
# benchmark (arguments are passed through: --json, --quick, -n N, --size B),
# stop RouDi cleanly and remove every file it and the benchmark left.
#
#   native/bench/run_iox.sh [--json] [--quick] ...
#
# Exit status: the benchmark's; 77 = skipped (iceoryx not installed, binary
# not built, or another RouDi already running). With --json only the
# benchmark's JSON lines go to stdout; everything else goes to stderr.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${FERRY_IOX_BIN:-}"
if [[ -z "$BIN" ]]; then
  for c in "$HERE/bench_iox_pingpong" "$HERE/../build/bench/bench_iox_pingpong"; do
    [[ -x "$c" ]] && { BIN="$c"; break; }
  done
fi
CFG="${FERRY_IOX_ROUDI_CFG:-$HERE/roudi_config.toml}"
SHM_USER="$(id -un)"   # RouDi names its payload segment /dev/shm/<user>
ROUDI_PID=""
BENCH_PID=""
LOG=""
# Everything iceoryx 2.0.x creates: RouDi's management and payload segments,
# its socket and locks, and the two runtimes of the benchmark (socket + lock each).
ARTIFACTS=(/dev/shm/iceoryx_mgmt "/dev/shm/$SHM_USER"
           /tmp/roudi /tmp/roudi.lock /tmp/iox-unique-roudi.lock
           /tmp/ferry-bench-iox-ping /tmp/ferry-bench-iox-ping.lock
           /tmp/ferry-bench-iox-pong /tmp/ferry-bench-iox-pong.lock)

log() { echo "run_iox: $*" >&2; }

cleanup() {
  local rc=$?
  # stop the benchmark first: RouDi may abort if killed while clients are registered
  if [[ -n "$BENCH_PID" ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM -- "-$BENCH_PID" 2>/dev/null || kill -TERM "$BENCH_PID" 2>/dev/null
    wait "$BENCH_PID" 2>/dev/null
  fi
  if [[ -n "$ROUDI_PID" ]] && kill -0 "$ROUDI_PID" 2>/dev/null; then
    kill -TERM "$ROUDI_PID"            # RouDi takes ~1.5 s to shut down cleanly
    for _ in $(seq 100); do kill -0 "$ROUDI_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$ROUDI_PID" 2>/dev/null; then
      log "iox-roudi did not exit on SIGTERM within 10 s, sending SIGKILL"
      kill -KILL "$ROUDI_PID" 2>/dev/null
    fi
    wait "$ROUDI_PID" 2>/dev/null
  fi
  if [[ -n "$ROUDI_PID" ]]; then       # only clean up after a RouDi we started
    local left=()
    for f in "${ARTIFACTS[@]}"; do [[ -e "$f" || -S "$f" ]] && left+=("$f"); done
    if ((${#left[@]})); then
      log "removing leftovers: ${left[*]}"
      rm -f -- "${left[@]}"
    fi
  fi
  [[ -n "$LOG" ]] && rm -f -- "$LOG"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v iox-roudi >/dev/null || { log "iox-roudi not installed (apt-get install iceoryx libiceoryx-binding-c-dev): skip"; exit 77; }
[[ -n "$BIN" && -x "$BIN" ]] || { log "bench_iox_pingpong not built (needs find_package(iceoryx_binding_c)): skip"; exit 77; }
[[ -f "$CFG" ]] || { log "RouDi config $CFG missing"; exit 1; }

# A second RouDi would fight over the same /dev/shm and /tmp names: refuse.
if pgrep -x iox-roudi >/dev/null; then
  log "another iox-roudi is already running; not starting a second one: skip"
  exit 77
fi
# Stale files of a crashed RouDi (none running, checked above): start clean.
rm -f -- "${ARTIFACTS[@]}"

LOG="$(mktemp /tmp/ferry-iox-roudi-log.XXXXXX)"
# -m off: no process monitoring (no "not responding" removals of busy-polling clients)
iox-roudi -m off -c "$CFG" >"$LOG" 2>&1 &
ROUDI_PID=$!

ready=0
for _ in $(seq 100); do   # up to 10 s
  if grep -q "RouDi is ready for clients" "$LOG"; then ready=1; break; fi
  kill -0 "$ROUDI_PID" 2>/dev/null || break
  sleep 0.1
done
if ((!ready)); then
  log "iox-roudi did not become ready; its log:"; cat "$LOG" >&2; exit 1
fi

# Own process group (set -m), so cleanup can signal the benchmark and its child.
set -m
timeout 120 "$BIN" "$@" &
BENCH_PID=$!
set +m
wait "$BENCH_PID"; brc=$?
BENCH_PID=""
((brc == 0)) || log "benchmark failed with status $brc"
exit "$brc"
