#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called indirectly (trap, run_step)
# Runs shardcat's whole test suite:
#   cargo fmt --check, clippy (-D warnings), release build, cargo test
#   (against two private MariaDB topologies), doc tests, and the
#   Python client tests in tests/clients/*.py.
#
# The "cargo test" step is scripts/test_binaries.py: it builds what
# `cargo test --all-targets` builds, then runs those test binaries several at
# a time (SHARDCAT_TEST_JOBS, default 3) on topology A, each binary's output
# printed whole when it ends; the binaries that stop, freeze or reconfigure
# their servers, move shards or assert latencies need a topology to
# themselves: they run one at a time on topology B from the start, and on
# A too once the pool is done (the lists, the lanes and the reasons are in
# that script). Same tests as `cargo test --all-targets --no-fail-fast`.
# The client tests (scripts/test_clients.py) run one per topology at a time.
#
# It brings up its own MariaDB test topologies (scripts/topology.sh) on free
# ports in fresh temporary directories and always tears them down on exit,
# including on failure and Ctrl-C.
#
# Environment knobs:
#   SHARDCAT_TEST_BASE_PORT   first port to probe for free ports (default: a
#                             random multiple of 10 in 24000..25990)
#   SHARDCAT_KEEP_TOPOLOGY=1  keep the topologies' directories (logs) on exit;
#                             the servers are stopped all the same
#   SHARDCAT_CLIENT_TIMEOUT   seconds allowed per Python client test (300)
#   SHARDCAT_TEST_JOBS        pool test binaries run at once on topology A (3)
#   SHARDCAT_TEST_LANES       topologies (lanes) brought up (2; 1: no lane B)
#   SHARDCAT_TEST_BIN_TIMEOUT seconds allowed per test binary (900)
set -euo pipefail

SC_NAME=test.sh
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# From a clean clone (CI) incremental compilation only costs: its caches
# are written and never read again. Off then, unless set.
# The release binary the tests run needs no line tables there either.
if [[ -z "${CARGO_INCREMENTAL:-}" && ! -d "$TARGET_DIR/debug" ]]; then
  export CARGO_INCREMENTAL=0
  if [[ ! -d "$TARGET_DIR/release" ]]; then
    export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-false}"
  fi
fi
CLIENT_TIMEOUT="${SHARDCAT_CLIENT_TIMEOUT:-300}"

START=$SECONDS
FAILED=()
TOPO_DIRS=()
TEST_LOG=""
CARGO_PASSED=0
CARGO_FAILED=0
CLIENT_PASSED=0
CLIENT_FAILED=0

section() { printf '\n======== %s ========\n' "$*"; }
note() { printf 'test.sh: %s\n' "$*"; } # on stdout, in order with the steps' output

teardown() {
  local dir
  if ((${#TOPO_DIRS[@]})); then
    section "teardown"
  fi
  for dir in "${TOPO_DIRS[@]}"; do
    [[ -d "$dir" ]] || continue
    bash "$TOPOLOGY" down --dir "$dir" || true
    if [[ "${SHARDCAT_KEEP_TOPOLOGY:-0}" == 1 ]]; then
      note "kept $dir"
    else
      rm -rf "$dir"
    fi
  done
  TOPO_DIRS=()
  if [[ -n "$TEST_LOG" ]]; then rm -f "$TEST_LOG"; fi
  TEST_LOG=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  teardown
  exit "$rc"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM

# ---------------------------------------------------------------- prerequisites

section "prerequisites"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"
cargo fmt --version >/dev/null 2>&1 || die "rustfmt missing: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || die "clippy missing: rustup component add clippy"

if ! command -v python3 >/dev/null 2>&1; then
  note "installing python3"
  apt_install python3 python3-pip
fi
if ! python3 -c 'import pymysql, mysql.connector, cryptography' >/dev/null 2>&1; then
  note "installing Python client libraries (pymysql, mysql-connector-python, cryptography)"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    python3 -m ensurepip --upgrade >/dev/null 2>&1 || apt_install python3-pip
  fi
  # cryptography: PyMySQL's RSA path of caching_sha2_password (tests/caching_sha2.rs).
  pip_args=(install --quiet --disable-pip-version-check pymysql mysql-connector-python cryptography)
  python3 -m pip "${pip_args[@]}" >/dev/null 2>&1 \
    || python3 -m pip "${pip_args[@]}" --break-system-packages \
    || die "pip install of pymysql / mysql-connector-python failed"
  python3 -c 'import pymysql, mysql.connector' || die "Python client libraries still missing"
fi
if ! command -v php >/dev/null 2>&1 || ! php -r 'exit(extension_loaded("pdo_mysql") ? 0 : 1);' \
  || ! perl -MDBD::MariaDB -e 1 >/dev/null 2>&1; then
  note "installing PHP and Perl MariaDB drivers (php-cli php-mysql libdbd-mariadb-perl)"
  apt_install php-cli php-mysql libdbd-mariadb-perl || die "apt-get install of the PHP/Perl drivers failed"
fi
# tests/clients/test_jdbc_cursor_fetch.py: JDBC (MariaDB Connector/J).
if ! command -v javac >/dev/null 2>&1 || [[ ! -e /usr/share/java/mariadb-java-client.jar ]]; then
  note "installing a JDK and MariaDB Connector/J (default-jdk-headless libmariadb-java)"
  apt_install default-jdk-headless libmariadb-java \
    || note "apt-get install of the JDBC driver failed: test_jdbc_cursor_fetch.py will skip"
fi
if ! command -v sysbench >/dev/null 2>&1; then
  note "installing sysbench"
  apt_install sysbench || die "apt-get install sysbench failed"
fi
# tests/instances.rs (two instances behind HAProxy) and tests/status_page.rs
# (the status page in headless Chromium) skip with a message without these.
if ! command -v haproxy >/dev/null 2>&1; then
  note "installing haproxy"
  apt_install haproxy || note "apt-get install haproxy failed: tests/instances.rs will skip"
fi
if ! command -v chromium >/dev/null 2>&1; then
  note "installing chromium"
  apt_install chromium || note "apt-get install chromium failed: tests/status_page.rs will skip"
fi
# tests/clients/test_jdbc_tls.py: MariaDB Connector/J from Debian.
if command -v java >/dev/null 2>&1 && [[ ! -f /usr/share/java/mariadb-java-client.jar ]]; then
  note "installing libmariadb-java"
  apt_install libmariadb-java || note "apt-get install libmariadb-java failed: test_jdbc_tls.py will fail"
fi
# tests/caching_sha2.rs also logs in with Node's mysql2 when node finds it.
NODE_DIR="${HOME:-/tmp}/.cache/shardcat-node"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  && ! NODE_PATH="$NODE_DIR/node_modules" node -e "require('mysql2')" >/dev/null 2>&1; then
  note "installing Node's mysql2 into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && timeout 120 npm install --no-audit --no-fund --silent mysql2 >/dev/null 2>&1) \
    || note "npm install mysql2 failed: tests/caching_sha2.rs runs without Node"
fi
export NODE_PATH="$NODE_DIR/node_modules${NODE_PATH:+:$NODE_PATH}"
note "cargo: $(cargo --version)"
note "python: $(python3 --version 2>&1), sysbench: $(sysbench --version 2>&1 | head -n1)"

# ---------------------------------------------------------------- topology

section "topology"
# bring_up_topology FROM: a topology on free ports from FROM in a fresh
# temporary directory (three attempts), appended to TOPO_DIRS; its base
# port in BASE_PORT.
bring_up_topology() {
  local probe_from=$1 attempt dir t0
  for attempt in 1 2 3; do
    BASE_PORT="$(find_base_port "$probe_from" 6)" || die "no 6 free consecutive ports from $probe_from"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/shardcat-topo.XXXXXX")"
    TOPO_DIRS+=("$dir")
    note "attempt $attempt: base port $BASE_PORT, dir $dir"
    t0=$SECONDS
    if bash "$TOPOLOGY" up --dir "$dir" --base-port "$BASE_PORT"; then
      note "topology up in $((SECONDS - t0))s"
      bash "$TOPOLOGY" status --dir "$dir" || true
      return 0
    fi
    # Most likely someone took a port meanwhile: clean up and move on.
    bash "$TOPOLOGY" down --dir "$dir" || true
    rm -rf "$dir"
    unset 'TOPO_DIRS[-1]'
    probe_from=$((BASE_PORT + 10))
  done
  die "could not bring up the MariaDB test topology"
}
# Lane A: the pool of test binaries, then binaries that need their
# topology to themselves, and the client tests; lanes B...: the latter only
# (scripts/test_binaries.py).
LANES="${SHARDCAT_TEST_LANES:-2}"
((LANES >= 1)) || die "SHARDCAT_TEST_LANES must be at least 1"
bring_up_topology "${SHARDCAT_TEST_BASE_PORT:-$((24000 + (RANDOM % 200) * 10))}"
export SHARDCAT_TOPOLOGY_ENV="${TOPO_DIRS[0]}/topology.env"
LANE_ENVS=("$SHARDCAT_TOPOLOGY_ENV")
for ((lane = 2; lane <= LANES; lane++)); do
  bring_up_topology $((BASE_PORT + 10))
  LANE_ENVS+=("${TOPO_DIRS[-1]}/topology.env")
done
SHARDCAT_TEST_LANE_TOPOLOGIES="$(IFS=:; echo "${LANE_ENVS[*]:1}")"
export SHARDCAT_TEST_LANE_TOPOLOGIES
export SHARDCAT_BIN="$TARGET_DIR/release/shardcat"
note "SHARDCAT_TOPOLOGY_ENV=$SHARDCAT_TOPOLOGY_ENV"
note "SHARDCAT_TEST_LANE_TOPOLOGIES=$SHARDCAT_TEST_LANE_TOPOLOGIES"

# ---------------------------------------------------------------- steps

# run_step NAME CMD...: runs CMD under a header, records failure, never exits.
run_step() {
  local name=$1 t0=$SECONDS rc=0
  shift
  section "$name"
  printf '$ %s\n' "$*"
  "$@" || rc=$?
  if ((rc == 0)); then
    note "$name: ok ($((SECONDS - t0))s)"
  else
    note "$name: FAILED (exit $rc, $((SECONDS - t0))s)"
    FAILED+=("$name")
  fi
  return "$rc"
}

cargo_test() {
  python3 scripts/test_binaries.py 2>&1 | tee -a "$TEST_LOG"
}

cargo_doc_test() {
  cargo test --doc -- --test-threads=2 2>&1 | tee -a "$TEST_LOG"
}

# scripts/test_clients.py: the tests/clients/test_*.py, one per lane at a time.
client_tests() {
  local out rc=0
  out="$(mktemp "${TMPDIR:-/tmp}/shardcat-clients-log.XXXXXX")"
  python3 scripts/test_clients.py --timeout "$CLIENT_TIMEOUT" 2>&1 | tee "$out" || rc=$?
  read -r CLIENT_PASSED CLIENT_FAILED < <(
    sed -nE 's/^clients: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$out" | tail -n 1
  ) || true
  CLIENT_PASSED="${CLIENT_PASSED:-0}"
  CLIENT_FAILED="${CLIENT_FAILED:-0}"
  rm -f "$out"
  return "$rc"
}

TEST_LOG="$(mktemp "${TMPDIR:-/tmp}/shardcat-test-log.XXXXXX")"

run_step "cargo fmt" cargo fmt --all -- --check || true
run_step "cargo clippy" cargo clippy --all-targets -- -D warnings || true
build_ok=1
# The benches are compiled (test profile) and run once as tests by the
# "cargo test" step, like `cargo test --all-targets`; their release build
# (`cargo bench --no-run`) would add only compile time.
run_step "cargo build --release" cargo build --release --bins || build_ok=0
run_step "cargo test" cargo_test || true
run_step "doc tests" cargo_doc_test || true
if ((build_ok)); then
  run_step "python client tests" client_tests || true
else
  section "python client tests"
  note "skipped: the release build failed"
  FAILED+=("python client tests (skipped)")
fi

# ---------------------------------------------------------------- summary

while read -r passed failed; do
  CARGO_PASSED=$((CARGO_PASSED + passed))
  CARGO_FAILED=$((CARGO_FAILED + failed))
done < <(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$TEST_LOG")

# Tear down now, so that the summary's count line is the run's last line.
teardown

section "summary"
note "cargo tests: $CARGO_PASSED passed, $CARGO_FAILED failed"
note "client tests: $CLIENT_PASSED passed, $CLIENT_FAILED failed"
note "elapsed: $((SECONDS - START))s"
if ((${#FAILED[@]})); then
  note "FAILED steps: ${FAILED[*]}"
  status=1
else
  note "all steps passed"
  status=0
fi
printf 'total: %d passed, %d failed\n' $((CARGO_PASSED + CLIENT_PASSED)) $((CARGO_FAILED + CLIENT_FAILED))
exit "$status"
