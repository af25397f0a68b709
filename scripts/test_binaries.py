#!/usr/bin/env python3
"""Builds and runs every test binary of `cargo test --all-targets`, several
at a time: what `scripts/test.sh` runs as its "cargo test" step.

    scripts/test_binaries.py [--jobs N] [--timeout S] [--lane-topology ENV]...
                             [--no-overlap] [--list] [-- ARGS...]

`cargo test` runs its test binaries one after another; most of shardcat's
wait on MariaDB servers, so this runs them in a pool of N (default 3), each
with the test harness's own threads as under `cargo test`, and prints each
binary's output whole when it ends (then a `runner:` line with its time),
so the log reads as cargo's does, `test result:` lines included.

Binaries that disturb the MariaDB topology they run on for everybody
else run ALONE, one at a time on a topology of their own: they stop,
kill, freeze or restart its servers, stop their replication or delay it,
change global server state others read, count global server state others
would change, or move shards (a move's snapshot needs its source primary
free of other writers). Binaries sharing a conflict tag never run at the
same time (see ALONE and TAGS below, each with its reason). Every other
binary (the default for a new one) must leave the shared servers as they
are for the others: its own databases, its own users, its own proxies,
and private servers for anything else.

Lanes: each topology is a lane, and every binary gets its lane's env file
as SHARDCAT_TOPOLOGY_ENV. Lane A is SHARDCAT_TOPOLOGY_ENV: the pool runs
there, then, once the pool has drained, alone binaries one at a time.
Lanes B, C... are the topologies of SHARDCAT_TEST_LANE_TOPOLOGIES
(colon-separated env files; `scripts/test.sh` brings up one, lane B):
each runs alone binaries one at a time from the start, beside the pool
(`--no-overlap`: once the pool is done). Alone binaries start longest
first (ALONE_SLOW_FIRST), each on the first free lane, so that the lanes
end together. An alone binary thus has its servers to itself and shares
only the machine's cores with the other lanes. The QUIET ones (a subset
of ALONE, reasons in QUIET) assert latencies that the pool's load breaks:
they start only once the pool is done. The SOLO ones (reasons in SOLO)
assert latencies that even another lane's load breaks: they run last,
with nothing else running anywhere. `--list` prints the
lanes and each binary's place.

ARGS after `--` go to every binary (as `cargo test -- ARGS`). The step
fails if any binary fails, crashes or runs over the timeout (then it is
killed, with its process group, and counted as one failed test).

Environment knobs (flags win):
  SHARDCAT_TEST_JOBS         pool binaries run at once on lane A (default 3)
  SHARDCAT_TEST_LANE_TOPOLOGIES  env files of lanes B... (--lane-topology)
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

# Each needs a topology to itself (one lane). The reason for each.
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

# Of the ALONE binaries, the ones that assert latencies the pool's load
# breaks: they start only once the pool is done (beside at most the other
# lanes' alone binaries). The reason for each.
QUIET = {
    "bad_input": "a good client's latency beside a hundred hostile ones",
    "deadlocks": "the 1213 within 1 s",
    "net_fuzz": "a bystander client's latency (< 1 s)",
    "oversized": "the server's error within 1 s of a 16 MiB statement",
}

# Of the ALONE binaries, the ones that also need the other lanes idle:
# started last, with nothing else running anywhere. The reason for each.
SOLO = {
}

# Alone binaries start longest first, so that the lanes end together; the
# others follow in name order. Measured on 2 lanes at load 9 (s): the
# resplits 120-130, rw_consistency 90, move_faults 64, rw_faults,
# xa_node_crash, split_faults 53-55, oversized, rw_split, net_fuzz 41-44,
# bad_input 30, rw_stall 24, then under 20 each.
ALONE_SLOW_FIRST = [
    "shard_resplit",
    "shard_resplit_reverse",
    "rw_consistency",
    "move_faults",
    "rw_faults",
    "xa_node_crash",
    "split_faults",
    "oversized",
    "rw_split",
    "net_fuzz",
    "bad_input",
    "rw_stall",
    "mid_result",
    "primary_faults",
    "executor_paths",
    "scatter_faults",
]

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
        if kind == "test" and name in SOLO:
            self.plan = "solo"
        elif kind == "test" and name in ALONE:
            self.plan = "alone"
        else:
            self.plan = "pool"
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


def run_one(b, lane, root, args, timeout, out_lock):
    t0 = time.monotonic()
    env = dict(os.environ)
    env.setdefault("CARGO_MANIFEST_DIR", root)
    if lane.env_path:
        env["SHARDCAT_TOPOLOGY_ENV"] = lane.env_path
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
        log(f"{b.key}: {status} ({b.seconds:.1f}s, lane {lane.name})")


class Lane:
    """One MariaDB topology: the binaries started on it get its env file
    as SHARDCAT_TOPOLOGY_ENV."""

    def __init__(self, name, env_path):
        self.name = name
        self.env_path = env_path
        self.running = {}  # key -> Binary


class Plan:
    """What is left to start, in order, and what may start next."""

    def __init__(self, binaries, lanes, jobs, overlap):
        rank = {name: i for i, name in enumerate(SLOW_FIRST)}
        self.pool = sorted((b for b in binaries if b.plan == "pool"),
                           key=lambda b: rank.get(b.key, len(rank)))
        rank = {name: i for i, name in enumerate(ALONE_SLOW_FIRST)}
        self.alone = sorted((b for b in binaries if b.plan == "alone"),
                            key=lambda b: rank.get(b.name, len(rank)))
        self.solo = [b for b in binaries if b.plan == "solo"]
        self.lanes = lanes
        self.jobs = jobs
        self.overlap = overlap

    def pending(self):
        return bool(self.pool or self.alone or self.solo)

    def next_start(self):
        """(binary, lane) that may start now, removed from what is left; or None."""
        main = self.lanes[0]
        running = [b for lane in self.lanes for b in lane.running.values()]
        if any(b.plan == "solo" for b in running):
            return None
        pool_busy = bool(self.pool) or any(b.plan == "pool" for b in running)
        if self.pool and len(main.running) < self.jobs \
                and not any(b.plan == "alone" for b in main.running.values()):
            busy = set().union(*(b.tags for b in main.running.values()))
            pick = next((b for b in self.pool if not (b.tags & busy)), None)
            if pick is not None:
                self.pool.remove(pick)
                return pick, main
        for lane in self.lanes:
            if lane.running or (pool_busy and (lane is main or not self.overlap)):
                continue
            pick = next((b for b in self.alone if not (pool_busy and b.name in QUIET)), None)
            if pick is not None:
                self.alone.remove(pick)
                return pick, lane
        if self.solo and not running and not self.pool and not self.alone:
            return self.solo.pop(0), main
        return None


def run_all(binaries, root, args, timeout, plan):
    """Runs every binary as `plan` allows. Returns the alone phase's
    (first alone start, last alone end) in monotonic seconds, or None."""
    out_lock = threading.Lock()
    cond = threading.Condition()
    span = []
    t0 = time.monotonic()

    def worker(b, lane):
        try:
            run_one(b, lane, root, args, timeout, out_lock)
        finally:
            with cond:
                del lane.running[b.key]
                if b.plan != "pool":
                    span.append(time.monotonic())
                elif not plan.pool and not any(r.plan == "pool" for r in lane.running.values()):
                    with out_lock:
                        log(f"pool done after {time.monotonic() - t0:.0f}s")
                cond.notify_all()

    def start(b, lane):
        lane.running[b.key] = b
        if b.plan != "pool":
            span.append(time.monotonic())
        with out_lock:
            others = "; ".join(
                f"{ln.name}: " + (", ".join(sorted(ln.running)) or "-") for ln in plan.lanes)
            log(f"start {b.key} on lane {lane.name} (running: {others})")
        threading.Thread(target=worker, args=(b, lane), daemon=True).start()

    with cond:
        while plan.pending():
            nxt = plan.next_start()
            if nxt is None:
                cond.wait()
                continue
            start(*nxt)
        while any(lane.running for lane in plan.lanes):
            cond.wait()
    return (min(span), max(span)) if span else None


def print_plan(binaries, plan):
    lanes = plan.lanes
    print(f"lane {lanes[0].name}: {lanes[0].env_path or '(SHARDCAT_TOPOLOGY_ENV unset)'}: "
          f"the pool, {plan.jobs} at a time, then alone binaries one at a time")
    for lane in lanes[1:]:
        when = "from the start, beside the pool" if plan.overlap else "once the pool is done"
        print(f"lane {lane.name}: {lane.env_path}: alone binaries one at a time, {when}")
    if plan.solo:
        print("solo binaries: last, with nothing else running")
    for b in binaries:
        if b.plan == "solo":
            how = f"solo: {SOLO[b.name]}; {ALONE[b.name]}"
        elif b.plan == "alone" and b.name in QUIET:
            how = f"alone, once the pool is done: {QUIET[b.name]}; {ALONE[b.name]}"
        elif b.plan == "alone":
            how = "alone (any lane): " + ALONE[b.name]
        else:
            how = f"pool (lane {lanes[0].name})" + "".join(
                f"; {t}: {TAG_REASONS[t]}" for t in sorted(b.tags))
        print(f"{b.key:26} {how}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("SHARDCAT_TEST_JOBS", "3")))
    ap.add_argument("--timeout", type=int,
                    default=int(os.environ.get("SHARDCAT_TEST_BIN_TIMEOUT", "900")))
    lane_envs = [p for p in os.environ.get("SHARDCAT_TEST_LANE_TOPOLOGIES", "").split(":") if p]
    ap.add_argument("--lane-topology", action="append", metavar="ENV", default=lane_envs,
                    help="topology env file of one more lane (repeatable)")
    ap.add_argument("--no-overlap", action="store_true",
                    help="the other lanes wait for the pool to be done")
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
    lanes = [Lane("A", os.environ.get("SHARDCAT_TOPOLOGY_ENV", ""))]
    lanes += [Lane(chr(ord("B") + i), p) for i, p in enumerate(opts.lane_topology)]
    plan = Plan(binaries, lanes, max(1, opts.jobs), not opts.no_overlap)
    count = {k: sum(b.plan == k for b in binaries) for k in ("alone", "solo")}
    log(f"built in {time.monotonic() - t0:.0f}s: {len(binaries)} test binaries, "
        f"{count['alone']} alone and {count['solo']} solo on {len(lanes)} lane(s), "
        f"pool of {opts.jobs}")
    names = {b.name for b in binaries if b.kind == "test"}
    keys = {b.key for b in binaries}
    listed = set(ALONE) | set(SOLO) | set(QUIET) | set(ALONE_SLOW_FIRST) | set(TAGS) | set(SLOW_FIRST)
    for name in sorted(listed - names - keys):
        log(f"warning: {name} is listed in scripts/test_binaries.py but is no test binary")
    for name in sorted((set(SOLO) | set(QUIET)) - set(ALONE)):
        log(f"warning: {name} is in SOLO or QUIET but not in ALONE")
    if opts.list:
        print_plan(binaries, plan)
        return 0
    t1 = time.monotonic()
    span = run_all(binaries, root, opts.args, opts.timeout, plan)
    failed = [b for b in binaries if b.rc != 0]
    print("\nrunner: times (s), slowest first:", flush=True)
    for b in sorted(binaries, key=lambda b: -b.seconds):
        mark = "" if b.rc == 0 else "  FAILED"
        how = f" ({b.plan})" if b.plan != "pool" else ""
        print(f"  {b.seconds:7.1f}  {b.key}{how}{mark}")
    alone_sum = sum(b.seconds for b in binaries if b.plan != "pool")
    alone_wall = f"{span[1] - span[0]:.0f}s wall from the first one's start" if span else "none"
    log(f"ran {len(binaries)} binaries in {time.monotonic() - t1:.0f}s; alone and solo: "
        f"{alone_sum:.0f}s summed, {alone_wall}, on {len(lanes)} lane(s)")
    if failed:
        log("FAILED: " + " ".join(b.key for b in failed))
        return 101
    return 0


if __name__ == "__main__":
    sys.exit(main())
