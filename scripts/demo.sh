#!/usr/bin/env bash
# One command for a new user: brings up the local MariaDB topology (default
# dir .topology, ports 3310-3315), builds shardcat in release mode, runs the
# proxy on port 6033 with rules/shop.toml (sharded, bound, broadcast and
# single-node tables on two replication groups: sharding *and* read/write
# splitting), seeds a small `shop` database through it, prints statements
# to try, and keeps shardcat in the foreground until Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG="${SHARDCAT_DEMO_CONFIG:-rules/shop.toml}"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shardcat"
# The config's backends are on ports 3310-3315; override only together with
# a matching config.
BASE_PORT="${SHARDCAT_DEMO_BASE_PORT:-3310}"
PORT=6033

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
"$BIN" check "$CONFIG" >/dev/null || { echo "demo: $CONFIG does not pass shardcat check" >&2; exit 1; }

echo "==> starting shardcat on 127.0.0.1:$PORT with $CONFIG"
"$BIN" serve --config "$CONFIG" &
PROXY_PID=$!
stop_proxy() { kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; }
trap 'stop_proxy' EXIT
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  kill -0 "$PROXY_PID" 2>/dev/null || { echo "demo: shardcat exited" >&2; exit 1; }
  sleep 0.1
done

echo "==> seeding the shop database through shardcat"
mariadb -h127.0.0.1 -P"$PORT" -uapp -papp <<'SQL'
CREATE DATABASE IF NOT EXISTS shop;
USE shop;
CREATE TABLE IF NOT EXISTS regions (id INT PRIMARY KEY, name VARCHAR(30));
CREATE TABLE IF NOT EXISTS users (id BIGINT PRIMARY KEY, name VARCHAR(50), region_id INT);
CREATE TABLE IF NOT EXISTS orders (id BIGINT PRIMARY KEY, user_id BIGINT, amount DECIMAL(10,2),
  created_at DATETIME, KEY (user_id));
CREATE TABLE IF NOT EXISTS settings (name VARCHAR(30) PRIMARY KEY, value VARCHAR(100));
INSERT IGNORE INTO regions VALUES (1, 'north'), (2, 'south'), (3, 'east'), (4, 'west');
INSERT IGNORE INTO users VALUES (1, 'ada', 1), (2, 'bob', 2), (3, 'cy', 3), (4, 'dee', 4),
  (5, 'eve', 1), (6, 'fay', 2), (7, 'gus', 3), (8, 'hal', 4);
INSERT IGNORE INTO orders VALUES
  (101, 1, 19.90, '2026-03-01 10:00:00'), (102, 1, 5.00, '2026-03-02 11:00:00'),
  (103, 2, 42.00, '2026-04-01 09:30:00'), (104, 3, 7.25, '2026-05-05 15:00:00'),
  (105, 4, 99.99, '2026-06-06 16:00:00'), (106, 5, 12.00, '2026-07-07 17:00:00'),
  (107, 6, 3.50, '2026-08-08 18:00:00'), (108, 7, 64.00, '2026-09-09 19:00:00'),
  (109, 8, 15.00, '2026-10-10 20:00:00'), (110, 8, 8.00, '2026-11-11 21:00:00');
INSERT IGNORE INTO settings VALUES ('currency', 'EUR');
SQL

cat <<MSG

==> shardcat is serving 127.0.0.1:$PORT with $CONFIG
    connect with:   mariadb -h127.0.0.1 -P$PORT -uapp -papp shop
    (read-only user: reporting / reporting)

    Statements to try:
      EXPLAIN SHARDCAT SELECT * FROM users WHERE id = 3;   -- one shard (users_3 on n2)
      SELECT * FROM users WHERE id = 3;                   -- one shard, read on a replica
      SELECT region_id, COUNT(*) FROM users GROUP BY region_id ORDER BY region_id;
                                                          -- every shard, groups merged
      SELECT u.name, r.name FROM users u JOIN regions r ON r.id = u.region_id
        ORDER BY u.name LIMIT 5;                          -- broadcast join beside each shard
      SELECT u.name, SUM(o.amount) FROM users u JOIN orders o ON o.user_id = u.id
        GROUP BY u.name ORDER BY 2 DESC;                  -- bound (co-located) tables
      BEGIN; UPDATE users SET name = 'Ada' WHERE id = 1;
        UPDATE users SET name = 'Cy' WHERE id = 3; COMMIT; -- two nodes, two-phase commit
      SHOW SHARDCAT BACKENDS;                             -- servers, health, lag, load

    Status page:  http://127.0.0.1:9104/     Metrics: http://127.0.0.1:9104/metrics
    Ctrl-C stops shardcat; the MariaDB servers keep running until
    scripts/topology.sh down

MSG

# Ctrl-C ends shardcat (the EXIT trap), then the reminder is printed.
trap 'true' INT
rc=0
wait "$PROXY_PID" || rc=$?
trap - INT
echo
echo "shardcat stopped (exit $rc). The MariaDB servers are still running:"
echo "  scripts/topology.sh status   # see them"
echo "  scripts/topology.sh down     # stop them"
exit 0
