#!/usr/bin/env bash
# Runs the real-client compatibility battery (tests/clients/test_*.py) on
# its own, against an existing topology:
#
#   SHARDCAT_TOPOLOGY_ENV=/path/to/topology.env [SHARDCAT_BIN=...] tests/clients/run.sh [test_x.py ...]
#
# (scripts/test.sh runs the same files as part of the whole suite.)
set -uo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ -n "${SHARDCAT_TOPOLOGY_ENV:-}" ]] || { echo "SHARDCAT_TOPOLOGY_ENV is not set" >&2; exit 2; }
if (($#)); then files=("$@"); else files=("$DIR"/test_*.py); fi
start=$SECONDS
failed=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] || f="$DIR/$f"
  t0=$SECONDS
  printf -- '--- %s\n' "$(basename "$f")"
  if timeout --foreground -k 10 300 python3 "$f" </dev/null; then
    printf -- '--- PASS %s (%ss)\n' "$(basename "$f")" $((SECONDS - t0))
  else
    printf -- '--- FAIL %s (%ss)\n' "$(basename "$f")" $((SECONDS - t0))
    failed+=("$(basename "$f")")
  fi
done
echo "battery: ${#files[@]} files, ${#failed[@]} failed, $((SECONDS - start))s"
((${#failed[@]} == 0)) || { echo "failed: ${failed[*]}"; exit 1; }
