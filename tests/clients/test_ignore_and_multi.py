"""`INSERT|UPDATE|DELETE IGNORE` (with LOW_PRIORITY/QUICK) on a sharded table
through shardcat, compared with the same statements on `ref` (OK packet:
affected rows, info text, warning count; then the table's rows); and
multi-statement queries (CLIENT_MULTI_STATEMENTS): on unsharded tables they
run as on the server, and naming a sharded table they are split and run
statement by statement with the same results (SERVER_MORE_RESULTS_EXISTS
between them), stopping at the first error as the server does, inside and
outside transactions; the session stays usable.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RULES = """
[[table]]
name = "igt"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"""
DB = harness.unique_db("ignore_multi")
STATEMENTS = [
    "INSERT INTO igt VALUES " + ",".join(f"({i}, {i % 5}, 'v{i}')" for i in range(1, 41)),
    "INSERT IGNORE INTO igt VALUES (1, 9, 'dup'), (2, 9, 'dup'), (100, 1, 'new'), (101, 2, 'n')",
    "UPDATE IGNORE igt SET u = u + 10 WHERE id < 20",
    "UPDATE LOW_PRIORITY IGNORE igt SET u = 3 WHERE id > 30",
    "UPDATE IGNORE igt SET u = 7 WHERE id = 5",
    "UPDATE IGNORE igt SET v = 'x' WHERE u = 3",
    "DELETE IGNORE FROM igt WHERE id = 7",
    "DELETE LOW_PRIORITY QUICK IGNORE FROM igt WHERE u = 11",
    "DELETE QUICK FROM igt WHERE id IN (8, 9, 10)",
]


def ok_of(conn, cur, sql):
    try:
        n = cur.execute(sql)
    except Exception as e:  # noqa: BLE001
        return ("error", e.args[0])
    return (n, conn._result.message, conn._result.warning_count)


def run_side(params):
    from pymysql.constants import CLIENT
    obs = {}
    c = harness.pymysql_connect(params, client_flag=CLIENT.MULTI_STATEMENTS)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{DB}`")
    cur.execute(f"CREATE DATABASE `{DB}`")
    cur.execute(f"USE `{DB}`")
    cur.execute("CREATE TABLE igt (id INT PRIMARY KEY, u INT, v VARCHAR(10), UNIQUE KEY (id, u))")
    cur.execute("CREATE TABLE plain_t (id INT PRIMARY KEY)")
    for s in STATEMENTS:
        obs[s] = ok_of(c, cur, s)
    cur.execute("SELECT id, u, v FROM igt ORDER BY id")
    obs["rows"] = cur.fetchall()
    # Multi-statements on plain tables: every result.
    cur.execute("INSERT INTO plain_t VALUES (1), (2); SELECT COUNT(*) FROM plain_t; SELECT 5")
    results = []
    while True:
        results.append((cur.rowcount, cur.fetchall() if cur.description else None))
        if not cur.nextset():
            break
    obs["multi-plain"] = results
    c.close()
    return obs


MULTI = [
    "SELECT 1; SELECT COUNT(*) FROM igt",
    "UPDATE igt SET u = 0 WHERE id = 1; DELETE FROM plain_t WHERE id = 2; "
    "SELECT id, u FROM igt WHERE id IN (1, 4, 12) ORDER BY id",
    "INSERT INTO igt VALUES (900, 1, 'm'); SELECT * FROM nonexistent_t; "
    "INSERT INTO igt VALUES (901, 1, 'n')",
    "BEGIN; INSERT INTO igt VALUES (950, 1, 't'), (951, 2, 't'); ROLLBACK; "
    "SELECT COUNT(*) FROM igt WHERE id >= 950",
    "SELECT name FROM (SELECT 'x' AS name) d; SELECT v, COUNT(*) FROM igt GROUP BY v ORDER BY v LIMIT 3; "
    "UPDATE IGNORE igt SET u = u + 1 WHERE id > 30",
    "SELECT COUNT(*) FROM igt; SELECT COUNT(*) FROM plain_t",
]


def multi_results(params):
    """Every result of each multi-statement query (or where it stopped)."""
    from pymysql.constants import CLIENT
    c = harness.pymysql_connect(params, client_flag=CLIENT.MULTI_STATEMENTS, database=DB)
    cur = c.cursor()
    out = {}
    for q in MULTI:
        results = []
        try:
            cur.execute(q)
            while True:
                results.append((cur.rowcount, cur.fetchall() if cur.description else None,
                                c._result.message if c._result else None))
                if not cur.nextset():
                    break
        except Exception as e:  # noqa: BLE001
            results.append(("error", e.args[0]))
        out[q] = results
        cur.execute("SELECT 1")
        out[q + " / then"] = cur.fetchall()
    c.close()
    return out


def main():
    checks = harness.Checks("IGNORE modifiers and multi-statements on sharded tables")
    direct = run_side(harness.direct_params("ref"))
    proxy_params = harness.proxy_params(harness.Proxy(extra=RULES))
    proxy = run_side(proxy_params)
    for k in direct:
        checks.eq(k, proxy[k], direct[k])
    d_multi = multi_results(harness.direct_params("ref"))
    p_multi = multi_results(proxy_params)
    for k in d_multi:
        checks.eq("multi " + k, p_multi[k], d_multi[k])
    c = harness.pymysql_connect(harness.direct_params("ref"))
    c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
    c.close()
    c = harness.pymysql_connect(proxy_params)
    c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
    c.close()
    checks.finish()


if __name__ == "__main__":
    main()
