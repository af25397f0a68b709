#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called through trap
# Cross-shard results: time, proxy CPU and proxy memory of large and merged
# scatter queries through shardcat, against the same query on one MariaDB
# server holding all the rows, in one run.
#
#   scripts/bench-scatter.sh                  # 1,000,000 rows (~3-4 minutes)
#   scripts/bench-scatter.sh --rows 200000    # smaller
#
# What it does (everything on 127.0.0.1, on free ports, in a temporary dir):
#   1. builds shardcat (cargo build --release --bins) unless --no-build;
#   2. brings up the MariaDB topology (scripts/topology.sh up --dir ...);
#   3. starts shardcat with `big` hashed by id over n1 and n2, 2 tables per
#      node (big_0..big_3), read/write splitting off (every read on the
#      primaries, so no replica lag is involved);
#   4. creates `big` through shardcat, loads --rows rows into the physical
#      tables directly on the primaries (MariaDB's sequence engine, row id
#      in big_<id mod 4>, binary log off) and the same rows into one table
#      on the reference server `ref`;
#   5. runs each query with the mariadb client (--quick: rows streamed, not
#      buffered by the client) through shardcat and directly on `ref`,
#      --repeat times each, and reports wall time per query, shardcat CPU
#      per query (utime+stime from /proc) and shardcat's peak RSS during the
#      query (VmHWM, reset before each query through /proc/PID/clear_refs);
#   6. prints a markdown table and appends it to BENCHMARKS.md.
# Everything it started is stopped on exit (trap), including on Ctrl-C.
#
# Options:
#   --rows N       rows in `big` (default 1000000, at most 5000000)
#   --repeat N     runs of each query per target (default 3)
#   --no-append    do not append to BENCHMARKS.md
#   --no-build     use the existing release binary
#   --keep         keep the temporary directory (logs)
# Environment: CARGO_TARGET_DIR (where the binary is), SHARDCAT_BENCH_BASE_PORT
# (first port probed; default random in 28000..29990).
set -euo pipefail

SC_NAME=bench-scatter
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/shardcat"
CMDLINE="scripts/bench-scatter.sh${*:+ $*}"

ROWS=1000000
REPEAT=3
APPEND=1
BUILD=1
KEEP=0


while (($#)); do
  case "$1" in
    --rows) ROWS="${2:?}"; shift 2 ;;
    --repeat) REPEAT="${2:?}"; shift 2 ;;
    --no-append) APPEND=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
for v in ROWS REPEAT; do
  if ! is_uint "${!v}" || ((${!v} == 0)); then die "$v needs a positive integer"; fi
done
((ROWS >= 1000 && ROWS <= 5000000)) || die "--rows must be between 1000 and 5000000"
((REPEAT <= 10)) || die "--repeat is capped at 10"

WORK=""
TOPO_DIR=""
SHARDCAT_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$SHARDCAT_PID"
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

if ((BUILD)); then
  note "building shardcat (cargo build --release --bins)"
  cargo build --release --bins
fi
[[ -x "$BIN" ]] || die "$BIN not found (build first or set CARGO_TARGET_DIR)"

# ---------------------------------------------------------------- topology

# 8 ports: 6 for the topology (MariaDB installed if missing), shardcat, spare.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/shardcat-bench-scatter.XXXXXX")"
topology_up "$WORK" "${SHARDCAT_BENCH_BASE_PORT:-$((28000 + (RANDOM % 200) * 10))}" 8
# shellcheck disable=SC1091
source "$TOPO_DIR/topology.env"
PORT=$((BASE + 6))

cat >"$WORK/shardcat.toml" <<EOF
# written by scripts/bench-scatter.sh
[server]
listen = "127.0.0.1:$PORT"

[backend]
user = "$SHARDCAT_TOPO_USER"
password = "$SHARDCAT_TOPO_PASSWORD"

[routing]
read_write_split = false

[[user]]
name = "app"
password = "app"

[[node]]
name = "n1"
primary = "127.0.0.1:$SHARDCAT_TOPO_N1P_PORT"

[[node]]
name = "n2"
primary = "127.0.0.1:$SHARDCAT_TOPO_N2P_PORT"

[[table]]
name = "big"
schema = "scatter"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
EOF
"$BIN" check "$WORK/shardcat.toml" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log" >&2; die "shardcat check failed"; }
note "starting shardcat on 127.0.0.1:$PORT"
SHARDCAT_LOG=warn "$BIN" serve --config "$WORK/shardcat.toml" </dev/null >"$WORK/shardcat.log" 2>&1 &
SHARDCAT_PID=$!
wait_port "$PORT" "$SHARDCAT_PID" shardcat "$WORK/shardcat.log"

proxy_sql() { mariadb --no-defaults -h127.0.0.1 -P"$PORT" -uapp -papp --batch --skip-column-names "$@"; }
ref_sql() {
  mariadb --no-defaults -h127.0.0.1 -P"$SHARDCAT_TOPO_REF_PORT" -u"$SHARDCAT_TOPO_USER" \
    -p"$SHARDCAT_TOPO_PASSWORD" --batch --skip-column-names "$@"
}

# ---------------------------------------------------------------- data

DDL="CREATE TABLE big (id BIGINT NOT NULL PRIMARY KEY, k INT NOT NULL, s VARCHAR(40) NOT NULL,
  amount DECIMAL(12,2) NOT NULL, d DATETIME NOT NULL, KEY (k)) ENGINE=InnoDB"
proxy_sql -e "DROP DATABASE IF EXISTS scatter; CREATE DATABASE scatter"
proxy_sql scatter -e "$DDL"
ref_sql -e "DROP DATABASE IF EXISTS scatter; CREATE DATABASE scatter"
ref_sql scatter -e "$DDL"
last=$((ROWS - 1))
select_rows="SELECT seq, seq % 1000, CONCAT('row-', seq), (seq % 100000) / 100,
  '2026-01-01' + INTERVAL (seq % 31536000) SECOND FROM seq_0_to_$last"
note "loading $ROWS rows into big_0..big_3 (n1, n2) and into ref"
load_started=$(date +%s)
loaders=()
for slot in 0 1 2 3; do
  inst=n1p; ((slot < 2)) || inst=n2p
  root_client "$inst" scatter -e "SET SESSION sql_log_bin = 0;
    INSERT INTO big_$slot $select_rows WHERE seq % 4 = $slot" &
  loaders+=($!)
done
root_client ref scatter -e "SET SESSION sql_log_bin = 0; INSERT INTO big $select_rows" &
loaders+=($!)
for pid in "${loaders[@]}"; do wait "$pid" || die "loading failed"; done
note "loaded in $(($(date +%s) - load_started)) s"
n_proxy="$(proxy_sql scatter -e 'SELECT COUNT(*) FROM big')"
n_ref="$(ref_sql scatter -e 'SELECT COUNT(*) FROM big')"
[[ "$n_proxy" == "$ROWS" && "$n_ref" == "$ROWS" ]] || die "row counts: proxy $n_proxy, ref $n_ref, want $ROWS"
# Every row where the rules put it: a point select by key finds it.
for id in 0 1 2 3 $((ROWS / 3)) "$last"; do
  [[ "$(proxy_sql scatter -e "SELECT COUNT(*) FROM big WHERE id = $id")" == 1 ]] \
    || die "row $id is not where the rules put it"
done

# ---------------------------------------------------------------- queries

TICK=$(getconf CLK_TCK)

declare -a NAMES=(
  "full scan, ORDER BY id (k-way merge, all rows)"
  "full scan, no ORDER BY (streamed as they come)"
  "ORDER BY k DESC, id LIMIT 10"
  "deep page: ORDER BY id LIMIT $((ROWS * 9 / 10)), 10"
  "GROUP BY k (1,000 groups): COUNT, SUM, AVG"
  "COUNT(*), SUM, MIN, MAX (no GROUP BY)"
)
declare -a QUERIES=(
  "SELECT * FROM big ORDER BY id"
  "SELECT * FROM big"
  "SELECT * FROM big ORDER BY k DESC, id LIMIT 10"
  "SELECT * FROM big ORDER BY id LIMIT $((ROWS * 9 / 10)), 10"
  "SELECT k, COUNT(*), SUM(amount), AVG(amount) FROM big GROUP BY k ORDER BY k"
  "SELECT COUNT(*), SUM(amount), MIN(d), MAX(d) FROM big"
)

# run_query TARGET SQL -> "seconds rows" (the client reads every row)
run_query() {
  local t0 t1 rows
  t0=$(date +%s%N)
  if [[ "$1" == proxy ]]; then
    rows=$(proxy_sql --quick scatter -e "$2" | wc -l)
  else
    rows=$(ref_sql --quick scatter -e "$2" | wc -l)
  fi
  t1=$(date +%s%N)
  echo "$(((t1 - t0) / 1000000)) $rows"
}

RESULTS="$WORK/results.md"
{
  echo "| query | rows | ref ms | shardcat ms | shardcat / ref | shardcat CPU ms/query | shardcat peak RSS MiB (idle $(($(vm_kib "$SHARDCAT_PID" VmRSS) / 1024))) |"
  echo "|---|---|---|---|---|---|---|"
} >"$RESULTS"
for i in "${!QUERIES[@]}"; do
  sql=${QUERIES[$i]}
  note "query $((i + 1))/${#QUERIES[@]}: $sql"
  ref_ms=0; proxy_ms=0; cpu=0; peak=0; rows_ref=""; rows_proxy=""
  for _ in $(seq "$REPEAT"); do
    read -r ms rows_ref < <(run_query ref "$sql")
    ref_ms=$((ref_ms + ms))
    echo 5 >"/proc/$SHARDCAT_PID/clear_refs" 2>/dev/null || true
    c0=$(cpu_ticks "$SHARDCAT_PID")
    read -r ms rows_proxy < <(run_query proxy "$sql")
    c1=$(cpu_ticks "$SHARDCAT_PID")
    proxy_ms=$((proxy_ms + ms))
    cpu=$((cpu + c1 - c0))
    hwm=$(vm_kib "$SHARDCAT_PID" VmHWM)
    ((hwm > peak)) && peak=$hwm
  done
  [[ "$rows_ref" == "$rows_proxy" ]] || die "row counts differ for $sql: ref $rows_ref, shardcat $rows_proxy"
  ratio=$(awk -v a="$proxy_ms" -v b="$ref_ms" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  printf '| %s | %s | %d | %d | %s× | %d | %d |\n' "${NAMES[$i]}" "$rows_proxy" \
    $((ref_ms / REPEAT)) $((proxy_ms / REPEAT)) "$ratio" $((cpu * 1000 / TICK / REPEAT)) $((peak / 1024)) >>"$RESULTS"
done

cat "$RESULTS"
if ((APPEND)); then
  {
    echo
    echo "### Scatter results, $(date -u '+%Y-%m-%d %H:%M') UTC, shardcat $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo
    echo "\`$CMDLINE\`: $ROWS rows in \`big\` (hash_mod on id over 2 nodes x 2 tables) against one MariaDB table with the same rows; mean of $REPEAT runs per query; the client (mariadb --quick) reads every row. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    cat "$RESULTS"
  } >>"$ROOT/BENCHMARKS.md"
  note "appended to BENCHMARKS.md"
fi
