#!/usr/bin/env bash
# Local MariaDB test topology for shardcat.
#
#   scripts/topology.sh {up|down|status|env} [--dir DIR] [--base-port N]
#   scripts/topology.sh {start-instance|stop-instance} NAME [--dir DIR] [--base-port N]
#   scripts/topology.sh start-scratch NAME --port P [--replica-of NAME2] [--dir DIR]
#   scripts/topology.sh stop-scratch NAME [--purge] [--dir DIR]
#
# Scratch instances (for tests that change roles, e.g. promotions) live in
# DIR/x-NAME/ on the port given, GTID domain 9, writable unless
# --replica-of (read_only, replicating NAME2 with GTID); start-scratch of a
# stopped one restarts it writable (as a crashed primary coming back).
# stop-scratch --purge removes its datadir too.
#
# Instances (name: port offset from the base port, role):
#   n1p  +0  primary of node n1        n1r1 +1  replica of n1p
#   n1r2 +2  replica of n1p            n2p  +3  primary of node n2
#   n2r1 +4  replica of n2p            ref  +5  standalone reference server
#
# Every server binds 127.0.0.1 only and lives entirely under DIR/<name>/
# (datadir, socket, pid file, error log). Only processes whose pid files are
# in DIR (and whose command line names DIR's datadir) are ever signalled.
#
# Defaults: DIR=<project root>/.topology, base port 3310. After `up`, the base
# port is remembered in DIR, so later commands need only --dir.
#
# Environment knobs:
#   SHARDCAT_TOPO_TEMPLATE_DIR  where the initialised template datadir is
#                               cached (default ~/.cache/shardcat/...)
#   SHARDCAT_TOPO_START_TIMEOUT seconds to wait for a server to accept
#                               connections (default 60)
#   SHARDCAT_TOPO_STOP_TIMEOUT  seconds to wait after SIGTERM before SIGKILL
#                               (default 30)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
SCRIPT_PATH="${SCRIPT_DIR}/$(basename "${BASH_SOURCE[0]}")"

INSTANCES=(n1p n1r1 n1r2 n2p n2r1 ref)
declare -A OFFSET=([n1p]=0 [n1r1]=1 [n1r2]=2 [n2p]=3 [n2r1]=4 [ref]=5)
declare -A ROLE=([n1p]=primary [n1r1]=replica [n1r2]=replica [n2p]=primary [n2r1]=replica [ref]=standalone)
declare -A PRIMARY_OF=([n1r1]=n1p [n1r2]=n1p [n2r1]=n2p)
# Each node's servers write their own GTID domain: moving a shard replicates
# one primary into another (multi-source), which under gtid_strict_mode
# needs distinct domains (replicas take their primary's, for promotion).
declare -A DOMAIN=([n1p]=1 [n1r1]=1 [n1r2]=1 [n2p]=2 [n2r1]=2 [ref]=0)

TOPO_USER=shardcat
TOPO_PASSWORD=shardcat
REPL_USER=repl
REPL_PASSWORD=repl
TEST_DB=shardcat_test
DEFAULT_BASE_PORT=3310
START_TIMEOUT="${SHARDCAT_TOPO_START_TIMEOUT:-60}"
STOP_TIMEOUT="${SHARDCAT_TOPO_STOP_TIMEOUT:-30}"
REPL_TIMEOUT=30

# Server options shared by the template bootstrap and every instance. The
# InnoDB sizes must match between the two so that copied datadirs start as is.
COMMON_OPTS=(
  --innodb-buffer-pool-size=64M
  --innodb-log-file-size=48M
  --performance-schema=OFF
  --character-set-server=utf8mb4
  --collation-server=utf8mb4_general_ci
)

log() { printf 'topology: %s\n' "$*" >&2; }
die() { printf 'topology: error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<EOF
usage: $0 {up|down|status|env} [--dir DIR] [--base-port N]
       $0 {start-instance|stop-instance} NAME [--dir DIR] [--base-port N]

instances: ${INSTANCES[*]}
defaults:  --dir ${PROJECT_ROOT}/.topology  --base-port ${DEFAULT_BASE_PORT}
EOF
}

# ---------------------------------------------------------------- arguments

CMD=""
NAME_ARG=""
SCRATCH_PORT=""
REPLICA_OF=""
PURGE=0
DIR=""
BASE_PORT=""

parse_args() {
  while (($#)); do
    case "$1" in
      --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; DIR="$2"; shift 2 ;;
      --dir=*) DIR="${1#--dir=}"; shift ;;
      --base-port) [[ $# -ge 2 ]] || die "--base-port needs a value"; BASE_PORT="$2"; shift 2 ;;
      --base-port=*) BASE_PORT="${1#--base-port=}"; shift ;;
      --port) [[ $# -ge 2 ]] || die "--port needs a value"; SCRATCH_PORT="$2"; shift 2 ;;
      --replica-of) [[ $# -ge 2 ]] || die "--replica-of needs a value"; REPLICA_OF="$2"; shift 2 ;;
      --purge) PURGE=1; shift ;;
      -h|--help|help) usage; exit 0 ;;
      -*) usage >&2; die "unknown option: $1" ;;
      *)
        if [[ -z "$CMD" ]]; then CMD="$1"
        elif [[ -z "$NAME_ARG" ]]; then NAME_ARG="$1"
        else usage >&2; die "unexpected argument: $1"
        fi
        shift ;;
    esac
  done
  [[ -n "$CMD" ]] || { usage >&2; exit 2; }

  DIR="${DIR:-${PROJECT_ROOT}/.topology}"
  [[ "$DIR" != *[[:space:]]* ]] || die "DIR must not contain whitespace: '$DIR'"
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"

  if [[ -z "$BASE_PORT" ]]; then
    if [[ -f "$DIR/base_port" ]]; then
      BASE_PORT="$(<"$DIR/base_port")"
    else
      BASE_PORT=$DEFAULT_BASE_PORT
    fi
  fi
  if ! [[ "$BASE_PORT" =~ ^[0-9]+$ ]] || ((BASE_PORT < 1024 || BASE_PORT > 65530)); then
    die "bad base port: $BASE_PORT"
  fi
  if [[ -f "$DIR/base_port" && "$(<"$DIR/base_port")" != "$BASE_PORT" ]] && any_running; then
    die "$DIR is running with base port $(<"$DIR/base_port"), not $BASE_PORT; run 'down' first"
  fi
}

# ---------------------------------------------------------------- paths

port_of() { echo $((BASE_PORT + OFFSET[$1])); }
inst_dir() { echo "$DIR/$1"; }
datadir_of() { echo "$DIR/$1/data"; }
sock_of() { echo "$DIR/$1/mysqld.sock"; }
pidfile_of() { echo "$DIR/$1/mysqld.pid"; }
errlog_of() { echo "$DIR/$1/error.log"; }

check_name() {
  [[ -n "${OFFSET[$1]+x}" ]] || die "unknown instance '$1' (instances: ${INSTANCES[*]})"
}

# ---------------------------------------------------------------- processes

# Prints the pid of the instance's server if it is alive and really is the
# mariadbd of this DIR (guards against stale pid files and pid reuse).
pid_of() {
  local name=$1 pf pid cmdline
  pf="$(pidfile_of "$name")"
  [[ -f "$pf" ]] || return 1
  pid="$(tr -dc '0-9' <"$pf" 2>/dev/null || true)"
  [[ -n "$pid" ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *"--datadir=$(datadir_of "$name") "* ]] || return 1
  echo "$pid"
}

is_running() { pid_of "$1" >/dev/null; }

any_running() {
  local n
  for n in "${INSTANCES[@]}"; do
    if is_running "$n"; then return 0; fi
  done
  return 1
}

port_in_use() {
  local port=$1
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
  if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    return 0
  fi
  return 1
}

# Run SQL as root over the instance's unix socket.
sql() {
  local name=$1; shift
  mariadb --no-defaults -uroot --socket="$(sock_of "$name")" --connect-timeout=5 \
    --batch --skip-column-names "$@"
}

ping_instance() { sql "$1" --connect-timeout=2 -e 'SELECT 1' >/dev/null 2>&1; }

# ---------------------------------------------------------------- install

ensure_binaries() {
  if command -v mariadbd >/dev/null 2>&1 && command -v mariadb-install-db >/dev/null 2>&1 \
     && command -v mariadb >/dev/null 2>&1; then
    return 0
  fi
  # Debian puts mariadbd in /usr/sbin, which may be missing from PATH.
  export PATH="$PATH:/usr/sbin:/sbin"
  if command -v mariadbd >/dev/null 2>&1 && command -v mariadb-install-db >/dev/null 2>&1 \
     && command -v mariadb >/dev/null 2>&1; then
    return 0
  fi
  log "installing mariadb-server and mariadb-client"
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then sudo=(sudo); fi
  # policy-rc.d exit 101 keeps the package from starting (or restarting) the
  # system MariaDB service on 3306 during installation.
  local prc=/usr/sbin/policy-rc.d created_prc=0
  if [[ ! -e "$prc" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$prc" >/dev/null
    "${sudo[@]}" chmod 755 "$prc"
    created_prc=1
  fi
  local rc=0
  { "${sudo[@]}" apt-get update \
      && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
           mariadb-server mariadb-client; } >&2 || rc=$?
  if ((created_prc)); then "${sudo[@]}" rm -f "$prc"; fi
  ((rc == 0)) || die "apt-get install of mariadb-server/mariadb-client failed"
  command -v mariadbd >/dev/null 2>&1 || die "mariadbd still not found after install"
}

user_opts() {
  # mariadbd refuses to run as root without an explicit --user=root.
  if [[ "$(id -u)" == 0 ]]; then echo "--user=root"; fi
}

template_dir() {
  if [[ -n "${SHARDCAT_TOPO_TEMPLATE_DIR:-}" ]]; then
    echo "$SHARDCAT_TOPO_TEMPLATE_DIR"
    return
  fi
  local version key
  version="$(mariadbd --version 2>/dev/null | awk '{print $3}')"
  key="$(printf '%s\n' "$version" "${COMMON_OPTS[@]}" | cksum | awk '{print $1}')"
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/shardcat/mariadb-template-${version:-unknown}-${key}"
}

# Initialise a template datadir once (cached across topologies and runs).
ensure_template() {
  TEMPLATE="$(template_dir)"
  if [[ -f "$TEMPLATE/.complete" ]]; then return 0; fi
  mkdir -p "$(dirname "$TEMPLATE")"
  local lock="$TEMPLATE.lock"
  exec 9>"$lock"
  flock 9
  if [[ ! -f "$TEMPLATE/.complete" ]]; then
    log "initialising template datadir $TEMPLATE (once)"
    local tmp="$TEMPLATE.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    local skip_test_db=()
    local help
    help="$(mariadb-install-db --help 2>&1 || true)"
    if [[ "$help" == *--skip-test-db* ]]; then
      skip_test_db=(--skip-test-db)
    fi
    local uopt
    uopt="$(user_opts)"
    # shellcheck disable=SC2086 # uopt is empty or one word
    if ! mariadb-install-db --no-defaults --datadir="$tmp/data" \
        --auth-root-authentication-method=normal "${skip_test_db[@]}" \
        --skip-name-resolve $uopt "${COMMON_OPTS[@]}" >"$tmp/install.log" 2>&1; then
      cat "$tmp/install.log" >&2
      rm -rf "$tmp"
      die "mariadb-install-db failed"
    fi
    touch "$tmp/.complete"
    rm -rf "$TEMPLATE"
    mv "$tmp" "$TEMPLATE"
  fi
  flock -u 9
  exec 9>&-
}

# ---------------------------------------------------------------- start/stop

# Start the server of one instance in the background (its own session, so a
# Ctrl-C in the calling terminal does not reach it). Prints the launcher pid.
launch() {
  local name=$1 port idir ddir
  port="$(port_of "$name")"
  idir="$(inst_dir "$name")"
  ddir="$(datadir_of "$name")"
  local sock; sock="$(sock_of "$name")"
  ((${#sock} < 100)) || die "socket path too long (${#sock} chars): $sock; use a shorter --dir"

  # A server just SIGKILLed may hold its port for a moment while the kernel
  # tears it down (seconds on a loaded machine): wait for it before
  # calling the port taken.
  local waited=0
  while port_in_use "$port" && ((waited < 75)); do
    sleep 0.2
    waited=$((waited + 1))
  done
  if port_in_use "$port"; then
    die "port $port (for $name) is already in use by another process"
  fi

  if [[ ! -d "$ddir" ]]; then
    [[ -f "${TEMPLATE:-}/.complete" ]] || ensure_template
    mkdir -p "$idir"
    cp -a --sparse=always "$TEMPLATE/data" "$ddir.tmp"
    mv "$ddir.tmp" "$ddir"
  fi
  rm -f "$(pidfile_of "$name")" "$sock" "$sock.lock"

  local opts=(
    --no-defaults
    "--datadir=$ddir"
    --bind-address=127.0.0.1
    "--port=$port"
    "--socket=$sock"
    "--pid-file=$(pidfile_of "$name")"
    "--log-error=$(errlog_of "$name")"
    "--server-id=$port"
    "--gtid-domain-id=${DOMAIN[$name]}"
    --log-bin=mysql-bin
    --relay-log=relay-bin
    --binlog-format=ROW
    --gtid-strict-mode=1
    --log-slave-updates
    --skip-name-resolve
    --max-connections=2000
    --innodb-flush-log-at-trx-commit=2
    --slave-net-timeout=10
    "${COMMON_OPTS[@]}"
  )
  local uopt; uopt="$(user_opts)"
  if [[ -n "$uopt" ]]; then opts+=("$uopt"); fi
  if [[ "${ROLE[$name]}" == replica ]]; then opts+=(--read-only=1); fi
  # TLS for the clients that ask for it (plain clients are unaffected).
  if [[ -f "$DIR/ssl/.complete" ]]; then
    opts+=("--ssl-ca=$DIR/ssl/ca.pem" "--ssl-cert=$DIR/ssl/server.pem" "--ssl-key=$DIR/ssl/server.key")
  fi

  # 8>&- 9>&-: the server must not inherit (and so hold) our lock files.
  setsid -w mariadbd "${opts[@]}" </dev/null >>"$idir/stdout.log" 2>&1 8>&- 9>&- &
  echo $!
}

# Wait until the instance answers on its socket (and by TCP on its port).
wait_ready() {
  local name=$1 launcher=$2 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ping_instance "$name"; then return 0; fi
    if ! kill -0 "$launcher" 2>/dev/null; then
      log "$name: server exited during startup; last lines of $(errlog_of "$name"):"
      tail -n 30 "$(errlog_of "$name")" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  log "$name: not ready after ${START_TIMEOUT}s; last lines of $(errlog_of "$name"):"
  tail -n 30 "$(errlog_of "$name")" >&2 || true
  return 1
}

# Start the given instances (those not already healthy) in parallel.
start_instances() {
  local name pid rc=0
  declare -A launched=()
  for name in "$@"; do
    if [[ ! -d "$(datadir_of "$name")" ]]; then ensure_template; break; fi
  done
  for name in "$@"; do
    # pid_of fails once the process is gone: a server SIGKILLed a moment
    # ago may still be seen here, then be gone (it is started anew).
    if pid="$(pid_of "$name")"; then
      if ping_instance "$name"; then continue; fi
      # Alive but not answering (e.g. SIGSTOPped by a fault test): wake it.
      kill -CONT "$pid" 2>/dev/null || true
      local t=$((SECONDS + 10))
      while ((SECONDS < t)) && is_running "$name" && ! ping_instance "$name"; do sleep 0.2; done
      if ping_instance "$name"; then continue; fi
      if is_running "$name"; then die "$name (pid $pid) is running but does not answer"; fi
    fi
    log "starting $name on port $(port_of "$name")"
    launched[$name]="$(launch "$name")"
  done
  for name in "${!launched[@]}"; do
    wait_ready "$name" "${launched[$name]}" || rc=1
  done
  ((rc == 0)) || die "some instances failed to start"
}

stop_instances() {
  local name pid
  declare -A pids=()
  for name in "$@"; do
    if pid="$(pid_of "$name")"; then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      # A SIGSTOPped server (fault tests) handles SIGTERM only once continued.
      kill -CONT "$pid" 2>/dev/null || true
      pids[$name]=$pid
    else
      rm -f "$(pidfile_of "$name")"
    fi
  done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while ((${#pids[@]})) && ((SECONDS < deadline)); do
    for name in "${!pids[@]}"; do
      if ! kill -0 "${pids[$name]}" 2>/dev/null; then unset "pids[$name]"; fi
    done
    ((${#pids[@]})) && sleep 0.2
  done
  for name in "${!pids[@]}"; do
    log "$name (pid ${pids[$name]}) did not stop within ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "${pids[$name]}" 2>/dev/null || true
  done
  local t=$((SECONDS + 10))
  for name in "${!pids[@]}"; do
    while kill -0 "${pids[$name]}" 2>/dev/null && ((SECONDS < t)); do sleep 0.1; done
  done
  for name in "$@"; do
    if ! is_running "$name"; then rm -f "$(pidfile_of "$name")"; fi
  done
}

# ---------------------------------------------------------------- setup SQL

ensure_accounts() {
  local name=$1 host
  local stmts="SET sql_log_bin=0;"
  for host in 127.0.0.1 localhost %; do
    stmts+="CREATE USER IF NOT EXISTS '${TOPO_USER}'@'${host}' IDENTIFIED BY '${TOPO_PASSWORD}';"
    stmts+="GRANT ALL PRIVILEGES ON *.* TO '${TOPO_USER}'@'${host}' WITH GRANT OPTION;"
    stmts+="CREATE USER IF NOT EXISTS '${REPL_USER}'@'${host}' IDENTIFIED BY '${REPL_PASSWORD}';"
    stmts+="GRANT REPLICATION SLAVE ON *.* TO '${REPL_USER}'@'${host}';"
  done
  sql "$name" -e "$stmts" || die "$name: creating accounts failed"
}

ensure_test_db() {
  local name=$1
  local exists
  exists="$(sql "$name" -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='${TEST_DB}'")"
  if [[ "$exists" == 0 ]]; then
    sql "$name" -e "CREATE DATABASE \`${TEST_DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci" \
      || die "$name: creating database ${TEST_DB} failed"
  fi
}

# Print "Field value" for one field of SHOW SLAVE STATUS (empty if none).
slave_field() {
  local name=$1 field=$2
  # (column names are needed here, so not via sql(), which skips them)
  mariadb --no-defaults -uroot --socket="$(sock_of "$name")" --connect-timeout=5 \
    -e 'SHOW SLAVE STATUS\G' 2>/dev/null \
    | awk -v f="$field" -F': ' '{ k=$1; gsub(/^ +/, "", k); if (k == f) { print $2; exit } }'
}

ensure_replication() {
  local name=$1 primary port host mport io sqlt
  primary="${PRIMARY_OF[$name]}"
  port="$(port_of "$primary")"
  host="$(slave_field "$name" Master_Host)"
  mport="$(slave_field "$name" Master_Port)"
  if [[ "$host" != 127.0.0.1 || "$mport" != "$port" ]]; then
    log "$name: configuring replication from $primary (port $port)"
    sql "$name" -e "STOP SLAVE; RESET SLAVE ALL;
      CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${port},
        MASTER_USER='${REPL_USER}', MASTER_PASSWORD='${REPL_PASSWORD}',
        MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos;
      START SLAVE;" || die "$name: CHANGE MASTER failed"
  else
    io="$(slave_field "$name" Slave_IO_Running)"
    sqlt="$(slave_field "$name" Slave_SQL_Running)"
    if [[ "$io" != Yes || "$sqlt" != Yes ]]; then
      sql "$name" -e 'START SLAVE' || die "$name: START SLAVE failed"
    fi
  fi
}

wait_replication() {
  local name=$1 deadline=$((SECONDS + REPL_TIMEOUT)) io sqlt
  while ((SECONDS < deadline)); do
    io="$(slave_field "$name" Slave_IO_Running)"
    sqlt="$(slave_field "$name" Slave_SQL_Running)"
    if [[ "$io" == Yes && "$sqlt" == Yes ]]; then return 0; fi
    sleep 0.2
  done
  log "$name: replication not running after ${REPL_TIMEOUT}s:"
  mariadb --no-defaults -uroot --socket="$(sock_of "$name")" -e 'SHOW SLAVE STATUS\G' | grep -E 'Running|Error|Master_(Host|Port)' >&2 || true
  return 1
}

# ---------------------------------------------------------------- env file

# A test CA and a server certificate for 127.0.0.1 (once per DIR), so the
# servers accept TLS from clients that ask for it (shardcat's [backend] tls
# tests). Without openssl the servers start without TLS.
ensure_ssl() {
  local d="$DIR/ssl"
  [[ -f "$d/.complete" ]] && return 0
  if ! command -v openssl >/dev/null 2>&1; then
    log "openssl not found: servers start without TLS"
    return 0
  fi
  mkdir -p "$d"
  if (
    cd "$d" &&
      openssl req -x509 -nodes -days 3650 -newkey rsa:2048 -keyout ca.key -out ca.pem \
        -subj "/CN=shardcat test CA" &&
      openssl req -nodes -newkey rsa:2048 -keyout server.key -out server.csr -subj "/CN=127.0.0.1" &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
        -out server.pem -extfile ext.cnf
  ) >"$d/openssl.log" 2>&1; then
    touch "$d/.complete"
  else
    log "could not make test certificates (see $d/openssl.log): servers start without TLS"
  fi
}

write_env() {
  local f="$DIR/topology.env" name up
  {
    echo "# shardcat MariaDB test topology; written by scripts/topology.sh up"
    echo "SHARDCAT_TOPO_DIR=$DIR"
    echo "SHARDCAT_TOPO_SCRIPT=$SCRIPT_PATH"
    echo "SHARDCAT_TOPO_HOST=127.0.0.1"
    echo "SHARDCAT_TOPO_BASE_PORT=$BASE_PORT"
    echo "SHARDCAT_TOPO_USER=$TOPO_USER"
    echo "SHARDCAT_TOPO_PASSWORD=$TOPO_PASSWORD"
    echo "SHARDCAT_TOPO_REPL_USER=$REPL_USER"
    echo "SHARDCAT_TOPO_REPL_PASSWORD=$REPL_PASSWORD"
    echo "SHARDCAT_TOPO_DATABASE=$TEST_DB"
    if [[ -f "$DIR/ssl/.complete" ]]; then echo "SHARDCAT_TOPO_SSL_CA=$DIR/ssl/ca.pem"; fi
    echo "SHARDCAT_TOPO_INSTANCES=$(IFS=,; echo "${INSTANCES[*]}")"
    for name in "${INSTANCES[@]}"; do
      up="${name^^}"
      echo "SHARDCAT_TOPO_${up}_PORT=$(port_of "$name")"
      echo "SHARDCAT_TOPO_${up}_SOCKET=$(sock_of "$name")"
      echo "SHARDCAT_TOPO_${up}_PID_FILE=$(pidfile_of "$name")"
      echo "SHARDCAT_TOPO_${up}_ROLE=${ROLE[$name]}"
      if [[ -n "${PRIMARY_OF[$name]+x}" ]]; then
        echo "SHARDCAT_TOPO_${up}_PRIMARY=${PRIMARY_OF[$name]}"
      fi
    done
  } >"$f.tmp"
  mv "$f.tmp" "$f"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  ensure_binaries
  echo "$BASE_PORT" >"$DIR/base_port"
  local t0=$SECONDS name
  ensure_ssl
  start_instances "${INSTANCES[@]}"
  for name in "${INSTANCES[@]}"; do ensure_accounts "$name"; done
  for name in "${INSTANCES[@]}"; do
    if [[ "${ROLE[$name]}" != replica ]]; then ensure_test_db "$name"; fi
  done
  for name in "${INSTANCES[@]}"; do
    if [[ "${ROLE[$name]}" == replica ]]; then ensure_replication "$name"; fi
  done
  local rc=0
  for name in "${INSTANCES[@]}"; do
    if [[ "${ROLE[$name]}" == replica ]]; then wait_replication "$name" || rc=1; fi
  done
  ((rc == 0)) || die "replication did not come up"
  write_env
  log "up in $((SECONDS - t0))s: $DIR (ports $BASE_PORT-$((BASE_PORT + 5)))"
  log "env file: $DIR/topology.env"
}

cmd_down() {
  stop_instances "${INSTANCES[@]}"
}

cmd_status() {
  local name port state role repl pid all=0 io sqlt lag err
  for name in "${INSTANCES[@]}"; do
    port="$(port_of "$name")"
    role="${ROLE[$name]}"
    repl="-"
    if pid="$(pid_of "$name")"; then
      if ping_instance "$name"; then
        state="running"
        if [[ "$role" == replica ]]; then
          role="replica-of-${PRIMARY_OF[$name]}"
          io="$(slave_field "$name" Slave_IO_Running)"
          sqlt="$(slave_field "$name" Slave_SQL_Running)"
          lag="$(slave_field "$name" Seconds_Behind_Master)"
          err="$(slave_field "$name" Last_Error)"
          repl="io=${io:-none} sql=${sqlt:-none} lag=${lag:-NULL}"
          if [[ -n "$err" ]]; then repl+=" error=${err// /_}"; fi
        fi
      else
        state="unresponsive(pid=$pid)"
        all=1
      fi
    else
      state="stopped"
      all=1
      if [[ "$role" == replica ]]; then role="replica-of-${PRIMARY_OF[$name]}"; fi
    fi
    printf '%-5s %-6s %-22s %-16s %s\n' "$name" "$port" "$state" "$role" "$repl"
  done
  return "$all"
}

cmd_env() {
  [[ -f "$DIR/topology.env" ]] || die "no $DIR/topology.env; run '$0 up --dir $DIR' first"
  cat "$DIR/topology.env"
}

cmd_start_instance() {
  local name=$1
  check_name "$name"
  ensure_binaries
  start_instances "$name"
  if [[ "${ROLE[$name]}" == replica ]]; then
    # Replication config survives restarts (master.info); only make sure the
    # threads run. If the primary is up, wait for the IO thread too.
    if [[ -z "$(slave_field "$name" Master_Host)" ]]; then
      if is_running "${PRIMARY_OF[$name]}"; then ensure_replication "$name"; fi
    else
      ensure_replication "$name"
    fi
    if is_running "${PRIMARY_OF[$name]}" && ping_instance "${PRIMARY_OF[$name]}"; then
      wait_replication "$name" || die "$name: replication did not resume"
    fi
  fi
}

# Registers scratch instance x-NAME (port from --port or its port file).
register_scratch() {
  local name="x-$1" port=${2:-} role=$3
  [[ "$1" =~ ^[a-z0-9]+$ ]] || die "scratch names are [a-z0-9]+: '$1'"
  if [[ -z "$port" ]]; then
    [[ -f "$DIR/$name/port" ]] || die "no scratch instance $1 in $DIR"
    port="$(<"$DIR/$name/port")"
  fi
  [[ "$port" =~ ^[0-9]+$ ]] || die "bad port: $port"
  mkdir -p "$DIR/$name"
  echo "$port" >"$DIR/$name/port"
  OFFSET[$name]=$((port - BASE_PORT))
  DOMAIN[$name]=9
  ROLE[$name]=$role
}

cmd_start_scratch() {
  local name="x-$1"
  [[ -n "$SCRATCH_PORT" || -f "$DIR/$name/port" ]] || die "start-scratch needs --port"
  ensure_binaries
  if [[ -n "$REPLICA_OF" ]]; then
    register_scratch "$REPLICA_OF" "" primary
    register_scratch "$1" "$SCRATCH_PORT" replica
    PRIMARY_OF[$name]="x-$REPLICA_OF"
  else
    register_scratch "$1" "$SCRATCH_PORT" primary
  fi
  start_instances "$name"
  ensure_accounts "$name"
  if [[ -n "$REPLICA_OF" ]]; then
    ensure_replication "$name"
    wait_replication "$name" || die "$name: replication did not start"
  fi
}

cmd_stop_scratch() {
  local name="x-$1"
  [[ "$1" =~ ^[a-z0-9]+$ ]] || die "scratch names are [a-z0-9]+: '$1'"
  stop_instances "$name"
  if ((PURGE)); then rm -rf "${DIR:?}/$name"; fi
}

cmd_stop_instance() {
  local name=$1
  check_name "$name"
  stop_instances "$name"
}

main() {
  parse_args "$@"
  case "$CMD" in
    up|down|start-instance|stop-instance|start-scratch|stop-scratch)
      # One changing command at a time per DIR (tests may restart instances
      # from several threads).
      exec 8>"$DIR/.lock"
      flock 8 ;;
  esac
  case "$CMD" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    start-instance) [[ -n "$NAME_ARG" ]] || die "start-instance needs NAME"; cmd_start_instance "$NAME_ARG" ;;
    stop-instance) [[ -n "$NAME_ARG" ]] || die "stop-instance needs NAME"; cmd_stop_instance "$NAME_ARG" ;;
    start-scratch) [[ -n "$NAME_ARG" ]] || die "start-scratch needs NAME"; cmd_start_scratch "$NAME_ARG" ;;
    stop-scratch) [[ -n "$NAME_ARG" ]] || die "stop-scratch needs NAME"; cmd_stop_scratch "$NAME_ARG" ;;
    *) usage >&2; die "unknown command: $CMD" ;;
  esac
}

main "$@"
