"""PyMySQL (text protocol) directly against n1p and through shardcat.

Every scenario runs on both sides, each in its own database (<base>_d and
<base>_p, created the same way); the observations (with the database name
normalised) must be equal.
"""

import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import pymysql  # noqa: E402
from pymysql.constants import CLIENT, SERVER_STATUS  # noqa: E402

BASE = harness.unique_db("cli_pymysql")
BIG = 64 * 1024 * 1024
BLOB_SIZE = 20 * 1024 * 1024 + 12345


def connect(params, db, **kw):
    kw.setdefault("autocommit", True)
    kw.setdefault("charset", "utf8mb4")
    kw.setdefault("max_allowed_packet", BIG)
    return harness.pymysql_connect(params, database=db, **kw)


def q(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def err_of(fn):
    """(errno, message) of the pymysql error `fn` raises, or None."""
    try:
        fn()
    except pymysql.err.MySQLError as e:
        return tuple(e.args[:2])
    return None


# ---------------------------------------------------------------- scenarios
# Each takes (params, db) and returns a JSON-like observation.

def s_setup(params, db):
    c = connect(params, None)
    with c.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        cur.execute(f"USE `{db}`")
        cur.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100), n INT DEFAULT 0)")
        cur.execute("CREATE TABLE u (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(100) CHARACTER SET utf8mb4, l VARCHAR(100) CHARACTER SET latin1)")
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)")
        cur.execute("CREATE TABLE tiny (a TINYINT, c CHAR(3))")
    c.close()
    return True


def s_handshake(params, db):
    c = connect(params, db)
    out = {
        "server_version": c.server_version,
        "server_language": c.server_language,
        "autocommit": c.get_autocommit(),
        "status_autocommit": bool(c.server_status & SERVER_STATUS.SERVER_STATUS_AUTOCOMMIT),
        "db": q(c, "SELECT DATABASE()"),
        "charset_vars": q(c, "SELECT @@character_set_client, @@character_set_connection, @@character_set_results, @@collation_connection"),
    }
    c.close()
    return out


def s_types(params, db):
    c = connect(params, db)
    with c.cursor() as cur:
        cur.execute("SELECT 1, -9223372036854775808, 18446744073709551615, 3.14159, CAST(1.5 AS DOUBLE), "
                    "CAST(2.5 AS FLOAT), 'str', X'00FF', NULL, DATE '2024-02-29', TIMESTAMP '2024-01-02 03:04:05.678', "
                    "TIME '-12:34:56', CAST(12345678901234567890.123456789 AS DECIMAL(40,9)), JSON_OBJECT('a', 1), b'101'")
        out = {"desc": cur.description, "rows": [tuple(map(repr, r)) for r in cur.fetchall()]}
    c.close()
    return out


def s_multi(params, db):
    c = connect(params, db, client_flag=CLIENT.MULTI_STATEMENTS)
    out = {}
    with c.cursor() as cur:
        cur.execute("SELECT 1 AS a, 'x' AS b; INSERT INTO t (v) VALUES ('multi'), ('multi2'); SELECT v FROM t WHERE v LIKE 'multi%' ORDER BY id")
        sets = []
        while True:
            sets.append({"desc": [d[0] for d in cur.description] if cur.description else None,
                         "rows": cur.fetchall(), "rowcount": cur.rowcount, "lastrowid": cur.lastrowid})
            if not cur.nextset():
                break
        out["three_sets"] = sets
        # An error in the middle: the first result arrives, the error is raised on nextset().
        cur.execute("SELECT 10; SELECT nope FROM t; SELECT 30")
        first = cur.fetchall()
        e = err_of(cur.nextset)
        out["error_in_middle"] = (first, e)
        out["after_error"] = q(c, "SELECT 'still usable'")
        # An OK only
        cur.execute("SET @x := 5; SET @y := 6")
        cur.nextset()
        out["set_then_select"] = q(c, "SELECT @x, @y")
    c.close()
    return out


def s_errors(params, db):
    c = connect(params, db)
    out = []
    for sql in ["SELECT nope FROM t", "SELECT * FROM no_such_table", "SELEC 1", "INSERT INTO t (id) VALUES (1), (1)",
                "SELECT 1 FROM DUAL WHERE 1 = (SELECT 1 UNION SELECT 2)", "DROP TABLE no_such_table",
                "USE no_such_database_here", "SELECT JSON_EXTRACT('{', '$')", "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'custom ✓', MYSQL_ERRNO = 1644"]:
        out.append((sql, err_of(lambda: q(c, sql))))
        out.append(("after", q(c, "SELECT 1 + 1")))
    out.append(("db still", q(c, "SELECT DATABASE()")))
    c.close()
    return out


def s_autocommit(params, db):
    c = connect(params, db, autocommit=True)
    out = {"start": c.get_autocommit()}
    c.autocommit(False)
    out["after_off"] = (c.get_autocommit(), q(c, "SELECT @@autocommit"))
    # With autocommit off everything is one transaction, which must run on
    # the primary. (The backend user may write on read-only replicas: a
    # commit there would break replication, so it is skipped then.)
    on_primary = q(c, "SELECT @@read_only")[0][0] == 0
    out["autocommit_off_runs_on_primary"] = on_primary
    with c.cursor() as cur:
        cur.execute("INSERT INTO t (v) VALUES ('rollback-me')")
        out["in_trans_after_insert"] = bool(c.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)
        cur.execute("SELECT COUNT(*) FROM t WHERE v = 'rollback-me'")
        out["seen_in_tx"] = cur.fetchall()
    c.rollback()
    out["in_trans_after_rollback"] = bool(c.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)
    out["gone_after_rollback"] = q(c, "SELECT COUNT(*) FROM t WHERE v = 'rollback-me'")
    c.rollback()
    if on_primary:
        with c.cursor() as cur:
            cur.execute("INSERT INTO t (v) VALUES ('commit-me')")
        c.commit()
    else:
        c.rollback()
    c.autocommit(True)
    out["after_on"] = (c.get_autocommit(), q(c, "SELECT @@autocommit"))
    out["committed"] = q(c, "SELECT COUNT(*) FROM t WHERE v = 'commit-me'")
    # Explicit BEGIN with autocommit on.
    c.begin()
    out["in_trans_after_begin"] = bool(c.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)
    q(c, "INSERT INTO t (v) VALUES ('rollback-2')")
    c.rollback()
    out["gone_2"] = q(c, "SELECT COUNT(*) FROM t WHERE v = 'rollback-2'")
    c.close()
    # PyMySQL's default (autocommit=False): SET AUTOCOMMIT=0 at connect,
    # decided from the greeting's status flags.
    c = connect(params, db, autocommit=False)
    out["default_off"] = (c.get_autocommit(), q(c, "SELECT @@autocommit"), q(c, "SELECT @@read_only"))
    q(c, "INSERT INTO t (v) VALUES ('never-committed')")
    c.close()
    harness.sync_replicas()
    c = connect(params, db)
    out["uncommitted_gone"] = q(c, "SELECT COUNT(*) FROM t WHERE v = 'never-committed'")
    c.close()
    return out


def s_affected(params, db):
    out = {}
    for label, flag in (("plain", 0), ("found_rows", CLIENT.FOUND_ROWS)):
        c = connect(params, db, client_flag=flag)
        with c.cursor() as cur:
            cur.execute("INSERT INTO t (id, v, n) VALUES (1000, 'same', 1), (1001, 'same', 1) ON DUPLICATE KEY UPDATE n = n")
            r = [cur.rowcount]
            cur.execute("UPDATE t SET n = 1 WHERE v = 'same'")  # matches 2, changes 0
            r.append(cur.rowcount)
            cur.execute("UPDATE t SET n = n + 1 WHERE v = 'same'")  # changes 2
            r.append(cur.rowcount)
            cur.execute("UPDATE t SET n = 2 WHERE v = 'same'")  # matches 2, changes 0
            r.append((cur.rowcount, c.affected_rows()))
            cur.execute("SELECT ROW_COUNT()")
            r.append(cur.fetchall())
            cur.execute("INSERT INTO t (id, v, n) VALUES (1000, 'same', 2) ON DUPLICATE KEY UPDATE n = 2")
            r.append(cur.rowcount)
            cur.execute("DELETE FROM t WHERE v = 'same'")
            r.append(cur.rowcount)
        out[label] = r
        c.close()
    return out


def s_lastrowid(params, db):
    c = connect(params, db)
    out = []
    with c.cursor() as cur:
        cur.execute("INSERT INTO t (v) VALUES ('lr1')")
        out.append((cur.lastrowid, c.insert_id()))
        cur.execute("INSERT INTO t (v) VALUES ('lr2'), ('lr3'), ('lr4')")
        out.append((cur.lastrowid, c.insert_id()))
        cur.execute("SELECT LAST_INSERT_ID()")
        out.append(cur.fetchall())
        cur.execute("INSERT INTO t (id, v) VALUES (5000, 'explicit')")
        out.append((cur.lastrowid, c.insert_id()))
        cur.execute("SELECT 1")
        out.append((cur.lastrowid, c.insert_id()))
        cur.execute("SELECT LAST_INSERT_ID()")
        out.append(cur.fetchall())
        cur.execute("UPDATE t SET v = 'lr1b' WHERE v = 'lr1'")
        out.append((cur.lastrowid, c.insert_id()))
        cur.execute("INSERT INTO t (v) VALUES (LAST_INSERT_ID(777))")
        out.append(cur.lastrowid)
        cur.execute("SELECT LAST_INSERT_ID()")
        out.append(cur.fetchall())
    c.close()
    return out


def s_warnings(params, db):
    c = connect(params, db)
    out = []
    with c.cursor() as cur:
        cur.execute("INSERT IGNORE INTO tiny VALUES (300, 'toolong'), (-300, 'x')")
        out.append(("insert", cur.rowcount, cur.warning_count))
        out.append(("show", c.show_warnings()))
        cur.execute("SHOW WARNINGS")
        out.append(("show-cursor", cur.fetchall()))
        cur.execute("SHOW COUNT(*) WARNINGS")
        out.append(("count", cur.fetchall()))
        cur.execute("SELECT CAST('abc' AS SIGNED), 1/0")
        out.append(("select", cur.fetchall(), cur.warning_count))
        cur.execute("SHOW WARNINGS")
        out.append(("show-after-select", cur.fetchall()))
        cur.execute("SELECT 1")
        out.append(("clean", cur.warning_count))
        cur.execute("SHOW WARNINGS")
        out.append(("show-clean", cur.fetchall()))
        cur.execute("SELECT @@warning_count, @@error_count")
        out.append(("vars", cur.fetchall()))
        # A statement that uses a table clears the list.
        cur.execute("SELECT COUNT(*) FROM tiny")
        out.append(("table-select", cur.fetchall(), cur.warning_count))
        cur.execute("SHOW WARNINGS")
        out.append(("show-after-table-select", cur.fetchall()))
    c.close()
    return {step[0]: step[1:] for step in out}


def s_warnings_fresh_session(params, db):
    """A new session has no warnings, whatever other sessions did."""
    a = connect(params, db)
    with a.cursor() as cur:
        cur.execute("INSERT IGNORE INTO tiny VALUES (1000, 'abcdef')")
        cur.execute("SELECT 1")
    a.close()
    b = connect(params, db)
    out = {"show": q(b, "SHOW WARNINGS"), "count": q(b, "SELECT @@warning_count")}
    b.close()
    return out


BIG_SELECT = ("SELECT seq, MD5(seq), REPEAT(CHAR(65 + seq % 26), seq % 97), seq * 1.5, "
              "IF(seq % 7 = 0, NULL, CONCAT('ü', seq)) FROM seq_1_to_50000")


def digest(rows):
    h = hashlib.sha256()
    n = 0
    for r in rows:
        h.update(repr(r).encode())
        n += 1
    return n, h.hexdigest()


def s_big_result(params, db):
    c = connect(params, db)
    out = {}
    with c.cursor() as cur:
        cur.execute(BIG_SELECT)
        out["buffered"] = (cur.rowcount, [d[:2] for d in cur.description], digest(cur.fetchall()))
    with c.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute("SELECT seq, MD5(seq) FROM seq_1_to_50000")
        out["unbuffered"] = digest(cur.fetchall_unbuffered())
    out["after"] = q(c, "SELECT 'ok'")
    c.close()
    return out


def s_big_blob(params, db):
    """Packets over 16 MiB both ways. Each step on its own connection, so
    that one broken direction does not hide the other."""
    blob = (bytes(range(256)) * (BLOB_SIZE // 256 + 1))[:BLOB_SIZE]
    out = {}

    def step(name, sql, args=None, fetch=lambda rows: rows):
        c = connect(params, db)
        try:
            with c.cursor() as cur:
                cur.execute(sql, args)
                out[name] = ("ok", cur.rowcount, fetch(cur.fetchall()))
            out[name + " (then)"] = q(c, "SELECT 'still usable'")
        except pymysql.err.MySQLError as e:
            out[name] = ("error", type(e).__name__, str(e.args[:2]))
        finally:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass

    step("max_allowed_packet", "SELECT @@max_allowed_packet >= %s", (2 * BLOB_SIZE,))
    # client -> server: a ~40 MB COM_QUERY (escaped bytes), 3 packets
    step("insert 20 MB", "INSERT INTO big VALUES (1, %s)", (blob,))
    # a command of exactly 16 MiB - 1 payload bytes, followed by an empty packet
    filler = "q" * (0xFFFFFF - 1 - len("SELECT LENGTH('')"))
    step("query of 16 MiB - 1", f"SELECT LENGTH('{filler}')")
    harness.sync_replicas()  # the reads below are new sessions: let replicas catch up first
    step("server view", "SELECT LENGTH(b), MD5(b) FROM big WHERE id = 1")
    # server -> client: a 20 MB row, and rows just under/over 16 MiB
    step("read 20 MB", "SELECT b FROM big WHERE id = 1",
         fetch=lambda rows: [(len(r[0]), r[0] == blob) for r in rows])
    for n in (0xFFFFFF - 5, 0xFFFFFF + 100):
        step(f"repeat {n}", "SELECT REPEAT('z', %s)", (n,), fetch=lambda rows, n=n: [(len(r[0]), r[0] == "z" * n) for r in rows])
    return out


def s_select_db_ping(params, db):
    c = connect(params, None)
    out = {"none": q(c, "SELECT DATABASE()")}
    c.select_db(db)
    out["selected"] = q(c, "SELECT DATABASE()")
    out["table_visible"] = q(c, "SELECT COUNT(*) >= 0 FROM t")
    out["bad_select_db"] = err_of(lambda: c.select_db("no_such_db_xyz"))
    out["still"] = q(c, "SELECT DATABASE()")
    c.ping(reconnect=False)
    out["after_ping"] = (q(c, "SELECT 1"), c.get_autocommit())
    c.autocommit(False)
    c.ping(reconnect=False)
    out["ping_in_tx_mode"] = (c.get_autocommit(), q(c, "SELECT @@autocommit"))
    c.autocommit(True)
    # NO_BACKSLASH_ESCAPES travels in the status flags: PyMySQL escapes
    # strings according to the last status it saw (also after a ping).
    q(c, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
    out["nbe_flag"] = bool(c.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES)
    c.ping(reconnect=False)
    out["nbe_flag_after_ping"] = bool(c.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES)
    try:
        out["nbe_roundtrip"] = q(c, "SELECT %s", ("back\\slash 'q'",))
    except pymysql.err.MySQLError as e:
        out["nbe_roundtrip"] = ("error", e.args[:2])
    c.close()
    return out


UNI = "héllo wörld ✓ Ω 中文 😀 \\ ' \" \t"
LAT = "café naïve Ångström ÿ ß"


def s_unicode(params, db):
    out = {}
    c = connect(params, db, charset="utf8mb4")
    out["utf8mb4_vars"] = q(c, "SELECT @@character_set_client, @@character_set_results, @@collation_connection")
    q(c, "INSERT INTO u (s, l) VALUES (%s, %s)", (UNI, LAT))
    out["utf8mb4_roundtrip"] = q(c, "SELECT s, l, LENGTH(s), CHAR_LENGTH(s), HEX(l) FROM u ORDER BY id")
    out["utf8mb4_literal"] = q(c, "SELECT %s, HEX(%s)", (UNI, UNI))
    c.close()
    c = connect(params, db, charset="latin1")
    out["latin1_vars"] = q(c, "SELECT @@character_set_client, @@character_set_results, @@collation_connection")
    q(c, "INSERT INTO u (s, l) VALUES (%s, %s)", (LAT, LAT))
    out["latin1_read"] = q(c, "SELECT s, l, HEX(s), HEX(l) FROM u ORDER BY id")
    out["latin1_literal"] = q(c, "SELECT %s, HEX(%s)", (LAT, LAT))
    c.close()
    c = connect(params, db, charset="utf8mb4", collation="utf8mb4_bin")
    out["collation_vars"] = q(c, "SELECT @@collation_connection, 'a' = 'A'")
    c.close()
    harness.sync_replicas()  # a new session need not see other sessions' writes at once
    c = connect(params, db, charset="utf8mb4")
    out["utf8mb4_reread"] = q(c, "SELECT s, l FROM u ORDER BY id")
    c.close()
    return out


SCENARIOS = [
    ("handshake", s_handshake),
    ("types", s_types),
    ("multi-statements", s_multi),
    ("errors", s_errors),
    ("autocommit", s_autocommit),
    ("affected-rows", s_affected),
    ("lastrowid", s_lastrowid),
    ("warnings", s_warnings),
    ("warnings-fresh-session", s_warnings_fresh_session),
    ("big-result", s_big_result),
    ("big-blob", s_big_blob),
    ("select-db-ping", s_select_db_ping),
    ("unicode", s_unicode),
]


def normalise(v, db):
    if isinstance(v, str):
        return v.replace(db, "DB")
    if isinstance(v, (list, tuple)):
        return type(v)(normalise(x, db) for x in v)
    if isinstance(v, dict):
        return {k: normalise(x, db) for k, x in v.items()}
    return v


def observe(fn, params, db):
    try:
        return ("ok", normalise(fn(params, db), db))
    except Exception as e:  # noqa: BLE001
        return ("exception", f"{type(e).__name__}: {normalise(str(e), db)}")


def compare(checks, name, p, d):
    if p == d:
        return checks.ok(name, True)
    if isinstance(p, dict) and isinstance(d, dict):
        for k in sorted(set(p) | set(d)):
            checks.eq(f"{name}/{k}", p.get(k, "<missing>"), d.get(k, "<missing>"))
        return False
    if isinstance(p, list) and isinstance(d, list) and len(p) == len(d):
        for i, (a, b) in enumerate(zip(p, d)):
            if a != b:
                checks.eq(f"{name}[{i}]", a, b)
        return False
    return checks.eq(name, p, d)


def set_max_allowed_packet(value):
    """Returns the old values; needs to happen before the proxy connects."""
    old = {}
    for inst in ("n1p", "n1r1", "n1r2"):
        c = harness.pymysql_connect(harness.direct_params(inst))
        with c.cursor() as cur:
            cur.execute("SELECT @@global.max_allowed_packet")
            old[inst] = cur.fetchone()[0]
            cur.execute("SET GLOBAL max_allowed_packet = %s", (value if isinstance(value, int) else value[inst],))
        c.close()
    return old


def main():
    checks = harness.Checks("pymysql")
    old_map = set_max_allowed_packet(BIG)
    direct = harness.direct_params()
    proxy = harness.proxy_params()
    d_db, p_db = BASE + "_d", BASE + "_p"
    try:
        checks.eq("setup", observe(s_setup, proxy, p_db), observe(s_setup, direct, d_db))
        harness.sync_replicas()
        for name, fn in SCENARIOS:
            t0 = time.time()
            d = observe(fn, direct, d_db)
            p = observe(fn, proxy, p_db)
            if d[0] != "ok":
                checks.ok(f"{name}-direct-ran", False, f"direct side failed: {d[1]}")
            if p[0] != d[0]:
                checks.eq(name, p, d)
            else:
                compare(checks, name, p[1], d[1])
            if harness.VERBOSE:
                print(f"  ({name}: {time.time() - t0:.1f}s)")
    finally:
        harness.drop_database(d_db)
        harness.drop_database(p_db)
        set_max_allowed_packet(old_map)
    checks.finish()


if __name__ == "__main__":
    main()
