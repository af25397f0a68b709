"""mysql-connector-python prepared statements (binary protocol), directly
against n1p and through shardcat.

A table with every column type gets rows of extremes and NULLs inserted by
prepared INSERTs (re-executed with different parameters, plus long data
from a file-like object), read back by prepared SELECTs with parameters
(including LIMIT ?). Also: two identical statements in two cursors,
statements the server refuses to prepare (ER_UNSUPPORTED_PS 1295 and
others), prepared transaction control and SET.

Sharded case: the same rows in a table hashed over both nodes (a second
proxy with a sharding rule) against the reference server holding it whole:
prepared INSERTs (with long data), point selects, scattered reads with
ORDER BY/LIMIT ?, aggregates, scattered UPDATE/DELETE and errors.

Runs with the pure-Python protocol and, when it imports, the C extension.
"""

# The C extension must load its bundled OpenSSL before anything (Python's
# ssl module) loads the system one, or its import fails on symbol versions.
try:
    import _mysql_connector  # noqa: F401
except ImportError:
    pass

import datetime as dt
import hashlib
import io
import os
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import mysql.connector  # noqa: E402

BASE = harness.unique_db("cli_cpy")

COLUMNS = [
    ("ti", "TINYINT"), ("tiu", "TINYINT UNSIGNED"), ("si", "SMALLINT"), ("siu", "SMALLINT UNSIGNED"),
    ("mi", "MEDIUMINT"), ("miu", "MEDIUMINT UNSIGNED"), ("i", "INT"), ("iu", "INT UNSIGNED"),
    ("bi", "BIGINT"), ("biu", "BIGINT UNSIGNED"),
    ("dec65", "DECIMAL(65,30)"), ("dec5", "DECIMAL(5,2)"), ("f", "FLOAT"), ("d", "DOUBLE"), ("b64", "BIT(64)"),
    ("da", "DATE"), ("dtm", "DATETIME(6)"), ("ts", "TIMESTAMP(6) NULL DEFAULT NULL"), ("tm", "TIME(6)"), ("y", "YEAR"),
    ("c", "CHAR(20)"), ("vc", "VARCHAR(255)"), ("bn", "BINARY(8)"), ("vbn", "VARBINARY(255)"),
    ("tb", "TINYBLOB"), ("mb", "MEDIUMBLOB"), ("lb", "LONGBLOB"),
    ("tt", "TINYTEXT"), ("mt", "MEDIUMTEXT"), ("lt", "LONGTEXT"),
    ("e", "ENUM('x','y','z')"), ("st", "SET('a','b','c','d')"), ("j", "JSON"),
]
NAMES = [c for c, _ in COLUMNS]

D65_MAX = "99999999999999999999999999999999999.999999999999999999999999999999"  # sent as a string: MariaDB rounds a DECIMAL-typed parameter this long

ROWS = [
    # id, then one value per column
    [1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
     "-" + D65_MAX, Decimal("-999.99"), -3.40282e38, -1.7976931348623157e308, 0,
     dt.date(1000, 1, 1), dt.datetime(1000, 1, 1, 0, 0, 0, 0), dt.datetime(1970, 1, 1, 0, 0, 1, 0),
     -dt.timedelta(hours=838, minutes=59, seconds=59), 1901,
     "", "", b"\x00" * 8, b"", b"", b"", b"", "", "", "", "x", "", "[]"],
    [2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807,
     18446744073709551615, D65_MAX, Decimal("999.99"), 3.40282e38, 1.7976931348623157e308, 18446744073709551615,
     dt.date(9999, 12, 31), dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.datetime(2038, 1, 19, 3, 14, 7, 999999),
     dt.timedelta(hours=838, minutes=59, seconds=59), 2155,
     "c" * 20, "v" * 255, b"\xff" * 8, bytes(range(255)), bytes(range(255)), b"m" * 70000, b"l" * 100000,
     "t" * 255, "ü" * 30000, "😀" * 20000, "z", "a,b,c,d", '{"k": [1, 2.5, "s", null, true, {"n": {}}]}'],
    [3] + [None] * len(COLUMNS),
    [4, 0, 1, -1, 1, 0, 1, -1, 1, -1, 1,
     Decimal("0.000000000000000000000000000001"), Decimal("-0.01"), 1.17549e-38, 2.2250738585072014e-308, 1,
     dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 12, 30, 45, 123456), dt.datetime(2024, 2, 29, 12, 30, 45, 1),
     dt.timedelta(microseconds=1), 2000,
     "héllo", "ünïcödé ✓ 😀 中文 \\ ' \"", b"ab\x00", b"\x00\x01\x5c\x27", b"\x00", b"\xfe", b"\x01\x02",
     "tiny ✓", "medium", "long", "y", "b,d", '"just a string"'],
    [5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, Decimal("-12345.6789"), Decimal("1.5"), -0.0, -0.0, 5,
     dt.date(2000, 1, 1), dt.datetime(2000, 1, 1), dt.datetime(2000, 1, 1),
     dt.timedelta(0), 0, "a", "b", b"c", b"d", b"e", b"f", b"g", "h", "i", "j", "x", "a", "{}"],
]

LONG_DATA = bytes(range(256)) * 4096 + b"tail"   # 1 MiB + 4 bytes, streamed with COM_STMT_SEND_LONG_DATA


def cext_value(v):
    """The C extension binds Python floats as MYSQL_TYPE_FLOAT (single
    precision): send doubles outside FLOAT's range as strings."""
    if isinstance(v, float) and v != 0 and not (1.2e-38 < abs(v) < 3.4e38):
        return repr(v)
    # ... and cannot bind integers above 2**63 - 1 at all.
    if isinstance(v, int) and v >= 2**63:
        return str(v)
    return v


def connect(params, db, pure):
    kw = dict(params)
    if db:
        kw["database"] = db
    return mysql.connector.connect(use_pure=pure, autocommit=True, charset="utf8mb4",
                                   collation="utf8mb4_general_ci", connection_timeout=10, **kw)


def err(fn):
    try:
        fn()
    except mysql.connector.Error as e:
        return (e.errno, e.sqlstate, e.msg)
    return None


def norm(v):
    """A comparable rendering of a fetched value."""
    if isinstance(v, (bytes, bytearray)):
        return ("bytes", len(v), bytes(v[:64]).hex(), hashlib.sha1(bytes(v)).hexdigest())
    if isinstance(v, str) and len(v) > 100:
        return ("str", len(v), v[:20], hashlib.sha1(v.encode()).hexdigest())
    return repr(v)


def rows_of(cur):
    return [tuple(norm(x) for x in r) for r in cur.fetchall()]


def desc_of(cur):
    return [tuple(d[:2]) + tuple(d[6:]) for d in cur.description] if cur.description else None


def scenario(params, db, pure):
    out = {}
    c = connect(params, None, pure)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
    cur.execute(f"USE `{db}`")
    cur.execute("SET time_zone = '+00:00'")
    cur.execute("CREATE TABLE alltypes (id INT PRIMARY KEY, " + ", ".join(f"{n} {t}" for n, t in COLUMNS) + ")")
    cur.execute("CREATE TABLE kv (k INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(50))")
    cur.close()

    p = c.cursor(prepared=True)
    ins = "INSERT INTO alltypes (id, " + ", ".join(NAMES) + ") VALUES (" + ", ".join(["%s"] * (len(NAMES) + 1)) + ")"
    counts = []
    for row in ROWS:                       # the same statement, re-executed
        if not pure:
            row = [v.to_bytes(8, "big") if n == "b64" and isinstance(v, int) else cext_value(v)
                   for n, v in zip(["id"] + NAMES, row)]
        p.execute(ins, row)
        counts.append(p.rowcount)
    out["insert_rowcounts"] = counts
    out["insert_warnings"] = getattr(p, "warning_count", None)

    # Long data: a file-like parameter is streamed with COM_STMT_SEND_LONG_DATA.
    # (The C extension takes no file objects: plain values there.)
    lt = "long ✓ text".encode() * 1000
    p.execute("INSERT INTO alltypes (id, lb, lt) VALUES (%s, %s, %s)",
              (6, io.BytesIO(LONG_DATA), io.BytesIO(lt)) if pure else (6, LONG_DATA, lt.decode()))
    out["long_data_rowcount"] = p.rowcount
    p.execute("SELECT LENGTH(lb), MD5(lb), CHAR_LENGTH(lt) FROM alltypes WHERE id = %s", (6,))
    out["long_data"] = rows_of(p)

    # Read back with parameters, including LIMIT ?, re-executed.
    # (YEAR as a number here: Connector/Python misparses the binary YEAR
    # type (it reads a length-prefixed string), which derails the rest of
    # the row; YEAR itself is read, last in its row, below.)
    wide = ", ".join("y + 0 AS y" if n == "y" else n for n in NAMES)
    sel = "SELECT id, " + wide + " FROM alltypes WHERE id >= %s AND id <= %s ORDER BY id LIMIT %s"
    reads = []
    for lo, hi, lim in ((1, 5, 10), (2, 4, 2), (3, 3, 1), (1, 6, 0), (5, 100, 1000)):
        p.execute(sel, (lo, hi, lim))
        reads.append(rows_of(p))
    out["reads"] = reads
    out["read_desc"] = desc_of(p)
    # Each column alone, as its own statement with a NULL-able parameter.
    single = []
    for n in NAMES:
        try:
            p.execute(f"SELECT {n} IS NULL, %s, {n} FROM alltypes WHERE id <= %s ORDER BY id", (None, 5))
            single.append((n, rows_of(p)))
        except Exception as e:  # noqa: BLE001 - a client-side decoding failure, compared as such
            single.append((n, f"{type(e).__name__}: {e}"))
            p.close()
            p = c.cursor(prepared=True)
    out["single_columns"] = single
    # Parameters of every Python type, echoed by the server.
    echo = []
    for v in (0, -1, 2**63 - 1, 2**64 - 1, -(2**63), 1.5, -0.0, Decimal("1.10"), "s", "😀", b"\x00\xff", None,
              dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5, 6), dt.timedelta(hours=-1, microseconds=5), True):
        if not pure and isinstance(v, bytes):
            continue  # the C extension fails decoding non-UTF-8 bytes echoed as a string
        p.execute("SELECT %s", (v if pure else cext_value(v),))
        echo.append((repr(v), rows_of(p), desc_of(p)))
    out["echo"] = echo

    # Two identical statements, two cursors, interleaved; closing one keeps the other.
    a, b = c.cursor(prepared=True), c.cursor(prepared=True)
    twins = []
    for i in range(3):
        a.execute("SELECT %s + 1, %s", (i, "a"))
        twins.append(rows_of(a))
        b.execute("SELECT %s + 1, %s", (i * 10, "b"))
        twins.append(rows_of(b))
    a.close()
    b.execute("SELECT %s + 1, %s", (99, "b"))
    twins.append(rows_of(b))
    b.close()
    out["twins"] = twins

    # Statements the server refuses to prepare, or rejects at execute.
    refused = []
    for sql in ("PREPARE x FROM 'SELECT 1'", "EXECUTE x", "DEALLOCATE PREPARE x",
                "SELECT nope FROM alltypes", "SELECT * FROM missing_table WHERE id = %s", "SELEC %s"):
        cur2 = c.cursor(prepared=True)
        refused.append((sql, err(lambda: cur2.execute(sql, (1,) if "%s" in sql else ()))))
        cur2.close()
    out["refused"] = refused
    out["after_refused"] = err(lambda: p.execute("SELECT %s", (7,))) or rows_of(p)
    # An error at execute time (duplicate key), then the statement still works.
    out["dup"] = err(lambda: p.execute("INSERT INTO kv (k, v) VALUES (%s, %s)", (1, "one")))
    out["dup2"] = err(lambda: p.execute("INSERT INTO kv (k, v) VALUES (%s, %s)", (1, "one")))
    p.execute("INSERT INTO kv (k, v) VALUES (%s, %s)", (2, "two"))
    out["after_dup"] = (p.rowcount, p.lastrowid)
    p.execute("INSERT INTO kv (v) VALUES (%s)", ("auto",))
    out["lastrowid"] = (p.rowcount, p.lastrowid)

    # Transaction control and SET through the binary protocol.
    tx = []
    p.execute("BEGIN")
    p.execute("INSERT INTO kv (v) VALUES (%s)", ("in-tx",))
    p.execute("SELECT COUNT(*) FROM kv WHERE v = %s", ("in-tx",))
    tx.append(rows_of(p))
    p.execute("ROLLBACK")
    p.execute("SELECT COUNT(*) FROM kv WHERE v = %s", ("in-tx",))
    tx.append(rows_of(p))
    p.execute("SET autocommit = %s", (0,))
    p.execute("SELECT @@autocommit, @@read_only")   # (the implicit transaction must be on the primary)
    tx.append(rows_of(p))
    p.execute("INSERT INTO kv (v) VALUES (%s)", ("ac0",))
    p.execute("ROLLBACK")
    p.execute("SELECT COUNT(*) FROM kv WHERE v = %s", ("ac0",))
    tx.append(rows_of(p))
    p.execute("SET autocommit = %s", (1,))
    p.execute("SELECT @@autocommit")
    tx.append(rows_of(p))
    p.execute("SET @uv = %s", ("user var ✓",))
    p.execute("SELECT @uv")
    tx.append(rows_of(p))
    out["tx"] = tx
    p.close()
    c.close()

    # The same statements on a new connection, reading what was written
    # (once replicas caught up: other sessions' writes need not be seen at once).
    harness.sync_replicas()
    c = connect(params, db, pure)
    p = c.cursor(prepared=True)
    p.execute("SELECT COUNT(*), SUM(id) FROM alltypes WHERE id > %s", (0,))
    out["new_conn"] = rows_of(p)
    p.execute("SELECT k, v FROM kv ORDER BY k LIMIT %s", (10,))
    out["kv"] = rows_of(p)
    p.close()
    c.close()
    return out


SHARD_RULES = """
[[table]]
name = "sh"
schema = "{db}"
key = "id"
key_type = "int"
algorithm = {{ kind = "hash_mod" }}
nodes = ["n1", "n2"]
tables_per_node = 2
"""


def sharded_scenario(params, db, pure):
    """Prepared statements on a sharded table (`sh`, hashed by id)."""
    out = {}
    c = connect(params, None, pure)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
    cur.execute(f"USE `{db}`")
    cur.execute("SET time_zone = '+00:00'")
    cur.execute("CREATE TABLE sh (id BIGINT PRIMARY KEY, " + ", ".join(f"{n} {t}" for n, t in COLUMNS) + ")")
    cur.close()
    p = c.cursor(prepared=True)
    ins = "INSERT INTO sh (id, " + ", ".join(NAMES) + ") VALUES (" + ", ".join(["%s"] * (len(NAMES) + 1)) + ")"
    counts = []
    for row in ROWS:
        if not pure:
            row = [v.to_bytes(8, "big") if n == "b64" and isinstance(v, int) else cext_value(v)
                   for n, v in zip(["id"] + NAMES, row)]
        p.execute(ins, row)
        counts.append(p.rowcount)
    out["insert_rowcounts"] = counts
    lt = "long ✓ text".encode() * 1000
    p.execute("INSERT INTO sh (id, lb, lt) VALUES (%s, %s, %s)",
              (6, io.BytesIO(LONG_DATA), io.BytesIO(lt)) if pure else (6, LONG_DATA, lt.decode()))
    out["long_data_rowcount"] = p.rowcount
    p.execute("INSERT INTO sh (id, vc, d) VALUES (%s, %s, %s), (%s, %s, %s), (%s, %s, %s)",
              (7, "seven", 7.5, 8, "eight", None, 9, "nine", -9.25))
    out["multi_row_insert"] = p.rowcount
    p.close()
    c.close()
    # Other sessions' writes need not be on the replicas at once.
    harness.sync_replicas()
    c = connect(params, db, pure)
    p = c.cursor(prepared=True)
    p.execute("SELECT LENGTH(lb), MD5(lb), CHAR_LENGTH(lt) FROM sh WHERE id = %s", (6,))
    out["long_data"] = rows_of(p)
    wide = ", ".join("y + 0 AS y" if n == "y" else n for n in NAMES)
    reads = []
    for lo, hi, lim in ((1, 5, 10), (2, 4, 2), (3, 3, 1), (1, 9, 0), (5, 100, 1000), (1, 9, 4)):
        p.execute("SELECT id, " + wide + " FROM sh WHERE id >= %s AND id <= %s ORDER BY id LIMIT %s", (lo, hi, lim))
        reads.append(rows_of(p))
    out["scatter_reads"] = reads
    out["scatter_desc"] = desc_of(p)
    points = []
    for i in range(1, 11):
        p.execute("SELECT id, " + wide + " FROM sh WHERE id = %s", (i,))
        points.append(rows_of(p))
    out["point_desc"] = desc_of(p)
    out["points"] = points
    p.execute("SELECT id, vc FROM sh WHERE id IN (%s, %s, %s) ORDER BY id DESC", (9, 2, 5))
    out["in_list"] = rows_of(p)
    p.execute("SELECT COUNT(*), COUNT(d), SUM(i), MIN(d), MAX(d), MIN(dtm), MAX(tm), MIN(dec65), MAX(f), AVG(si) "
              "FROM sh WHERE id > %s", (0,))
    out["aggregates"] = rows_of(p)
    out["aggregates_desc"] = desc_of(p)
    p.execute("SELECT id, d FROM sh WHERE d IS NOT NULL ORDER BY d DESC, id LIMIT %s", (5,))
    out["order_by_double"] = rows_of(p)
    p.execute("SELECT id, tm FROM sh ORDER BY tm, id")
    out["order_by_time"] = rows_of(p)
    p.execute("SELECT id FROM sh WHERE vc <=> %s ORDER BY id", (None,))
    out["null_param"] = rows_of(p)
    p.execute("UPDATE sh SET vc = %s WHERE id > %s", ("updated", 4))
    out["scatter_update"] = p.rowcount
    p.execute("DELETE FROM sh WHERE id = %s", (8,))
    out["delete_by_key"] = p.rowcount
    out["dup"] = err(lambda: p.execute("INSERT INTO sh (id, vc) VALUES (%s, %s)", (1, "again")))
    out["bad_column"] = err(lambda: c.cursor(prepared=True).execute("SELECT nope FROM sh WHERE id = %s", (1,)))
    p.close()
    c.close()
    harness.sync_replicas()
    c = connect(params, db, pure)
    p = c.cursor(prepared=True)
    p.execute("SELECT id, vc FROM sh ORDER BY id")
    out["after_writes"] = rows_of(p)
    p.close()
    c.close()
    return out


def normalise(v, db):
    if isinstance(v, str):
        return v.replace(db, "DB")
    if isinstance(v, (list, tuple)):
        return type(v)(normalise(x, db) for x in v)
    if isinstance(v, dict):
        return {k: normalise(x, db) for k, x in v.items()}
    return v


def observe(params, db, pure, fn=None):
    try:
        return ("ok", normalise((fn or scenario)(params, db, pure), db))
    except Exception as e:  # noqa: BLE001
        import traceback
        return ("exception", f"{type(e).__name__}: {normalise(str(e), db)} at {traceback.format_exc(limit=-2)}")


def compare(checks, name, p, d):
    if p[0] != "ok" or d[0] != "ok":
        checks.eq(name, p, d)
        return
    for k in d[1]:
        pv, dv = p[1].get(k, "<missing>"), d[1][k]
        if pv == dv or not (isinstance(pv, list) and isinstance(dv, list) and len(pv) == len(dv)):
            checks.eq(f"{name}/{k}", pv, dv)
            continue
        for i, (a, b) in enumerate(zip(pv, dv)):
            if a != b:
                checks.eq(f"{name}/{k}[{i}]", a, b)


def shard_nodes(params, db):
    """The nodes a full scan of `sh` reaches through the sharding proxy."""
    c = connect(params, db, True)
    cur = c.cursor()
    cur.execute("EXPLAIN SHARDCAT SELECT * FROM sh")
    nodes = {r[0] for r in cur.fetchall()}
    c.close()
    return nodes


def drop_sharded(sharded, reference, db):
    for params in (sharded, reference):
        try:
            c = connect(params, None, True)
            cur = c.cursor()
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            c.close()
        except mysql.connector.Error:
            pass


def cext_available():
    try:
        from mysql.connector import connection_cext  # noqa: F401
        return True, ""
    except Exception as e:  # noqa: BLE001
        return False, str(e)


def main():
    checks = harness.Checks("connector-prepared")
    direct = harness.direct_params()
    proxy = harness.proxy_params()
    variants = [("pure", True)]
    ok, why = cext_available()
    if ok:
        variants.append(("cext", False))
    else:
        print(f"SKIP cext: the C extension does not import ({why.strip()[:200]})")
    dbs = []
    try:
        for label, pure in variants:
            d_db, p_db = f"{BASE}_{label}_d", f"{BASE}_{label}_p"
            dbs += [d_db, p_db]
            d = observe(direct, d_db, pure)
            checks.ok(f"{label}-direct-ran", d[0] == "ok", f"direct side failed: {d[1]}")
            p = observe(proxy, p_db, pure)
            compare(checks, label, p, d)
        # Sharded: the reference server holds the whole table; the proxy
        # spreads it over both nodes. Same database name on both sides.
        sh_db = f"{BASE}_sh"
        sharding = harness.Proxy(extra=SHARD_RULES.format(db=sh_db))
        sharded = harness.proxy_params(sharding)
        reference = harness.direct_params("ref")
        for label, pure in variants:
            d = observe(reference, sh_db, pure, sharded_scenario)
            checks.ok(f"{label}-sharded-reference-ran", d[0] == "ok", f"reference side failed: {d[1]}")
            p = observe(sharded, sh_db, pure, sharded_scenario)
            compare(checks, f"{label}-sharded", p, d)
        checks.ok("sharded-table-spans-both-nodes", shard_nodes(sharded, sh_db) == {"n1", "n2"},
                  f"EXPLAIN SHARDCAT shows nodes {shard_nodes(sharded, sh_db)}")
        drop_sharded(sharded, reference, sh_db)
    finally:
        for db in dbs:
            harness.drop_database(db)
    checks.finish()


if __name__ == "__main__":
    main()
