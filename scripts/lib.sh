# shellcheck shell=bash
# Helpers shared by run.sh and the other scripts. Sourced, never executed.

# Bold arrows only on a terminal, so CI logs stay free of escape codes.
if [[ -t 2 ]]; then _ARROW=$'\033[1m==>\033[0m'; else _ARROW='==>'; fi
log()  { printf '%s %s\n' "$_ARROW" "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=0

# ensure_packages BINARY:PACKAGE... — installs the Debian packages whose binary is missing.
# Only as root on a system with apt-get; otherwise says exactly what to install.
ensure_packages() {
  local pair bin pkg missing=()
  for pair in "$@"; do
    bin=${pair%%:*}; pkg=${pair#*:}
    have "$bin" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  install_packages "${missing[@]}"
  for pair in "$@"; do
    have "${pair%%:*}" || die "'${pair%%:*}' still missing after installing ${pair#*:}"
  done
}

# install_packages PKG... — apt-get install (as root), for packages that bring no command to look for.
install_packages() {
  if [[ $(id -u) -ne 0 ]] || ! have apt-get; then
    die "missing: $*. Install them (Debian/Ubuntu: sudo apt-get install -y $*) and run again."
  fi
  log "installing Debian packages: $*"
  if ((APT_UPDATED == 0)); then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_status PORT PATH — HTTP status code of GET http://127.0.0.1:PORT/PATH, empty if unreachable.
# Plain bash so a fresh machine needs no curl.
http_status() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3
    local line=''
    IFS=' ' read -r -t 5 _ line _ <&3 || true
    printf '%s' "$line"
  ) 2>/dev/null
}

# redis_ping PORT — true when redis answers PONG.
redis_ping() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    # shellcheck disable=SC2016 # a literal RESP bulk-length marker
    printf '*1\r\n$4\r\nPING\r\n' >&3
    local reply=''
    read -r -t 5 reply <&3 || true
    [[ $reply == +PONG* ]]
  ) 2>/dev/null
}

# wait_until SECONDS PID DESCRIPTION COMMAND... — polls COMMAND until it succeeds; fails early if PID died.
wait_until() {
  local timeout=$1 pid=$2 what=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      warn "$what exited during startup"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      warn "$what not ready after ${timeout}s"
      return 1
    fi
    sleep 0.2
  done
}

# stop_pid PID NAME [GRACE_SECONDS] — SIGTERM, then SIGKILL after the grace period. Only ever our own pids.
stop_pid() {
  local pid=$1 name=$2 grace=${3:-15} i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.2
  done
  warn "$name (pid $pid) ignored SIGTERM for ${grace}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
