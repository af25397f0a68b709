"""sysbench through shardcat: oltp_read_write with --db-ps-mode=auto (server
prepared statements, including a prepared BEGIN) and =disable (text
protocol), then oltp_point_select and oltp_read_only --skip-trx (replica reads).
prepare, run and cleanup all go through
the proxy; every run must end with exit 0, some transactions, zero
(ignored) errors and zero reconnects.

Also runs oltp_point_select briefly directly against n1p, to make sure a
failure is the proxy's and not the environment's.
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
    finally:
        harness.drop_database(DB)
    checks.finish()


if __name__ == "__main__":
    main()
