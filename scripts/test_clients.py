#!/usr/bin/env python3
"""Runs the real-client tests tests/clients/test_*.py, one per lane at a
time: what `scripts/test.sh` runs as its "python client tests" step.

    scripts/test_clients.py [--timeout S] [FILE...]

Lane A is the topology of SHARDCAT_TOPOLOGY_ENV, lanes B... those of
SHARDCAT_TEST_LANE_TOPOLOGIES (colon-separated env files; scripts/test.sh
brings up one); each lane runs one test at a time, taken from a common
queue (the slowest first, CLIENT_SLOW_FIRST), with its own topology as
SHARDCAT_TOPOLOGY_ENV. A test's output is printed whole when it ends,
between `--- FILE` and `--- PASS FILE (Ns, lane X)` / `--- FAIL ...`
lines; the last line counts them: `clients: N passed, M failed`.

Each test starts its own proxies on free ports and works in databases of
its own (harness.unique_db) on its lane's servers, so two lanes share
nothing but the machine's cores.

Environment knobs (flags win):
  SHARDCAT_CLIENT_TIMEOUT  seconds allowed per test (default 300)
"""

import argparse
import glob
import os
import signal
import subprocess
import sys
import threading
import time

# Started first (measured, longest first), so that the lanes end together.
CLIENT_SLOW_FIRST = [
    "test_session_variables.py",
    "test_shard_warnings.py",
    "test_sysbench.py",
    "test_pymysql.py",
    "test_connector_prepared.py",
]

RUNNING = set()  # process groups of the tests running now
LOCK = threading.Lock()


def stop_running(signum, _frame):
    """Kills every running test's process group, then exits as killed."""
    with LOCK:
        for pgid in list(RUNNING):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    print(f"clients: stopped by signal {signum}", flush=True)
    os._exit(128 + signum)


def run_one(path, lane, env_path, root, timeout):
    """Runs one test file; returns (passed, output, seconds, why)."""
    env = dict(os.environ)
    if env_path:
        env["SHARDCAT_TOPOLOGY_ENV"] = env_path
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, path], cwd=root, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    with LOCK:
        RUNNING.add(proc.pid)
    why = ""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        why = f"timed out after {timeout}s"
    with LOCK:
        RUNNING.discard(proc.pid)
    if not why and proc.returncode != 0:
        why = f"exit {proc.returncode}"
    return not why, out.decode("utf-8", "replace"), time.monotonic() - t0, why


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeout", type=int,
                    default=int(os.environ.get("SHARDCAT_CLIENT_TIMEOUT", "300")))
    ap.add_argument("files", nargs="*", help="test files (default: tests/clients/test_*.py)")
    opts = ap.parse_args()
    signal.signal(signal.SIGTERM, stop_running)
    signal.signal(signal.SIGINT, stop_running)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = opts.files or sorted(glob.glob(os.path.join(root, "tests", "clients", "test_*.py")))
    rank = {name: i for i, name in enumerate(CLIENT_SLOW_FIRST)}
    queue = sorted(files, key=lambda f: rank.get(os.path.basename(f), len(rank)))
    envs = [os.environ.get("SHARDCAT_TOPOLOGY_ENV", "")]
    envs += [p for p in os.environ.get("SHARDCAT_TEST_LANE_TOPOLOGIES", "").split(":") if p]
    results = {}
    out_lock = threading.Lock()

    def lane_worker(lane, env_path):
        while True:
            with LOCK:
                if not queue:
                    return
                path = queue.pop(0)
            name = os.path.relpath(path, root)
            passed, out, secs, why = run_one(path, lane, env_path, root, opts.timeout)
            with out_lock:
                results[name] = passed
                sys.stdout.write(f"--- {name}\n{out}")
                if out and not out.endswith("\n"):
                    sys.stdout.write("\n")
                verdict = "PASS" if passed else "FAIL"
                detail = f"{secs:.0f}s, lane {lane}" + (f", {why}" if why else "")
                sys.stdout.write(f"--- {verdict} {name} ({detail})\n")
                sys.stdout.flush()

    t0 = time.monotonic()
    threads = [threading.Thread(target=lane_worker, args=(chr(ord("A") + i), p), daemon=True)
               for i, p in enumerate(envs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    passed = sum(results.values())
    failed = len(results) - passed
    print(f"clients: {len(results)} tests on {len(envs)} lane(s) in "
          f"{time.monotonic() - t0:.0f}s", flush=True)
    if failed:
        print("clients: FAILED: " + " ".join(n for n, ok in sorted(results.items()) if not ok))
    print(f"clients: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
