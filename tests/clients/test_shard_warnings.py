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

Then what lies between a statement and the reading of its warnings (see
`run_between`): generated statement kinds (SET, DO, table-less and table
reads, transaction control, USE, PREPARE …; the server keeps the list
through a statement that uses no table and raises nothing, and resets it
otherwise) after split INSERTs, sharded LOAD DATA (with `IGNORE n LINES`,
short and long lines: `at row N` and `Row N` numbered as the client's file
lines), single-shard writes and scattered UPDATEs, the listings compared
exactly, in order (the server lists a statement's warnings in row order).
LIMIT and MIN/MAX over strings are compared there too (see `BETWEEN_READS`).

Then the axes (see `run_axes`): generated reads, scattered UPDATEs and
split INSERTs, each over text/prepared x pinned by a user variable or not
x in a transaction or not, their diagnostics read every way (GET
DIAGNOSTICS ROW_COUNT, RETURNED_SQLSTATE, CLASS_ORIGIN… included), with
a split INSERT's "at row N" and conditions' ROW_NUMBER compared exactly
(elsewhere ROW_NUMBER is the server's or the proxy's error 1235).
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
name = "wb"
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


# ------------------------------------------------------- between
#
# A warning statement, then one generated statement, then the listings
# (`wu` is an unsharded table, `wb` a sharded one). On
# MariaDB 10.11 the list survives a statement that uses no table and
# raises no condition (SET, DO, SELECT without FROM, BEGIN/COMMIT, USE,
# PREPARE …) and is reset by any other (checked against ref here, not
# assumed).

BETWEEN_KINDS = [
    "SET @x = 1", "SET @x = (SELECT COUNT(*) FROM wu)", "SET sql_mode = ''",
    "SET SESSION max_error_count = 64", "SET NAMES utf8mb4", "SET autocommit = 1",
    "DO 1", "DO (SELECT COUNT(*) FROM wu)", "SELECT 1", "SELECT 1 FROM DUAL", "SELECT @x",
    "SELECT * FROM (SELECT 1) d", "SELECT COUNT(*) FROM wb", "BEGIN", "COMMIT", "ROLLBACK",
    "SHOW VARIABLES LIKE 'x'", "USE {db}", "SELECT 'a' + 0", "SET @y = 'a' + 0",
    "SELECT DATABASE()", "SELECT 1 UNION SELECT 2", "SELECT (SELECT 1)",
    "SELECT EXISTS(SELECT 1 FROM wu)", "DELETE FROM wb WHERE id = -1", "SET @z = @x + 1",
    "SELECT NOW() IS NOT NULL", "PREPARE p FROM 'SELECT 1'", "DEALLOCATE PREPARE p", "SELECT 1 INTO @q",
    "SET STATEMENT max_statement_time = 0 FOR SELECT 1", "SELECT @@version",
]

# Merged reads whose warnings depend on the rows the server evaluated:
# LIMIT (a server stops at the limit) and MIN/MAX over strings.
BETWEEN_READS = [
    "SELECT id, s + 0 AS v FROM wb ORDER BY id LIMIT {k}",
    "SELECT id, s + 0 AS v FROM wb WHERE id > {k} ORDER BY id LIMIT 2",
    "SELECT MIN(s + 0), MAX(s + 0) FROM wb",
    "SELECT MIN(s), MAX(s) FROM wb WHERE s + 0 > {k}",
]


def between_load_file(rng, base):
    """A LOAD DATA file: a header line (IGNORE 1 LINES), then rows that
    warn (too long, out of range, not a number, bad date, too few or too
    many fields) spread over the shards."""
    lines = ["id\ts\tn\td"]
    for i in range(rng.randrange(6, 14)):
        s = rng.choice(["ok", "muchtoolong", ""])
        n = rng.choice(["1", "999", "abc", "\\N"])
        shape = rng.choice(["full", "full", "full", "short", "long"])
        fields = [str(base + i), s, n, rng.choice(["2024-02-30", "2024-01-01", "x"])]
        if shape == "short":
            fields = fields[:2]
        elif shape == "long":
            fields.append("extra")
        lines.append("\t".join(fields))
    f = tempfile.NamedTemporaryFile("w", delete=False, suffix=".tsv")
    f.write("\n".join(lines) + "\n")
    f.close()
    return f.name


def gen_between(rng):
    """(warning statement, between statement) pairs: every kind after a
    split INSERT, the others after a generated writer."""
    out = []
    # Every writer takes ids of its own (a block of 30): no duplicates.
    blocks = iter(range(100, 100_000, 30))

    def split_insert():
        base = next(blocks)
        rows = []
        for k in range(rng.randrange(3, 9)):
            rows.append(f"({base + k}, '{rng.choice(['ok', 'toolongvalue', 'abcdef'])}', "
                        f"{rng.choice([1, 300, -500, 'NULL'])})")
        return "INSERT INTO wb (id, s, n) VALUES " + ", ".join(rows)

    def single():
        return f"INSERT INTO wb (id, s, n) VALUES ({next(blocks)}, 'toolongvalue', 999)"

    def load():
        return ("LOAD", next(blocks))

    writers = [split_insert, single, load,
               lambda: f"UPDATE wb SET n = n * {rng.choice([50, -60])} WHERE id % 3 = 0"]
    for kind in BETWEEN_KINDS:
        out.append((split_insert(), kind))
        out.append((rng.choice(writers)(), kind))
    for read in BETWEEN_READS:
        for _ in range(3):
            out.append((read.format(k=rng.choice([1, 3, 5, 110, 120])), "SELECT 1"))
    return out


def run_between(params, pairs, files):
    c = harness.pymysql_connect(params, local_infile=True)
    cur = c.cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DB}`")
    cur.execute(f"USE `{DB}`")
    cur.execute("SET SESSION sql_mode = ''")
    cur.execute("DROP TABLE IF EXISTS wb")
    cur.execute("CREATE TABLE wb (id INT PRIMARY KEY, s VARCHAR(5), n TINYINT, d DATE)")
    cur.executemany("INSERT INTO wb (id, s, n) VALUES (%s, %s, %s)",
                    [(i, ["12", "abc", "7x", "", "x1", "3"][i % 6], i % 4) for i in range(1, 30)])
    # An unsharded table for subqueries (the proxy refuses a sharded
    # table's in SET/DO/EXISTS).
    cur.execute("DROP TABLE IF EXISTS wu")
    cur.execute("CREATE TABLE wu (id INT PRIMARY KEY)")
    cur.execute("INSERT INTO wu VALUES (1), (2)")
    obs = []
    for k, (writer, between) in enumerate(pairs):
        if isinstance(writer, tuple):
            writer = (f"LOAD DATA LOCAL INFILE '{files[writer[1]]}' INTO TABLE wb "
                      "IGNORE 1 LINES (id, s, n, d)")
        between = between.format(db=DB)
        seen = {}
        for sql in (writer, between):
            try:
                cur.execute(sql)
                rows = cur.fetchall()
                seen[sql[:60]] = ("ok", c._result.warning_count,
                                  sorted(map(str, rows)) if "LIMIT" not in sql else list(map(str, rows)))
            except Exception as e:  # noqa: BLE001
                seen[sql[:60]] = ("error", e.args[0])
        seen["SHOW WARNINGS"] = observe(cur, "SHOW WARNINGS")[1]
        seen["SHOW COUNT(*) WARNINGS"] = observe(cur, "SHOW COUNT(*) WARNINGS")[1]
        # Leave no transaction open between pairs.
        cur.execute("ROLLBACK")
        obs.append((f"#{k} {writer[:50]} / {between}", seen))
    c.close()
    return obs


def over_warned(d, p):
    """A merged read that warns more than one server: each shard evaluates
    its own first rows under LIMIT, and a MIN/MAX is evaluated again for
    its hidden WEIGHT_STRING columns. The proxy's count is at least ref's
    and, when neither list was cut by max_error_count (64), its listing
    holds every warning ref's does (a multiset). (The read's own EOF count
    is not compared: README, limits.)"""
    dn, pn = d["SHOW COUNT(*) WARNINGS"][0][0], p["SHOW COUNT(*) WARNINGS"][0][0]
    if pn < dn:
        return False
    if dn > 64 or pn > 64:
        return True
    pw = list(p["SHOW WARNINGS"])
    for w in d["SHOW WARNINGS"]:
        if w not in pw:
            return False
        pw.remove(w)
    return True


def compare_between(checks, direct, proxy):
    listed = 0
    kept = 0
    for (key, d), (_, p) in zip(direct, proxy):
        if " UPDATE " in key.split(" / ")[0]:
            # A scattered UPDATE: each shard numbers the rows of its own
            # scan, in shard order (README, limits).
            d, p = without_at_row(d), without_at_row(p)
        if key.split(" ", 1)[1].startswith("SELECT"):  # one of BETWEEN_READS
            # Documented (README, limits): more warnings, never fewer.
            first = next(k for k in d if k.startswith("SELECT"))
            checks.eq(f"{key} rows", p[first][2], d[first][2])
            checks.ok(f"{key} warnings ⊇ ref's", over_warned(d, p), f"proxy {p} ref {d}")
            continue
        checks.eq(key, p, d)
        listed += len(d["SHOW WARNINGS"]) > 1
        kept += d["SHOW COUNT(*) WARNINGS"] != [(0,)] and "SELECT 1" not in key
    checks.ok("between: listings with several warnings", listed >= 30, f"only {listed}")
    checks.ok("between: lists kept across a statement", kept >= 20, f"only {kept}")


# ------------------------------------------------------------ the axes
#
# Each generated statement (reads that warn on several shards, merged or
# concatenated; scattered UPDATEs; split INSERTs) runs on a fresh
# connection in every combination of: text or prepared (binary protocol),
# a session pinned by a user variable or not, inside a transaction or not.
# After it, the client reads the diagnostics every way it can: the
# OK/EOF warning count, SHOW WARNINGS, @@warning_count/@@error_count and
# SHOW COUNT(*) WARNINGS|ERRORS (text, and prepared in the binary axis), GET
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
        if proto == "prepared":
            pc = cnx.cursor(prepared=True)
            for sql in ("SELECT @@warning_count, @@error_count", "SELECT @@warning_count + 1 AS w1",
                        "SHOW COUNT(*) WARNINGS", "SHOW COUNT(*) ERRORS"):
                pc.execute(sql)
                seen[f"{sql} (prepared)"] = (pc.fetchall(), [d[:2] for d in pc.description])
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
            seen["ROW_NUMBER"] = row_numbers(t, int(n))
        if tx:
            t.execute("COMMIT")
    finally:
        cnx.close()
    return seen


def row_numbers(t, n):
    """Each condition's ROW_NUMBER, or ("error", errno) where it failed."""
    import mysql.connector
    out = []
    for k in range(1, n + 1):
        try:
            t.execute(f"GET DIAGNOSTICS CONDITION {k} @rn = ROW_NUMBER")
            t.execute("SELECT @rn")
            out.append(t.fetchall()[0][0])
        except mysql.connector.Error as e:
            out.append(("error", e.errno))
            break
    return out


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
            v = sorted(tuple(AT_ROW.sub(" at row ?", str(x)) for x in r) for r in v)
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
        d, p = dict(d), dict(p)
        d_rn, p_rn = d.pop("ROW_NUMBER", None), p.pop("ROW_NUMBER", None)
        if shape not in EXACT_AT_ROW:
            d, p = without_at_row(d), without_at_row(p)
            # Shards number their own rows: the server's numbers, or the
            # proxy's clear refusal (1235), never other numbers.
            checks.ok(f"{key} / ROW_NUMBER", p_rn == d_rn or (p_rn and p_rn[-1] == ("error", 1235)),
                      f"proxy {p_rn}, direct {d_rn}")
        else:
            checks.eq(f"{key} / ROW_NUMBER", sorted(map(str, p_rn or [])), sorted(map(str, d_rn or [])))
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
    # SHARDCAT_WARNINGS_PART=between runs only that part (same seed).
    only_between = os.environ.get("SHARDCAT_WARNINGS_PART") == "between"
    proxy_params = harness.proxy_params(harness.Proxy(extra=RULES))
    direct, proxy = [], []
    if not only_between:
        direct = run_side(harness.direct_params("ref"), statements, path)
        proxy = run_side(proxy_params, statements, path)
    os.unlink(path)
    rows = axis_rows(rng)
    axis_statements = gen_axis_statements(rng)
    if not only_between:
        setup_axes(harness.direct_params("ref"), rows)
        setup_axes(proxy_params, rows)
        compare_axes(checks, run_axes(harness.direct_params("ref"), axis_statements),
                     run_axes(proxy_params, axis_statements))
    pairs = gen_between(rng)
    files = {w[1]: between_load_file(rng, w[1]) for w, _ in pairs if isinstance(w, tuple)}
    compare_between(checks, run_between(harness.direct_params("ref"), pairs, files),
                    run_between(proxy_params, pairs, files))
    for f in files.values():
        os.unlink(f)
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
    if not only_between:
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
