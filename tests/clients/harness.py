"""Shared helpers for the real-client compatibility tests in tests/clients/.

Each test_*.py runs the same client program once directly against the n1p
MariaDB server and once through a shardcat process started here, and
compares what the client observed.

Environment:
  SHARDCAT_TOPOLOGY_ENV  the topology env file written by
                         `scripts/topology.sh up` (<dir>/topology.env); required
  SHARDCAT_BIN           the shardcat binary (default: <repo>/target/release/
                         shardcat, else <repo>/target/debug/shardcat)
  SHARDCAT_CLIENT_VERBOSE=1  print details of every check

Run on its own (`python3 tests/clients/harness.py`) it only checks that a
proxy starts and answers `SELECT 1`.
"""

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERBOSE = os.environ.get("SHARDCAT_CLIENT_VERBOSE") == "1"

PROXY_USER = "app"
PROXY_PASSWORD = "app"


def die(msg):
    print(f"FAIL setup: {msg}", flush=True)
    sys.exit(2)


# ------------------------------------------------------------------ topology

def topology():
    """KEY=VALUE pairs of the topology env file (cached)."""
    global _TOPO
    if _TOPO is None:
        path = os.environ.get("SHARDCAT_TOPOLOGY_ENV", "")
        if not path:
            die("SHARDCAT_TOPOLOGY_ENV is not set: run scripts/test.sh, or "
                "`scripts/topology.sh up --dir DIR` and export "
                "SHARDCAT_TOPOLOGY_ENV=DIR/topology.env")
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as e:
            die(f"cannot read SHARDCAT_TOPOLOGY_ENV={path}: {e}")
        env = {}
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k.strip()] = v.strip()
        for k in ("SHARDCAT_TOPO_USER", "SHARDCAT_TOPO_N1P_PORT", "SHARDCAT_TOPO_N2P_PORT"):
            if k not in env:
                die(f"{path} has no {k}")
        _TOPO = env
    return _TOPO


_TOPO = None


def port_of(instance):
    return int(topology()[f"SHARDCAT_TOPO_{instance.upper()}_PORT"])


def backend_user():
    t = topology()
    return t["SHARDCAT_TOPO_USER"], t.get("SHARDCAT_TOPO_PASSWORD", "")


def direct_params(instance="n1p"):
    """Connection parameters for a server of the topology (the direct side)."""
    user, password = backend_user()
    return {"host": "127.0.0.1", "port": port_of(instance), "user": user, "password": password}


def proxy_params(proxy=None):
    p = proxy or start_proxy()
    return {"host": "127.0.0.1", "port": p.port, "user": PROXY_USER, "password": PROXY_PASSWORD}


# ------------------------------------------------------------------ proxy

def shardcat_bin():
    b = os.environ.get("SHARDCAT_BIN")
    if b:
        if not os.access(b, os.X_OK):
            die(f"SHARDCAT_BIN={b} is not executable")
        return b
    for kind in ("release", "debug"):
        for tdir in (os.environ.get("CARGO_TARGET_DIR"), os.path.join(ROOT, "target")):
            if tdir:
                cand = os.path.join(tdir, kind, "shardcat")
                if os.access(cand, os.X_OK):
                    return cand
    die("no shardcat binary: build with `cargo build --release --bins` or set SHARDCAT_BIN")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_text(port, server="", backend="", routing="", extra="", shared_server=False):
    """Same shape as ProxyProcess::config_text in tests/common/proxy.rs.
    With `shared_server`, node n2 lives on n1's servers: n1 as databases
    `<db>_0`, n2 as `<db>_1` (`[[node]] database`)."""
    user, password = backend_user()
    p = port_of
    n1_db, n2_db, n2p, n2r = "", "", p('n2p'), p('n2r1')
    if shared_server:
        n1_db, n2_db, n2p, n2r = 'database = "{db}_0"', 'database = "{db}_1"', p('n1p'), p('n1r1')
    return f"""
[server]
listen = "127.0.0.1:{port}"
{server}

[backend]
user = "{user}"
password = "{password}"
health_interval_ms = 200
health_timeout_ms = 500
{backend}

[routing]
{routing}

[[user]]
name = "app"
password = "app"
admin = true

[[user]]
name = "other"
password = "other-pw"

[[node]]
name = "n1"
primary = "127.0.0.1:{p('n1p')}"
replicas = [{{ addr = "127.0.0.1:{p('n1r1')}" }}, {{ addr = "127.0.0.1:{p('n1r2')}" }}]
{n1_db}

[[node]]
name = "n2"
primary = "127.0.0.1:{n2p}"
replicas = [{{ addr = "127.0.0.1:{n2r}" }}]
{n2_db}

{extra}
"""


class Proxy:
    def __init__(self, **config):
        self.dir = tempfile.mkdtemp(prefix="shardcat-clients-")
        self.port = free_port()
        self.config_path = os.path.join(self.dir, "shardcat.toml")
        self.log_path = os.path.join(self.dir, "shardcat.log")
        with open(self.config_path, "w") as f:
            f.write(config_text(self.port, **config))
        env = dict(os.environ)
        env.setdefault("SHARDCAT_LOG", "info")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [shardcat_bin(), "serve", "--config", self.config_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        deadline = time.time() + 15
        while True:
            if self.proc.poll() is not None:
                die(f"shardcat exited with {self.proc.returncode}; log:\n{self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    die(f"shardcat did not listen within 15s; log:\n{self.log_text()}")
                time.sleep(0.05)
        atexit.register(self.stop)

    def log_text(self, tail=60):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-tail:])
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if os.environ.get("SHARDCAT_KEEP_LOGS") == "1":
            print(f"shardcat log kept in {self.log_path}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


_PROXY = None


def start_proxy():
    """The test file's shared proxy (started once)."""
    global _PROXY
    if _PROXY is None:
        _PROXY = Proxy()
    return _PROXY


# ------------------------------------------------------------------ helpers

def unique_db(prefix):
    return f"{prefix}_{os.getpid()}"


def pymysql_connect(params, **kw):
    import pymysql
    kw.setdefault("autocommit", True)
    kw.setdefault("connect_timeout", 10)
    kw.setdefault("read_timeout", 60)
    kw.setdefault("write_timeout", 60)
    return pymysql.connect(**params, **kw)


def sync_replicas(timeout=10):
    """Waits until every replica has applied what its primary has logged
    (so that reads through the proxy on a replica see earlier writes)."""
    for primary, replicas in (("n1p", ("n1r1", "n1r2")), ("n2p", ("n2r1",))):
        c = pymysql_connect(direct_params(primary))
        try:
            with c.cursor() as cur:
                cur.execute("SELECT @@gtid_binlog_pos")
                pos = cur.fetchone()[0]
        finally:
            c.close()
        if not pos:
            continue
        for r in replicas:
            c = pymysql_connect(direct_params(r))
            try:
                with c.cursor() as cur:
                    cur.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (pos, timeout))
                    if cur.fetchone()[0] != 0:
                        print(f"warning: replica {r} did not reach {pos} within {timeout}s")
            finally:
                c.close()


def drop_database(db):
    """Drops `db` on n1p directly (replicas follow)."""
    try:
        c = pymysql_connect(direct_params())
        with c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        c.close()
    except Exception as e:  # noqa: BLE001 - cleanup must not mask results
        print(f"warning: could not drop {db}: {e}")


class Checks:
    """Collects PASS/FAIL lines; `finish()` exits non-zero on any failure."""

    def __init__(self, title):
        self.title = title
        self.failed = []
        self.passed = 0
        self.t0 = time.time()

    def ok(self, name, cond, reason=""):
        if cond:
            self.passed += 1
            print(f"PASS {name}", flush=True)
        else:
            self.failed.append(name)
            print(f"FAIL {name}: {reason}", flush=True)
        return bool(cond)

    def eq(self, name, proxy_value, direct_value, what=""):
        """PASS when the proxy's observation equals the direct one."""
        if proxy_value == direct_value:
            if VERBOSE:
                print(f"  {name}: {shorten(direct_value)}")
            return self.ok(name, True)
        return self.ok(name, False, f"{what}proxy={shorten(proxy_value)} direct={shorten(direct_value)}")

    def run(self, name, fn, *args, **kw):
        """Runs a check function; an exception is a FAIL of `name`."""
        try:
            return fn(*args, **kw)
        except Exception as e:  # noqa: BLE001
            tb = traceback.format_exc(limit=4) if VERBOSE else ""
            self.ok(name, False, f"{type(e).__name__}: {e}" + (f"\n{tb}" if tb else ""))
            return None

    def step(self, name, fn, *args, **kw):
        """Runs `fn`; PASS if it returns without an exception, else FAIL.
        Returns (ok, result)."""
        try:
            r = fn(*args, **kw)
        except Exception as e:  # noqa: BLE001
            tb = traceback.format_exc(limit=4) if VERBOSE else ""
            self.ok(name, False, f"{type(e).__name__}: {e}" + (f"\n{tb}" if tb else ""))
            return False, None
        self.ok(name, True)
        return True, r

    def finish(self):
        dt = time.time() - self.t0
        if _PROXY is not None and not _PROXY.alive():
            self.ok("proxy-still-running", False, f"shardcat exited with {_PROXY.proc.returncode}; log:\n{_PROXY.log_text()}")
        print(f"{self.title}: {self.passed} passed, {len(self.failed)} failed ({dt:.1f}s)", flush=True)
        if self.failed:
            print("failed: " + ", ".join(self.failed), flush=True)
            if _PROXY is not None and VERBOSE:
                print("--- shardcat log tail\n" + _PROXY.log_text())
        sys.exit(1 if self.failed else 0)


def shorten(v, n=300):
    s = repr(v)
    return s if len(s) <= n else s[:n] + f"...({len(s)} chars)"


def first_diff(a, b, context=2):
    """A short description of the first differing line of two texts."""
    la, lb = a.splitlines(), b.splitlines()
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else "<missing>"
        y = lb[i] if i < len(lb) else "<missing>"
        if x != y:
            return f"line {i + 1}: proxy={shorten(x, 200)} direct={shorten(y, 200)}"
    return "identical"


if __name__ == "__main__":
    # Self-check: a proxy starts and answers.
    checks = Checks("harness")
    import pymysql  # noqa: F401

    def smoke():
        c = pymysql_connect(proxy_params())
        with c.cursor() as cur:
            cur.execute("SELECT 1")
            checks.eq("harness-select-1", cur.fetchone(), (1,))
        c.close()

    checks.run("harness-select-1", smoke)
    checks.finish()
