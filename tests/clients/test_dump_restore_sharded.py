"""mariadb-dump and restore through shardcat of a database with sharded,
bound, broadcast and unsharded tables.

Rules: `users` hashed by id over 2 nodes x 2 tables, `orders` bound to
users by user_id, `accounts` keyed by a string (jump), `regions` broadcast,
`notes` without a rule (on n1). The source database is filled through the
proxy, dumped through the proxy with mariadb-dump's default options
(LOCK TABLES … READ, information_schema, SHOW CREATE TABLE, SELECT *),
restored through the proxy into a fresh database (LOCK TABLES … WRITE,
ALTER TABLE … DISABLE KEYS, multi-row INSERTs without column lists), and
compared:
- through the proxy, every table's rows;
- directly on every primary, every physical table's rows (each row sits in
  the physical table the rules place it in, exactly as in the source,
  whose rows the router placed; broadcast copies on every node);
- every restored sharded row is found by a lookup on its sharding key
  (which reads only the physical table the rules name);
- a dump with --single-transaction is the same text;
- the dump shows only logical tables, and the restored database dumps to
  the same text.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RULES = """
[[table]]
name = "users"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "orders"
bound_to = "users"
key = "user_id"

[[table]]
name = "accounts"
key = "email"
key_type = "string"
algorithm = { kind = "jump" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "regions"
broadcast = true
"""

SRC = harness.unique_db("cli_shdump")
DST = SRC + "_restored"

N1_TABLES = ["users_0", "users_1", "orders_0", "orders_1", "accounts_0", "accounts_1", "regions", "notes"]
N2_TABLES = ["users_2", "users_3", "orders_2", "orders_3", "accounts_2", "accounts_3", "regions"]


def layout(shared_server):
    """(server, suffix of the physical database name, tables) per node."""
    if shared_server:
        return [("n1p", "_0", N1_TABLES), ("n1p", "_1", N2_TABLES)]
    return [("n1p", "", N1_TABLES), ("n2p", "", N2_TABLES)]
TABLES = ["users", "orders", "accounts", "regions", "notes"]

VOLATILE = re.compile(r"^-- (Host:|Dump completed on|MariaDB dump|MySQL dump)")


def setup_sql():
    users = ", ".join(f"({i}, 'user {i} ''q''', {i * 1.25:.2f}, '2026-01-{1 + i % 28:02d} 10:00:00')"
                      for i in range(1, 201))
    orders = ", ".join(f"({i}, {1 + i % 200}, {i * 3}, 'n\\\\{i}')" for i in range(1, 601))
    accounts = ", ".join(f"('user{i}@example.com', {i}, X'{i:04x}')" for i in range(1, 101))
    return f"""
DROP DATABASE IF EXISTS `{SRC}`;
CREATE DATABASE `{SRC}`;
USE `{SRC}`;
CREATE TABLE users (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL,
  score DECIMAL(10,2), created DATETIME NOT NULL, KEY k_name (name)) ENGINE=InnoDB;
CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, total INT NOT NULL,
  note VARCHAR(30), KEY k_user (user_id)) ENGINE=InnoDB;
CREATE TABLE accounts (email VARCHAR(100) NOT NULL PRIMARY KEY, n INT, raw VARBINARY(8)) ENGINE=InnoDB;
CREATE TABLE regions (id INT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL) ENGINE=InnoDB;
CREATE TABLE notes (id INT NOT NULL PRIMARY KEY, body TEXT) ENGINE=InnoDB;
INSERT INTO users (id, name, score, created) VALUES {users};
INSERT INTO orders VALUES {orders};
INSERT INTO accounts (email, n, raw) VALUES {accounts};
INSERT INTO regions VALUES (1, 'north'), (2, 'south'), (3, 'café');
INSERT INTO notes VALUES (1, 'plain'), (2, NULL);
"""


def mariadb(params, db, sql):
    args = ["mariadb", "--no-defaults", "--protocol=TCP", f"--host={params['host']}",
            f"--port={params['port']}", f"--user={params['user']}", f"--password={params['password']}",
            "--default-character-set=utf8mb4", "--batch", "--skip-column-names"]
    if db:
        args.append(db)
    p = subprocess.run(args, input=sql.encode(), capture_output=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"mariadb exited {p.returncode}: {p.stderr.decode(errors='replace')[:800]}")
    return p.stdout.decode("utf-8", "replace")


def dump(params, db, extra=()):
    # mariadb-dump's defaults (--opt: --lock-tables, --extended-insert, ...).
    args = ["mariadb-dump", "--no-defaults", "--protocol=TCP", f"--host={params['host']}",
            f"--port={params['port']}", f"--user={params['user']}", f"--password={params['password']}",
            *extra, db]
    p = subprocess.run(args, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def normalize(text):
    return "\n".join(line for line in text.splitlines() if not VOLATILE.match(line))


def rows(params, db, table):
    c = harness.pymysql_connect(params, database=db)
    try:
        with c.cursor() as cur:
            cur.execute(f"SELECT * FROM `{table}`")
            return sorted(cur.fetchall(), key=repr)
    finally:
        c.close()


def main(shared_server=False):
    """`shared_server`: both nodes on n1's server as databases `<db>_0` and
    `<db>_1` (test_dump_restore_shared.py)."""
    checks = harness.Checks("dump-restore-shared" if shared_server else "dump-restore-sharded")
    proxy = harness.Proxy(extra=RULES, shared_server=shared_server)
    pp = harness.proxy_params(proxy)
    try:
        ok, _ = checks.step("shdump-setup-through-proxy", mariadb, pp, None, setup_sql())
        if not ok:
            checks.finish()
        harness.sync_replicas()
        rc, out, err = dump(pp, SRC)
        checks.ok("shdump-dump-exit", rc == 0 and err == "", f"rc={rc} stderr={err[:500]!r}")
        for t in TABLES:
            checks.ok(f"shdump-dump-has-{t}",
                      f"CREATE TABLE `{t}` (" in out and f"INSERT INTO `{t}` VALUES" in out,
                      f"no CREATE/INSERT of {t} in the dump")
        physical = re.findall(r"`(?:users|orders|accounts)_\d`", out)
        checks.ok("shdump-dump-only-logical", not physical, f"physical names in the dump: {physical[:5]}")
        checks.ok("shdump-dump-no-auto-increment", "AUTO_INCREMENT=" not in out,
                  "a per-shard AUTO_INCREMENT= table option leaked into the dump")
        if rc != 0:
            checks.finish()

        def restore():
            mariadb(pp, None, f"DROP DATABASE IF EXISTS `{DST}`; CREATE DATABASE `{DST}`")
            mariadb(pp, DST, out)
        ok, _ = checks.step("shdump-restore-through-proxy", restore)
        if not ok:
            checks.finish()
        harness.sync_replicas()
        for t in TABLES:
            want = checks.run(f"shdump-proxy-rows-{t}-source", rows, pp, SRC, t)
            got = checks.run(f"shdump-proxy-rows-{t}-restored", rows, pp, DST, t)
            checks.ok(f"shdump-proxy-rows-{t}", want is not None and want == got and len(want) > 0,
                      f"{len(want or [])} source rows, {len(got or [])} restored")
        for server, suffix, tables in layout(shared_server):
            direct = harness.direct_params(server)
            for t in tables:
                want = checks.run(f"shdump-{server}{suffix}-{t}-source", rows, direct, SRC + suffix, t)
                got = checks.run(f"shdump-{server}{suffix}-{t}-restored", rows, direct, DST + suffix, t)
                checks.ok(f"shdump-{server}{suffix}-{t}", want is not None and want == got,
                          f"{len(want or [])} source rows, {len(got or [])} restored on {server}")
        # Each sharded row is in exactly one physical table.
        for t, n in (("users", 200), ("orders", 600), ("accounts", 100)):
            total = 0
            for server, suffix, tables in layout(shared_server):
                for pt in tables:
                    if pt.startswith(t + "_"):
                        total += len(rows(harness.direct_params(server), DST + suffix, pt))
            checks.eq(f"shdump-{t}-rows-once", total, n)
        # Independently of the source: a lookup by sharding key goes to the
        # one physical table the rules name, so a row restored anywhere
        # else would be missed.
        c = harness.pymysql_connect(pp, database=DST)
        try:
            with c.cursor() as cur:
                for t, key, col in (("users", "id", 0), ("orders", "user_id", 1), ("accounts", "email", 0)):
                    cur.execute(f"SELECT * FROM `{t}`")
                    all_rows = cur.fetchall()
                    missed = []
                    for k in sorted({r[col] for r in all_rows}, key=repr):
                        cur.execute(f"SELECT * FROM `{t}` WHERE `{key}` = %s", (k,))
                        got = sorted(cur.fetchall(), key=repr)
                        want = sorted((r for r in all_rows if r[col] == k), key=repr)
                        if got != want:
                            missed.append(k)
                    checks.ok(f"shdump-keyed-lookup-{t}", not missed and all_rows,
                              f"rows not found by their key: {missed[:5]}")
        finally:
            c.close()
        r_rc, r_out, r_err = dump(pp, DST)
        rn = normalize(r_out).replace(DST, SRC)
        checks.ok("shdump-redump-equal", r_rc == 0 and rn == normalize(out),
                  f"rc={r_rc} {r_err[:200]!r} " + harness.first_diff(rn, normalize(out)))
        # --single-transaction (no LOCK TABLES; the reads run in the
        # session's transaction) dumps the same text.
        s_rc, s_out, s_err = dump(pp, SRC, ["--single-transaction"])
        sn = normalize(s_out)
        checks.ok("shdump-single-transaction-equal", s_rc == 0 and s_err == "" and sn == normalize(out),
                  f"rc={s_rc} {s_err[:300]!r} " + harness.first_diff(sn, normalize(out)))
    finally:
        for db in (SRC, DST):
            try:
                mariadb(pp, None, f"DROP DATABASE IF EXISTS `{db}`")
            except Exception as e:  # noqa: BLE001 - cleanup must not mask results
                print(f"warning: could not drop {db}: {e}")
        proxy.stop()
    checks.finish()


if __name__ == "__main__":
    main()
