#!/usr/bin/env bash
# `make test`: every test of the workspace (unit + the HTTP suite on SQLite and
# PostgreSQL), closing with one summary line over all test binaries.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! scripts/ensure-postgres.sh; then
    if [ "${CI:-}" = "true" ]; then
        echo "PostgreSQL is required in CI" >&2
        exit 1
    fi
    echo "PostgreSQL unavailable: its tests will be skipped" >&2
fi

# The Python tools some tests use (validators, PDF text), installed before the tests
# start rather than by the first test that needs them.
scripts/pytools.sh >/dev/null

log=$(mktemp)
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { printf "%d passed, %d failed", p, f }' "$log")
rm -f "$log"
echo
echo "tests: $summary"
exit "$status"
