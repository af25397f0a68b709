#!/usr/bin/env python3
"""Builds and runs every test binary of `cargo test --all-targets`, several
at a time: what `scripts/test.sh` runs as its "cargo test" step.

    scripts/test_binaries.py [--jobs N] [--timeout S] [--list] [-- ARGS...]

`cargo test` runs its test binaries one after another; most of shardcat's
wait on MariaDB servers, so this runs them in a pool of N (default 3), each
with the test harness's own threads as under `cargo test`, and prints each
binary's output whole when it ends (then a `runner:` line with its time),
so the log reads as cargo's does, `test result:` lines included.

Binaries that disturb the shared MariaDB topology (SHARDCAT_TOPOLOGY_ENV)
for everybody else run ALONE, one at a time with nothing else running,
after the pool has drained: they stop, kill, freeze or restart its servers,
stop their replication or delay it, change global server state others read,
count global server state others would change, move shards (a move's
snapshot needs its source primary free of other writers), or assert
latencies that other binaries' load would break. Binaries sharing a
conflict tag never run at the same time (see ALONE and TAGS below, each
with its reason). Every other binary (the default for a new one) must
leave the shared servers as they are for the others: its own databases,
its own users, its own proxies, and private servers for anything else.

ARGS after `--` go to every binary (as `cargo test -- ARGS`). The step
fails if any binary fails, crashes or runs over the timeout (then it is
killed, with its process group, and counted as one failed test).

Environment knobs (flags win):
  SHARDCAT_TEST_JOBS         binaries run at once (default 3)
  SHARDCAT_TEST_BIN_TIMEOUT  seconds allowed per binary (default 900)
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

# A move, split or resplit takes a consistent snapshot of its source
# primary and asks for its GTID position: with other binaries writing
# there, BINLOG_GTID_POS answers NULL three snapshots in a row (seen) and
# the move fails. Moves also set the target's global gtid_slave_pos.
MOVE = "a move's snapshot needs its source primary free of other writers"

# Run one at a time, nothing else running. The reason for each.
ALONE = {
    "atomic_writes": "SIGKILLs and restarts shared servers",
    "bad_input": "asserts a good client's latency while a hundred hostile ones storm the proxy",
    "black_hole": "SIGSTOPs the shared replica n1r2",
    "deadlocks": "asserts the 1213 comes within 1 s",
    "executor_paths": "stops n1r1's SQL thread, SIGKILLs n1r1, counts Com_* on the servers",
    "limits": "SET GLOBAL max_prepared_stmt_count on ref (others prepare there)",
    "mid_result": "SIGKILLs and restarts shared servers",
    "move_faults": "stops and restarts n1p and n2p",
    "net_fuzz": "asserts a bystander client's latency (< 1 s) during the fuzzing",
    "oversized": "asserts the server's error within 1 s of a 16 MiB statement "
    "(and resets max_allowed_packet on every server)",
    "primary_faults": "SIGSTOPs the shared primary n1p",
    "rw_consistency": "STOP SLAVE on the shared replicas",
    "rw_faults": "SIGKILLs, SIGSTOPs, stops and restarts shared servers",
    "rw_split": "STOP SLAVE SQL_THREAD on the shared replicas, counts Com_* on them",
    "rw_stall": "SIGSTOPs n1r2, stops n1p",
    "scatter_faults": "SIGKILLs and restarts n2r1",
    "sharded_prepared": "MASTER_DELAY on every shared replica",
    "sharded_transactions": "MASTER_DELAY on every shared replica",
    "shard_move": MOVE,
    "shard_move_reverse": MOVE,
    "shard_resplit": "stops and restarts n1p; " + MOVE,
    "shard_resplit_reverse": MOVE,
    "shard_split": MOVE,
    "split_faults": "stops move channels; " + MOVE,
    "topology_smoke": "SIGKILLs n2r1, SIGSTOPs ref",
    "transactions_multi_node": "counts every open transaction on the primaries (INNODB_TRX)",
    "xa_node_crash": "SIGKILLs and restarts shared primaries",
}

# Binaries with a common tag never run at the same time. The reason for each tag.
TAG_REASONS = {
    "xa": "counts every shardcat XA branch prepared on the primaries (XA RECOVER), "
    "or makes such branches",
    "general_log": "turns the servers' general log on and off, truncates it",
}
TAGS = {
    # XA users: the ones that count branches, and the ones that make them.
    "composite_rules": ["xa"],
    "insert_select": ["xa"],
    "passthrough": ["xa"],
    "xa_bench": ["xa"],
    "xa_crash": ["xa"],
    "sharding_placement": ["general_log"],
}

# Started first (longest first), so that the pool does not end on one of them.
SLOW_FIRST = [
    "lib:shardcat",
    "differential_collations",
    "differential",
    "protocol",
    "locking_reads",
    "caching_sha2",
    "promotion",
]


def log(msg):
    print(f"runner: {msg}", flush=True)


class Binary:
    def __init__(self, kind, name, src, path):
        self.kind = kind  # lib, bin, test, bench
        self.name = name
        self.src = src
        self.path = path
        self.key = name if kind == "test" else f"{kind}:{name}"
        self.tags = set(TAGS.get(name, [])) if kind == "test" else set()
        self.alone = kind == "test" and name in ALONE
        self.rc = None
        self.seconds = 0.0

    def label(self):
        if self.kind == "lib":
            return f"unittests {self.src}"
        if self.kind == "bin":
            return f"unittests {self.src} ({self.name})"
        return self.src


def build(root):
    """`cargo test --all-targets --no-run`: the test binaries, in cargo's order."""
    cmd = [
        "cargo", "test", "--all-targets", "--no-run",
        "--message-format=json-render-diagnostics",
    ]
    log("$ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    found = []
    for line in proc.stdout:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg.get("profile", {}).get("test"):
            continue
        target = msg["target"]
        kind = target["kind"][0]
        if kind not in ("lib", "bin", "test", "bench"):
            continue
        src = os.path.relpath(target["src_path"], root)
        found.append(Binary(kind, target["name"], src, msg["executable"]))
    rc = proc.wait()
    if rc != 0:
        log(f"build failed (exit {rc})")
        return None
    order = {"lib": 0, "bin": 1, "test": 2, "bench": 3}
    found.sort(key=lambda b: (order[b.kind], b.name))
    return found


# Process groups of the binaries running now: killed on SIGTERM/SIGINT.
RUNNING = set()
RUNNING_LOCK = threading.Lock()


def stop_running(signum, _frame):
    """Kills every running binary's process group, then exits as killed."""
    with RUNNING_LOCK:
        for pgid in list(RUNNING):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    log(f"stopped by signal {signum}")
    os._exit(128 + signum)


def run_one(b, root, args, timeout, out_lock):
    t0 = time.monotonic()
    env = dict(os.environ)
    env.setdefault("CARGO_MANIFEST_DIR", root)
    with tempfile.TemporaryFile(mode="w+b") as out:
        proc = subprocess.Popen(
            [b.path] + args, cwd=root, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        with RUNNING_LOCK:
            RUNNING.add(proc.pid)
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            rc = proc.wait()
        with RUNNING_LOCK:
            RUNNING.discard(proc.pid)
        b.seconds = time.monotonic() - t0
        b.rc = 124 if timed_out else rc
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    with out_lock:
        sys.stdout.write(f"\n     Running {b.label()} ({os.path.relpath(b.path, root)})\n")
        sys.stdout.write(text)
        if text and not text.endswith("\n"):
            sys.stdout.write("\n")
        if b.rc != 0 and "test result:" not in text:
            why = f"timed out after {timeout}s" if timed_out else f"exited with {b.rc}"
            # Counted by scripts/test.sh's summary as one failed test.
            sys.stdout.write(
                "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; "
                f"0 filtered out (runner: {b.key} {why})\n"
            )
        status = "ok" if b.rc == 0 else ("TIMEOUT" if timed_out else f"FAILED (exit {b.rc})")
        log(f"{b.key}: {status} ({b.seconds:.1f}s)")


def run_all(binaries, root, args, jobs, timeout):
    out_lock = threading.Lock()
    cond = threading.Condition()
    running = {}  # key -> Binary
    pool = [b for b in binaries if not b.alone]
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    pool.sort(key=lambda b: rank.get(b.key, len(rank)))
    alone = [b for b in binaries if b.alone]

    def worker(b):
        try:
            run_one(b, root, args, timeout, out_lock)
        finally:
            with cond:
                del running[b.key]
                cond.notify_all()

    def start(b):
        running[b.key] = b
        with out_lock:
            others = ", ".join(sorted(running)) or "-"
            log(f"start {b.key} (running: {others})")
        threading.Thread(target=worker, args=(b,), daemon=True).start()

    with cond:
        while pool:
            busy = set().union(*(r.tags for r in running.values())) if running else set()
            pick = None
            if len(running) < jobs:
                pick = next((b for b in pool if not (b.tags & busy)), None)
            if pick is None:
                cond.wait()
                continue
            pool.remove(pick)
            start(pick)
        while running:
            cond.wait()
        if alone:
            log(f"pool done; {len(alone)} binaries that run alone: "
                + ", ".join(b.name for b in alone))
        for b in alone:
            start(b)
            while running:
                cond.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("SHARDCAT_TEST_JOBS", "3")))
    ap.add_argument("--timeout", type=int,
                    default=int(os.environ.get("SHARDCAT_TEST_BIN_TIMEOUT", "900")))
    ap.add_argument("--list", action="store_true", help="print the plan, run nothing")
    ap.add_argument("args", nargs="*", help="after --: arguments for every binary")
    opts = ap.parse_args()
    signal.signal(signal.SIGTERM, stop_running)
    signal.signal(signal.SIGINT, stop_running)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    t0 = time.monotonic()
    binaries = build(root)
    if binaries is None:
        return 101
    log(f"built in {time.monotonic() - t0:.0f}s: {len(binaries)} test binaries, "
        f"{sum(b.alone for b in binaries)} run alone, pool of {opts.jobs}")
    names = {b.name for b in binaries if b.kind == "test"}
    keys = {b.key for b in binaries}
    for name in sorted((set(ALONE) | set(TAGS) | set(SLOW_FIRST)) - names - keys):
        log(f"warning: {name} is listed in scripts/test_binaries.py but is no test binary")
    if opts.list:
        for b in binaries:
            if b.alone:
                how = "alone: " + ALONE[b.name]
            else:
                how = "pool" + "".join(f"; {t}: {TAG_REASONS[t]}" for t in sorted(b.tags))
            print(f"{b.key:26} {how}")
        return 0
    t1 = time.monotonic()
    run_all(binaries, root, opts.args, max(1, opts.jobs), opts.timeout)
    failed = [b for b in binaries if b.rc != 0]
    print("\nrunner: times (s), slowest first:", flush=True)
    for b in sorted(binaries, key=lambda b: -b.seconds):
        mark = "" if b.rc == 0 else "  FAILED"
        print(f"  {b.seconds:7.1f}  {b.key}{' (alone)' if b.alone else ''}{mark}")
    log(f"ran {len(binaries)} binaries in {time.monotonic() - t1:.0f}s "
        f"({sum(b.seconds for b in binaries if b.alone):.0f}s of it alone)")
    if failed:
        log("FAILED: " + " ".join(b.key for b in failed))
        return 101
    return 0


if __name__ == "__main__":
    sys.exit(main())
