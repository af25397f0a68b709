"""JDBC with useCursorFetch=true (MariaDB Connector/J from Debian's
libmariadb-java; it reads a result with a fetch size as a stream) on
server-side prepared statements about a sharded table, through shardcat and
directly on `ref` (one server holding every row): tests/clients/java/
JdbcCursorFetch.java prints what it observes (merged ORDER BY, GROUP BY,
DISTINCT, LIMIT with a parameter, one shard, an empty result; fetch sizes
1, 3, 50, each statement executed twice; a result read in part while
another statement runs; a transaction's update and read, rolled back) and
the two outputs must be equal line for line.

Skips (passes with a note) when java/javac or the driver jar is missing.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_cursors import RULES, setup  # noqa: E402

DB = harness.unique_db("jdbc_cursor")
JAR = "/usr/share/java/mariadb-java-client.jar"
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java", "JdbcCursorFetch.java")


def run_java(classes, params):
    url = (f"jdbc:mariadb://{params['host']}:{params['port']}/{DB}"
           "?useCursorFetch=true&useServerPrepStmts=true")
    p = subprocess.run(["java", "-cp", f"{JAR}:{classes}", "JdbcCursorFetch", url,
                        params["user"], params["password"]],
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def main():
    checks = harness.Checks("JDBC useCursorFetch on sharded prepared statements")
    if not (shutil.which("java") and shutil.which("javac") and os.path.exists(JAR)):
        print(f"note: java, javac or {JAR} missing (Debian libmariadb-java): skipped")
        checks.finish()
    classes = tempfile.mkdtemp(prefix="shardcat-jdbc-")
    ok, _ = checks.step("javac", subprocess.run, ["javac", "-cp", JAR, "-d", classes, SOURCE],
                        check=True, capture_output=True, timeout=120)
    if not ok:
        checks.finish()
    setup(harness.direct_params("ref"), DB)
    proxy_params = harness.proxy_params(harness.Proxy(extra=RULES))
    setup(proxy_params, DB)
    harness.sync_replicas()
    d_rc, d_out, d_err = run_java(classes, harness.direct_params("ref"))
    checks.ok("jdbc-direct-ran", d_rc == 0 and "row:" in d_out, f"rc={d_rc} {d_err[:500]!r}")
    p_rc, p_out, p_err = run_java(classes, proxy_params)
    checks.ok("jdbc-proxy-ran", p_rc == 0, f"rc={p_rc} {p_err[:500]!r}")
    checks.ok("jdbc-same-output", p_out == d_out and d_out.count("\n") > 100,
              f"{d_out.count(chr(10))} lines directly, {p_out.count(chr(10))} through shardcat; "
              + harness.first_diff(p_out, d_out))
    for p in (harness.direct_params("ref"), proxy_params):
        c = harness.pymysql_connect(p)
        c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
        c.close()
    shutil.rmtree(classes, ignore_errors=True)
    checks.finish()


if __name__ == "__main__":
    main()
