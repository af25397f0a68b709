"""The `mariadb` command-line client, directly against n1p and through
shardcat: the same SQL script in batch/raw, table (-t) and --column-type-info
modes must print the same output and the same errors.

The script creates, uses and drops one database (the same name on both
sides: the direct run goes first and drops it at the end, then the proxied
run recreates it).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DB = harness.unique_db("cli_compat")

SCRIPT = f"""
DROP DATABASE IF EXISTS `{DB}`;
CREATE DATABASE `{DB}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
USE `{DB}`;
SELECT DATABASE();
SELECT @@version_comment LIMIT 1;
SELECT @@session.autocommit, @@character_set_client, @@character_set_results, @@collation_connection;
CREATE TABLE t (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED,
  bi BIGINT, bu BIGINT UNSIGNED,
  d DECIMAL(65,30), d2 DECIMAL(10,2),
  f FLOAT, db DOUBLE,
  bt BIT(12),
  da DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME(2), y YEAR,
  c CHAR(10), vc VARCHAR(200), bn BINARY(4), vb VARBINARY(20),
  tx TEXT, bl BLOB,
  e ENUM('red','green','blue'), s SET('a','b','c'),
  j JSON,
  KEY k_vc (vc), UNIQUE KEY u_bi (bi)
) ENGINE=InnoDB;
INSERT INTO t VALUES (NULL, -128, 255, -32768, 16777215, -9223372036854775808, 18446744073709551615,
  '12345678901234567890123456789012345.123456789012345678901234567890', -99999999.99,
  3.40282e38, -1.7976931348623157e308, b'101010101010',
  '1000-01-01', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', '-838:59:59.00', 1901,
  'abc', 'héllo wörld', X'00010203', X'FFFE00',
  'long text', X'DEADBEEF', 'green', 'a,c', '{{"k": [1, 2.5, "x", null, true]}}');
INSERT INTO t (id) VALUES (NULL);
INSERT INTO t (ti, vc, tx, j) VALUES (127, 'ünïcödé ✓ 😀 中文', 'tab\\there\\nnewline \\\\ backslash', '[]');
INSERT INTO t (bi, d, db, f, dt, tm, y, e, s) VALUES (9223372036854775807, -0.000000000000000000000000000001, 0, -0, '2024-02-29 12:00:00', '838:59:59', 2155, 'blue', '');
SELECT LAST_INSERT_ID();
SHOW CREATE TABLE t;
SELECT * FROM t ORDER BY id;
SELECT id, HEX(bt), HEX(bn), HEX(vb), HEX(bl), LENGTH(vc), CHAR_LENGTH(vc) FROM t ORDER BY id;
SELECT COUNT(*), SUM(ti), AVG(d2), MIN(dt), MAX(vc), GROUP_CONCAT(id ORDER BY id) FROM t;
SELECT 1.5e300, -0.0, 18446744073709551615, 'a\\tb', NULL, X'00FF', _latin1 'x', 1/3, CAST(1 AS DECIMAL(65,30)), 0.1+0.2;
INSERT IGNORE INTO t (ti, c) VALUES (300, 'this is far too long');
SHOW WARNINGS;
SHOW COUNT(*) WARNINGS;
SELECT CAST('abc' AS SIGNED), CAST('2024-13-45' AS DATE);
SHOW WARNINGS;
SELECT nope FROM t;
SELECT * FROM no_such_table;
SELEC 1;
INSERT INTO t (id) VALUES (1);
INSERT INTO t (ti) VALUES (300);
SELECT 1 FROM DUAL WHERE 1 = (SELECT 1 UNION SELECT 2);
SHOW WARNINGS;
UPDATE t SET tx = 'changed' WHERE id IN (1, 2);
SELECT ROW_COUNT();
UPDATE t SET tx = 'changed' WHERE id IN (1, 2);
SELECT ROW_COUNT();
DELETE FROM t WHERE id = 2;
SELECT ROW_COUNT();
SELECT SQL_CALC_FOUND_ROWS id FROM t ORDER BY id LIMIT 1;
SELECT FOUND_ROWS();
BEGIN;
INSERT INTO t (vc) VALUES ('rolled back');
SELECT COUNT(*) FROM t;
ROLLBACK;
SELECT COUNT(*) FROM t;
SET @a := 42, @b := 'x';
SELECT @a, @b, @unset;
SET SESSION sql_mode = 'ANSI_QUOTES';
SELECT "id" FROM t ORDER BY 1 LIMIT 1;
SET SESSION sql_mode = DEFAULT;
SET NAMES latin1;
SELECT 'café', vc FROM t WHERE id = 1;
SET NAMES utf8mb4;
SELECT 'café', vc FROM t WHERE id = 1;
SHOW COLUMNS FROM t;
SELECT INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, NULLABLE, INDEX_TYPE FROM information_schema.STATISTICS
  WHERE TABLE_SCHEMA = '{DB}' ORDER BY INDEX_NAME, SEQ_IN_INDEX;
SHOW TABLES;
SHOW FULL TABLES FROM `{DB}`;
SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS
  WHERE TABLE_SCHEMA = '{DB}' ORDER BY ORDINAL_POSITION;
SHOW VARIABLES LIKE 'lower_case_table_names';
USE shardcat_test;
SELECT DATABASE();
USE `{DB}`;
SELECT DATABASE();
DROP TABLE t;
SELECT * FROM t;
DROP DATABASE `{DB}`;
SELECT DATABASE();
"""

MODES = {
    "batch": ["--batch", "--raw", "--column-names"],
    "table": ["-t", "--raw"],
    "typeinfo": ["--batch", "--raw", "--column-names", "--column-type-info"],
}


def run_cli(params, mode_args):
    args = [
        "mariadb", "--no-defaults", "--protocol=TCP",
        f"--host={params['host']}", f"--port={params['port']}",
        f"--user={params['user']}", f"--password={params['password']}",
        "--default-character-set=utf8mb4", "--force", "--connect-timeout=10",
    ] + mode_args
    p = subprocess.run(args, input=SCRIPT.encode(), capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def main():
    checks = harness.Checks("mariadb-cli")
    direct = harness.direct_params()
    proxy = harness.proxy_params()
    try:
        for mode, margs in MODES.items():
            d_rc, d_out, d_err = run_cli(direct, margs)
            # The direct run dropped the database again; make sure replicas
            # saw that before the proxy (which may read them) recreates it.
            harness.sync_replicas()
            p_rc, p_out, p_err = run_cli(proxy, margs)
            harness.sync_replicas()
            checks.ok(f"cli-{mode}-direct-sane", "ERROR 1054" in d_err and len(d_out) > 1000,
                      f"direct run looks wrong: rc={d_rc} stderr={d_err[:300]!r}")
            checks.ok(f"cli-{mode}-stdout", p_out == d_out, harness.first_diff(p_out, d_out))
            checks.ok(f"cli-{mode}-stderr", p_err == d_err, harness.first_diff(p_err, d_err))
            checks.eq(f"cli-{mode}-exit-code", p_rc, d_rc)
            if os.environ.get("SHARDCAT_CLIENT_VERBOSE") == "1" and (p_out != d_out or p_err != d_err):
                import difflib
                for line in difflib.unified_diff(d_out.splitlines(), p_out.splitlines(), "direct", "proxy", lineterm="", n=1):
                    print("   ", line[:300])
                for line in difflib.unified_diff(d_err.splitlines(), p_err.splitlines(), "direct", "proxy", lineterm="", n=1):
                    print("   ", line[:300])
    finally:
        harness.drop_database(DB)
    checks.finish()


if __name__ == "__main__":
    main()
