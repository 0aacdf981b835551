#!/usr/bin/env bash
# Installs the Python tools the tests use (scripts/test-requirements.txt) into
# .venv-tools once, and again only when the requirements change. Safe to call from
# several test processes at once (flock). Prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/.venv-tools"
mkdir -p "$VENV"
exec 9>"$VENV/.lock"
flock 9
if ! cmp -s scripts/test-requirements.txt "$VENV/.installed-requirements" 2>/dev/null; then
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r scripts/test-requirements.txt >&2
    cp scripts/test-requirements.txt "$VENV/.installed-requirements"
fi
echo "$VENV/bin/python"
