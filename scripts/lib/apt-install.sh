# Sourced by scripts/ensure-*.sh: install Debian packages when that is allowed.
#   apt_install <who> <package>...   exit status 0 installed, 3 not allowed or failed
# Allowed only under CI (CI=true) or with FERRY_INSTALL_DEPS=1, as root with
# apt-get: a developer's machine is never changed unasked. The apt lock is
# waited for (another install may run), and the index is refreshed once if the
# first try fails.
apt_install() {
  local who=$1
  shift
  if [ "${CI:-}" != true ] && [ "${FERRY_INSTALL_DEPS:-}" != 1 ]; then
    echo "$who: missing $*; not installing (only when CI=true or FERRY_INSTALL_DEPS=1; or: apt-get install $*)" >&2
    return 3
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: missing $*, and no root apt-get to install it" >&2
    return 3
  fi
  echo "$who: installing $* from Debian" >&2
  local run=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
  "${run[@]}" install -y --no-install-recommends "$@" >/dev/null ||
    { "${run[@]}" update >/dev/null && "${run[@]}" install -y --no-install-recommends "$@" >/dev/null; } || {
    echo "$who: apt-get install $* failed" >&2
    return 3
  }
}
