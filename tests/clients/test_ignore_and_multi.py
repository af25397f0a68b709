"""`INSERT|UPDATE|DELETE IGNORE` (with LOW_PRIORITY/QUICK) on a sharded table
through shardcat, compared with the same statements on `ref` (OK packet:
affected rows, info text, warning count; then the table's rows); and
multi-statement queries (CLIENT_MULTI_STATEMENTS): on unsharded tables they
run as on the server, naming a sharded table they are refused before any
runs with a clear error (never 1146 on a physical or logical name), and the
session stays usable.
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


def multi_on_sharded(params):
    from pymysql.constants import CLIENT
    c = harness.pymysql_connect(params, client_flag=CLIENT.MULTI_STATEMENTS, database=DB)
    cur = c.cursor()
    out = []
    for q in ["SELECT 1; SELECT COUNT(*) FROM igt",
              "UPDATE igt SET u = 0 WHERE id = 1; DELETE FROM plain_t"]:
        try:
            cur.execute(q)
            out.append(("ran", q))
        except Exception as e:  # noqa: BLE001
            out.append((e.args[0], e.args[1] if len(e.args) > 1 else ""))
    cur.execute("SELECT COUNT(*) FROM plain_t")
    out.append(cur.fetchall())
    cur.execute("SELECT u FROM igt WHERE id = 1")
    out.append(cur.fetchall())
    c.close()
    return out


def main():
    checks = harness.Checks("IGNORE modifiers and multi-statements on sharded tables")
    direct = run_side(harness.direct_params("ref"))
    proxy_params = harness.proxy_params(harness.Proxy(extra=RULES))
    proxy = run_side(proxy_params)
    for k in direct:
        checks.eq(k, proxy[k], direct[k])
    refused = multi_on_sharded(proxy_params)
    for r in refused[:2]:
        checks.ok("multi-refused-clearly", r[0] == 1105 and "one at a time" in r[1], f"{r}")
    checks.ok("nothing-ran", refused[2] == ((2,),) and refused[3] == tuple((r[1],) for r in proxy["rows"] if r[0] == 1),
              f"{refused[2:]}")
    c = harness.pymysql_connect(harness.direct_params("ref"))
    c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
    c.close()
    c = harness.pymysql_connect(proxy_params)
    c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
    c.close()
    checks.finish()


if __name__ == "__main__":
    main()
