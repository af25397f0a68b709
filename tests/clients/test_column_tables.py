"""Column definitions of merged results on sharded tables name the logical
table (`table`, `org_table`) as one server holding it would: the same
SELECTs (generated over column lists, aliases, aggregates, ORDER BY/LIMIT,
DISTINCT, point lookups that run on one shard, text and binary protocol) through shardcat and directly on `ref`,
comparing every column definition's db, table, org_table, name, org_name,
type and flags.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RULES = """
[[table]]
name = "ctusers"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"""
DB = harness.unique_db("coltables")

SELECTS = []
for cols in ["*", "id, name", "u.id, u.name AS n", "name, id + 1 AS x"]:
    for frm in ["ctusers", "ctusers u", f"`{DB}`.ctusers u"]:
        if cols.startswith("u.") and frm == "ctusers":
            continue
        for tail in ["", " ORDER BY id", " ORDER BY id DESC LIMIT 3", " WHERE id > 2 ORDER BY id LIMIT 5"]:
            SELECTS.append(f"SELECT {cols} FROM {frm}{tail}")
SELECTS += [
    "SELECT * FROM ctusers WHERE id = 3",
    "SELECT u.id, u.name AS n FROM ctusers u WHERE u.id = 7",
    f"SELECT name FROM `{DB}`.ctusers WHERE id IN (4)",
    "SELECT COUNT(*), MAX(name), MIN(id) FROM ctusers",
    "SELECT name, COUNT(*) FROM ctusers GROUP BY name ORDER BY name",
    "SELECT DISTINCT name FROM ctusers ORDER BY name",
    "SELECT u.name, SUM(u.id) s FROM ctusers u GROUP BY u.name ORDER BY s",
]


def fields(result):
    return [(f.db, f.table_name, f.org_table, f.name, f.org_name, f.type_code, f.flags)
            for f in result.fields]


def run_side(params):
    import mysql.connector
    obs = {}
    c = harness.pymysql_connect(params)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{DB}`")
    cur.execute(f"CREATE DATABASE `{DB}`")
    cur.execute(f"USE `{DB}`")
    cur.execute("CREATE TABLE ctusers (id INT PRIMARY KEY, name VARCHAR(20))")
    cur.execute("INSERT INTO ctusers VALUES " + ",".join(f"({i}, 'n{i % 4}')" for i in range(1, 21)))
    for q in SELECTS:
        try:
            cur.execute(q)
            obs["text " + q] = fields(c._result)
        except Exception as e:  # noqa: BLE001
            obs["text " + q] = ("error", e.args[0])
    # Binary protocol: the prepared statement's column metadata.
    m = mysql.connector.connect(host=params["host"], port=params["port"], user=params["user"],
                                password=params["password"], database=DB, use_pure=True)
    mc = m.cursor(prepared=True)
    for q in SELECTS[:8] + [q for q in SELECTS if "WHERE id =" in q or "u.id = 7" in q]:
        mc.execute(q)
        mc.fetchall()
        obs["prepared " + q] = [(d[0], d[1]) for d in mc.description]
    # The table names themselves (mysql-connector's description has none).
    import pymysql
    pc = harness.pymysql_connect(params, database=DB)
    pcur = pc.cursor()
    for q in [q for q in SELECTS if "WHERE" in q]:
        pcur.execute(q)
        obs["text-again " + q] = fields(pc._result)
    pc.close()
    m.close()
    cur.execute(f"DROP DATABASE `{DB}`")
    c.close()
    return obs


def main():
    checks = harness.Checks("column definitions name logical tables")
    direct = run_side(harness.direct_params("ref"))
    proxy = run_side(harness.proxy_params(harness.Proxy(extra=RULES)))
    for k in direct:
        checks.eq(k, proxy[k], direct[k])
    checks.finish()


if __name__ == "__main__":
    main()
