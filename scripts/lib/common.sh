# shellcheck shell=bash
# Helpers shared by the project's scripts (sourced, never run): messages,
# option checks, free ports, the private MariaDB topology, processes and
# packages. A script sets SC_NAME (the prefix of its messages) and sources
# this file after `set -euo pipefail`; it defines ROOT (the project root)
# and TOPOLOGY (scripts/topology.sh).
#
# Owns: nothing a script measures or checks; only the plumbing around it.

: "${SC_NAME:=$(basename "${BASH_SOURCE[-1]}" .sh)}"
SC_SCRIPT="$(cd "$(dirname "${BASH_SOURCE[-1]}")" && pwd)/$(basename "${BASH_SOURCE[-1]}")"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOPOLOGY="$ROOT/scripts/topology.sh"
export PATH="$PATH:/usr/sbin:/sbin"

note() { printf '%s: %s\n' "$SC_NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$SC_NAME" "$*" >&2; exit 1; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# usage: the running script's header comment, from line SC_USAGE_FROM
# (default 3, after the shellcheck line) to `set -euo pipefail`.
usage() {
  sed -n "${SC_USAGE_FROM:-3},/^set -euo/p" "$SC_SCRIPT" | sed '$d; s/^# \{0,1\}//'
}

# ---------------------------------------------------------------- ports

port_free() {
  local port=$1
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 1; fi
  if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    return 1
  fi
  return 0
}

# find_base_port FROM COUNT: the first base >= FROM (step 10) with COUNT
# free consecutive ports.
find_base_port() {
  local base=$1 count=$2 i ok
  while ((base <= 65000)); do
    ok=1
    for ((i = 0; i < count; i++)); do
      if ! port_free $((base + i)); then ok=0; break; fi
    done
    if ((ok)); then echo "$base"; return 0; fi
    base=$((base + 10))
  done
  return 1
}

# topology_up WORK FROM COUNT: brings the MariaDB test topology up under
# WORK on the first COUNT free ports from FROM (three attempts, the next
# one past ports a failed start may have half-used). Sets BASE and
# TOPO_DIR; MariaDB is installed by topology.sh if missing.
topology_up() {
  local work=$1 probe=$2 count=$3 attempt
  for attempt in 1 2 3; do
    BASE="$(find_base_port "$probe" "$count")" || die "no $count free consecutive ports from $probe"
    TOPO_DIR="$work/topo$attempt"
    note "topology: ports $BASE-$((BASE + count - 1)), dir $TOPO_DIR"
    if bash "$TOPOLOGY" up --dir "$TOPO_DIR" --base-port "$BASE" 2>"$work/topology.log"; then
      return 0
    fi
    tail -n 20 "$work/topology.log" >&2
    bash "$TOPOLOGY" down --dir "$TOPO_DIR" >/dev/null 2>&1 || true
    probe=$((BASE + 10))
  done
  die "could not bring up the MariaDB topology"
}

# root_client INSTANCE ARGS...: the mariadb client as root on a topology
# instance's socket (TOPO_DIR), batch output without column names.
root_client() {
  local inst=$1
  shift
  mariadb --no-defaults -uroot --socket="$TOPO_DIR/$inst/mysqld.sock" --batch --skip-column-names "$@"
}
root_sql() { root_client "$1" -e "$2"; } # root_sql INSTANCE SQL

# ---------------------------------------------------------------- processes

# stop_pid PID [SECONDS]: TERM, up to SECONDS (default 5), then KILL.
stop_pid() {
  local pid=$1 tenths=$((${2:-5} * 10)) i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < tenths; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# wait_port PORT PID NAME LOG [SECONDS]: until PORT accepts connections;
# dies (with LOG's tail) if PID exits or SECONDS (default 15) pass.
wait_port() {
  local port=$1 pid=$2 name=$3 log=$4 tenths=$((${5:-15} * 10)) i
  for ((i = 0; i < tenths; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$name exited during start-up"; }
    sleep 0.1
  done
  tail -n 20 "$log" >&2
  die "$name does not listen on $port after ${5:-15} s"
}

# cpu_ticks PID: utime+stime of a process, in clock ticks.
cpu_ticks() {
  local stat
  stat="$(<"/proc/$1/stat")"
  stat="${stat##*) }" # fields from 3 on (the command name may hold spaces)
  awk '{ print $12 + $13 }' <<<"$stat"
}
vm_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; } # vm_kib PID VmRSS

# ---------------------------------------------------------------- packages

APT_UPDATED=0
# apt_install PACKAGE...: Debian packages, without starting their services.
apt_install() {
  local sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  if ((APT_UPDATED == 0)); then "${sudo[@]}" apt-get update -qq; APT_UPDATED=1; fi
  # policy-rc.d exit 101: the packages must not start system services.
  local prc=/usr/sbin/policy-rc.d created=0 rc=0
  if [[ ! -e "$prc" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$prc" >/dev/null
    "${sudo[@]}" chmod 755 "$prc"
    created=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || rc=$?
  if ((created)); then "${sudo[@]}" rm -f "$prc"; fi
  return "$rc"
}

# need_tool COMMAND [PACKAGE]: installs PACKAGE (default COMMAND) if the
# command is missing.
need_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  note "installing ${2:-$1}"
  apt_install "${2:-$1}"
}
