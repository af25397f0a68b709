"""SHOW WARNINGS / SHOW ERRORS / SHOW COUNT(*) WARNINGS|ERRORS /
@@warning_count / @@error_count after statements that ran on several
shards (split multi-row INSERTs, INSERT IGNORE duplicates, scattered
UPDATEs, sharded LOAD DATA LOCAL, merged reads), compared with the same
statements on `ref` (one server holding every row).

Statements are generated (seeded): strings truncated, integers out of
range, bad dates, duplicate keys, text that is no number, spread over the
shards. After each one the client reads the diagnostics every way a client
can. Compared exactly: the counts, the column names and types of each
answer, the number of rows listed (bounded by max_error_count, also set
low); compared as sets: the rows themselves, with "at row N" set aside
(each shard numbers the rows of its own statement, and lists in shard
order). A statement that reads no table keeps the diagnostics, one that
reads a table resets them, as on the server.

Then the axes (see `run_axes`): generated reads, scattered UPDATEs and
split INSERTs, each over text/prepared x pinned by a user variable or not
x in a transaction or not, their diagnostics read every way (GET
DIAGNOSTICS ROW_COUNT, RETURNED_SQLSTATE, CLASS_ORIGIN… included), with
a split INSERT's "at row N" compared exactly.
"""

import os
import random
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RULES = """
[[table]]
name = "wt"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "wa"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"""
DB = harness.unique_db("shard_warnings")
SEED = 20261206


def gen_statements(rng):
    """Statements that warn on several shards, and a few that do not."""
    out = []
    next_id = 1
    for _ in range(12):
        rows = []
        for _ in range(rng.randrange(2, 9)):
            s = rng.choice(["ok", "toolongvalue", "x" * 9, "é" * 7, None])
            n = rng.choice([1, -5, 127, 300, -1000, None])
            d = rng.choice(["'2024-01-31'", "'2024-02-30'", "'nope'", "'2024-13-01'", "NULL"])
            sv = "NULL" if s is None else f"'{s}'"
            nv = "NULL" if n is None else str(n)
            rows.append(f"({next_id}, {sv}, {nv}, {d})")
            next_id += 1
        out.append("INSERT INTO wt (id, s, n, d) VALUES " + ", ".join(rows))
    dup = ", ".join(f"({i}, 'dup', 1, NULL)" for i in rng.sample(range(1, next_id), 6))
    out.append(f"INSERT IGNORE INTO wt (id, s, n, d) VALUES {dup}, ({next_id}, 'new', 2, NULL)")
    out.append("UPDATE wt SET s = CONCAT(IFNULL(s, ''), 'abcdefgh') WHERE id % 3 = 0")
    out.append("UPDATE wt SET n = n * 100 WHERE n IS NOT NULL")
    out.append("UPDATE wt SET n = 1 WHERE id = 2")
    out.append("SELECT id, s + 0 AS v FROM wt ORDER BY id")
    out.append("SELECT COUNT(*), SUM(s + 0) FROM wt")
    out.append("INSERT INTO wt (id, s, n, d) VALUES (5000, 'a', 1, NULL), (5001, 'b', 2, NULL)")
    return out


READERS = [
    "SHOW WARNINGS",
    "SHOW ERRORS",
    "SHOW COUNT(*) WARNINGS",
    "SHOW COUNT(*) ERRORS",
    "SELECT @@warning_count, @@session.error_count AS e",
    "SELECT @@warning_count + 0 AS plus",
    "SHOW WARNINGS LIMIT 2",
    "SHOW WARNINGS LIMIT 1, 3",
]

AT_ROW = re.compile(r" at row \d+")


def observe(cur, sql):
    """What a client sees of one reader: column names/types and rows."""
    cur.execute(sql)
    desc = tuple((d[0], d[1]) for d in cur.description or ())
    return desc, [tuple(r) for r in cur.fetchall()]


def diagnostics(params, sql, max_errors):
    """The statement again on a fresh connection, then GET DIAGNOSTICS: the
    number of conditions and each condition's MYSQL_ERRNO and MESSAGE_TEXT
    (read back with table-less SELECTs, which keep the diagnostics area).
    A fresh connection: the user variables pin the session, which must not
    change what the main connection observes."""
    c = harness.pymysql_connect(params, database=DB)
    cur = c.cursor()
    try:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(f"SET SESSION max_error_count = {max_errors}")
        cur.execute(sql)
        cur.fetchall()
        cur.execute("GET DIAGNOSTICS @n = NUMBER")
        cur.execute("SELECT @n")
        n = int(cur.fetchall()[0][0])
        conds = []
        for k in range(1, n + 1):
            cur.execute(f"GET DIAGNOSTICS CONDITION {k} @m = MESSAGE_TEXT, @e = MYSQL_ERRNO")
            cur.execute("SELECT @e, @m")
            conds.append(tuple(cur.fetchall()[0]))
        return n, conds
    except Exception as e:  # noqa: BLE001
        return ("error", e.args[0]), []
    finally:
        c.close()


def normalized(rows):
    return sorted(tuple(AT_ROW.sub(" at row ?", str(v)) for v in r) for r in rows)


def load_file(rng):
    lines = []
    for i in range(40):
        s = rng.choice(["ok", "muchtoolong", ""])
        n = rng.choice(["1", "999", "-999", "abc", "\\N"])
        lines.append(f"{9000 + i}\t{s}\t{n}\t2024-02-3{i % 3}")
    f = tempfile.NamedTemporaryFile("w", delete=False, suffix=".tsv")
    f.write("\n".join(lines) + "\n")
    f.close()
    return f.name


def run_side(params, statements, path):
    c = harness.pymysql_connect(params, local_infile=True)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{DB}`")
    cur.execute(f"CREATE DATABASE `{DB}`")
    cur.execute(f"USE `{DB}`")
    cur.execute("SET SESSION sql_mode = ''")
    cur.execute("CREATE TABLE wt (id INT PRIMARY KEY, s VARCHAR(5), n TINYINT, d DATE)")
    obs = []
    script = list(statements)
    script.insert(4, f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE wt (id, s, n, d)")
    for max_errors in (64, 3):
        cur.execute(f"SET SESSION max_error_count = {max_errors}")
        for sql in script:
            key = f"[max_error_count={max_errors}] {sql[:70]}"
            try:
                cur.execute(sql)
                cur.fetchall()
                ok = ("ok", c._result.warning_count)
            except Exception as e:  # noqa: BLE001
                ok = ("error", e.args[0])
            seen = {"ok": ok}
            for r in READERS:
                seen[r] = observe(cur, r)
            # A table-less read keeps them; a read of a table resets them.
            seen["after SELECT 1"] = (observe(cur, "SELECT 1"), observe(cur, "SHOW COUNT(*) WARNINGS"))
            seen["after table read"] = (observe(cur, "SELECT COUNT(*) FROM wt WHERE id = 1"),
                                        observe(cur, "SHOW WARNINGS"))
            # Statements that may run twice: reads, and INSERT IGNORE (the
            # second run meets duplicates, on both sides alike).
            if sql.startswith("SELECT") or sql.startswith("INSERT IGNORE"):
                seen["GET DIAGNOSTICS"] = diagnostics(params, sql, max_errors)
            obs.append((key, seen))
        # Later rounds add the same rows again: duplicates, not new rows.
        script = [s.replace("INSERT INTO", "INSERT IGNORE INTO") for s in script]
    c.close()
    return obs


# ------------------------------------------------------------ the axes
#
# Each generated statement (reads that warn on several shards, merged or
# concatenated; scattered UPDATEs; split INSERTs) runs on a fresh
# connection in every combination of: text or prepared (binary protocol),
# a session pinned by a user variable or not, inside a transaction or not.
# After it, the client reads the diagnostics every way it can: the
# OK/EOF warning count, SHOW WARNINGS (text, and prepared in the binary
# axis), @@warning_count/@@error_count, SHOW COUNT(*) WARNINGS, GET
# DIAGNOSTICS NUMBER and ROW_COUNT, every condition's MYSQL_ERRNO,
# RETURNED_SQLSTATE, CLASS_ORIGIN, SUBCLASS_ORIGIN and MESSAGE_TEXT, and a
# condition number out of range (which adds error 1758 to the area).
# Compared with ref: everything exactly, the listings and conditions as
# multisets (shards list in shard order), "at row N" included.

AXES = [(proto, pinned, tx) for proto in ("text", "prepared")
        for pinned in (False, True) for tx in (False, True)]
AXIS_MODE = "ERROR_FOR_DIVISION_BY_ZERO"
EXACT_AT_ROW = {"insert"}


def axis_rows(rng):
    rows = []
    for i in range(1, 25):
        s = rng.choice(["12", "abc", "7x", "", "x1", None, "3"])
        n = rng.choice([1, 0, -3, 100, None])
        rows.append((i, s, n))
    return rows


def gen_axis_statements(rng):
    """(shape, template) pairs; `{base0}`, `{base1}` … are ids free for
    the statement in its axis. (No LIMIT over warning rows: a server
    evaluates only the rows it returns, each shard its own first rows.)"""
    shapes = [
        ("concat", lambda: f"SELECT id, CAST(s AS SIGNED) AS v FROM wa WHERE id <= {rng.randrange(8, 25)}"),
        ("sorted", lambda: f"SELECT id, s + 0 AS v FROM wa WHERE id <= {rng.randrange(8, 25)} ORDER BY id DESC"),
        ("compare", lambda: f"SELECT COUNT(*) FROM wa WHERE s = {rng.choice([0, 7, 12])}"),
        ("div0", lambda: f"SELECT id, n / (n - n) AS q FROM wa WHERE id % {rng.choice([2, 3])} = 0"),
        ("aggregate", lambda: "SELECT SUM(s + 0), COUNT(*) FROM wa"),
        ("update", lambda: f"UPDATE wa SET n = n * {rng.choice([50, -60, 2])} WHERE id % {rng.choice([2, 3])} = 0"),
        ("update_s", lambda: f"UPDATE wa SET s = CONCAT(IFNULL(s, ''), '{rng.choice(['xyz', '1'])}') "
                             f"WHERE id % {rng.choice([2, 5])} = 1"),
        ("insert", lambda: "INSERT INTO wa (id, s, n) VALUES " + ", ".join(
            f"({{base{k}}}, '{rng.choice(['ok', 'toolongvalue', 'abcdef'])}', "
            f"{rng.choice([1, 300, -500, 'NULL'])})" for k in range(rng.randrange(3, 8)))),
        ("no_rows", lambda: "DELETE FROM wa WHERE id = 999999"),
    ]
    out = [(name, make()) for name, make in shapes]
    for _ in range(6):
        name, make = rng.choice(shapes)
        out.append((name, make()))
    return out


def setup_axes(params, rows):
    c = harness.pymysql_connect(params, database=DB)
    cur = c.cursor()
    cur.execute("DROP TABLE IF EXISTS wa")
    cur.execute("CREATE TABLE wa (id INT PRIMARY KEY, s VARCHAR(8), n TINYINT)")
    cur.executemany("INSERT INTO wa (id, s, n) VALUES (%s, %s, %s)", rows)
    c.close()


def connector(params):
    import mysql.connector
    return mysql.connector.connect(host=params["host"], port=params["port"], user=params["user"],
                                   password=params["password"], database=DB, autocommit=True)


def one_axis(params, axis, sql):
    """What a client sees of `sql` and its diagnostics on one axis."""
    proto, pinned, tx = axis
    cnx = connector(params)
    t = cnx.cursor()
    seen = {}
    try:
        t.execute(f"SET SESSION sql_mode = '{AXIS_MODE}'")
        if pinned:
            t.execute("SET @pin = 1")
        if tx:
            t.execute("BEGIN")
        cur = cnx.cursor(prepared=(proto == "prepared"))
        try:
            cur.execute(sql)
            rows = sorted(map(tuple, cur.fetchall())) if cur.description else None
            seen["statement"] = ("ok", cur.warning_count, rows)
        except Exception as e:  # noqa: BLE001
            seen["statement"] = ("error", getattr(e, "errno", None), getattr(e, "sqlstate", None))
            return seen
        listings = [("SHOW WARNINGS", t)]
        if proto == "prepared":
            listings.append(("SHOW WARNINGS (prepared)", cnx.cursor(prepared=True)))
        for name, c in listings:
            c.execute("SHOW WARNINGS")
            seen[name] = sorted(tuple(str(v) for v in r) for r in c.fetchall())
        t.execute("SELECT @@warning_count, @@error_count")
        seen["counts"] = t.fetchall()
        t.execute("SHOW COUNT(*) WARNINGS")
        seen["SHOW COUNT(*) WARNINGS"] = t.fetchall()
        t.execute("GET DIAGNOSTICS @n = NUMBER, @r = ROW_COUNT")
        t.execute("SELECT @n, @r")
        n, r = t.fetchall()[0]
        seen["NUMBER, ROW_COUNT"] = (n, r)
        items = "MYSQL_ERRNO RETURNED_SQLSTATE CLASS_ORIGIN SUBCLASS_ORIGIN MESSAGE_TEXT".split()
        for k in range(1, int(n) + 1):
            assigns = ", ".join(f"@c{k}_{i} = {item}" for i, item in enumerate(items))
            t.execute(f"GET DIAGNOSTICS CONDITION {k} {assigns}")
        conds = []
        if int(n) > 0:
            t.execute("SELECT " + ", ".join(f"@c{k}_{i}" for k in range(1, int(n) + 1)
                                            for i in range(len(items))))
            flat = t.fetchall()[0]
            conds = sorted(tuple(str(v) for v in flat[j:j + len(items)])
                           for j in range(0, len(flat), len(items)))
        seen["conditions"] = conds
        if int(n) > 0:
            # Beyond the last condition: an OK with one warning, error 1758
            # added to the area.
            t.execute(f"GET DIAGNOSTICS CONDITION {int(n) + 1} @nope = MESSAGE_TEXT")
            seen["out of range"] = t.warning_count
            t.execute("SHOW COUNT(*) WARNINGS")
            seen["after out of range"] = t.fetchall()
        if tx:
            t.execute("COMMIT")
    finally:
        cnx.close()
    return seen


def run_axes(params, statements):
    obs = []
    for a, axis in enumerate(AXES):
        for k, (shape, template) in enumerate(statements):
            sql = template
            for j in range(8):
                sql = sql.replace(f"{{base{j}}}", str(1000 + a * 1000 + k * 20 + j))
            obs.append((axis, shape, sql, one_axis(params, axis, sql)))
    return obs


def without_at_row(seen):
    """`seen` with every "at row N" set aside (and lists sorted again)."""
    out = {}
    for k, v in seen.items():
        if k in ("conditions", "SHOW WARNINGS", "SHOW WARNINGS (prepared)"):
            v = sorted(tuple(AT_ROW.sub(" at row ?", x) for x in r) for r in v)
        out[k] = v
    return out


def compare_axes(checks, direct, proxy):
    multi = 0
    pinned_multi = 0
    for (axis, shape, sql, d), (_, _, _, p) in zip(direct, proxy):
        key = f"[{axis[0]} {'pinned' if axis[1] else 'unpinned'} {'in tx' if axis[2] else 'no tx'}] {shape}: {sql[:60]}"
        # One server numbers the rows of a read or an UPDATE in its own
        # scan order, which shards cannot reproduce; an INSERT's rows are
        # numbered as the client wrote them.
        if shape not in EXACT_AT_ROW:
            d, p = without_at_row(d), without_at_row(p)
        checks.eq(key, p, d)
        if d.get("statement", ("",))[0] == "ok" and d["statement"][1] > 1:
            multi += 1
            pinned_multi += axis[1]
    checks.ok("axes: statements with several warnings", multi >= 40, f"only {multi}")
    checks.ok("axes: pinned statements with several warnings", pinned_multi >= 20, f"only {pinned_multi}")


def main():
    checks = harness.Checks("SHOW WARNINGS after statements on several shards")
    rng = random.Random(SEED)
    statements = gen_statements(rng)
    path = load_file(rng)
    direct = run_side(harness.direct_params("ref"), statements, path)
    proxy_params = harness.proxy_params(harness.Proxy(extra=RULES))
    proxy = run_side(proxy_params, statements, path)
    os.unlink(path)
    rows = axis_rows(rng)
    axis_statements = gen_axis_statements(rng)
    setup_axes(harness.direct_params("ref"), rows)
    setup_axes(proxy_params, rows)
    compare_axes(checks, run_axes(harness.direct_params("ref"), axis_statements),
                 run_axes(proxy_params, axis_statements))
    multi_shard_warnings = 0
    diagnosed = 0
    for (key, d), (_, p) in zip(direct, proxy):
        checks.eq(f"{key} / OK", p["ok"], d["ok"])
        for r in READERS + ["after SELECT 1", "after table read"]:
            dv, pv = d[r], p[r]
            if r in ("SHOW WARNINGS", "SHOW ERRORS") or r.startswith("SHOW WARNINGS LIMIT"):
                checks.eq(f"{key} / {r} columns", pv[0], dv[0])
                checks.eq(f"{key} / {r} row count", len(pv[1]), len(dv[1]))
                limit = 3 if "max_error_count=3" in key else 64
                # Beyond the limit, which ones are listed depends on the
                # order rows are met (one server's scan, or shard by shard).
                bounded = d["ok"][0] == "ok" and d["ok"][1] > limit
                if not bounded and r != "SHOW WARNINGS LIMIT 1, 3" and r != "SHOW WARNINGS LIMIT 2":
                    checks.eq(f"{key} / {r} rows", normalized(pv[1]), normalized(dv[1]))
            else:
                checks.eq(f"{key} / {r}", pv, dv)
        if "GET DIAGNOSTICS" in d:
            (dn, dconds), (pn, pconds) = d["GET DIAGNOSTICS"], p["GET DIAGNOSTICS"]
            checks.eq(f"{key} / GET DIAGNOSTICS NUMBER", pn, dn)
            if isinstance(dn, int) and dn < (3 if "max_error_count=3" in key else 64):
                checks.eq(f"{key} / GET DIAGNOSTICS CONDITIONs", normalized(pconds), normalized(dconds))
                diagnosed += dn > 1
        if d["ok"][0] == "ok" and d["ok"][1] > 1:
            multi_shard_warnings += 1
    checks.ok("statements with several warnings", multi_shard_warnings >= 10,
              f"only {multi_shard_warnings}")
    checks.ok("GET DIAGNOSTICS with several conditions", diagnosed >= 2, f"only {diagnosed}")
    c = harness.pymysql_connect(proxy_params)
    c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
    c.close()
    c = harness.pymysql_connect(harness.direct_params("ref"))
    c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
    c.close()
    checks.finish()


if __name__ == "__main__":
    main()
