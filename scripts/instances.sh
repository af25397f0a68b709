#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called through trap
# Two shardcat instances (worker ids 1 and 2) on one configuration behind
# HAProxy (mode tcp, health check on /health), sysbench through HAProxy,
# instance A drained (SIGTERM) and restarted in the middle of the run.
# The checked version of this is tests/instances.rs (clients that reconnect
# and retry once while an instance drains mid-run: 0 failed statements);
# this script shows it with sysbench, for a person to watch. sysbench
# 1.0.20 crashes (SIGSEGV) when it reconnects after an ignored connection
# error, so here it runs in three bounded segments: both instances; a
# drained (SIGTERM) and restarted while sysbench opens its connections;
# b and the restarted a.
#
#   scripts/instances.sh --topology-env /tmp/topo/topology.env [--time 20] [--threads 4]
#
# Needs a topology (scripts/topology.sh up), a built shardcat (debug or
# release: --bin PATH, default target/release/shardcat, else target/debug),
# haproxy and sysbench (installed with apt-get when missing).
# Everything started here is stopped on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_FILE=""
TIME=20
THREADS=4
BIN=""
while (($#)); do
  case "$1" in
    --topology-env) ENV_FILE="${2:?}"; shift 2 ;;
    --time) TIME="${2:?}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --bin) BIN="${2:?}"; shift 2 ;;
    -h|--help) sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "instances: unknown option $1" >&2; exit 2 ;;
  esac
done
note() { printf 'instances: %s\n' "$*" >&2; }
die() { note "error: $*"; exit 1; }
[[ -f "$ENV_FILE" ]] || die "--topology-env FILE is required (scripts/topology.sh up prints it)"
((TIME >= 6 && TIME <= 300)) || die "--time must be 6..300 seconds"
if [[ -z "$BIN" ]]; then
  BIN="$ROOT/target/release/shardcat"
  [[ -x "$BIN" ]] || BIN="$ROOT/target/debug/shardcat"
fi
[[ -x "$BIN" ]] || die "no shardcat binary (cargo build --release)"
for tool in haproxy sysbench; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    note "installing $tool"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null \
      || die "apt-get install $tool failed"
  fi
done
# shellcheck disable=SC1090
source "$ENV_FILE"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/shardcat-instances.XXXXXX")"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  local i
  for i in $(seq 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "nothing listens on $1"
}
get() { # PORT PATH
  exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3 && cat <&3
}

SQL_A=$(free_port) SQL_B=$(free_port) HTTP_A=$(free_port) HTTP_B=$(free_port) LB=$(free_port)
write_config() { # FILE SQL_PORT HTTP_PORT WORKER
  cat >"$1" <<EOF
[server]
listen = "127.0.0.1:$2"
reuse_port = true
shutdown_timeout_ms = 5000

[backend]
user = "$SHARDCAT_TOPO_USER"
password = "$SHARDCAT_TOPO_PASSWORD"

[[user]]
name = "app"
password = "app"

[id_generator]
worker_id = $4

[admin]
http_listen = "127.0.0.1:$3"

[[node]]
name = "n1"
primary = "127.0.0.1:$SHARDCAT_TOPO_N1P_PORT"
replicas = [{ addr = "127.0.0.1:$SHARDCAT_TOPO_N1R1_PORT" }, { addr = "127.0.0.1:$SHARDCAT_TOPO_N1R2_PORT" }]
EOF
  chmod 600 "$1"
}
start_instance() { # NAME SQL_PORT HTTP_PORT WORKER
  write_config "$WORK/$1.toml" "$2" "$3" "$4"
  "$BIN" serve --config "$WORK/$1.toml" </dev/null >>"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  echo $!
}
PID_A=$(start_instance a "$SQL_A" "$HTTP_A" 1)
start_instance b "$SQL_B" "$HTTP_B" 2 >/dev/null
wait_port "$SQL_A"
wait_port "$SQL_B"
cat >"$WORK/haproxy.cfg" <<EOF
defaults
  mode tcp
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  retries 3
  option redispatch 1
listen shardcat
  bind 127.0.0.1:$LB
  balance roundrobin
  option httpchk
  http-check send meth GET uri /health
  http-check expect status 200
  server a 127.0.0.1:$SQL_A check port $HTTP_A inter 200 fall 1 rise 1
  server b 127.0.0.1:$SQL_B check port $HTTP_B inter 200 fall 1 rise 1
EOF
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
wait_port "$LB"
note "instances a (127.0.0.1:$SQL_A, http $HTTP_A) and b (127.0.0.1:$SQL_B, http $HTTP_B) behind HAProxy 127.0.0.1:$LB"

SB=(sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$LB"
  --mysql-user=app --mysql-password=app --mysql-db=sbtest_instances --tables=1 --table-size=10000
  --threads="$THREADS")
mariadb --no-defaults -h127.0.0.1 -P"$LB" -uapp -papp --skip-ssl \
  -e 'DROP DATABASE IF EXISTS sbtest_instances; CREATE DATABASE sbtest_instances'
"${SB[@]}" prepare >/dev/null
SEG=$((TIME / 3))
note "sysbench ${SEG}s through HAProxy (both instances)"
"${SB[@]}" --time="$SEG" run | grep -E 'queries:|transactions:|ignored errors|reconnects' >&2
note "draining instance a (SIGTERM) while sysbench runs ${SEG}s on new connections"
kill -TERM "$PID_A"
sleep 0.5 # a's listener is closed and HAProxy's check has seen the 503
"${SB[@]}" --time="$SEG" run >"$WORK/during.out" 2>&1 &
SB_PID=$!
while kill -0 "$PID_A" 2>/dev/null; do sleep 0.1; done
note "instance a exited; starting it again"
start_instance a "$SQL_A" "$HTTP_A" 1 >/dev/null
wait_port "$HTTP_A"
wait "$SB_PID" || { note "sysbench exited with an error:"; tail -n 5 "$WORK/during.out" >&2; }
grep -E 'queries:|transactions:|ignored errors|reconnects' "$WORK/during.out" >&2 || true
sleep 1
note "sysbench ${SEG}s through HAProxy (b and the restarted a)"
"${SB[@]}" --time="$SEG" run | grep -E 'queries:|transactions:|ignored errors|reconnects' >&2
for h in "$HTTP_A" "$HTTP_B"; do
  note "metrics of http $h:"
  get "$h" /metrics | grep -E '^shardcat_(build_info|statements_total)' >&2 || true
done
mariadb --no-defaults -h127.0.0.1 -P"$LB" -uapp -papp --skip-ssl -e 'DROP DATABASE sbtest_instances'
