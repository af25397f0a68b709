#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here are called indirectly (trap, run_step)
# Runs shardcat's whole test suite:
#   cargo fmt --check, clippy (-D warnings), release build, cargo test
#   (against a private MariaDB topology), doc tests, and the
#   Python client tests in tests/clients/*.py.
#
# The "cargo test" step is scripts/test_binaries.py: it builds what
# `cargo test --all-targets` builds, then runs those test binaries several at
# a time (SHARDCAT_TEST_JOBS, default 3), each binary's output printed whole
# when it ends; the binaries that stop, freeze or reconfigure the shared
# servers, move shards or assert latencies run alone afterwards (the list
# and the reasons are in that script). Same tests as
# `cargo test --all-targets --no-fail-fast`.
#
# It brings up its own MariaDB test topology (scripts/topology.sh) on free
# ports in a fresh temporary directory and always tears it down on exit,
# including on failure and Ctrl-C.
#
# Environment knobs:
#   SHARDCAT_TEST_BASE_PORT   first port to probe for free ports (default: a
#                             random multiple of 10 in 24000..25990)
#   SHARDCAT_KEEP_TOPOLOGY=1  keep the topology's directory (logs) on exit;
#                             the servers are stopped all the same
#   SHARDCAT_CLIENT_TIMEOUT   seconds allowed per Python client test (300)
#   SHARDCAT_TEST_JOBS        test binaries run at once (3)
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
TOPO_DIR=""
TEST_LOG=""
CARGO_PASSED=0
CARGO_FAILED=0
CLIENT_PASSED=0
CLIENT_FAILED=0

section() { printf '\n======== %s ========\n' "$*"; }
note() { printf 'test.sh: %s\n' "$*"; } # on stdout, in order with the steps' output

teardown() {
  if [[ -n "$TOPO_DIR" && -d "$TOPO_DIR" ]]; then
    section "teardown"
    bash "$TOPOLOGY" down --dir "$TOPO_DIR" || true
    if [[ "${SHARDCAT_KEEP_TOPOLOGY:-0}" == 1 ]]; then
      note "kept $TOPO_DIR"
    else
      rm -rf "$TOPO_DIR"
    fi
  fi
  TOPO_DIR=""
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
probe_from="${SHARDCAT_TEST_BASE_PORT:-$((24000 + (RANDOM % 200) * 10))}"
topo_ok=0
for attempt in 1 2 3; do
  base_port="$(find_base_port "$probe_from" 6)" || die "no 6 free consecutive ports from $probe_from"
  TOPO_DIR="$(mktemp -d "${TMPDIR:-/tmp}/shardcat-topo.XXXXXX")"
  note "attempt $attempt: base port $base_port, dir $TOPO_DIR"
  t0=$SECONDS
  if bash "$TOPOLOGY" up --dir "$TOPO_DIR" --base-port "$base_port"; then
    note "topology up in $((SECONDS - t0))s"
    topo_ok=1
    break
  fi
  # Most likely someone took a port meanwhile: clean up and move on.
  bash "$TOPOLOGY" down --dir "$TOPO_DIR" || true
  rm -rf "$TOPO_DIR"
  TOPO_DIR=""
  probe_from=$((base_port + 10))
done
((topo_ok)) || die "could not bring up the MariaDB test topology"
bash "$TOPOLOGY" status --dir "$TOPO_DIR" || true
export SHARDCAT_TOPOLOGY_ENV="$TOPO_DIR/topology.env"
export SHARDCAT_BIN="$TARGET_DIR/release/shardcat"
note "SHARDCAT_TOPOLOGY_ENV=$SHARDCAT_TOPOLOGY_ENV"

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

client_tests() {
  local files=() f rc t0
  shopt -s nullglob
  files=("$ROOT"/tests/clients/*.py)
  shopt -u nullglob
  if ((${#files[@]} == 0)); then
    note "no tests/clients/*.py"
  fi
  for f in "${files[@]}"; do
    printf -- '--- %s\n' "${f#"$ROOT"/}"
    t0=$SECONDS
    rc=0
    timeout --foreground -k 10 "$CLIENT_TIMEOUT" python3 "$f" </dev/null || rc=$?
    if ((rc == 0)); then
      CLIENT_PASSED=$((CLIENT_PASSED + 1))
      printf -- '--- PASS %s (%ss)\n' "${f#"$ROOT"/}" $((SECONDS - t0))
    else
      CLIENT_FAILED=$((CLIENT_FAILED + 1))
      printf -- '--- FAIL %s (exit %s, %ss)\n' "${f#"$ROOT"/}" "$rc" $((SECONDS - t0))
    fi
  done
  printf 'clients: %d passed, %d failed\n' "$CLIENT_PASSED" "$CLIENT_FAILED"
  ((CLIENT_FAILED == 0))
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
