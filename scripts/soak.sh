#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called through trap
# Bounded soak of shardcat: mixed load with reconnects and kills for a fixed
# time, then checks that its memory, open file descriptors and threads came
# back to where they were (a leak grows them run after run).
#
#   scripts/soak.sh                       # 90 s against $SHARDCAT_TOPOLOGY_ENV
#   scripts/soak.sh --seconds 120 --binary target/release/shardcat
#
# Needs a running topology (scripts/topology.sh up; SHARDCAT_TOPOLOGY_ENV
# names its env file) and sysbench + the mariadb client. Everything binds
# 127.0.0.1 and stops by itself; what it starts is stopped on exit (trap).
#
# Load, all at once for --seconds:
#   - sysbench oltp_read_write (prepared statements, 4 threads) through
#     shardcat with read/write splitting over n1, errors ignored (sessions
#     are killed under it);
#   - sysbench oltp_read_only (text, 2 threads) on a table sharded over n1
#     and n2 (scatters and point reads);
#   - a reconnect loop: a new client connection per statement;
#   - every 5 s, KILL of a random shardcat session (proxy-side) and
#     KILL CONNECTION of a random backend connection on n1's replicas;
#   - half-way, replica n1r2 is stopped and started again (mariadbd
#     shut down, 5 s, restarted through scripts/topology.sh;
#     --no-restart skips it);
#   - at three quarters, a failover of n1 (--no-promotion skips it): n1p
#     is shut down, 2 s later n1r1 is promoted as an operator does
#     (STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0) and n1r2
#     repointed to it with GTID; shardcat follows without a restart (the
#     time from "n1r1 writable" to the first write through shardcat is
#     printed); 5 s later n1p comes back (writable: shardcat fences it)
#     and is made a replica of n1r1. After the end sample the roles are
#     switched back (n1p primary again), so the topology is as before.
# Samples RSS, fds and threads of shardcat, its backend connections
# (shardcat_pool_connections, in use + idle), client sessions
# (shardcat_client_connections) and runtime tasks (shardcat_runtime_tasks:
# sessions, their helpers, checkers) every 10 s (printed as a series);
# "start" is after a 10 s warm-up, "end" is 10 s after the load stopped.
#   scripts/soak.sh --seconds 1800   # the long run (documented in BENCHMARKS.md)
# Fails (exit 1) when the end exceeds the start by more than
# --rss-margin-mb (default 32) MB of RSS, --fd-margin (default 16) fds,
# --thread-margin (default 2) threads or --task-margin (default 32) tasks,
# or when shardcat died.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_LOAD=90
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/shardcat"
RSS_MARGIN_MB=32
FD_MARGIN=16
THREAD_MARGIN=2
TASK_MARGIN=32
RESTART=1
PROMOTION=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_LOAD="$2"; shift 2 ;;
    --binary) BIN="$2"; shift 2 ;;
    --rss-margin-mb) RSS_MARGIN_MB="$2"; shift 2 ;;
    --fd-margin) FD_MARGIN="$2"; shift 2 ;;
    --thread-margin) THREAD_MARGIN="$2"; shift 2 ;;
    --task-margin) TASK_MARGIN="$2"; shift 2 ;;
    --no-restart) RESTART=0; shift ;;
    --no-promotion) PROMOTION=0; shift ;;
    *) echo "soak: unknown option $1" >&2; exit 2 ;;
  esac
done
note() { echo "soak: $*" >&2; }
die() { note "$*"; exit 1; }

ENV_FILE="${SHARDCAT_TOPOLOGY_ENV:-}"
[ -n "$ENV_FILE" ] && [ -f "$ENV_FILE" ] || die "set SHARDCAT_TOPOLOGY_ENV to a topology env file"
[ -x "$BIN" ] || die "no shardcat binary at $BIN (cargo build, or --binary)"
command -v sysbench >/dev/null || die "sysbench is needed"
command -v mariadb >/dev/null || die "the mariadb client is needed"
# shellcheck disable=SC1090
. "$ENV_FILE"
H=127.0.0.1
U="$SHARDCAT_TOPO_USER" P="$SHARDCAT_TOPO_PASSWORD"
N1P=$SHARDCAT_TOPO_N1P_PORT N1R1=$SHARDCAT_TOPO_N1R1_PORT N1R2=$SHARDCAT_TOPO_N1R2_PORT
N2P=$SHARDCAT_TOPO_N2P_PORT N2R1=$SHARDCAT_TOPO_N2R1_PORT

WORK="$(mktemp -d /tmp/shardcat-soak.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/shardcat.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"
[backend]
user = "$U"
password = "$P"
health_interval_ms = 500
[routing]
read_write_split = true
[[user]]
name = "app"
password = "app"
admin = true
[[node]]
name = "n1"
primary = "$H:$N1P"
replicas = [{ addr = "$H:$N1R1" }, { addr = "$H:$N1R2" }]
[[node]]
name = "n2"
primary = "$H:$N2P"
replicas = [{ addr = "$H:$N2R1" }]
[[table]]
name = "sbtest1"
schema = "soak_sharded"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
EOF
SHARDCAT_LOG=warn "$BIN" serve --config "$WORK/shardcat.toml" 2>"$WORK/shardcat.log" &
SC=$!
PIDS+=("$SC")
for _ in $(seq 100); do
  mariadb -h$H -P"$PORT" -uapp -papp -e 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.1
done
mariadb -h$H -P"$PORT" -uapp -papp -e 'SELECT 1' >/dev/null || die "shardcat did not start: $(tail "$WORK/shardcat.log")"
proxy() { mariadb -h$H -P"$PORT" -uapp -papp -N -B "$@"; }

# Data: sbtest on n1 (R/W split), a sharded sbtest1 over both nodes.
proxy -e 'DROP DATABASE IF EXISTS soak; CREATE DATABASE soak; DROP DATABASE IF EXISTS soak_sharded; CREATE DATABASE soak_sharded'
SB=(--db-driver=mysql --mysql-host=$H --mysql-port="$PORT" --mysql-user=app --mysql-password=app)
timeout 300 sysbench oltp_common "${SB[@]}" --mysql-db=soak --tables=2 --table-size=2000 prepare >"$WORK/prepare.log" 2>&1 \
  || die "sysbench prepare failed: $(tail -5 "$WORK/prepare.log")"
proxy soak_sharded -e "CREATE TABLE sbtest1 (id INT NOT NULL PRIMARY KEY, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_1 (k))"
python3 - "$WORK/rows.sql" <<'EOF'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for start in range(1, 2001, 500):
        rows = ",".join(f"({i},{random.randint(1, 2000)},'{'c' * 100}','{'p' * 50}')" for i in range(start, start + 500))
        f.write(f"INSERT INTO sbtest1 (id, k, c, pad) VALUES {rows};\n")
EOF
proxy soak_sharded <"$WORK/rows.sql"
sleep 2

sample() { # label → "label rss_kb fds threads backend_conns sessions tasks"
  local st rss thr fds stats conns sessions tasks
  st="/proc/$SC/status"
  [ -r "$st" ] || { echo "$1 dead"; return; }
  rss=$(awk '/^VmRSS/ {print $2}' "$st")
  thr=$(awk '/^Threads/ {print $2}' "$st")
  fds=$(find "/proc/$SC/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  stats=$(proxy -e 'SHOW SHARDCAT STATS' 2>/dev/null || true)
  conns=$(awk -F'\t' '$1 == "shardcat_pool_connections" {n += $3} END {print n + 0}' <<<"$stats")
  sessions=$(awk -F'\t' '$1 == "shardcat_client_connections" {n += $3} END {print n + 0}' <<<"$stats")
  tasks=$(awk -F'\t' '$1 == "shardcat_runtime_tasks" {n += $3} END {print n + 0}' <<<"$stats")
  echo "$1 $rss $fds $thr $conns $sessions $tasks"
}

END=$((SECONDS + SECONDS_LOAD))
timeout -k 5 $((SECONDS_LOAD + 30)) sysbench oltp_read_write "${SB[@]}" --mysql-db=soak --tables=2 --table-size=2000 \
  --threads=4 --time="$SECONDS_LOAD" --db-ps-mode=auto --mysql-ignore-errors=all --report-interval=10 run >"$WORK/rw.log" 2>&1 &
PIDS+=("$!")
timeout -k 5 $((SECONDS_LOAD + 30)) sysbench oltp_read_only "${SB[@]}" --mysql-db=soak_sharded --tables=1 --table-size=2000 \
  --threads=2 --time="$SECONDS_LOAD" --db-ps-mode=disable --mysql-ignore-errors=all --skip_trx=on run >"$WORK/sharded.log" 2>&1 &
PIDS+=("$!")
( n=0; while [ $SECONDS -lt $END ]; do
    proxy soak -e 'SELECT COUNT(*) FROM sbtest1' >/dev/null 2>&1 || true
    n=$((n + 1))
  done; echo "$n" >"$WORK/reconnects" ) &
PIDS+=("$!")
( kills=0; while [ $SECONDS -lt $((END - 3)) ]; do
    sleep 5
    # shardcat's session ids are sequential: KILL one of the 20 newest
    # (the greeting's id, shown by `status`, is the newest).
    top=$(mariadb -h$H -P"$PORT" -uapp -papp -e status 2>/dev/null | awk '/Connection id/ {print $NF}' || true)
    if [ -n "$top" ]; then
      id=$((top - 1 - RANDOM % 20))
      [ "$id" -gt 0 ] && proxy -e "KILL $id" >/dev/null 2>&1 && kills=$((kills + 1))
    fi
    bid=$(mariadb -h$H -P"$N1R1" -u"$U" -p"$P" -N -B -e "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '$U' AND DB = 'soak' AND ID <> CONNECTION_ID() ORDER BY RAND() LIMIT 1" 2>/dev/null || true)
    [ -n "$bid" ] && mariadb -h$H -P"$N1R1" -u"$U" -p"$P" -e "KILL CONNECTION $bid" >/dev/null 2>&1 && kills=$((kills + 1))
  done; echo "$kills" >"$WORK/kills" ) &
PIDS+=("$!")

if [ "$RESTART" = 1 ]; then
  ( sleep $((SECONDS_LOAD / 2))
    bash "$ROOT/scripts/topology.sh" stop-instance n1r2 --dir "$SHARDCAT_TOPO_DIR" --base-port "$N1P" >"$WORK/restart.log" 2>&1
    sleep 5
    bash "$ROOT/scripts/topology.sh" start-instance n1r2 --dir "$SHARDCAT_TOPO_DIR" --base-port "$N1P" >>"$WORK/restart.log" 2>&1
    echo "n1r2 restarted at t=$((SECONDS_LOAD / 2))s" >>"$WORK/restart.log" ) &
  PIDS+=("$!")
fi

# Failover of n1 (see the header): one server's SQL as the topology user.
on() { local port=$1; shift; mariadb -h$H -P"$port" -u"$U" -p"$P" -N -B -e "$*"; }
repoint() { # repoint PORT NEW_PRIMARY_PORT
  on "$1" "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='$H', MASTER_PORT=$2, MASTER_USER='$SHARDCAT_TOPO_REPL_USER', MASTER_PASSWORD='$SHARDCAT_TOPO_REPL_PASSWORD', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=current_pos; START SLAVE"
}
promote() { on "$1" "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0"; }
first_write_ms() { # ms until a write through shardcat succeeds (≤ 10 s)
  local t0; t0=$(date +%s%N)
  for _ in $(seq 200); do
    proxy soak -e "INSERT INTO promo_probe VALUES ()" >/dev/null 2>&1 && { echo $((($(date +%s%N) - t0) / 1000000)); return; }
    sleep 0.05
  done
  echo "none"
}
proxy soak -e 'CREATE TABLE promo_probe (id INT AUTO_INCREMENT PRIMARY KEY)'
topo() { bash "$ROOT/scripts/topology.sh" "$@" --dir "$SHARDCAT_TOPO_DIR" >>"$WORK/promotion.log" 2>&1; }
if [ "$PROMOTION" = 1 ]; then
  ( sleep $((SECONDS_LOAD * 3 / 4))
    topo stop-instance n1p
    sleep 2
    promote "$N1R1"
    ms=$(first_write_ms)
    repoint "$N1R2" "$N1R1"
    echo "n1 failover at t=$((SECONDS_LOAD * 3 / 4))s: first write through shardcat ${ms} ms after n1r1 was writable" >"$WORK/promotion"
    sleep 5
    topo start-instance n1p
    on "$N1P" "SET GLOBAL read_only = 1"
    repoint "$N1P" "$N1R1" ) &
  PIDS+=("$!")
fi

echo "series: t rss_kB fds threads backend_conns sessions tasks"
sleep 10
START=$(sample start)
echo "t=10s $START"
t=10
while [ $SECONDS -lt "$END" ]; do
  sleep 10; t=$((t + 10))
  echo "t=${t}s $(sample load)"
done
wait "${PIDS[@]:1}" 2>/dev/null || true
sleep 10
FINISH=$(sample end)
echo "t=$((t + 10))s (idle) $FINISH"
kill -0 "$SC" 2>/dev/null || die "shardcat died: $(tail "$WORK/shardcat.log")"
grep -q panicked "$WORK/shardcat.log" && die "shardcat panicked: $(grep -m3 panicked "$WORK/shardcat.log")"

if [ "$PROMOTION" = 1 ]; then
  # Back to n1p as n1's primary (a switchover shardcat follows too).
  on "$N1R1" "SET GLOBAL read_only = 1"
  pos=$(on "$N1R1" "SELECT @@gtid_binlog_pos")
  on "$N1P" "SELECT MASTER_GTID_WAIT('$pos', 30)" >/dev/null
  promote "$N1P"
  repoint "$N1R1" "$N1P"
  repoint "$N1R2" "$N1P"
  echo "switched back: first write through shardcat $(first_write_ms) ms after n1p was writable"
  echo "$(cat "$WORK/promotion" 2>/dev/null || echo 'n1 failover: did not run')"
fi

tps() { awk '/transactions:/ {print $2 " tx " $3 "/s,"} /ignored errors:/ {print $3 " ignored errors"}' "$1" | paste -sd' ' | tr -d '('; }
[ "$RESTART" = 1 ] && echo "replica restart: $(tail -1 "$WORK/restart.log" 2>/dev/null)"
# Per 10 s of the R/W-split load (errors: the failover's and the kills').
awk '/^\[ [0-9]+s \]/ {printf "  rw %s tps %s err/s %s\n", $2, $7, $(NF-2)}' "$WORK/rw.log" | tr -d ']'
echo "rw split (ps): $(tps "$WORK/rw.log"); sharded (text): $(tps "$WORK/sharded.log"); reconnects: $(cat "$WORK/reconnects" 2>/dev/null || echo ?); kills: $(cat "$WORK/kills" 2>/dev/null || echo ?)"
read -r _ rss0 fd0 th0 bc0 se0 tk0 <<<"$START"
read -r _ rss1 fd1 th1 bc1 se1 tk1 <<<"$FINISH"
echo "start: rss ${rss0} kB, fds $fd0, threads $th0, backend connections $bc0, sessions $se0, tasks $tk0; end: rss ${rss1} kB, fds $fd1, threads $th1, backend connections $bc1, sessions $se1, tasks $tk1"
proxy -e 'DROP DATABASE soak; DROP DATABASE soak_sharded' >/dev/null 2>&1 || true
fail=0
[ $((rss1 - rss0)) -le $((RSS_MARGIN_MB * 1024)) ] || { note "RSS grew by $(((rss1 - rss0) / 1024)) MB (margin $RSS_MARGIN_MB)"; fail=1; }
[ $((fd1 - fd0)) -le "$FD_MARGIN" ] || { note "fds grew by $((fd1 - fd0)) (margin $FD_MARGIN)"; fail=1; }
[ $((th1 - th0)) -le "$THREAD_MARGIN" ] || { note "threads grew by $((th1 - th0)) (margin $THREAD_MARGIN)"; fail=1; }
[ $((tk1 - tk0)) -le "$TASK_MARGIN" ] || { note "tasks grew by $((tk1 - tk0)) (margin $TASK_MARGIN)"; fail=1; }
[ $fail -eq 0 ] && echo "soak: flat (within margins)"
exit $fail
