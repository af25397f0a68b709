#!/usr/bin/env bash
# One command for a new user: brings up the local MariaDB topology (default
# dir .topology, ports 3310-3315), builds shardcat in release mode and runs the
# proxy in the foreground on port 6033 with rules/shardcat.toml.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG="rules/shardcat.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shardcat"
# The config's backends are on ports 3310-3315; override only together with
# a matching config.
BASE_PORT="${SHARDCAT_DEMO_BASE_PORT:-3310}"

echo "==> starting the MariaDB topology (scripts/topology.sh up, ports $BASE_PORT-$((BASE_PORT + 5)))"
if ! bash scripts/topology.sh up --base-port "$BASE_PORT"; then
  echo "demo: could not start the topology; if ports $BASE_PORT-$((BASE_PORT + 5)) are taken by" >&2
  echo "      something else, stop it (or another checkout's: scripts/topology.sh down)" >&2
  exit 1
fi
bash scripts/topology.sh status || true

echo "==> building shardcat (cargo build --release)"
cargo build --release --bins

[[ -f "$CONFIG" ]] || { echo "demo: $CONFIG not found" >&2; exit 1; }

cat <<MSG

==> shardcat is starting on 127.0.0.1:6033 with $CONFIG
    connect with:   mariadb -h127.0.0.1 -P6033 -uapp -papp
    Ctrl-C stops shardcat; the MariaDB servers keep running until
    scripts/topology.sh down

MSG

# Let Ctrl-C reach shardcat and end it, then print the reminder.
trap 'true' INT
rc=0
"$BIN" serve --config "$CONFIG" || rc=$?
trap - INT
echo
echo "shardcat stopped (exit $rc). The MariaDB servers are still running:"
echo "  scripts/topology.sh status   # see them"
echo "  scripts/topology.sh down     # stop them"
exit "$rc"
