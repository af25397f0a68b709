"""Session variables through shardcat vs directly on `ref`: for every
variable `SHOW SESSION VARIABLES` lists whose session value the server lets
a client change (found by trying it directly), a generated non-default
value (numbers moved by one, ON/OFF flipped, enumerations and sets from
a candidate list) is `SET @@session.x = v` on a fresh connection, then read
back with `SELECT @@session.x` and `SHOW SESSION VARIABLES LIKE 'x'`:
right after the SET, after a plain read (routed to a replica), and after a
sharded scatter read (several backend connections). Every value must equal
the direct side's; a SET the proxy refuses must be refused with an error
(listed), never acknowledged and lost.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RULES = """
[[table]]
name = "svt"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"""
DB = harness.unique_db("sessvars")
# Changing these would end or disturb the test connection itself, or are
# per-connection identities a proxy cannot share.
SKIP_PREFIXES = ("debug", "wsrep", "gtid_", "timestamp", "insert_id", "last_insert_id",
                 "rand_seed", "identity", "warning_count", "error_count", "in_transaction",
                 "server_id", "sql_log_bin", "skip_replication", "session_track", "profiling",
                 "sql_slave_skip_counter")
CANDIDATES = {
    "sql_mode": ["ANSI_QUOTES,NO_ZERO_DATE", "TRADITIONAL", ""],
    "time_zone": ["+03:00", "-05:30"],
    "character_set_client": ["latin1", "utf8mb3"],
    "character_set_connection": ["ascii", "latin1"],
    "character_set_database": ["latin1"],
    "character_set_server": ["latin1"],
    "collation_connection": ["latin1_swedish_ci", "utf8mb4_bin"],
    "collation_database": ["latin1_bin"],
    "collation_server": ["latin1_bin"],
    "transaction_isolation": ["READ-COMMITTED", "SERIALIZABLE"],
    "tx_isolation": ["READ-COMMITTED", "SERIALIZABLE"],
    "lc_time_names": ["de_DE", "fr_FR"],
    "lc_messages": ["de_DE"],
    "default_storage_engine": ["MyISAM", "Aria"],
    "default_tmp_storage_engine": ["MyISAM"],
    "storage_engine": ["MyISAM"],
    "div_precision_increment": ["7"],
    "old_mode": ["NO_PROGRESS_INFO"],
    "optimizer_switch": ["index_merge=off"],
    "histogram_type": ["DOUBLE_PREC_HB", "JSON_HB"],
    "use_stat_tables": ["NEVER"],
    "block_encryption_mode": ["aes-256-cbc"],
    "default_regex_flags": ["DOTALL"],
    "log_slow_filter": ["admin"],
    "log_slow_verbosity": ["query_plan"],
    "optimizer_trace": ["enabled=on"],
    "sql_if_exists": ["ON"],
    "sql_select_limit": ["2"],
    "max_join_size": ["1000000"],
    "max_statement_time": ["5"],
    "character_set_results": ["latin1"],
    "completion_type": ["CHAIN"],
    "autocommit": ["OFF"],
}
# The effect of the charset, collation, time zone, locale and precision
# variables on a statement (after each read-back).
EFFECT = ("SELECT CHARSET('a'), COLLATION('a'), HEX('\u00e93'), 1/3, DAYNAME('2026-01-05'), "
          "FROM_UNIXTIME(0), 'a' = 'A', @@session.sql_mode")


def candidates(name, value):
    if name in CANDIDATES:
        return [v for v in CANDIDATES[name] if v.lower() != (value or "").lower()]
    if value in ("ON", "OFF"):
        return ["OFF" if value == "ON" else "ON"]
    if value is not None and value.lstrip("-").isdigit():
        n = int(value)
        return [str(n + 1), str(n - 1)] if n > 0 else [str(n + 1)]
    return []


def literal(v):
    return v if v.lstrip("-").isdigit() or v in ("ON", "OFF") else "'" + v.replace("'", "''") + "'"


def settable(params):
    """(name, value) to test: the first candidate the server accepts."""
    c = harness.pymysql_connect(params)
    cur = c.cursor()
    cur.execute("SHOW SESSION VARIABLES")
    out = []
    for name, value in cur.fetchall():
        if name.startswith(SKIP_PREFIXES):
            continue
        for v in candidates(name, value):
            c2 = harness.pymysql_connect(params)
            try:
                c2.cursor().execute(f"SET @@session.{name} = {literal(v)}")
                out.append((name, v))
                break
            except Exception:  # noqa: BLE001
                continue
            finally:
                c2.close()
    c.close()
    return out


def observe(params, name, v, scatter):
    c = harness.pymysql_connect(params, database=DB)
    cur = c.cursor()
    obs = []
    try:
        cur.execute(f"SET @@session.{name} = {literal(v)}")
    except Exception as e:  # noqa: BLE001
        c.close()
        return ("refused", e.args[0])

    def q(sql):
        try:
            cur.execute(sql)
            return cur.fetchall()
        except Exception as e:  # noqa: BLE001
            return ("error", e.args[0])

    def read(tag):
        obs.append((tag, q(f"SELECT @@session.{name}"), q(f"SHOW SESSION VARIABLES LIKE '{name}'"),
                    q(EFFECT)))

    read("set")
    q("SELECT COUNT(*) FROM plain_t")
    read("after-plain-read")
    if scatter:
        q("SELECT COUNT(*), MAX(id) FROM svt")
        read("after-scatter")
    c.close()
    return obs


def main():
    checks = harness.Checks("session variables")
    direct_p = harness.direct_params("ref")
    vars_ = settable(direct_p)
    checks.ok("enough-variables", len(vars_) > 100, f"{len(vars_)}")
    proxy_p = harness.proxy_params(harness.Proxy(extra=RULES))
    for p in (direct_p, proxy_p):
        c = harness.pymysql_connect(p)
        cur = c.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS `{DB}`")
        cur.execute(f"CREATE DATABASE `{DB}`")
        cur.execute(f"USE `{DB}`")
        cur.execute("CREATE TABLE svt (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE plain_t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO svt VALUES (1), (2), (3), (4)")
        c.close()
    harness.sync_replicas()
    refused = []
    for name, v in vars_:
        d = observe(direct_p, name, v, True)
        p = observe(proxy_p, name, v, True)
        if isinstance(p, tuple) and p[0] == "refused" and not (isinstance(d, tuple)):
            refused.append(f"{name}={v} ({p[1]})")
            continue
        if p != d and isinstance(p, list) and isinstance(d, list):
            first = next(((x, y) for x, y in zip(p, d) if x != y), (p, d))
            checks.ok(f"{name}={v}", False, f"proxy={first[0]} direct={first[1]}")
        else:
            checks.eq(f"{name}={v}", p, d)
    print(f"{len(vars_)} variables; refused by the proxy with an error: {len(refused)}")
    for r in refused:
        print("  refused:", r)
    for p in (direct_p, proxy_p):
        c = harness.pymysql_connect(p)
        c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
        c.close()
    checks.finish()


if __name__ == "__main__":
    main()
