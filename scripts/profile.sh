#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called through trap
# Instruction-count profile of shardcat under fixed sysbench workloads:
# where the proxy's CPU goes, and how many instructions one client query
# costs. Counting instructions (valgrind's callgrind) instead of timing
# makes before/after comparisons stable on a busy machine, where
# wall-clock and CPU-time ratios move by ±15 %.
#
#   bash scripts/topology.sh up --dir /tmp/topo --base-port 24600
#   SHARDCAT_TOPOLOGY_ENV=/tmp/topo/topology.env scripts/profile.sh
#   scripts/profile.sh --workloads ro_sharded --events 200 --top 40
#
# What it does:
#   1. on the given topology, prepares sbtest.sbtest1 (10,000 rows) on n1's
#      primary and sbtest_sharded.sbtest1 through a sharded shardcat (hash_mod
#      on id over n1 and n2, one physical table per node, as scripts/bench.sh),
#      each only when missing, and waits (GTID) for the replicas;
#   2. for each workload, starts the release binary under
#      `valgrind --tool=callgrind --instr-atstart=no`, warms it up with
#      --warmup sysbench events (not counted), switches instrumentation on
#      (`callgrind_control -i on`), runs --events events with one sysbench
#      thread, dumps the counts (`callgrind_control -d`) and stops it;
#   3. prints, per workload, the instructions (Ir) per client query and per
#      event, and the top functions by inclusive and by self cost
#      (`callgrind_annotate`); the raw callgrind files stay in --out.
#
# Workloads (sysbench, --db-ps-mode=disable unless _ps):
#   ps_rw       oltp_point_select through read/write splitting (unsharded)
#   psps_rw     the same with binary prepared statements
#   ps_sharded  oltp_point_select on the sharded table
#   psps_sharded  the same with binary prepared statements
#   ro_rw       oltp_read_only through read/write splitting (unsharded)
#   ro_sharded  oltp_read_only on the sharded table (BEGIN, 10 point selects,
#               4 range/SUM/ORDER BY/DISTINCT selects over both nodes, COMMIT)
#   ro_sharded4 the same over 2 physical tables per node (sbtest_sharded4,
#               tables_per_node = 2): each range select reads 2 tables per
#               node inside the transaction
#   ro_sharded_ro  the same inside START TRANSACTION READ ONLY (sysbench's
#               --mysql-... has no such switch: a lua wrapper sends it)
#   rw_rw       oltp_read_write --auto_inc=off (explicit ids) through R/W
#               splitting (every statement to the primary)
#   rw_sharded  the same on the sharded table (writes to both nodes)
#
# Options:
#   --workloads LIST  comma-separated (default: ps_rw,ps_sharded,ro_rw,ro_sharded)
#   --events N        counted sysbench events (default 2000 point selects;
#                     read_only workloads use N/10 transactions)
#   --warmup N        uncounted events first (default 200)
#   --top N           functions listed per workload (default 25)
#   --out DIR         where callgrind files and the summary go (default: a temp dir, kept)
#   --port P          first proxy port (default: topology base port + 10)
#   --config-extra S  TOML appended to the [routing] section of every proxy
# Environment: SHARDCAT_TOPOLOGY_ENV (required), CARGO_TARGET_DIR.
set -euo pipefail

SC_NAME=profile
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shardcat"
WORKLOADS="ps_rw,ps_sharded,ro_rw,ro_sharded"
EVENTS=2000
WARMUP=200
TOP=25
OUT=""
PORT=""
ROUTING_EXTRA=""
TABLE_SIZE=10000


while (($#)); do
  case "$1" in
    --workloads) WORKLOADS="${2:?}"; shift 2 ;;
    --events) EVENTS="${2:?}"; shift 2 ;;
    --warmup) WARMUP="${2:?}"; shift 2 ;;
    --top) TOP="${2:?}"; shift 2 ;;
    --out) OUT="${2:?}"; shift 2 ;;
    --port) PORT="${2:?}"; shift 2 ;;
    --config-extra) ROUTING_EXTRA="${2:?}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[[ -n "${SHARDCAT_TOPOLOGY_ENV:-}" && -f "$SHARDCAT_TOPOLOGY_ENV" ]] \
  || die "SHARDCAT_TOPOLOGY_ENV must name a topology.env (scripts/topology.sh up)"
# shellcheck disable=SC1090
source "$SHARDCAT_TOPOLOGY_ENV"
[[ -x "$BIN" ]] || die "$BIN not found: cargo build --release"
for tool in valgrind callgrind_control callgrind_annotate sysbench mariadb python3; do
  command -v "$tool" >/dev/null || die "$tool is needed (apt-get install valgrind sysbench)"
done
TOPO_DIR=$SHARDCAT_TOPO_DIR
PORT=${PORT:-$((SHARDCAT_TOPO_BASE_PORT + 10))}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/shardcat-profile.XXXXXX")}
mkdir -p "$OUT"

PROXY_PID=""
stop_proxy() {
  [[ -n "$PROXY_PID" ]] || return 0
  stop_pid "$PROXY_PID" 10
  wait "$PROXY_PID" 2>/dev/null || true
  PROXY_PID=""
}
trap 'stop_proxy' EXIT
trap 'note interrupted; exit 130' INT TERM

wait_replicas() { # wait_replicas PRIMARY REPLICA...
  local pos r
  pos="$(root_sql "$1" 'SELECT @@gtid_binlog_pos')"
  for r in "${@:2}"; do
    [[ "$(root_sql "$r" "SELECT MASTER_GTID_WAIT('$pos', 120)")" == 0 ]] || die "$r did not catch up"
  done
}
questions() { # statements the five node servers received (Questions)
  local t=0 n
  for n in n1p n1r1 n1r2 n2p n2r1; do
    t=$((t + $(root_sql "$n" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'QUESTIONS'")))
  done
  echo "$t"
}

write_config() { # FILE PORT SHARDED(0|1)
  cat >"$1" <<EOF
# written by scripts/profile.sh
[server]
listen = "127.0.0.1:$2"

[backend]
user = "$SHARDCAT_TOPO_USER"
password = "$SHARDCAT_TOPO_PASSWORD"
pool_max = 64

[routing]
read_write_split = true
consistency = "session"
replica_policy = "round_robin"
$ROUTING_EXTRA

[[user]]
name = "app"
password = "app"

[[node]]
name = "n1"
primary = "127.0.0.1:$SHARDCAT_TOPO_N1P_PORT"
replicas = [{ addr = "127.0.0.1:$SHARDCAT_TOPO_N1R1_PORT" }, { addr = "127.0.0.1:$SHARDCAT_TOPO_N1R2_PORT" }]

[[node]]
name = "n2"
primary = "127.0.0.1:$SHARDCAT_TOPO_N2P_PORT"
replicas = [{ addr = "127.0.0.1:$SHARDCAT_TOPO_N2R1_PORT" }]
EOF
  if (($3)); then
    cat >>"$1" <<'EOF'

[[table]]
name = "sbtest1"
schema = "sbtest_sharded"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 1

[[table]]
name = "sbtest1"
schema = "sbtest_sharded4"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
EOF
  fi
}
write_config "$OUT/rw.toml" "$PORT" 0
write_config "$OUT/sharded.toml" "$PORT" 1

# ---------------------------------------------------------------- data

sb_common=(--db-driver=mysql --mysql-host=127.0.0.1 --tables=1 --table-size="$TABLE_SIZE")
rows_in() { root_sql "$1" "SELECT COUNT(*) FROM $2" 2>/dev/null || echo 0; }

if [[ "$(rows_in n1p sbtest.sbtest1)" != "$TABLE_SIZE" ]]; then
  note "preparing sbtest.sbtest1 on n1's primary"
  root_sql n1p "DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest"
  sysbench oltp_common "${sb_common[@]}" --mysql-port="$SHARDCAT_TOPO_N1P_PORT" \
    --mysql-user="$SHARDCAT_TOPO_USER" --mysql-password="$SHARDCAT_TOPO_PASSWORD" \
    --mysql-db=sbtest prepare >"$OUT/prepare.log" 2>&1 || { cat "$OUT/prepare.log" >&2; die "prepare failed"; }
fi
create_sharded() { # create_sharded SCHEMA: sbtest1 through a sharded shardcat
  note "creating $1.sbtest1 through a sharded shardcat"
  "$BIN" serve --config "$OUT/sharded.toml" </dev/null >"$OUT/proxy.log" 2>&1 &
  PROXY_PID=$!
  wait_port "$PORT" "$PROXY_PID" shardcat "$OUT/proxy.log" 60
  sql=(mariadb --no-defaults -h127.0.0.1 -P"$PORT" -uapp -papp --batch --skip-column-names)
  "${sql[@]}" -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1"
  "${sql[@]}" "$1" -e "CREATE TABLE sbtest1 (
      id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0,
      c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '',
      PRIMARY KEY (id), KEY k_1 (k)) ENGINE = InnoDB"
  python3 - "$TABLE_SIZE" <<'PY' | "${sql[@]}" "$1"
import random, sys
n, per = int(sys.argv[1]), 500
r = random.Random(1)
def digits(groups):
    return "-".join("".join(str(r.randint(0, 9)) for _ in range(11)) for _ in range(groups))
for start in range(1, n + 1, per):
    rows = ",".join(f"({i},{r.randint(1, n)},'{digits(10)}','{digits(5)}')"
                    for i in range(start, min(start + per, n + 1)))
    print(f"INSERT INTO sbtest1 (id, k, c, pad) VALUES {rows};")
PY
  stop_proxy
}
sharded_rows=$(($(rows_in n1p sbtest_sharded.sbtest1_0) + $(rows_in n2p sbtest_sharded.sbtest1_1)))
((sharded_rows == TABLE_SIZE)) || create_sharded sbtest_sharded
sharded4_rows=0
for t in n1p:0 n1p:1 n2p:2 n2p:3; do
  sharded4_rows=$((sharded4_rows + $(rows_in "${t%%:*}" "sbtest_sharded4.sbtest1_${t##*:}")))
done
((sharded4_rows == TABLE_SIZE)) || create_sharded sbtest_sharded4
wait_replicas n1p n1r1 n1r2
wait_replicas n2p n2r1

# ---------------------------------------------------------------- workloads

# A sysbench script running oltp_read_only's transaction inside
# START TRANSACTION READ ONLY.
cat >"$OUT/oltp_read_only_ro.lua" <<'EOF'
require("oltp_common")
function prepare_statements()
  prepare_point_selects()
  prepare_simple_ranges()
  prepare_sum_ranges()
  prepare_order_ranges()
  prepare_distinct_ranges()
end
function event()
  con:query("START TRANSACTION READ ONLY")
  execute_point_selects()
  execute_simple_ranges()
  execute_sum_ranges()
  execute_order_ranges()
  execute_distinct_ranges()
  con:query("COMMIT")
end
EOF

workload() { # workload NAME -> "config db lua ps_mode events"
  local ro=$((EVENTS / 10))
  ((ro > 0)) || ro=1
  case "$1" in
    ps_rw) echo "rw sbtest oltp_point_select disable $EVENTS" ;;
    ps_sharded) echo "sharded sbtest_sharded oltp_point_select disable $EVENTS" ;;
    psps_sharded) echo "sharded sbtest_sharded oltp_point_select auto $EVENTS" ;;
    psps_rw) echo "rw sbtest oltp_point_select auto $EVENTS" ;;
    ro_rw) echo "rw sbtest oltp_read_only disable $ro" ;;
    ro_sharded) echo "sharded sbtest_sharded oltp_read_only disable $ro" ;;
    ro_sharded4) echo "sharded sbtest_sharded4 oltp_read_only disable $ro" ;;
    ro_sharded_ro) echo "sharded sbtest_sharded $OUT/oltp_read_only_ro.lua disable $ro" ;;
    rw_rw) echo "rw sbtest oltp_read_write disable $ro --auto_inc=off" ;;
    rw_sharded) echo "sharded sbtest_sharded oltp_read_write disable $ro --auto_inc=off" ;;
    *) die "unknown workload $1" ;;
  esac
}

run_sysbench() { # run_sysbench DB LUA PS EVENTS [EXTRA] -> sysbench output
  local lua=$2 extra=()
  [[ -z "${5:-}" ]] || extra=("$5")
  local path=(env)
  if [[ "$lua" == /* ]]; then
    path=(env LUA_PATH="/usr/share/sysbench/?.lua;;")
  fi
  "${path[@]}" sysbench "$lua" "${sb_common[@]}" "${extra[@]}" --mysql-port="$PORT" --mysql-user=app \
    --mysql-password=app --mysql-db="$1" --db-ps-mode="$3" --threads=1 --time=0 \
    --events="$4" --rand-seed=1 run
}

# The first --top function lines of a callgrind_annotate listing, paths shortened.
top_lines() { # top_lines FILE
  sed -n '/file:function/,$p' "$1" | sed -n '3,$p' | grep -v '^ *$' | head -n "$TOP" \
    | sed -E 's/ \[[^]]*\]$//; s#/rustc/[0-9a-f]+/library/##; s#'"$ROOT"'/##; s#/root/.cargo/registry/src/[^/]+/##' \
    | cut -c1-170 || true
}

SUMMARY="$OUT/summary.md"
: >"$SUMMARY"
IFS=, read -r -a WL_LIST <<<"$WORKLOADS"
for wl in "${WL_LIST[@]}"; do
  read -r cfg db lua ps events extra <<<"$(workload "$wl")"
  # Server statements per client query: the same events natively (the
  # servers' Questions, minus the one per server that reads them; health
  # checks add a little).
  "$BIN" serve --config "$OUT/$cfg.toml" </dev/null >"$OUT/proxy.log" 2>&1 &
  PROXY_PID=$!
  wait_port "$PORT" "$PROXY_PID" shardcat "$OUT/proxy.log" 60
  q0=$(questions)
  run_sysbench "$db" "$lua" "$ps" "$events" "$extra" >"$OUT/statements.$wl.log" 2>&1 \
    || { tail "$OUT/statements.$wl.log" >&2; die "statements run failed"; }
  q1=$(questions)
  stop_proxy
  squeries="$(awk '/queries:/ { print $2; exit }' "$OUT/statements.$wl.log")"
  per_query="$(python3 -c "print(f'{($q1 - $q0 - 5) / $squeries:.2f}')")"
  note "$wl: shardcat ($cfg) under callgrind"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.$wl.%p" \
    "$BIN" serve --config "$OUT/$cfg.toml" </dev/null >"$OUT/proxy.log" 2>&1 &
  PROXY_PID=$!
  wait_port "$PORT" "$PROXY_PID" shardcat "$OUT/proxy.log" 60
  run_sysbench "$db" "$lua" "$ps" "$WARMUP" "$extra" >"$OUT/warmup.$wl.log" 2>&1 \
    || { tail "$OUT/warmup.$wl.log" >&2; die "warm-up failed"; }
  callgrind_control -i on "$PROXY_PID" >/dev/null
  run_sysbench "$db" "$lua" "$ps" "$events" "$extra" >"$OUT/run.$wl.log" 2>&1 \
    || { tail "$OUT/run.$wl.log" >&2; die "run failed"; }
  callgrind_control -d "$PROXY_PID" >/dev/null
  callgrind_control -i off "$PROXY_PID" >/dev/null
  file="$(ls -t "$OUT"/callgrind."$wl".*.1 2>/dev/null | head -n1)"
  stop_proxy
  [[ -n "$file" ]] || die "no callgrind dump for $wl"
  queries="$(awk '/queries:/ { print $2; exit }' "$OUT/run.$wl.log")"
  errors="$(awk '/ignored errors:/ { print $3; exit }' "$OUT/run.$wl.log")"
  callgrind_annotate --inclusive=yes "$file" >"$OUT/inclusive.$wl.txt" 2>/dev/null
  callgrind_annotate "$file" >"$OUT/self.$wl.txt" 2>/dev/null
  total="$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$OUT/self.$wl.txt")"
  {
    echo "### $wl ($cfg proxy, $lua, ps-mode $ps, $events events, $queries queries, $errors errors)"
    echo
    echo "Ir total: $total; per query: $((total / queries)); per event: $((total / events)); server statements per query: $per_query"
    echo
    echo "Top $TOP by self cost (Ir, % of total):"
    echo '```'
    top_lines "$OUT/self.$wl.txt"
    echo '```'
    echo
    echo "Top $TOP by inclusive cost:"
    echo '```'
    top_lines "$OUT/inclusive.$wl.txt"
    echo '```'
    echo
  } | tee -a "$SUMMARY"
done
note "summary: $SUMMARY (callgrind files in $OUT)"
