#!/usr/bin/env bash
# Makes sure the Debian command-line tools named as arguments are here (the
# @ferry/http tests need curl; its benchmark section can use wrk; the @ferry/mq
# tests and bench start nats-server and redis-server).
# Usage: scripts/ensure-tools.sh curl [wrk ...]
# Exit 0: all are (installed now if allowed); exit 3: some are not, and
# installing was not allowed or failed (the caller fails or skips, saying so).
#
# Installing: scripts/lib/apt-install.sh (only under CI=true or
# FERRY_INSTALL_DEPS=1, as root). Only the known tools below are installed
# (tool = Debian package name).
set -u

known() { case "$1" in curl|wrk|nats-server|redis-server) return 0 ;; *) return 1 ;; esac; }

missing=()
for t in "$@"; do
  known "$t" || { echo "ensure-tools: unknown tool \"$t\" (known: curl wrk nats-server redis-server)" >&2; exit 2; }
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[ ${#missing[@]} -eq 0 ] && exit 0

. "$(dirname "$0")/lib/apt-install.sh"
apt_install ensure-tools "${missing[@]}" || exit 3
for t in "${missing[@]}"; do
  command -v "$t" >/dev/null 2>&1 || { echo "ensure-tools: $t still missing after install" >&2; exit 3; }
done
