#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called through trap
# End-to-end benchmark of shardcat against a direct connection to MariaDB and
# a bare TCP hop (HAProxy, mode tcp), in one run, with sysbench.
#
#   scripts/bench.sh                 # the whole comparison (~7 minutes)
#   scripts/bench.sh --idle          # ... plus 10,000 idle clients on shardcat
#   scripts/bench.sh --idle-only     # only the idle-connections test (= scripts/bench-idle.sh)
#   scripts/bench.sh --profile       # ... plus a perf profile of shardcat under point selects
#
# What it does (everything on 127.0.0.1, on free ports, in a temporary dir):
#   1. builds shardcat (cargo build --release); installs sysbench and haproxy
#      with apt-get when missing;
#   2. brings up the MariaDB topology (scripts/topology.sh up --dir ...):
#      node n1 = primary + 2 replicas, node n2 = primary + 1 replica;
#   3. starts HAProxy in plain TCP mode with one backend, n1's primary;
#   4. starts shardcat with read/write splitting over n1 (primary + 2 replicas),
#      and "sharded": shardcat with a [[table]] hash_mod rule on
#      sbtest_sharded.sbtest1.id over n1 and n2 (one physical table each,
#      read/write split on both nodes), if `shardcat check` accepts it;
#   5. prepares sbtest.sbtest1 (10,000 rows) on n1's primary with sysbench; for
#      "sharded" creates sbtest_sharded.sbtest1 through the sharded proxy and
#      loads the same number of rows with explicit ids (sysbench's prepare
#      leaves id to AUTO_INCREMENT, which a sharded table refuses); waits
#      (GTID) for all replicas;
#   6. runs the workloads in interleaved rounds (round r: each workload on
#      direct, haproxy, shardcat, sharded in turn), each run --time seconds;
#   7. prints a markdown table (QPS, p95, proxy CPU µs per query, MariaDB CPU
#      µs per query, peak RSS) and appends it to BENCHMARKS.md with the date
#      and the command.
# Everything it started is stopped on exit (trap), including on Ctrl-C.
#
# Options:
#   --time S          seconds per run (default 10)
#   --rounds N        interleaved rounds (default 2)
#   --threads N       sysbench threads (default 4)
#   --workloads LIST  comma-separated subset of: point_select_text,
#                     point_select_ps, read_only_text, read_only_ps, read_write_ps,
#                     read_write_ids (oltp_read_write, prepared, --auto_inc=off:
#                     explicit ids, so it runs on the sharded target too)
#   --primary-only    also run "shardcat_primary": shardcat with
#                     read_write_split = false (every statement to n1's
#                     primary, like the other targets): separates the proxy's
#                     own cost from the cost of spreading reads over 3 servers
#   --no-digests      also run "shardcat_nodigest": shardcat with [admin]
#                     digests = false (the query-digest cost per statement:
#                     compare with "shardcat", whose digests are on)
#   --one-worker      also run "shardcat_1w" (and "sharded_1w" beside
#                     "sharded"): shardcat with [server]
#                     worker_threads = 1 (one runtime thread: fewer context
#                     switches and no work stealing; compare with "shardcat")
#   --idle            also run the idle-connections test (--idle-count, default 10000)
#   --idle-only       run only the idle-connections test
#   --idle-count N    idle connections to open (default 10000)
#   --profile         also profile shardcat with perf during a point-select run
#   --profile-time S  length of the profiled run (default 10)
#   --no-append       do not append to BENCHMARKS.md
#   --no-build        use the existing release binary
#   --keep            keep the temporary directory (logs, raw results)
# Environment: CARGO_TARGET_DIR (where the binary is), SHARDCAT_BENCH_BASE_PORT
# (first port probed; default random in 27000..28990), SHARDCAT_BENCH_LOG
# (shardcat's SHARDCAT_LOG filter; default "info": health changes are logged).
set -euo pipefail

SC_NAME=bench
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/shardcat"
CMDLINE="scripts/bench.sh${*:+ $*}"

TIME=10
ROUNDS=2
THREADS=4
TABLE_SIZE=10000
WORKLOADS="point_select_text,point_select_ps,read_only_text,read_only_ps,read_write_ps,read_write_ids"
IDLE=0
IDLE_ONLY=0
IDLE_COUNT=10000
PROFILE=0
PROFILE_TIME=10
APPEND=1
BUILD=1
KEEP=0
PRIMARY_ONLY=0
NO_DIGESTS=0
ONE_WORKER=0
PROXY_LOG="${SHARDCAT_BENCH_LOG:-info}"


while (($#)); do
  case "$1" in
    --time) TIME="${2:?}"; shift 2 ;;
    --rounds) ROUNDS="${2:?}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --workloads) WORKLOADS="${2:?}"; shift 2 ;;
    --primary-only) PRIMARY_ONLY=1; shift ;;
    --no-digests) NO_DIGESTS=1; shift ;;
    --one-worker) ONE_WORKER=1; shift ;;
    --idle) IDLE=1; shift ;;
    --idle-only) IDLE=1; IDLE_ONLY=1; shift ;;
    --idle-count) IDLE_COUNT="${2:?}"; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --profile-time) PROFILE_TIME="${2:?}"; shift 2 ;;
    --no-append) APPEND=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
for v in TIME ROUNDS THREADS IDLE_COUNT PROFILE_TIME; do
  if ! is_uint "${!v}" || ((${!v} == 0)); then die "$v needs a positive integer"; fi
done
((TIME <= 120)) || die "--time is capped at 120 s per run"
((ROUNDS <= 10)) || die "--rounds is capped at 10"
((IDLE_COUNT <= 30000)) || die "--idle-count is capped at 30000"

declare -A WL_LUA=(
  [point_select_text]=oltp_point_select [point_select_ps]=oltp_point_select
  [read_only_text]=oltp_read_only [read_only_ps]=oltp_read_only
  [read_write_ps]=oltp_read_write [read_write_ids]=oltp_read_write
)
declare -A WL_PS=(
  [point_select_text]=disable [point_select_ps]=auto
  [read_only_text]=disable [read_only_ps]=auto
  [read_write_ps]=auto [read_write_ids]=auto
)
# Extra sysbench options per workload. read_write_ids inserts the id it
# deleted (--auto_inc=off) instead of leaving it to AUTO_INCREMENT, which a
# sharded table refuses: the same statements on every target, sharded too.
declare -A WL_EXTRA=([read_write_ids]=--auto_inc=off)
IFS=, read -r -a WL_LIST <<<"$WORKLOADS"
for w in "${WL_LIST[@]}"; do
  [[ -n "${WL_LUA[$w]+x}" ]] || die "unknown workload '$w' (known: ${!WL_LUA[*]})"
done

# ---------------------------------------------------------------- cleanup

WORK=""
TOPO_DIR=""
HAPROXY_PID=""
SHARDCAT_PID=""
SHARDED_PID=""
PRIMARY_ONLY_PID=""
NO_DIGEST_PID=""
ONE_WORKER_PID=""
SHARDED_1W_PID=""
PERF_PID=""
PERF_REC_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$PERF_PID"
  stop_pid "$PERF_REC_PID"
  stop_pid "$SHARDED_PID"
  stop_pid "$SHARDED_1W_PID"
  stop_pid "$PRIMARY_ONLY_PID"
  stop_pid "$NO_DIGEST_PID"
  stop_pid "$ONE_WORKER_PID"
  stop_pid "$SHARDCAT_PID"
  stop_pid "$HAPROXY_PID"
  if [[ -n "$TOPO_DIR" && -d "$TOPO_DIR" ]]; then
    bash "$TOPOLOGY" down --dir "$TOPO_DIR" >/dev/null 2>&1 || true
  fi
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    if ((KEEP)); then note "kept $WORK"; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM

# ---------------------------------------------------------------- prerequisites

need_tool sysbench
((IDLE_ONLY)) || need_tool haproxy
need_tool python3
if ((PROFILE)) && ! command -v perf >/dev/null 2>&1; then
  note "installing linux-perf"
  apt_install linux-perf || note "linux-perf could not be installed: no profile"
fi

if ((BUILD)); then
  note "building shardcat (cargo build --release --bins)"
  cargo build --release --bins
fi
[[ -x "$BIN" ]] || die "$BIN not found (build first or set CARGO_TARGET_DIR)"

# Raise the open-file limit for shardcat and the idle clients.
want_nofile=$((IDLE_COUNT + 1024))
if (($(ulimit -n) < want_nofile)); then
  ulimit -n "$want_nofile" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi

# ---------------------------------------------------------------- ports, topology

# 13 ports: 6 for the topology, then haproxy, shardcat, sharded shardcat,
# primary-only, no-digest, one-worker shardcat and one-worker sharded shardcat.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/shardcat-bench.XXXXXX")"
probe="${SHARDCAT_BENCH_BASE_PORT:-$((27000 + (RANDOM % 200) * 10))}"
topology_up "$WORK" "$probe" 13
# shellcheck disable=SC1091
source "$TOPO_DIR/topology.env"
N1P=$SHARDCAT_TOPO_N1P_PORT
N1R1=$SHARDCAT_TOPO_N1R1_PORT
N1R2=$SHARDCAT_TOPO_N1R2_PORT
N2P=$SHARDCAT_TOPO_N2P_PORT
N2R1=$SHARDCAT_TOPO_N2R1_PORT
HAPROXY_PORT=$((BASE + 6))
SHARDCAT_PORT=$((BASE + 7))
SHARDED_PORT=$((BASE + 8))
PRIMARY_ONLY_PORT=$((BASE + 9))
NO_DIGEST_PORT=$((BASE + 10))
ONE_WORKER_PORT=$((BASE + 11))
SHARDED_1W_PORT=$((BASE + 12))
DB_USER=$SHARDCAT_TOPO_USER
DB_PASS=$SHARDCAT_TOPO_PASSWORD

server_pid() { tr -dc '0-9' <"$TOPO_DIR/$1/mysqld.pid"; }

# ---------------------------------------------------------------- proxies

write_shardcat_config() { # FILE PORT [extra TOML] [read_write_split] [extra [server] TOML]
  cat >"$1" <<EOF
# written by scripts/bench.sh
[server]
listen = "127.0.0.1:$2"
max_client_connections = 20000
${5:-}

[backend]
user = "$DB_USER"
password = "$DB_PASS"
pool_max = 64

[routing]
read_write_split = ${4:-true}
consistency = "session"
replica_policy = "round_robin"

[[user]]
name = "app"
password = "app"

[[node]]
name = "n1"
primary = "127.0.0.1:$N1P"
replicas = [{ addr = "127.0.0.1:$N1R1" }, { addr = "127.0.0.1:$N1R2" }]

[[node]]
name = "n2"
primary = "127.0.0.1:$N2P"
replicas = [{ addr = "127.0.0.1:$N2R1" }]
${3:-}
EOF
}

write_shardcat_config "$WORK/shardcat.toml" "$SHARDCAT_PORT"
note "starting shardcat on 127.0.0.1:$SHARDCAT_PORT (r/w split over n1)"
SHARDCAT_LOG="$PROXY_LOG" "$BIN" serve --config "$WORK/shardcat.toml" </dev/null >"$WORK/shardcat.log" 2>&1 &
SHARDCAT_PID=$!
wait_port "$SHARDCAT_PORT" "$SHARDCAT_PID" shardcat "$WORK/shardcat.log"
if ((PRIMARY_ONLY && IDLE_ONLY == 0)); then
  write_shardcat_config "$WORK/primary-only.toml" "$PRIMARY_ONLY_PORT" "" false
  note "starting shardcat_primary on 127.0.0.1:$PRIMARY_ONLY_PORT (read_write_split = false)"
  SHARDCAT_LOG="$PROXY_LOG" "$BIN" serve --config "$WORK/primary-only.toml" </dev/null >"$WORK/primary-only.log" 2>&1 &
  PRIMARY_ONLY_PID=$!
  wait_port "$PRIMARY_ONLY_PORT" "$PRIMARY_ONLY_PID" shardcat_primary "$WORK/primary-only.log"
fi
if ((NO_DIGESTS && IDLE_ONLY == 0)); then
  write_shardcat_config "$WORK/nodigest.toml" "$NO_DIGEST_PORT" $'[admin]\ndigests = false'
  note "starting shardcat_nodigest on 127.0.0.1:$NO_DIGEST_PORT ([admin] digests = false)"
  SHARDCAT_LOG="$PROXY_LOG" "$BIN" serve --config "$WORK/nodigest.toml" </dev/null >"$WORK/nodigest.log" 2>&1 &
  NO_DIGEST_PID=$!
  wait_port "$NO_DIGEST_PORT" "$NO_DIGEST_PID" shardcat_nodigest "$WORK/nodigest.log"
fi
if ((ONE_WORKER && IDLE_ONLY == 0)); then
  write_shardcat_config "$WORK/oneworker.toml" "$ONE_WORKER_PORT" "" true "worker_threads = 1"
  note "starting shardcat_1w on 127.0.0.1:$ONE_WORKER_PORT ([server] worker_threads = 1)"
  SHARDCAT_LOG="$PROXY_LOG" "$BIN" serve --config "$WORK/oneworker.toml" </dev/null >"$WORK/oneworker.log" 2>&1 &
  ONE_WORKER_PID=$!
  wait_port "$ONE_WORKER_PORT" "$ONE_WORKER_PID" shardcat_1w "$WORK/oneworker.log"
fi

# Sharded target: only when the configuration accepts a [[table]] rule.
# hash_mod over an integer key is key mod 2: even ids in sbtest1_0 on n1,
# odd ids in sbtest1_1 on n2.
SHARDED=0
SHARDED_DB=sbtest_sharded
SHARDED_NOTE="sharded: not available yet"
SHARD_RULE="
[[table]]
name = \"sbtest1\"
schema = \"$SHARDED_DB\"
key = \"id\"
key_type = \"int\"
algorithm = { kind = \"hash_mod\" }
nodes = [\"n1\", \"n2\"]
tables_per_node = 1"
write_shardcat_config "$WORK/sharded.toml" "$SHARDED_PORT" "$SHARD_RULE"
write_shardcat_config "$WORK/sharded1w.toml" "$SHARDED_1W_PORT" "$SHARD_RULE" true "worker_threads = 1"
if ((IDLE_ONLY)); then
  SHARDED_NOTE="sharded: not run (--idle-only)"
elif check_out="$("$BIN" check "$WORK/sharded.toml" 2>&1)"; then
  SHARDED=1
  SHARDED_NOTE="sharded: hash_mod on $SHARDED_DB.sbtest1.id over n1 and n2 (1 table per node, r/w split), loaded through the proxy with explicit ids"
else
  SHARDED_NOTE="sharded: not available yet ($(head -n1 <<<"$check_out" | sed "s|$WORK/||"))"
fi
note "$SHARDED_NOTE"

if ((IDLE_ONLY == 0)); then
  cat >"$WORK/haproxy.cfg" <<EOF
# written by scripts/bench.sh: one extra TCP hop, no SQL
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 5m
    timeout server 5m
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend be
backend be
    server n1p 127.0.0.1:$N1P
EOF
  note "starting haproxy (mode tcp) on 127.0.0.1:$HAPROXY_PORT -> n1 primary $N1P"
  haproxy -db -f "$WORK/haproxy.cfg" </dev/null >"$WORK/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  wait_port "$HAPROXY_PORT" "$HAPROXY_PID" haproxy "$WORK/haproxy.log"
fi

# ---------------------------------------------------------------- data

# GTID wait on the replicas of a node for everything its primary has written.
wait_replicas() { # wait_replicas [PRIMARY REPLICA...]  (default: n1)
  local primary=${1:-n1p} pos r
  local replicas=("${@:2}")
  ((${#replicas[@]})) || replicas=(n1r1 n1r2)
  pos="$(root_sql "$primary" 'SELECT @@gtid_binlog_pos')"
  for r in "${replicas[@]}"; do
    [[ "$(root_sql "$r" "SELECT MASTER_GTID_WAIT('$pos', 120)")" == 0 ]] \
      || die "$r did not catch up with $pos"
  done
}

# The rows of sysbench's oltp_common prepare (k random in 1..N, c and pad of
# random digit groups), but with explicit ids 1..N, as multi-row INSERTs of
# 500 rows: a sharded table needs its key in every row.
sbtest_inserts() { # sbtest_inserts ROWS
  python3 - "$1" 500 <<'PY'
import random, sys
n, per = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(1)
def digits(groups):
    return "-".join("".join(str(r.randint(0, 9)) for _ in range(11)) for _ in range(groups))
for start in range(1, n + 1, per):
    rows = ",".join(f"({i},{r.randint(1, n)},'{digits(10)}','{digits(5)}')"
                    for i in range(start, min(start + per, n + 1)))
    print(f"INSERT INTO sbtest1 (id, k, c, pad) VALUES {rows};")
PY
}

# Creates and loads $SHARDED_DB.sbtest1 through the sharded proxy; returns
# non-zero when a step fails (the client's output is in load-sharded.log).
load_sharded() {
  local n sql=(mariadb --no-defaults -h127.0.0.1 -P"$SHARDED_PORT" -uapp -papp --batch --skip-column-names)
  "${sql[@]}" -e "CREATE DATABASE IF NOT EXISTS $SHARDED_DB" >>"$WORK/load-sharded.log" 2>&1 || return 1
  # sysbench's DDL (oltp_common.lua, MySQL driver); through the proxy it
  # creates sbtest1_0 on n1 and sbtest1_1 on n2
  "${sql[@]}" "$SHARDED_DB" -e "CREATE TABLE sbtest1 (
      id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0,
      c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '',
      PRIMARY KEY (id), KEY k_1 (k)) ENGINE = InnoDB" >>"$WORK/load-sharded.log" 2>&1 || return 1
  sbtest_inserts "$TABLE_SIZE" | "${sql[@]}" "$SHARDED_DB" >>"$WORK/load-sharded.log" 2>&1 || return 1
  n="$("${sql[@]}" "$SHARDED_DB" -e "SELECT COUNT(*) FROM sbtest1" 2>>"$WORK/load-sharded.log")" || return 1
  [[ "$n" == "$TABLE_SIZE" ]] || { echo "COUNT(*) through the proxy: $n" >>"$WORK/load-sharded.log"; return 1; }
}

sb_common=(--db-driver=mysql --mysql-host=127.0.0.1 --tables=1 --table-size="$TABLE_SIZE")

if ((IDLE_ONLY == 0)); then
  note "preparing sbtest.sbtest1 ($TABLE_SIZE rows) on n1's primary"
  root_sql n1p "CREATE DATABASE IF NOT EXISTS sbtest"
  timeout -k 5 300 sysbench oltp_common "${sb_common[@]}" --mysql-port="$N1P" \
    --mysql-user="$DB_USER" --mysql-password="$DB_PASS" --mysql-db=sbtest prepare >"$WORK/prepare.log" 2>&1 \
    || { cat "$WORK/prepare.log" >&2; die "sysbench prepare failed"; }
  wait_replicas
  for r in n1r1 n1r2; do
    n="$(root_sql "$r" 'SELECT COUNT(*) FROM sbtest.sbtest1')"
    [[ "$n" == "$TABLE_SIZE" ]] || die "$r has $n rows in sbtest1, not $TABLE_SIZE"
  done
  note "replicas have sbtest1"
  if ((SHARDED)); then
    note "starting sharded shardcat on 127.0.0.1:$SHARDED_PORT"
    SHARDCAT_LOG="$PROXY_LOG" "$BIN" serve --config "$WORK/sharded.toml" </dev/null >"$WORK/sharded.log" 2>&1 &
    SHARDED_PID=$!
    wait_port "$SHARDED_PORT" "$SHARDED_PID" "sharded shardcat" "$WORK/sharded.log"
    note "loading $SHARDED_DB.sbtest1 ($TABLE_SIZE rows, explicit ids) through the sharded proxy"
    if load_sharded; then
      wait_replicas n1p n1r1 n1r2
      wait_replicas n2p n2r1
      total=0
      for s in n1p:0 n1r1:0 n1r2:0 n2p:1 n2r1:1; do
        n="$(root_sql "${s%:*}" "SELECT COUNT(*) FROM $SHARDED_DB.sbtest1_${s#*:}")"
        ((n > 0)) || die "${s%:*} has no rows in $SHARDED_DB.sbtest1_${s#*:}"
        [[ "$s" != n?p:* ]] || total=$((total + n))
      done
      ((total == TABLE_SIZE)) || die "the two shards hold $total rows, not $TABLE_SIZE"
      note "n1 and n2 (and their replicas) have their shards of $SHARDED_DB.sbtest1"
      if ((ONE_WORKER)); then
        note "starting sharded_1w on 127.0.0.1:$SHARDED_1W_PORT ([server] worker_threads = 1)"
        SHARDCAT_LOG="$PROXY_LOG" "$BIN" serve --config "$WORK/sharded1w.toml" </dev/null >"$WORK/sharded1w.log" 2>&1 &
        SHARDED_1W_PID=$!
        wait_port "$SHARDED_1W_PORT" "$SHARDED_1W_PID" sharded_1w "$WORK/sharded1w.log"
      fi
    else
      note "loading through the sharded proxy failed: sharded target skipped"
      tail -n 5 "$WORK/load-sharded.log" >&2
      SHARDED=0
      SHARDED_NOTE="sharded: loading the table through the proxy failed"
    fi
  fi
fi

# Fails loudly if a proxy we started has exited (with its exit status).
check_alive() { # check_alive NAME PID LOG
  local rc=0
  [[ -n "$2" ]] || return 0
  kill -0 "$2" 2>/dev/null && return 0
  wait "$2" || rc=$?
  note "$1 (pid $2) has exited with status $rc$( ((rc > 128)) && echo " (signal $((rc - 128)))"); last lines of $3:"
  tail -n 20 "$3" >&2
  return 1
}

# ---------------------------------------------------------------- measuring

CLK_TCK="$(getconf CLK_TCK)"
# The servers a target uses: n1's three, and also n2's two for "sharded".
servers_of() { if [[ "$1" == sharded* ]]; then echo n1p n1r1 n1r2 n2p n2r1; else echo n1p n1r1 n1r2; fi; }
servers_ticks() { # servers_ticks TARGET: CPU ticks summed over its servers
  local t=0 n
  for n in $(servers_of "$1"); do t=$((t + $(cpu_ticks "$(server_pid "$n")"))); done
  echo "$t"
}
servers_questions() { # servers_questions TARGET: statements its servers received (Questions)
  local t=0 n
  for n in $(servers_of "$1"); do
    t=$((t + $(root_sql "$n" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'QUESTIONS'")))
  done
  echo "$t"
}

target_port() {
  case "$1" in
    direct) echo "$N1P" ;; haproxy) echo "$HAPROXY_PORT" ;;
    shardcat) echo "$SHARDCAT_PORT" ;; sharded) echo "$SHARDED_PORT" ;;
    shardcat_primary) echo "$PRIMARY_ONLY_PORT" ;;
    shardcat_nodigest) echo "$NO_DIGEST_PORT" ;;
    shardcat_1w) echo "$ONE_WORKER_PORT" ;;
    sharded_1w) echo "$SHARDED_1W_PORT" ;;
  esac
}
target_pid() {
  case "$1" in
    direct) echo "" ;; haproxy) echo "$HAPROXY_PID" ;;
    shardcat) echo "$SHARDCAT_PID" ;; sharded) echo "$SHARDED_PID" ;;
    shardcat_primary) echo "$PRIMARY_ONLY_PID" ;;
    shardcat_nodigest) echo "$NO_DIGEST_PID" ;;
    shardcat_1w) echo "$ONE_WORKER_PID" ;;
    sharded_1w) echo "$SHARDED_1W_PID" ;;
  esac
}
target_creds() {
  case "$1" in
    direct|haproxy) echo "$DB_USER $DB_PASS" ;; *) echo "app app" ;;
  esac
}
target_db() { if [[ "$1" == sharded* ]]; then echo "$SHARDED_DB"; else echo sbtest; fi; }

# run_sysbench TARGET LUA PSMODE SECONDS LOG [EXTRA]
run_sysbench() {
  local user pass extra=()
  read -r user pass <<<"$(target_creds "$1")"
  [[ -z "${6:-}" ]] || extra=("$6")
  timeout -k 5 $(($4 + 60)) sysbench "$2" "${sb_common[@]}" "${extra[@]}" --mysql-port="$(target_port "$1")" \
    --mysql-user="$user" --mysql-password="$pass" --mysql-db="$(target_db "$1")" \
    --db-ps-mode="$3" --threads="$THREADS" --time="$4" --events=0 --percentile=95 \
    --report-interval=0 run >"$5" 2>&1
}

RESULTS="$WORK/results.csv"
echo "round,workload,target,queries,qps,p95_ms,errors,proxy_ticks,server_ticks,seconds,server_statements" >"$RESULTS"

# run_one ROUND WORKLOAD TARGET
run_one() {
  local round=$1 wl=$2 target=$3 pid log rc=0 p0=0 p1=0 s0 s1 q0 q1 nserv queries qps p95 errs secs
  pid="$(target_pid "$target")"
  log="$WORK/run-$round-$wl-$target.log"
  check_alive shardcat "$SHARDCAT_PID" "$WORK/shardcat.log" || die "shardcat is gone before round $round $wl $target"
  check_alive "sharded shardcat" "$SHARDED_PID" "$WORK/sharded.log" \
    || die "the sharded shardcat is gone before round $round $wl $target"
  nserv="$(servers_of "$target" | wc -w)"
  q0="$(servers_questions "$target")"
  s0="$(servers_ticks "$target")"
  [[ -z "$pid" ]] || p0="$(cpu_ticks "$pid")"
  run_sysbench "$target" "${WL_LUA[$wl]}" "${WL_PS[$wl]}" "$TIME" "$log" "${WL_EXTRA[$wl]:-}" || rc=$?
  [[ -z "$pid" ]] || p1="$(cpu_ticks "$pid")"
  s1="$(servers_ticks "$target")"
  q1="$(servers_questions "$target")"
  queries="$(awk '/^ +queries:/ { print $2 }' "$log")"
  qps="$(awk '/^ +queries:/ { gsub(/\(/, "", $3); print $3 }' "$log")"
  p95="$(awk '/95th percentile:/ { print $3 }' "$log")"
  errs="$(awk '/^ +ignored errors:/ { print $3 }' "$log")"
  secs="$(awk '/total time:/ { sub(/s$/, "", $3); print $3 }' "$log")"
  if ((rc != 0)) || [[ -z "$queries" ]]; then
    note "round $round $wl $target: sysbench failed (exit $rc); last lines of $log:"
    tail -n 8 "$log" >&2
    echo "$round,$wl,$target,0,0,,,0,0,0,0" >>"$RESULTS"
    return 0
  fi
  # (minus the Questions of servers_questions itself, one per server)
  echo "$round,$wl,$target,$queries,$qps,$p95,$errs,$((p1 - p0)),$((s1 - s0)),$secs,$((q1 - q0 - nserv))" >>"$RESULTS"
  printf 'bench: round %s %-18s %-9s %8.0f qps  p95 %6s ms  proxy %s ticks  servers %s ticks\n' \
    "$round" "$wl" "$target" "$qps" "$p95" "$((p1 - p0))" "$((s1 - s0))" >&2
}

TARGETS=(direct haproxy shardcat)
((PRIMARY_ONLY)) && TARGETS+=(shardcat_primary)
((NO_DIGESTS)) && TARGETS+=(shardcat_nodigest)
((ONE_WORKER)) && TARGETS+=(shardcat_1w)
((SHARDED)) && TARGETS+=(sharded)
((SHARDED && ONE_WORKER)) && TARGETS+=(sharded_1w)
# The sharded target runs every workload but read_write_ps (sysbench's
# INSERTs there leave id to AUTO_INCREMENT; read_write_ids is its sharded
# form).
targets_for() {
  local t
  for t in "${TARGETS[@]}"; do
    if [[ "$t" == sharded* && "$1" == read_write_ps ]]; then continue; fi
    echo "$t"
  done
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
if ((IDLE_ONLY == 0)); then
  note "warm-up: 3 s of oltp_read_only per target"
  for t in "${TARGETS[@]}"; do
    run_sysbench "$t" oltp_read_only disable 3 "$WORK/warmup-$t.log" \
      || { tail -n 8 "$WORK/warmup-$t.log" >&2; die "warm-up through $t failed"; }
  done
  n_runs=0
  for wl in "${WL_LIST[@]}"; do n_runs=$((n_runs + $(targets_for "$wl" | wc -l))); done
  note "$ROUNDS rounds x $n_runs runs x ${TIME}s (~$((ROUNDS * n_runs * (TIME + 2) / 60 + 1)) min)"
  for round in $(seq "$ROUNDS"); do
    for wl in "${WL_LIST[@]}"; do
      for t in $(targets_for "$wl"); do run_one "$round" "$wl" "$t"; done
    done
  done
fi

# Peak memory of the proxies under the sysbench load (before the idle test).
SHARDCAT_HWM=$(($(vm_kib "$SHARDCAT_PID" VmHWM) / 1024))
HAPROXY_HWM="-"
[[ -z "$HAPROXY_PID" ]] || HAPROXY_HWM=$(($(vm_kib "$HAPROXY_PID" VmHWM) / 1024))
SHARDED_HWM=""
[[ -z "$SHARDED_PID" ]] || SHARDED_HWM=", sharded $(($(vm_kib "$SHARDED_PID" VmHWM) / 1024)) MiB"

# ---------------------------------------------------------------- profile

PROFILE_MD=""
if ((PROFILE && IDLE_ONLY == 0)); then
  if command -v perf >/dev/null 2>&1 && perf stat -e task-clock true >/dev/null 2>&1; then
    # Kernel-side counts per query for both proxies (software events and
    # syscall tracepoints work even where hardware counters do not).
    STAT_EVENTS=context-switches,cpu-migrations,raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write,syscalls:sys_enter_read
    STAT_ROWS=""
    for t in haproxy shardcat; do
      pid="$(target_pid "$t")"
      note "perf stat of $t during ${PROFILE_TIME}s of point_select_text"
      perf stat -x, -e "$STAT_EVENTS" -p "$pid" -o "$WORK/perf-stat-$t.csv" -- sleep "$((PROFILE_TIME + 1))" >/dev/null 2>&1 &
      PERF_PID=$!
      if [[ "$t" == shardcat ]]; then
        perf record -e cpu-clock -F 999 -g -p "$pid" -o "$WORK/perf.data" \
          -- sleep "$((PROFILE_TIME + 1))" >"$WORK/perf-record.log" 2>&1 &
        PERF_REC_PID=$!
      fi
      sleep 0.5
      p0="$(cpu_ticks "$pid")"
      run_sysbench "$t" oltp_point_select disable "$PROFILE_TIME" "$WORK/profile-run-$t.log" || true
      p1="$(cpu_ticks "$pid")"
      wait "$PERF_PID" || true
      PERF_PID=""
      if [[ -n "$PERF_REC_PID" ]]; then wait "$PERF_REC_PID" || true; PERF_REC_PID=""; fi
      q="$(awk '/^ +queries:/ { print $2 }' "$WORK/profile-run-$t.log")"
      [[ -n "$q" && "$q" != 0 ]] || continue
      STAT_ROWS+="$(awk -F, -v t="$t" -v q="$q" -v cpu="$(( (p1 - p0) * 1000000 / CLK_TCK / q ))" '
        $3 != "" && $1 ~ /^[0-9.]+$/ { n[$3] = $1 }
        END {
          printf "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", t, cpu,
            n["raw_syscalls:sys_enter"] / q, n["context-switches"] / q, n["syscalls:sys_enter_futex"] / q,
            n["syscalls:sys_enter_epoll_wait"] / q,
            (n["syscalls:sys_enter_sendto"] + n["syscalls:sys_enter_write"]) / q,
            (n["syscalls:sys_enter_recvfrom"] + n["syscalls:sys_enter_read"]) / q,
            n["cpu-migrations"] / q
        }' "$WORK/perf-stat-$t.csv")"$'\n'
    done
    # Lines: "  12.34%  [.] symbol" (user) or "[k]" (kernel).
    perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null \
      | awk '$1 ~ /%$/ && ($2 == "[.]" || $2 == "[k]") {
          sym = $3; for (i = 4; i <= NF && $i != "-"; i++) sym = sym " " $i
          if (length(sym) > 110) sym = substr(sym, 1, 107) "..."
          printf "| %s | %s | %s |\n", $1, ($2 == "[k]" ? "kernel" : "user"), sym
        }' | head -n 20 >"$WORK/perf-self.txt" || true
    perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio -g none --dsos shardcat 2>/dev/null \
      | awk '$1 ~ /%$/ && $2 == "[.]" {
          sym = $3; for (i = 4; i <= NF && $i != "-"; i++) sym = sym " " $i
          if (length(sym) > 110) sym = substr(sym, 1, 107) "..."
          printf "| %s | %s |\n", $1, sym
        }' | head -n 20 >"$WORK/perf-user.txt" || true
    perf report -i "$WORK/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
      | awk '$1 ~ /%$/ { printf "%s %s; ", $1, $2 }' >"$WORK/perf-dso.txt" || true
    PROFILE_MD="$(
      echo "perf profile of shardcat: ${PROFILE_TIME}s of oltp_point_select (text, $THREADS threads), cpu-clock at 999 Hz, self time."
      echo "By object: $(cat "$WORK/perf-dso.txt")"
      echo
      echo "Per query, oltp_point_select (text) for ${PROFILE_TIME}s (perf stat; shardcat's CPU is inflated by perf record running at the same time):"
      echo
      echo "| proxy | CPU µs | syscalls | context switches | futex | epoll_wait | send/write | recv/read | migrations |"
      echo "|---|---|---|---|---|---|---|---|---|"
      printf '%s' "$STAT_ROWS"
      echo
      echo "| % of samples | where | function |"
      echo "|---|---|---|"
      cat "$WORK/perf-self.txt"
      echo
      echo "Top functions of the shardcat binary itself (% of all samples):"
      echo
      echo "| % of samples | function |"
      echo "|---|---|"
      cat "$WORK/perf-user.txt"
    )"
    printf '%s\n' "$PROFILE_MD"
  else
    note "perf is not usable here: no profile"
  fi
fi

# ---------------------------------------------------------------- idle connections

IDLE_MD=""
if ((IDLE)); then
  note "idle test: $IDLE_COUNT connections to shardcat"
  rc=0
  python3 "$ROOT/scripts/idle_conns.py" --port "$SHARDCAT_PORT" --user app --password app \
    --count "$IDLE_COUNT" --pid "$SHARDCAT_PID" --hold 5 --timeout 240 >"$WORK/idle.out" 2>"$WORK/idle.err" || rc=$?
  cat "$WORK/idle.err" >&2
  check_alive shardcat "$SHARDCAT_PID" "$WORK/shardcat.log" || SHARDCAT_PID=""
  kv() { awk -F= -v k="$1" '$1 == k { print $2 }' "$WORK/idle.out"; }
  if [[ -n "$(kv connected)" ]]; then
    rss_before=$(($(kv rss_before_kib) / 1024))
    rss_held=$(($(kv rss_after_ping_kib) / 1024))
    hwm=$(($(kv hwm_kib) / 1024))
    per=$(( ($(kv rss_after_ping_kib) - $(kv rss_before_kib)) * 1024 / ($(kv alive_after_hold) > 0 ? $(kv alive_after_hold) : 1) ))
    verdict="FAIL"
    if ((rc == 0 && hwm < 256)); then verdict="ok"; fi
    IDLE_MD="$(
      echo "| idle clients | connected | answered COM_PING after 5 s | shardcat RSS before | RSS held | bytes / conn | peak RSS (VmHWM) | target < 256 MB |"
      echo "|---|---|---|---|---|---|---|---|"
      echo "| $IDLE_COUNT | $(kv connected) ($(kv failed) failed, $(kv connect_seconds) s) | $(kv alive_after_hold) | ${rss_before} MiB | ${rss_held} MiB | ${per} | ${hwm} MiB | $verdict |"
    )"
  else
    IDLE_MD="idle test failed: $(tail -n 1 "$WORK/idle.err")"
  fi
  printf '\n%s\n' "$IDLE_MD"
fi

# ---------------------------------------------------------------- report

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY=""
if [[ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]]; then DIRTY="+dirty"; fi
VERSIONS="shardcat ${REV}${DIRTY}, $(mariadbd --version | awk '{print $3}'), $(sysbench --version), $(haproxy -v 2>/dev/null | awk 'NR == 1 { print "HAProxy " $3 }')"

TABLE_MD=""
if ((IDLE_ONLY == 0)); then
  TABLE_MD="$(python3 - "$RESULTS" "$CLK_TCK" <<'PY'
import csv, sys
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1])))
tick_us = 1e6 / int(sys.argv[2])
runs = defaultdict(list)
order_w, order_t = [], []
for r in rows:
    runs[(r["workload"], r["target"])].append(r)
    if r["workload"] not in order_w: order_w.append(r["workload"])
    if r["target"] not in order_t: order_t.append(r["target"])
def agg(w, t):
    rs = [r for r in runs.get((w, t), []) if int(r["queries"]) > 0]
    if not rs: return None
    q = sum(int(r["queries"]) for r in rs)
    per = [int(r["proxy_ticks"]) * tick_us / int(r["queries"]) for r in rs]
    return dict(
        n=len(rs), failed=len(runs[(w, t)]) - len(rs),
        qps=sum(float(r["qps"]) for r in rs) / len(rs),
        p95=sum(float(r["p95_ms"] or 0) for r in rs) / len(rs),
        proxy=sum(int(r["proxy_ticks"]) for r in rs) * tick_us / q,
        lo=min(per), hi=max(per),
        server=sum(int(r["server_ticks"]) for r in rs) * tick_us / q,
        stmts=sum(int(r["server_statements"]) for r in rs) / q,
        errors=sum(int(r["errors"] or 0) for r in rs))
print("| workload | target | QPS | QPS / direct | p95 ms | proxy CPU µs/query (min–max per run) | proxy CPU / HAProxy | MariaDB CPU µs/query (n1's 3 servers; sharded: + n2's 2) | server statements / query |")
print("|---|---|---|---|---|---|---|---|---|")
for w in order_w:
    d, h = agg(w, "direct"), agg(w, "haproxy")
    for t in order_t:
        a = agg(w, t)
        if (w, t) not in runs: continue
        if a is None:
            print(f"| {w} | {t} | failed | | | | | | |"); continue
        ratio = f"{a['qps'] / d['qps']:.2f}" if d else "–"
        if t == "direct":
            proxy, vs = "– (no proxy)", "–"
        else:
            proxy = f"{a['proxy']:.0f} ({a['lo']:.0f}–{a['hi']:.0f})"
            vs = f"{a['proxy'] / h['proxy']:.2f}×" if h and t != "haproxy" and h["proxy"] > 0 else "–"
        extra = []
        if a["failed"]: extra.append(f"{a['failed']} run(s) failed")
        if a["errors"]: extra.append(f"{a['errors']} ignored errors")
        note = f" ({', '.join(extra)})" if extra else ""
        print(f"| {w} | {t}{note} | {a['qps']:.0f} | {ratio} | {a['p95']:.2f} | {proxy} | {vs} | {a['server']:.0f} | {a['stmts']:.2f} |")
PY
)"
fi

SUMMARY="$(
  echo "### $(date -u '+%Y-%m-%d %H:%M UTC') — \`$CMDLINE\`"
  echo
  echo "$(nproc) cores; load average $LOAD_BEFORE before, $LOAD_AFTER after; $VERSIONS."
  if ((IDLE_ONLY == 0)); then
    echo "$ROUNDS interleaved rounds of ${TIME}s per run, $THREADS threads, sbtest1 with $TABLE_SIZE rows;"
    echo "figures are means over rounds (CPU per query: total CPU / total queries)."
    echo "Peak RSS (VmHWM): shardcat ${SHARDCAT_HWM} MiB${SHARDED_HWM}, HAProxy ${HAPROXY_HWM} MiB. $SHARDED_NOTE."
    echo
    echo "$TABLE_MD"
  fi
  if [[ -n "$IDLE_MD" ]]; then echo; echo "$IDLE_MD"; fi
  if [[ -n "$PROFILE_MD" ]]; then echo; echo "$PROFILE_MD"; fi
)"

printf '\n%s\n\n' "$SUMMARY"
if ((APPEND)); then
  [[ -f "$ROOT/BENCHMARKS.md" ]] || printf '# shardcat benchmarks\n\n## Results\n' >"$ROOT/BENCHMARKS.md"
  printf '\n%s\n' "$SUMMARY" >>"$ROOT/BENCHMARKS.md"
  note "appended to BENCHMARKS.md"
fi
if ((KEEP)); then cp "$RESULTS" "$WORK/results.csv" 2>/dev/null || true; fi
