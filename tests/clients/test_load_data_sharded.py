"""`LOAD DATA LOCAL INFILE` into sharded and broadcast tables through
shardcat, compared with the same statements run directly on `ref` (one
server holding every table).

Generated files (seeded) with edge characters: quotes, doubled quotes,
backslash escapes, `\\N` and `NULL`, tabs, newlines and field terminators
inside enclosed fields, multi-byte text, rows with too few and too many
fields, a header skipped by IGNORE n LINES, `LINES STARTING BY` prefixes
with noise lines, multi-byte terminators and CRLF; column lists with
@variables and SET. For each format: the OK packet (affected rows, info
text `Records/Deleted/Skipped/Warnings`, warning count), then the final
table contents and every row found again by a point lookup on its key
(which reads only the physical table the rules name).

Also: REPLACE and IGNORE duplicates, duplicates in a plain LOCAL load
(skipped with warnings, as LOCAL implies IGNORE), a LOAD inside a transaction rolled back leaves
nothing, a client without CLIENT_LOCAL_FILES gets 4166, a SET of the key
is refused with a clear error and the session stays usable, and the
`mariadb` CLI with --local-infile.
"""

import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RULES = """
[[table]]
name = "lusers"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "lacc"
key = "email"
key_type = "string"
algorithm = { kind = "jump" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "lreg"
broadcast = true
"""

DB = harness.unique_db("load_sharded")
TABLES = [
    "CREATE TABLE lusers (id INT PRIMARY KEY, name VARCHAR(200), note TEXT, score INT)",
    "CREATE TABLE lacc (email VARCHAR(120) PRIMARY KEY, bal DECIMAL(10,2), memo VARCHAR(200))"
    " DEFAULT CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci",
    "CREATE TABLE lreg (id INT PRIMARY KEY, label VARCHAR(100))",
]
PIECES = ["", "a", "'", '"', '""', "\\", ",", "\t", "\n", "\r", "NULL", "é", "€", "日本",
          "😀", "||", "row:", "x y", "\\N", "0"]


def text(rng, n=4):
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(n)))


def csv_field(v):
    if v is None:
        return "\\N"
    return '"' + v.replace("\\", "\\\\").replace('"', '""') + '"'


def tsv_field(v):
    if v is None:
        return "\\N"
    out = v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return out


def files(rng):
    """(name, file bytes, statement template with {path} and {table})."""
    out = []
    ids = rng.sample(range(1, 100000), 900)
    # CSV: header, enclosed fields, NULLs, a few short and long rows.
    lines = ["id,name,note,score"]
    for i in ids[:300]:
        row = [str(i), csv_field(text(rng)), csv_field(None if rng.random() < 0.1 else text(rng)),
               str(rng.randrange(-50, 50))]
        r = rng.random()
        if r < 0.03:
            row = row[:2]
        elif r < 0.06:
            row.append(csv_field(text(rng)))
        lines.append(",".join(row))
    out.append(("csv", ("\n".join(lines) + "\n").encode(),
                "LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' IGNORE 1 LINES "
                "(id, name, note, score)"))
    # TSV, default format, no column list, no trailing newline.
    lines = []
    for i in ids[300:600]:
        lines.append("\t".join([str(i), tsv_field(text(rng)),
                                tsv_field(None if rng.random() < 0.1 else text(rng)),
                                str(rng.randrange(100))]))
    out.append(("tsv", "\n".join(lines).encode(),
                "LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} CHARACTER SET utf8mb4"))
    # Custom: '||' fields, 'row:' prefix with noise, CRLF, @var + SET.
    lines = []
    for i in ids[600:900]:
        if rng.random() < 0.05:
            lines.append("noise without prefix")
        name = text(rng).replace("\\", "").replace("|", "").replace("\r\n", "")
        lines.append(f"junk row:{i}||{name}||{rng.randrange(1000)}")
    out.append(("custom", ("\r\n".join(lines) + "\r\n").encode(),
                "LOAD DATA LOCAL INFILE '{path}' REPLACE INTO TABLE {table} CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY '||' ESCAPED BY '' "
                "LINES STARTING BY 'row:' TERMINATED BY '\\r\\n' "
                "(id, name, @s) SET score = @s * 2, note = CONCAT('n', @s)"))
    return out


def acc_file(rng):
    lines = []
    seen = set()
    for _ in range(200):
        email = rng.choice(["", "Ä", "é", "😀", "O'", "a\"b"]) + f"user{rng.randrange(5000)}@x.org"
        if email.lower() in seen:
            continue
        seen.add(email.lower())
        lines.append(f"{csv_field(email)};{rng.randrange(10**6) / 100:.2f};{csv_field(text(rng))}")
    return ("\n".join(lines) + "\n").encode()


def connect(params, **kw):
    return harness.pymysql_connect(params, local_infile=True, **kw)


def load(cur, conn, sql):
    """The OK of one LOAD: (affected, info, warning count) or the error."""
    try:
        n = cur.execute(sql)
    except Exception as e:  # noqa: BLE001
        return ("error", e.args[0] if e.args else str(e))
    return (n, conn._result.message, conn._result.warning_count)


def run_side(params, work):
    obs = {}
    c = connect(params)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{DB}`")
    cur.execute(f"CREATE DATABASE `{DB}`")
    cur.execute(f"USE `{DB}`")
    for t in TABLES:
        cur.execute(t)
    for name, path, stmt in work["users"]:
        obs[f"{name}-ok"] = load(cur, c, stmt.format(path=path, table="lusers"))
    cur.execute("SELECT id, name, note, score FROM lusers ORDER BY id")
    obs["lusers"] = cur.fetchall()
    ids = [r[0] for r in obs["lusers"]]
    found = 0
    for i in ids:
        cur.execute("SELECT id FROM lusers WHERE id = %s", (i,))
        found += len(cur.fetchall())
    obs["point-lookups"] = found == len(ids)
    # Duplicates: IGNORE keeps the old rows (Skipped); so does a plain
    # LOCAL load (LOCAL implies IGNORE).
    _, path, stmt = work["users"][0]
    obs["ignore-dups"] = load(cur, c, stmt.format(path=path, table="lusers").replace(
        "INFILE '" + path + "'", "INFILE '" + path + "' IGNORE"))
    obs["dup-error"] = load(cur, c, work["dups"].format(table="lusers"))
    cur.execute("SELECT COUNT(*), SUM(id) FROM lusers")
    obs["after-dup-error"] = cur.fetchall()
    # A transaction rolled back leaves nothing.
    cur.execute("DELETE FROM lusers")
    cur.execute("BEGIN")
    name, path, stmt = work["users"][1]
    obs["tx-ok"] = load(cur, c, stmt.format(path=path, table="lusers"))
    cur.execute("SELECT COUNT(*) FROM lusers")
    obs["tx-count"] = cur.fetchall()
    cur.execute("ROLLBACK")
    cur.execute("SELECT COUNT(*) FROM lusers")
    obs["after-rollback"] = cur.fetchall()
    # String keys (collation folds) and a broadcast table.
    obs["lacc-ok"] = load(cur, c, work["acc"].format(table="lacc"))
    cur.execute("SELECT email, bal, memo FROM lacc ORDER BY BINARY email")
    obs["lacc"] = cur.fetchall()
    obs["lreg-ok"] = load(cur, c, work["reg"].format(table="lreg"))
    cur.execute("SELECT id, label FROM lreg ORDER BY id")
    obs["lreg"] = cur.fetchall()
    # No CLIENT_LOCAL_FILES: the server's refusal, the session usable.
    c2 = harness.pymysql_connect(params, database=DB)
    obs["no-local-files"] = load(c2.cursor(), c2, work["reg"].format(table="lusers"))
    c2.cursor().execute("SELECT 1")
    c2.close()
    cli = subprocess.run(
        ["mariadb", "-h", params["host"], "-P", str(params["port"]), "-u", params["user"],
         f"-p{params['password']}", "--local-infile=1", DB, "-e",
         "DELETE FROM lusers; " + work["users"][0][2].format(path=work["users"][0][1], table="lusers")
         + "; SELECT COUNT(*), SUM(id), SUM(score) FROM lusers"],
        capture_output=True, text=True, timeout=60)
    obs["cli"] = (cli.returncode, cli.stdout, cli.stderr)
    cur.execute(f"DROP DATABASE `{DB}`")
    c.close()
    return obs


def key_by_set_is_refused(params, path):
    c = connect(params)
    cur = c.cursor()
    cur.execute(f"CREATE DATABASE `{DB}`")
    cur.execute(f"USE `{DB}`")
    cur.execute(TABLES[0])
    try:
        cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE lusers (@i, name) SET id = @i")
        got = (0, "loaded")
    except Exception as e:  # noqa: BLE001
        got = (e.args[0], e.args[1] if len(e.args) > 1 else "")
    cur.execute("SELECT 1")
    after = cur.fetchall()
    cur.execute(f"DROP DATABASE `{DB}`")
    c.close()
    return got + (after,)


def main():
    checks = harness.Checks("load data local infile, sharded")
    rng = random.Random(int(os.environ.get("SHARDCAT_LOAD_SEED", "11")))
    with tempfile.TemporaryDirectory() as d:
        work = {"users": []}
        for name, data, stmt in files(rng):
            path = os.path.join(d, f"{name}.txt")
            with open(path, "wb") as f:
                f.write(data)
            work["users"].append((name, path, stmt))
        acc = os.path.join(d, "acc.csv")
        with open(acc, "wb") as f:
            f.write(acc_file(rng))
        work["acc"] = (f"LOAD DATA LOCAL INFILE '{acc}' INTO TABLE {{table}} CHARACTER SET utf8mb4 "
                       "FIELDS TERMINATED BY ';' ENCLOSED BY '\"'")
        reg = os.path.join(d, "reg.tsv")
        with open(reg, "w") as f:
            f.write("".join(f"{i}\tregion {i}\n" for i in range(1, 40)))
        work["reg"] = f"LOAD DATA LOCAL INFILE '{reg}' INTO TABLE {{table}}"
        dups = os.path.join(d, "dups.csv")
        first_ids = [line.split(",")[0] for line in open(work["users"][0][1]).read().split("\n")[1:4]]
        with open(dups, "w") as f:
            f.write("".join(f"{i},\"fresh\",\"x\",1\n" for i in range(200001, 200050)))
            f.write(f"{first_ids[0]},\"dup\",\"x\",1\n")
        work["dups"] = (f"LOAD DATA LOCAL INFILE '{dups}' INTO TABLE {{table}} "
                        "FIELDS TERMINATED BY ',' ENCLOSED BY '\"'")
        direct = run_side(harness.direct_params("ref"), work)
        shardcat = harness.Proxy(extra=RULES)
        params = harness.proxy_params(shardcat)
        proxy = run_side(params, work)
        refused = key_by_set_is_refused(params, reg)
    checks.ok("key-by-set-refused", refused[0] == 1105 and "SET" in refused[1] and refused[2] == ((1,),),
              f"{refused}")
    checks.ok("proxy-alive", shardcat.alive())
    checks.ok("direct-loaded", len(direct["lusers"]) > 800, f"{len(direct['lusers'])}")
    checks.ok("direct-warnings", any(isinstance(v, tuple) and len(v) == 3 and v[2] for k, v in direct.items() if k.endswith("-ok")), "no warnings generated")
    for k in direct:
        checks.eq(k, proxy[k], direct[k])
    checks.finish()


if __name__ == "__main__":
    main()
