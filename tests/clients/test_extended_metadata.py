"""MariaDB extended type info (MARIADB_CLIENT_EXTENDED_METADATA): the
`mariadb` CLI with `--column-type-info` shows `BLOB (format=json)`,
`STRING (type=uuid|inet6|inet4)` through shardcat exactly as directly on
`ref`, for an unsharded table, a one-shard read and merged reads (ORDER BY,
aggregates, DISTINCT) of a sharded table, and for results the proxy makes
itself (`SHOW TABLES`). PyMySQL (which does not ask for extended metadata)
reads the same columns through shardcat as directly.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RULES = """
[[table]]
name = "ext_s"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"""
DB = harness.unique_db("extmeta")
SETUP = [
    "CREATE TABLE ext_p (id INT PRIMARY KEY, j JSON, u UUID, i6 INET6, i4 INET4, t TEXT)",
    "CREATE TABLE ext_s (id INT PRIMARY KEY, j JSON, u UUID, i6 INET6, i4 INET4)",
    "INSERT INTO ext_p VALUES (1, '{\"a\": 1}', '8ad4bb5e-1a46-11ef-9c6b-0242ac120002', '::1', '1.2.3.4', 'x')",
    "INSERT INTO ext_s VALUES " + ",".join(
        f"({i}, '[{i}]', '8ad4bb5e-1a46-11ef-9c6b-0242ac12000{i}', '::{i}', '10.0.0.{i}')"
        for i in range(1, 9)),
]
QUERIES = [
    "SELECT * FROM ext_p",
    "SELECT j, u, i6, i4 FROM ext_s WHERE id = 3",
    "SELECT id, j, u, i6, i4 FROM ext_s ORDER BY id",
    "SELECT MAX(i6), MIN(u), COUNT(j) FROM ext_s",
    "SELECT DISTINCT i4 FROM ext_s ORDER BY i4 LIMIT 3",
    "SELECT s.j AS sj, s.i6 FROM ext_s s ORDER BY s.id DESC LIMIT 2",
]


def cli(params, sql, db=DB):
    r = subprocess.run(
        ["mariadb", "-h", params["host"], "-P", str(params["port"]), "-u", params["user"],
         f"-p{params['password']}", "--column-type-info", "-t", db, "-e", sql],
        capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def fields(text):
    """Per result: [(name, type, table, org_table, database)]."""
    out = []
    for block in re.split(r"\n(?=Field +1:)", text):
        cols = re.findall(r"Field +\d+: +`(.*?)`\n.*?Database: +`(.*?)`\nTable: +`(.*?)`\n"
                          r"Org_table: +`(.*?)`\nType: +(.*?)\n", block, re.S)
        if cols:
            out.append(cols)
    return out


def run_side(params):
    import pymysql
    c = harness.pymysql_connect(params)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{DB}`")
    cur.execute(f"CREATE DATABASE `{DB}`")
    cur.execute(f"USE `{DB}`")
    for s in SETUP:
        cur.execute(s)
    obs = {}
    rc, out, err = cli(params, "; ".join(QUERIES))
    obs["cli-rc"] = (rc, err)
    obs["cli-fields"] = fields(out)
    obs["cli-rows"] = re.findall(r"^\|.*\|$", out, re.M)
    rc, out, err = cli(params, "SHOW TABLES")
    obs["show-tables"] = (rc, [f[0][4] for f in fields(out)], re.findall(r"^\| (ext_\w+)", out, re.M))
    for q in QUERIES:
        cur.execute(q)
        obs["pymysql " + q] = (cur.fetchall(),
                               [(f.name, f.type_code, f.table_name, f.org_table) for f in c._result.fields])
    cur.execute(f"DROP DATABASE `{DB}`")
    c.close()
    return obs


def main():
    checks = harness.Checks("mariadb extended type info")
    direct = run_side(harness.direct_params("ref"))
    proxy = run_side(harness.proxy_params(harness.Proxy(extra=RULES)))
    types = {t for res in direct["cli-fields"] for (_, _, _, _, t) in res}
    checks.ok("direct-has-type-names", {"BLOB (format=json)", "STRING (type=inet6)",
                                        "STRING (type=uuid)", "STRING (type=inet4)"} <= types, f"{types}")
    for k in direct:
        checks.eq(k, proxy[k], direct[k])
    checks.finish()


if __name__ == "__main__":
    main()
