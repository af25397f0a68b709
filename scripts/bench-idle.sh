#!/usr/bin/env bash
# Opens 10,000 idle, logged-in client connections to shardcat and reports its
# memory (target: < 256 MB RSS). Same as `scripts/bench.sh --idle-only`;
# extra options are passed on (e.g. --idle-count 20000, --no-append).
exec bash "$(dirname "${BASH_SOURCE[0]}")/bench.sh" --idle-only "$@"
