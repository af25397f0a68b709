#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup is called through trap
# A shard move and a 2 -> 4 split under a sysbench load through shardcat
# (issue 15): sysbench's errors and reconnects, the write pause per step,
# and the rows afterwards.
#
#   scripts/bench-move.sh                      # release build, ~2 minutes
#   scripts/bench-move.sh --bin target/debug/shardcat --no-append
#
# What it does (everything on 127.0.0.1, on free ports, in a temporary dir):
#   1. builds shardcat (cargo build --release --bins) unless --bin is given;
#      installs sysbench (apt-get) if it is missing;
#   2. brings up the MariaDB topology (scripts/topology.sh up) and two
#      scratch servers n3, n4 (topology.sh start-scratch);
#   3. starts shardcat with `sbtest1` hashed by id over n1, n2 (2 tables per
#      node: slots 0, 1 on n1; 2, 3 on n2) and `probe` bound to it;
#      creates both through shardcat and loads --rows rows;
#   4. runs sysbench oltp_read_write (--auto_inc=off: explicit ids, as the
#      sharded table needs; --rate bounded) through shardcat for --time s,
#      and a probe writer (one INSERT of a new id per client call through
#      shardcat, every acknowledged id logged);
#   5. meanwhile: `shards move` of slot 1 n1 -> n2, `--cleanup`, then
#      `shards split --to n3,n4` (slots 2, 3 of n2 to n3, n4), `--cleanup`;
#   6. afterwards checks: sysbench's errors, ignored errors and reconnects
#      (want 0); the probe writer's failures (want 0) and every acknowledged
#      probe id present once through shardcat; each physical table on the
#      node the placement names, holding only its slot's ids, their sum =
#      the rows through shardcat = --rows (oltp_read_write deletes and
#      inserts the same id in one transaction: a lost or half-applied
#      transaction changes the count); no id in two tables;
#   7. prints a markdown summary and appends it to BENCHMARKS.md.
# Everything it started is stopped on exit (trap), including on Ctrl-C.
#
# Options:
#   --rows N       rows of sbtest1 (default 10000, 1000..200000)
#   --time S       sysbench's run (default 60, 20..300)
#   --rate N       sysbench transactions per second (default 100)
#   --threads N    sysbench threads (default 4)
#   --bin PATH     the shardcat binary (no build)
#   --no-append    do not append to BENCHMARKS.md
#   --keep         keep the temporary directory (logs)
# Environment: SHARDCAT_BENCH_BASE_PORT (first port probed).
set -euo pipefail

SC_NAME=bench-move
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
CMDLINE="scripts/bench-move.sh${*:+ $*}"

ROWS=10000
TIME=60
RATE=100
THREADS=4
BIN=""
APPEND=1
KEEP=0


while (($#)); do
  case "$1" in
    --rows) ROWS="${2:?}"; shift 2 ;;
    --time) TIME="${2:?}"; shift 2 ;;
    --rate) RATE="${2:?}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --bin) BIN="${2:?}"; shift 2 ;;
    --no-append) APPEND=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
for v in ROWS TIME RATE THREADS; do
  if ! is_uint "${!v}" || ((${!v} == 0)); then die "$v needs a positive integer"; fi
done
((ROWS >= 1000 && ROWS <= 200000)) || die "--rows must be between 1000 and 200000"
((TIME >= 20 && TIME <= 300)) || die "--time must be between 20 and 300"
((THREADS <= 16)) || die "--threads is capped at 16"

if [[ -z "$BIN" ]]; then
  note "building shardcat (cargo build --release --bins)"
  cargo build --release --bins
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shardcat"
fi
[[ -x "$BIN" ]] || die "$BIN not found"
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
case "$BIN" in
  */release/*) BUILD=release ;;
  */debug/*) BUILD=debug ;;
  *) BUILD="$(basename "$BIN")" ;;
esac
need_tool sysbench

WORK=""
TOPO_DIR=""
PIDS=()

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n "$TOPO_DIR" && -d "$TOPO_DIR" ]]; then
    bash "$TOPOLOGY" stop-scratch n3 --purge --dir "$TOPO_DIR" >/dev/null 2>&1 || true
    bash "$TOPOLOGY" stop-scratch n4 --purge --dir "$TOPO_DIR" >/dev/null 2>&1 || true
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

# ---------------------------------------------------------------- topology

# 10 ports: 6 for the topology, shardcat, the scratch servers n3 and n4, spare.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/shardcat-bench-move.XXXXXX")"
topology_up "$WORK" "${SHARDCAT_BENCH_BASE_PORT:-$((30000 + (RANDOM % 200) * 10))}" 10
bash "$TOPOLOGY" start-scratch n3 --port $((BASE + 7)) --dir "$TOPO_DIR" 2>>"$WORK/topology.log" \
  || die "could not start n3"
bash "$TOPOLOGY" start-scratch n4 --port $((BASE + 8)) --dir "$TOPO_DIR" 2>>"$WORK/topology.log" \
  || die "could not start n4"
# shellcheck disable=SC1091
source "$TOPO_DIR/topology.env"
PORT=$((BASE + 6))
DB=sbmove

cat >"$WORK/shardcat.toml" <<EOF
# written by scripts/bench-move.sh
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

[[user]]
name = "admin"
password = "admin"
admin = true

[[node]]
name = "n1"
primary = "127.0.0.1:$SHARDCAT_TOPO_N1P_PORT"

[[node]]
name = "n2"
primary = "127.0.0.1:$SHARDCAT_TOPO_N2P_PORT"

[[node]]
name = "n3"
primary = "127.0.0.1:$((BASE + 7))"

[[node]]
name = "n4"
primary = "127.0.0.1:$((BASE + 8))"

[[table]]
name = "sbtest1"
schema = "$DB"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "probe"
schema = "$DB"
bound_to = "sbtest1"
key = "id"
EOF
CONFIG="$WORK/shardcat.toml"
"$BIN" check "$CONFIG" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log" >&2; die "shardcat check failed"; }
note "starting shardcat on 127.0.0.1:$PORT"
SHARDCAT_LOG=warn "$BIN" serve --config "$CONFIG" </dev/null >"$WORK/shardcat.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" "${PIDS[-1]}" shardcat "$WORK/shardcat.log"

proxy_sql() { mariadb --no-defaults -h127.0.0.1 -P"$PORT" -uapp -papp --batch --skip-column-names "$@"; }
node_sql() { # node_sql PORT SQL...
  local port=$1; shift
  mariadb --no-defaults -h127.0.0.1 -P"$port" -u"$SHARDCAT_TOPO_USER" -p"$SHARDCAT_TOPO_PASSWORD" \
    --batch --skip-column-names "$@"
}
declare -A NODE_PORT=([n1]=$SHARDCAT_TOPO_N1P_PORT [n2]=$SHARDCAT_TOPO_N2P_PORT [n3]=$((BASE + 7)) [n4]=$((BASE + 8)))

# ---------------------------------------------------------------- data

note "creating sbtest1 ($ROWS rows) and probe through shardcat"
{
  echo "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB; USE $DB;"
  echo "CREATE TABLE sbtest1 (id INTEGER NOT NULL, k INTEGER DEFAULT '0' NOT NULL,
    c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id), KEY k_1 (k));"
  echo "CREATE TABLE probe (id BIGINT NOT NULL PRIMARY KEY, at DATETIME(6) NOT NULL);"
  # Batches of 50 rows (the router's cost grows with the rows of one INSERT).
  awk -v rows="$ROWS" 'BEGIN {
    for (lo = 1; lo <= rows; lo += 50) {
      line = "INSERT INTO sbtest1 (id, k, c, pad) VALUES "
      for (i = lo; i < lo + 50 && i <= rows; i++)
        line = line (i > lo ? "," : "") sprintf("(%d,%d,\"%011d-c\",\"p%d\")", i, (i * 7919) % rows, i, i)
      print line ";"
    }
  }'
} | proxy_sql 2>"$WORK/load.err" || { cat "$WORK/load.err" >&2; die "loading through shardcat failed"; }
n="$(proxy_sql $DB -e 'SELECT COUNT(*) FROM sbtest1')"
[[ "$n" == "$ROWS" ]] || die "loaded $n rows, want $ROWS"

# ---------------------------------------------------------------- load

SB=(sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$PORT"
  --mysql-user=app --mysql-password=app --mysql-db="$DB" --tables=1 --table-size="$ROWS"
  --auto_inc=off --threads="$THREADS" --rate="$RATE" --time="$TIME" --report-interval=5
  --rand-type=uniform --db-ps-mode=auto)
note "sysbench oltp_read_write for ${TIME}s at ${RATE} tx/s, $THREADS threads"
"${SB[@]}" run >"$WORK/sysbench.log" 2>&1 &
SB_PID=$!
PIDS+=("$SB_PID")

# The probe writer: one new id per client call; acknowledged ids logged.
: >"$WORK/probe.acked"
: >"$WORK/probe.failed"
(
  i=0
  while [[ ! -f "$WORK/probe.stop" ]]; do
    i=$((i + 1))
    if proxy_sql $DB -e "INSERT INTO probe VALUES ($i, NOW(6))" 2>>"$WORK/probe.err"; then
      echo "$i" >>"$WORK/probe.acked"
    else
      echo "$i" >>"$WORK/probe.failed"
    fi
  done
) &
PROBE_PID=$!
PIDS+=("$PROBE_PID")

run_cli() { # run_cli LOG ARGS...: the command's output in LOG; fails the run on error
  local log=$1; shift
  note "shardcat $*"
  "$BIN" "$@" --config "$CONFIG" >"$log" 2>&1 || { cat "$log" >&2; die "shardcat $* failed"; }
}
sleep 5
MOVE_START=$(date +%s%N)
run_cli "$WORK/move.log" shards move --table sbtest1 --shard 1 --to n2 --repl-user repl --repl-password repl
MOVE_MS=$((($(date +%s%N) - MOVE_START) / 1000000))
sleep 3
run_cli "$WORK/move-cleanup.log" shards move --table sbtest1 --shard 1 --to n2 --cleanup
sleep 3
SPLIT_START=$(date +%s%N)
run_cli "$WORK/split.log" shards split --table sbtest1 --to n3,n4 --repl-user repl --repl-password repl
SPLIT_MS=$((($(date +%s%N) - SPLIT_START) / 1000000))
sleep 3
run_cli "$WORK/split-cleanup.log" shards split --table sbtest1 --cleanup
note "waiting for sysbench to end"
wait "$SB_PID" || { tail -n 30 "$WORK/sysbench.log" >&2; die "sysbench failed"; }
touch "$WORK/probe.stop"
wait "$PROBE_PID" || true

# ---------------------------------------------------------------- checks

stat_of() { grep -E "^\s*$1" "$WORK/sysbench.log" | head -1 | sed -E 's/.*:\s+([0-9]+).*/\1/'; }
TX="$(stat_of 'transactions:')"
QUERIES="$(grep -E '^\s*total:' "$WORK/sysbench.log" | head -1 | awk '{ print $2 }')"
IGNORED="$(stat_of 'ignored errors:')"
RECONNECTS="$(stat_of 'reconnects:')"
P95="$(grep -E '95th percentile' "$WORK/sysbench.log" | awk '{ print $3 }')"
MAXLAT="$(grep -E '^\s*max:' "$WORK/sysbench.log" | head -1 | awk '{ print $2 }')"
ACKED=$(wc -l <"$WORK/probe.acked")
PROBE_FAILED=$(wc -l <"$WORK/probe.failed")
MOVE_PAUSE="$(grep -oE 'writes paused [0-9]+ ms' "$WORK/move.log" | grep -oE '[0-9]+' | head -1)"
SPLIT_STEPS="$(grep -E '^pause \(ms\)' "$WORK/split.log" | tail -1 | sed 's/^pause (ms): //')"
SPLIT_PAUSE="$(grep -oE 'writes paused [0-9]+ ms' "$WORK/split.log" | grep -oE '[0-9]+' | head -1)"

# Probe ids: every acknowledged one present once through shardcat.
proxy_sql $DB -e "SELECT id FROM probe ORDER BY id" >"$WORK/probe.present"
sort -n "$WORK/probe.acked" >"$WORK/probe.acked.sorted"
MISSING=$(comm -23 <(sort "$WORK/probe.acked.sorted") <(sort "$WORK/probe.present") | wc -l)
DUP=$(sort "$WORK/probe.present" | uniq -d | wc -l)

# Placement: each slot's node, from shardcat's own status.
"$BIN" shards status --config "$CONFIG" >"$WORK/status.log" 2>&1 || true
declare -A SLOT_NODE=([0]=n1 [1]=n1 [2]=n2 [3]=n2)
while read -r slot node; do SLOT_NODE[$slot]=$node; done < <(
  sed -nE 's/^moved: [^ ]*sbtest1 slot ([0-9]+) → node (n[0-9]+)$/\1 \2/p' "$WORK/status.log")
PLACEMENT=""
PHYS_TOTAL=0
MISPLACED=0
: >"$WORK/ids.all"
for slot in 0 1 2 3; do
  node=${SLOT_NODE[$slot]}
  port=${NODE_PORT[$node]}
  cnt="$(node_sql "$port" $DB -e "SELECT COUNT(*) FROM sbtest1_$slot")"
  bad="$(node_sql "$port" $DB -e "SELECT COUNT(*) FROM sbtest1_$slot WHERE id % 4 <> $slot")"
  node_sql "$port" $DB -e "SELECT id FROM sbtest1_$slot" >>"$WORK/ids.all"
  PHYS_TOTAL=$((PHYS_TOTAL + cnt))
  MISPLACED=$((MISPLACED + bad))
  PLACEMENT+="slot $slot on $node: $cnt rows; "
done
LOGICAL="$(proxy_sql $DB -e 'SELECT COUNT(*) FROM sbtest1')"
DUP_IDS=$(sort "$WORK/ids.all" | uniq -d | wc -l)

OK=1
for v in IGNORED RECONNECTS PROBE_FAILED MISSING DUP MISPLACED DUP_IDS; do
  [[ "${!v:-x}" == 0 ]] || { note "check failed: $v = ${!v:-?}"; OK=0; }
done
[[ "$LOGICAL" == "$ROWS" && "$PHYS_TOTAL" == "$ROWS" ]] \
  || { note "check failed: rows through shardcat $LOGICAL, in the tables $PHYS_TOTAL, want $ROWS"; OK=0; }
RESULT=$([[ $OK == 1 ]] && echo "all checks hold" || echo "CHECKS FAILED")

SUMMARY="$(cat <<EOF

### Shard move and split under sysbench ($(date -u +%Y-%m-%d), $BUILD build)

\`$CMDLINE\` — sysbench oltp_read_write (\`--auto_inc=off\`, $THREADS threads, \`--rate=$RATE\`, ${TIME} s, $ROWS rows, \`--db-ps-mode=auto\`) through shardcat, a probe writer (one INSERT per client call) alongside; \`shards move\` slot 1 n1 → n2, \`--cleanup\`, then \`shards split --to n3,n4\` (slots 2, 3 of n2), \`--cleanup\`; $(nproc) cores shared with other work.

| figure | value |
|---|---|
| sysbench transactions / queries | $TX / $QUERIES |
| sysbench ignored errors / reconnects | $IGNORED / $RECONNECTS |
| sysbench latency p95 / max (ms) | $P95 / $MAXLAT |
| probe writes acknowledged / failed / missing / duplicated | $ACKED / $PROBE_FAILED / $MISSING / $DUP |
| move: write pause / whole command (ms) | ${MOVE_PAUSE:-?} / $MOVE_MS |
| split: write pause / whole command (ms) | ${SPLIT_PAUSE:-?} / $SPLIT_MS |
| split pause by step (ms) | ${SPLIT_STEPS:-?} |
| rows: through shardcat / sum of the physical tables / want | $LOGICAL / $PHYS_TOTAL / $ROWS |
| rows off their slot / ids in two tables | $MISPLACED / $DUP_IDS |
| placement afterwards | ${PLACEMENT% } |

Result: $RESULT.
EOF
)"
printf '%s\n' "$SUMMARY"
if ((APPEND)); then printf '%s\n' "$SUMMARY" >>"$ROOT/BENCHMARKS.md"; note "appended to BENCHMARKS.md"; fi
((OK)) || exit 1
