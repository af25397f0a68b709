"""PHP (mysqli text and prepared, PDO with emulated and native prepares)
and Perl (DBI + DBD::MariaDB, client-side placeholders and server-side
prepares) programs run once against `ref` (one server holding every row)
and once through shardcat with `pt` sharded over two nodes and `pu` plain;
every line each program prints (affected rows, info text, warnings,
result metadata, rows, error codes and SQLSTATEs, transaction outcomes,
insert ids) is compared.

The drivers come from Debian (`php-cli php-mysql libdbd-mariadb-perl`),
installed here with apt-get when missing (scripts/test.sh does the same).
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = """
[[table]]
name = "pt"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"""
DB = harness.unique_db("php_perl")
AT_ROW = re.compile(r" at row \d+")
PACKAGES = ["php-cli", "php-mysql", "libdbd-mariadb-perl"]


def have_drivers():
    if not shutil.which("php") or not shutil.which("perl"):
        return False
    php = subprocess.run(["php", "-r", "exit(extension_loaded('mysqli') && extension_loaded('pdo_mysql') ? 0 : 1);"],
                         capture_output=True)
    perl = subprocess.run(["perl", "-MDBD::MariaDB", "-e", "1"], capture_output=True)
    return php.returncode == 0 and perl.returncode == 0


def install_drivers():
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq"] + PACKAGES, env=env,
                   stdout=subprocess.DEVNULL, check=False)


def reset(params):
    c = harness.pymysql_connect(params)
    cur = c.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{DB}`")
    cur.execute(f"CREATE DATABASE `{DB}`")
    cur.execute(f"USE `{DB}`")
    cur.execute("CREATE TABLE pt (id INT PRIMARY KEY, g INT, name VARCHAR(40), "
                "amount DECIMAL(10,2), d DATE) DEFAULT CHARSET utf8mb4")
    cur.execute("CREATE TABLE pu (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20))")
    c.close()


def run_program(cmd, params):
    reset(params)
    p = subprocess.run(cmd + [params["host"], str(params["port"]), params["user"],
                              params["password"], DB],
                       capture_output=True, timeout=120)
    lines = p.stdout.decode("utf-8", "replace").splitlines()
    return p.returncode, p.stderr.decode("utf-8", "replace")[-2000:], lines


def compare(checks, name, direct, proxy):
    (drc, derr, dlines), (prc, perr, plines) = direct, proxy
    checks.ok(f"{name} ran directly", drc == 0, f"exit {drc}: {derr}")
    checks.ok(f"{name} ran through shardcat", prc == 0, f"exit {prc}: {perr}")
    checks.ok(f"{name} printed", len(dlines) > 20, f"only {len(dlines)} lines")
    d = dict(line.split("\t", 1) for line in dlines if "\t" in line)
    p = dict(line.split("\t", 1) for line in plines if "\t" in line)
    # Each shard numbers the rows of its own part of a split INSERT.
    for k in list(d):
        if k.endswith("show warnings"):
            d[k], p[k] = (AT_ROW.sub(" at row ?", x[k]) if k in x else None for x in (d, p))
    checks.eq(f"{name} observations", sorted(p), sorted(d))
    for k in d:
        checks.eq(f"{name}: {k}", p.get(k), d[k])


def main():
    checks = harness.Checks("PHP (mysqli, PDO) and Perl (DBD::MariaDB) through shardcat")
    if not have_drivers():
        install_drivers()
    if not checks.ok("drivers installed", have_drivers(), "apt-get install " + " ".join(PACKAGES) + " failed"):
        checks.finish()
    direct_params = harness.direct_params("ref")
    proxy_params = harness.proxy_params(harness.Proxy(extra=RULES))
    for name, cmd in (("php", ["php", os.path.join(HERE, "php_client.php")]),
                      ("perl", ["perl", os.path.join(HERE, "perl_client.pl")])):
        direct = run_program(cmd, direct_params)
        proxy = run_program(cmd, proxy_params)
        compare(checks, name, direct, proxy)
    for params in (direct_params, proxy_params):
        c = harness.pymysql_connect(params)
        c.cursor().execute(f"DROP DATABASE IF EXISTS `{DB}`")
        c.close()
    checks.finish()


if __name__ == "__main__":
    main()
