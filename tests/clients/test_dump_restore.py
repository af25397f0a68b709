"""mariadb-dump and restore through shardcat.

A database with a few tables (many types, indexes, a foreign key, a view, a
trigger) is created through the proxy, dumped through the proxy (plain run
and --single-transaction), restored through the proxy into another database,
and compared with CHECKSUM TABLE; the dump text is compared with a dump taken
directly from n1p (header/footer comments with hosts and dates removed).
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SRC = harness.unique_db("cli_dump")
DST = SRC + "_restored"
DST2 = SRC + "_restored_st"

SETUP = f"""
DROP DATABASE IF EXISTS `{SRC}`;
CREATE DATABASE `{SRC}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
USE `{SRC}`;
CREATE TABLE parent (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  created DATETIME(6) NOT NULL DEFAULT '2000-01-01 00:00:00',
  amount DECIMAL(20,6),
  flags SET('x','y','z'),
  kind ENUM('a','b') DEFAULT 'a',
  UNIQUE KEY u_name (name),
  KEY k_created (created, amount)
) ENGINE=InnoDB COMMENT='parent table';
-- (child.f gets values a dump prints exactly: dumps round FLOATs)
CREATE TABLE child (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  parent_id INT NOT NULL,
  payload BLOB,
  note TEXT CHARACTER SET latin1,
  f FLOAT, d DOUBLE, b BIT(5), y YEAR, t TIME(3), j JSON,
  CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE,
  FULLTEXT KEY ft_note (note)
) ENGINE=InnoDB;
CREATE TABLE plain_myisam (k VARCHAR(10) PRIMARY KEY, v INT) ENGINE=MyISAM;
CREATE TABLE empty_one (a INT) ENGINE=InnoDB;
INSERT INTO parent (name, created, amount, flags, kind) VALUES
  ('alpha', '2020-01-02 03:04:05.123456', 1.5, 'x,z', 'b'),
  ('bêta ✓', '1999-12-31 23:59:59.999999', -99999999999999.999999, '', 'a'),
  ('gamma ''quoted'' \\\\ back', '2038-01-19 03:14:07', NULL, NULL, NULL);
INSERT INTO parent (name) SELECT CONCAT('gen', seq) FROM seq_1_to_500;
INSERT INTO child (parent_id, payload, note, f, d, b, y, t, j)
  SELECT 1 + seq % 400, UNHEX(MD5(seq)), CONCAT('note ', seq, ' café'), seq / 8, seq * 1.000001,
         seq % 32, 1901 + seq % 250, SEC_TO_TIME(seq), JSON_OBJECT('n', seq, 's', 'x\\ny')
  FROM seq_1_to_2000;
INSERT INTO child (parent_id, payload, note) VALUES (2, X'000102FF5C27220D0A1A', NULL);
INSERT INTO plain_myisam VALUES ('a', 1), ('b', NULL), ('c''d', -5);
CREATE VIEW v_parent_totals AS
  SELECT p.id, p.name, COUNT(c.id) AS children FROM parent p LEFT JOIN child c ON c.parent_id = p.id GROUP BY p.id, p.name;
CREATE TRIGGER trg_parent_bi BEFORE INSERT ON parent FOR EACH ROW SET NEW.amount = COALESCE(NEW.amount, 0);
"""

TABLES = ["parent", "child", "plain_myisam", "empty_one"]

# Comment lines whose content legitimately differs between two dumps.
VOLATILE = re.compile(r"^-- (Host:|Dump completed on|MariaDB dump|MySQL dump)")


def mariadb(params, db, sql, check=True):
    args = ["mariadb", "--no-defaults", "--protocol=TCP", f"--host={params['host']}",
            f"--port={params['port']}", f"--user={params['user']}", f"--password={params['password']}",
            "--default-character-set=utf8mb4", "--batch", "--skip-column-names"]
    if db:
        args.append(db)
    p = subprocess.run(args, input=sql.encode(), capture_output=True, timeout=120)
    if check and p.returncode != 0:
        raise RuntimeError(f"mariadb exited {p.returncode}: {p.stderr.decode(errors='replace')[:800]}")
    return p


def dump(params, db, extra):
    args = ["mariadb-dump", "--no-defaults", "--protocol=TCP", f"--host={params['host']}",
            f"--port={params['port']}", f"--user={params['user']}", f"--password={params['password']}",
            "--default-character-set=utf8mb4", "--triggers", "--routines", "--events",
            # (without --hex-blob, binary strings do not survive a utf8mb4 restore, even directly)
            "--hex-blob"] + extra + [db]
    p = subprocess.run(args, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def normalize(text):
    return "\n".join(line for line in text.splitlines() if not VOLATILE.match(line))


def checksums(params, db):
    """{table: checksum} read on n1p directly (the restore wrote there)."""
    c = harness.pymysql_connect(params)
    out = {}
    with c.cursor() as cur:
        for t in TABLES:
            cur.execute(f"CHECKSUM TABLE `{db}`.`{t}` EXTENDED")
            out[t] = cur.fetchone()[1]
        cur.execute(f"SELECT COUNT(*) FROM `{db}`.v_parent_totals")
        out["view rows"] = cur.fetchone()[0]
        cur.execute("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s", (db,))
        out["triggers"] = [r[0] for r in cur.fetchall()]
    c.close()
    return out


def main():
    checks = harness.Checks("dump-restore")
    direct = harness.direct_params()
    proxy = harness.proxy_params()
    try:
        ok, _ = checks.step("dump-setup-through-proxy", mariadb, proxy, None, SETUP)
        if not ok:
            checks.finish()
        harness.sync_replicas()
        want = checksums(direct, SRC)
        checks.ok("dump-setup-sane", want.get("child") and want.get("view rows") == 503, f"source looks wrong: {want}")

        runs = [("plain", [], DST), ("single-transaction", ["--single-transaction"], DST2)]
        for name, extra, target in runs:
            d_rc, d_out, d_err = dump(direct, SRC, extra)
            p_rc, p_out, p_err = dump(proxy, SRC, extra)
            checks.ok(f"dump-{name}-direct-ok", d_rc == 0 and "INSERT INTO `child`" in d_out,
                      f"direct dump failed: rc={d_rc} {d_err[:300]!r}")
            checks.ok(f"dump-{name}-proxy-exit", p_rc == 0, f"rc={p_rc} stderr={p_err[:500]!r}")
            checks.eq(f"dump-{name}-stderr", p_err, d_err)
            pn, dn = normalize(p_out), normalize(d_out)
            checks.ok(f"dump-{name}-text-equal", pn == dn, harness.first_diff(pn, dn))
            if p_rc != 0:
                continue

            def restore():
                mariadb(proxy, None, f"DROP DATABASE IF EXISTS `{target}`; CREATE DATABASE `{target}`")
                mariadb(proxy, target, p_out)
            checks.step(f"dump-{name}-restore-through-proxy", restore)
            harness.sync_replicas()
            got = checks.run(f"dump-{name}-restored-checksums", checksums, direct, target)
            if got is not None:
                for k in want:
                    checks.eq(f"dump-{name}-restored-{k.replace(' ', '-')}", got.get(k), want[k])
            # The restored database dumps to the same text (modulo its name).
            r_rc, r_out, r_err = dump(proxy, target, extra)
            rn = normalize(r_out).replace(target, SRC)
            checks.ok(f"dump-{name}-redump-equal", r_rc == 0 and rn == dn,
                      f"rc={r_rc} {r_err[:200]!r} " + harness.first_diff(rn, dn))
    finally:
        for db in (SRC, DST, DST2):
            harness.drop_database(db)
    checks.finish()


if __name__ == "__main__":
    main()
