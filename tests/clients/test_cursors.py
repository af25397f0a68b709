"""Server-side cursors (COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY, then
COM_STMT_FETCH of N rows) on prepared statements about a sharded table
through shardcat, compared with the same protocol exchange on `ref` (one
server holding every row).

The exchange is driven at the protocol level with mysql-connector-python's
pure-Python connection (cmd_stmt_execute with flags=1, cmd_stmt_fetch,
get_rows), as JDBC's useCursorFetch does: for every statement (merged
ORDER BY, GROUP BY, DISTINCT, LIMIT with a parameter, one shard, empty
result) and every fetch size, what the execute answers (columns and the
SERVER_STATUS_CURSOR_EXISTS / LAST_ROW_SENT flags), then each fetch's rows
and flags until LAST_ROW_SENT, then a fetch past the end (an error), a
second execute of the same statement (a fresh cursor) and a plain execute
(all rows at once); the session stays usable. Also the driver-level
prepared cursor (MySQLCursorPrepared) on the same statements.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RULES = """
[[table]]
name = "ct"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"""
DB = harness.unique_db("cursors")
CURSOR_EXISTS = 64
LAST_ROW_SENT = 128
FLAGS = 2 | CURSOR_EXISTS | LAST_ROW_SENT  # with AUTOCOMMIT
STATEMENTS = [
    ("SELECT id, name FROM ct ORDER BY id", ()),
    ("SELECT g, COUNT(*), SUM(id) FROM ct GROUP BY g ORDER BY g", ()),
    ("SELECT DISTINCT g FROM ct ORDER BY g DESC", ()),
    ("SELECT id, name FROM ct WHERE id > ? ORDER BY id DESC LIMIT 7", (10,)),
    ("SELECT id, name FROM ct WHERE id = ?", (5,)),
    ("SELECT id FROM ct WHERE id < 0", ()),
    ("SELECT COUNT(*) FROM ct", ()),
]
FETCH_SIZES = [1, 3, 5, 200]


def connect(params):
    import mysql.connector
    return mysql.connector.connect(host=params["host"], port=params["port"],
                                   user=params["user"], password=params["password"],
                                   database=DB, use_pure=True, autocommit=True)


def setup(params, db=DB):
    """Database `db` with the 40-row table `ct` (also test_jdbc_cursor_fetch.py)."""
    c = harness.pymysql_connect(params)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    cur.execute(f"CREATE DATABASE `{db}`")
    cur.execute(f"USE `{db}`")
    cur.execute("CREATE TABLE ct (id INT PRIMARY KEY, g INT, name VARCHAR(20))")
    rows = ", ".join(f"({i}, {i % 4}, 'n{i:03d}')" for i in range(1, 41))
    cur.execute(f"INSERT INTO ct VALUES {rows}")
    c.close()


def rows_of(conn, columns):
    """The rows and terminator that follow (the raw API leaves the
    connection's unread-result flag to its caller)."""
    conn.unread_result = True
    return conn.get_rows(binary=True, columns=columns)


def cursor_exchange(conn, sql, args, n):
    """Everything the client sees of one cursor, fetched n rows at a time."""
    out = []
    stmt = conn.cmd_stmt_prepare(sql.encode())
    sid = stmt["statement_id"]
    for round_ in range(2):  # a second execute opens a fresh cursor
        res = conn.cmd_stmt_execute(sid, args, stmt["parameters"], flags=1)
        if isinstance(res, dict):
            out.append(("ok", res.get("status_flag", 0) & FLAGS))
            continue
        _, columns, eof = res
        out.append(("execute", [c[0] for c in columns], eof["status_flag"] & FLAGS))
        if not eof["status_flag"] & CURSOR_EXISTS:
            rows, eof = rows_of(conn, columns)
            out.append(("no cursor", rows, eof["status_flag"] & FLAGS))
            continue
        for _ in range(100):
            conn.cmd_stmt_fetch(sid, n)
            rows, eof = rows_of(conn, columns)
            out.append(("fetch", [tuple(r) for r in rows], eof["status_flag"] & FLAGS))
            if eof["status_flag"] & LAST_ROW_SENT or round_ == 1:
                break
        if round_ == 0:
            try:
                conn.cmd_stmt_fetch(sid, n)
                rows, eof = rows_of(conn, columns)
                out.append(("fetch past end", rows))
            except Exception as e:  # noqa: BLE001
                out.append(("fetch past end", "error", getattr(e, "errno", str(e))))
    # Without a cursor: every row at once.
    res = conn.cmd_stmt_execute(sid, args, stmt["parameters"], flags=0)
    if isinstance(res, tuple):
        rows, eof = rows_of(conn, res[1])
        out.append(("plain", [tuple(r) for r in rows], eof["status_flag"] & FLAGS))
    conn.cmd_stmt_close(sid)
    conn.cmd_query("SELECT 1")
    conn.unread_result = True
    out.append(("then", conn.get_rows()[0]))
    return out


def driver_cursor(conn, sql, args):
    cur = conn.cursor(prepared=True)
    cur.execute(sql, args)
    first = cur.fetchone()
    rest = cur.fetchall()
    cur.close()
    return first, rest


def run_side(params):
    conn = connect(params)
    obs = {}
    for sql, args in STATEMENTS:
        for n in FETCH_SIZES:
            obs[f"{sql} / fetch {n}"] = cursor_exchange(conn, sql, args, n)
        obs[f"{sql} / driver prepared cursor"] = driver_cursor(conn, sql, args)
    conn.close()
    return obs


def main():
    checks = harness.Checks("server-side cursors on sharded prepared statements")
    setup(harness.direct_params("ref"))
    proxy_params = harness.proxy_params(harness.Proxy(extra=RULES))
    setup(proxy_params)
    harness.sync_replicas()
    direct = run_side(harness.direct_params("ref"))
    proxy = run_side(proxy_params)
    for k in direct:
        checks.eq(k, proxy.get(k), direct[k])
    checks.ok("cursors were opened", any(
        e[0] == "execute" and e[2] & CURSOR_EXISTS for v in direct.values() for e in v
        if isinstance(v, list) and e), "no CURSOR_EXISTS seen directly")
    for p in (harness.direct_params("ref"), proxy_params):
        c = harness.pymysql_connect(p)
        c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
        c.close()
    checks.finish()


if __name__ == "__main__":
    main()
