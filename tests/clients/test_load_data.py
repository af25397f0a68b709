"""`LOAD DATA LOCAL INFILE` on an unsharded table, directly against n1p and
through shardcat: PyMySQL with `local_infile=True` (the file is relayed from
the client to the server), PyMySQL without it (the server's refusal), and
the `mariadb` CLI with `--local-infile=1`. Rows, affected counts and errors
must match.
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DB = harness.unique_db("load_data")
ROWS = [(i, f"name {i}", f"x,{i}" if i % 7 == 0 else f"v{i}") for i in range(1, 2001)]


def write_csv(path):
    with open(path, "w") as f:
        f.write("id,name,v\n")
        for i, n, v in ROWS:
            f.write(f'{i},"{n}","{v}"\n')


def run_side(params, path):
    obs = {}
    c = harness.pymysql_connect(params, local_infile=True)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{DB}`")
    cur.execute(f"CREATE DATABASE `{DB}`")
    cur.execute(f"USE `{DB}`")
    cur.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(40), v VARCHAR(40))")
    n = cur.execute(
        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t FIELDS TERMINATED BY ',' "
        "OPTIONALLY ENCLOSED BY '\"' IGNORE 1 LINES")
    obs["affected"] = n
    obs["info"] = c._result.message if c._result else None
    cur.execute("SELECT id, name, v FROM t ORDER BY id")
    obs["rows"] = cur.fetchall()
    cur.execute("SELECT 1")
    obs["after"] = cur.fetchall()
    # A client without CLIENT_LOCAL_FILES gets the server's refusal.
    c2 = harness.pymysql_connect(params, database=DB)
    try:
        c2.cursor().execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE t")
        obs["refused"] = None
    except Exception as e:  # noqa: BLE001
        obs["refused"] = e.args[0] if e.args else str(e)
    cur2 = c2.cursor()
    cur2.execute("SELECT COUNT(*) FROM t")
    obs["after_refusal"] = cur2.fetchall()
    c2.close()
    # The mariadb CLI.
    cli = subprocess.run(
        ["mariadb", "-h", params["host"], "-P", str(params["port"]), "-u", params["user"],
         f"-p{params['password']}", "--local-infile=1", DB, "-e",
         f"TRUNCATE t; LOAD DATA LOCAL INFILE '{path}' INTO TABLE t FIELDS TERMINATED BY ',' "
         "OPTIONALLY ENCLOSED BY '\"' IGNORE 1 LINES; SELECT COUNT(*), SUM(id) FROM t"],
        capture_output=True, text=True, timeout=60)
    obs["cli"] = (cli.returncode, cli.stdout, cli.stderr)
    cur.execute(f"DROP DATABASE `{DB}`")
    c.close()
    return obs


def main():
    checks = harness.Checks("load data local infile")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rows.csv")
        write_csv(path)
        direct = run_side(harness.direct_params(), path)
        proxy = run_side(harness.proxy_params(), path)
    checks.ok("direct-loaded-all", len(direct["rows"]) == len(ROWS), f"{len(direct['rows'])}")
    for k in direct:
        checks.eq(k, proxy[k], direct[k])
    checks.finish()


if __name__ == "__main__":
    main()
