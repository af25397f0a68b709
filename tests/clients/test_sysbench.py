"""sysbench through shardcat: oltp_read_write with --db-ps-mode=auto (server
prepared statements, including a prepared BEGIN) and =disable (text
protocol), then oltp_point_select and oltp_read_only --skip-trx (replica reads).
prepare, run and cleanup all go through
the proxy; every run must end with exit 0, some transactions, zero
(ignored) errors and zero reconnects.

Also runs oltp_point_select briefly directly against n1p, to make sure a
failure is the proxy's and not the environment's.

Sharded: sbtest1 hashed by id over both nodes (a second proxy with a
sharding rule), loaded with ids 1..N through the proxy, then
oltp_point_select and oltp_read_only --skip-trx with --db-ps-mode=auto
(binary prepared statements on sharded tables: point selects on one shard,
ranges, SUM, ORDER BY and DISTINCT merged over shards).
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DB = harness.unique_db("cli_sysbench")
COMMON = ["--db-driver=mysql", "--tables=2", "--table-size=2000", "--threads=4",
          "--rand-seed=1", "--rand-type=uniform", "--report-interval=0"]


def sysbench(params, test, command, extra, timeout=60):
    args = ["sysbench", test] + COMMON + extra + [
        f"--mysql-host={params['host']}", f"--mysql-port={params['port']}",
        f"--mysql-user={params['user']}", f"--mysql-password={params['password']}",
        f"--mysql-db={DB}", command]
    p = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def stat(out, label):
    """The first number after `label:` in sysbench's report (None if absent)."""
    m = re.search(rf"^\s*{re.escape(label)}:\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else None


def tail(text, n=12):
    return " | ".join(text.strip().splitlines()[-n:])


def check_run(checks, name, rc, out, err):
    ok = checks.ok(f"{name}-exit", rc == 0, f"exit {rc}: {tail(err or out)}")
    tx = stat(out, "transactions")
    queries = stat(out, "queries")
    errors = stat(out, "ignored errors")
    reconnects = stat(out, "reconnects")
    checks.ok(f"{name}-did-work", (tx or 0) > 0 and (queries or 0) > 0, f"transactions={tx} queries={queries}: {tail(out)}")
    checks.ok(f"{name}-zero-errors", errors == 0, f"ignored errors={errors}: {tail(out)} {tail(err, 5)}")
    checks.ok(f"{name}-zero-reconnects", reconnects == 0, f"reconnects={reconnects}")
    if harness.VERBOSE:
        print(f"  {name}: transactions={tx} queries={queries} errors={errors} reconnects={reconnects}")
    return ok


def mariadb(params, sql):
    args = ["mariadb", "--no-defaults", "--protocol=TCP", f"--host={params['host']}", f"--port={params['port']}",
            f"--user={params['user']}", f"--password={params['password']}", "-e", sql]
    p = subprocess.run(args, capture_output=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.decode(errors="replace"))


SH_DB = harness.unique_db("cli_sysbench_sh")
SH_SIZE = 1000
SH_RULES = f"""
[[table]]
name = "sbtest1"
schema = "{SH_DB}"
key = "id"
key_type = "int"
algorithm = {{ kind = "hash_mod" }}
nodes = ["n1", "n2"]
tables_per_node = 2
"""


def backend_executes():
    """COM_STMT_EXECUTE run by the servers of both nodes."""
    total = 0
    for name in ("n1p", "n1r1", "n1r2", "n2p", "n2r1"):
        c = harness.pymysql_connect(harness.direct_params(name))
        with c.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'")
            total += int(cur.fetchone()[1])
        c.close()
    return total


def mariadb_stdin(params, sql):
    """Like `mariadb` with the SQL on standard input (no argument size limit)."""
    args = ["mariadb", "--no-defaults", "--protocol=TCP", f"--host={params['host']}", f"--port={params['port']}",
            f"--user={params['user']}", f"--password={params['password']}"]
    p = subprocess.run(args, input=sql.encode(), capture_output=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.decode(errors="replace"))


def sharded(checks):
    proxy = harness.proxy_params(harness.Proxy(extra=SH_RULES))
    sh = ["--tables=1", f"--table-size={SH_SIZE}", "--threads=4", "--rand-seed=1",
          "--rand-type=uniform", "--report-interval=0", "--db-ps-mode=auto"]
    # Batches of 50 rows: the router's cost grows with the square of the
    # rows of one INSERT.
    inserts = "".join(
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES "
        + ",".join(f"({i},{(i * 7919) % SH_SIZE},'{i:0>11}-{'c' * 100}','{'p' * 59}')"
                   for i in range(lo, min(lo + 50, SH_SIZE + 1)))
        + ";\n"
        for lo in range(1, SH_SIZE + 1, 50))
    mariadb_stdin(proxy, f"DROP DATABASE IF EXISTS `{SH_DB}`; CREATE DATABASE `{SH_DB}`; USE `{SH_DB}`; "
                  "CREATE TABLE sbtest1 (id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, "
            "c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)); "
            "CREATE INDEX k_1 ON sbtest1(k); "
            + inserts)
    harness.sync_replicas()
    for test, secs in (("oltp_point_select", 5), ("oltp_read_only", 5)):
        before = backend_executes()
        args = ["sysbench", test, "--db-driver=mysql"] + sh + [
            f"--time={secs}", f"--mysql-host={proxy['host']}", f"--mysql-port={proxy['port']}",
            f"--mysql-user={proxy['user']}", f"--mysql-password={proxy['password']}",
            f"--mysql-db={SH_DB}", "run"]
        if test == "oltp_read_only":
            args.insert(2, "--skip-trx=on")
        p = subprocess.run(args, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        out = p.stdout.decode(errors="replace")
        check_run(checks, f"sharded-{test}", p.returncode, out, p.stderr.decode(errors="replace"))
        # sysbench falls back to text statements when PREPARE is refused:
        # the shards must have run binary executes, one at least per query.
        executed = backend_executes() - before
        checks.ok(f"sharded-{test}-binary-protocol", executed >= (stat(out, "queries") or 1),
                  f"{executed} COM_STMT_EXECUTE on the shards for {stat(out, 'queries')} queries")
    mariadb(proxy, f"DROP DATABASE IF EXISTS `{SH_DB}`")


def main():
    checks = harness.Checks("sysbench")
    if shutil.which("sysbench") is None:
        checks.ok("sysbench-installed", False, "sysbench not found (apt-get install sysbench)")
        checks.finish()
    direct = harness.direct_params()
    proxy = harness.proxy_params()
    try:
        mariadb(direct, f"DROP DATABASE IF EXISTS `{DB}`; CREATE DATABASE `{DB}`")
        harness.sync_replicas()

        # Sanity: the environment itself works.
        rc, out, err = sysbench(direct, "oltp_point_select", "prepare", [])
        rc2, out2, err2 = sysbench(direct, "oltp_point_select", "run", ["--time=2", "--db-ps-mode=auto"])
        sysbench(direct, "oltp_point_select", "cleanup", [])
        if not checks.ok("direct-point-select", rc == 0 and rc2 == 0 and stat(out2, "ignored errors") == 0,
                         f"direct sysbench fails, environment problem: {tail(err or out)} {tail(err2 or out2)}"):
            checks.finish()

        for mode in ("auto", "disable"):
            name = f"rw-ps-{mode}"
            rc, out, err = sysbench(proxy, "oltp_read_write", "prepare", [f"--db-ps-mode={mode}"], timeout=120)
            if not checks.ok(f"{name}-prepare", rc == 0, f"exit {rc}: {tail(err or out)}"):
                sysbench(proxy, "oltp_read_write", "cleanup", [])
                continue
            rc, out, err = sysbench(proxy, "oltp_read_write", "run", [f"--db-ps-mode={mode}", "--time=10"])
            check_run(checks, name, rc, out, err)
            if mode == "auto":
                rc, out, err = sysbench(proxy, "oltp_point_select", "run", ["--db-ps-mode=auto", "--time=5"])
                check_run(checks, "point-select", rc, out, err)
                # Without BEGIN/COMMIT the reads go to replicas.
                rc, out, err = sysbench(proxy, "oltp_read_only", "run", ["--db-ps-mode=auto", "--skip-trx=on", "--time=5"])
                check_run(checks, "read-only-skip-trx", rc, out, err)
            rc, out, err = sysbench(proxy, "oltp_read_write", "cleanup", [f"--db-ps-mode={mode}"])
            checks.ok(f"{name}-cleanup", rc == 0, f"exit {rc}: {tail(err or out)}")
        sharded(checks)
    finally:
        harness.drop_database(DB)
    checks.finish()


if __name__ == "__main__":
    main()
