#!/usr/bin/env bash
# System calls, context switches and CPU time per client query of one
# shardcat process under a bounded sysbench point-select run, counted with
# `perf stat` (software events and syscall tracepoints, which work on VMs
# without hardware counters). Counts are stable on a busy machine; the CPU
# time (task-clock) is not.
#
#   scripts/syscalls.sh --config /tmp/prof/rw.toml --db sbtest
#   scripts/syscalls.sh --config /tmp/prof/sharded.toml --db sbtest_sharded --ps-mode auto
#
# The configuration files are the ones `scripts/profile.sh --out DIR` writes
# (DIR/rw.toml, DIR/sharded.toml; the tables must exist: profile.sh makes
# them); the proxy listens on the port its `listen` names.
#
# Options:
#   --config FILE   shardcat configuration (required)
#   --db NAME       sysbench database (default sbtest)
#   --ps-mode M     sysbench --db-ps-mode: disable (text) or auto (default disable)
#   --events N      counted point selects (default 20000; 2000 more warm up first)
#   --threads N     sysbench threads (default 4)
# Environment: CARGO_TARGET_DIR (the release binary is taken from it).
set -euo pipefail

SC_NAME=syscalls SC_USAGE_FROM=2
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shardcat"
CONFIG="" DB=sbtest PS=disable EVENTS=20000 THREADS=4


while (($#)); do
  case "$1" in
    --config) CONFIG="${2:?}"; shift 2 ;;
    --db) DB="${2:?}"; shift 2 ;;
    --ps-mode) PS="${2:?}"; shift 2 ;;
    --events) EVENTS="${2:?}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[[ -f "$CONFIG" ]] || die "--config FILE is required"
[[ -x "$BIN" ]] || die "$BIN not found: cargo build --release"
for tool in perf sysbench; do command -v "$tool" >/dev/null || die "$tool is needed"; done
PORT="$(sed -n 's/^listen = "127\.0\.0\.1:\([0-9]*\)"$/\1/p' "$CONFIG" | head -n1)"
[[ -n "$PORT" ]] || die "$CONFIG does not listen on 127.0.0.1"

OUT="$(mktemp -d "${TMPDIR:-/tmp}/shardcat-syscalls.XXXXXX")"
"$BIN" serve --config "$CONFIG" </dev/null >"$OUT/proxy.log" 2>&1 &
PID=$!
PERF=""
cleanup() {
  [[ -z "$PERF" ]] || kill -INT "$PERF" 2>/dev/null || true
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
}
trap cleanup EXIT
wait_port "$PORT" "$PID" shardcat "$OUT/proxy.log" 30
sb=(sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$PORT"
  --mysql-user=app --mysql-password=app --mysql-db="$DB" --tables=1 --table-size=10000
  --db-ps-mode="$PS" --rand-seed=1 --time=0 --threads="$THREADS")
"${sb[@]}" --events=2000 run >"$OUT/warmup.log" 2>&1 || { tail "$OUT/warmup.log" >&2; die "warm-up failed"; }
events=task-clock,context-switches,raw_syscalls:sys_enter
for s in futex epoll_wait sendto recvfrom write read writev; do events+=",syscalls:sys_enter_$s"; done
perf stat -x, -e "$events" -p "$PID" -o "$OUT/perf.csv" &
PERF=$!
sleep 0.3
"${sb[@]}" --events="$EVENTS" run >"$OUT/run.log" 2>&1 || { tail "$OUT/run.log" >&2; die "run failed"; }
kill -INT "$PERF"
wait "$PERF" || true
PERF=""
queries="$(awk '/queries:/ { print $2; exit }' "$OUT/run.log")"
echo "$(basename "$CONFIG") $DB ps-mode $PS, $THREADS threads: $queries queries, $(awk '/queries:/ { print $3, $4, $5; exit }' "$OUT/run.log")"
awk -F, -v q="$queries" '/^[0-9.]/ {
  if ($3 == "task-clock") printf "  %-30s %8.1f µs per query\n", $3, $1 * 1000 / q
  else printf "  %-30s %8.2f per query\n", $3, $1 / q }' "$OUT/perf.csv"
rm -rf "$OUT"
