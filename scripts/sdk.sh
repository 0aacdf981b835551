#!/usr/bin/env bash
# `make sdk`: generates clients from the committed OpenAPI document with four
# generators (openapi-python-client, openapi-typescript, and openapi-generator's
# python and typescript-fetch), fails on generator warnings that signal lost types,
# type-checks the TypeScript ones, imports the Python ones, and runs the README's
# sale from opportunity to delivery through the generated Python client against a
# server (the dev build the tests use) with the demo data. Everything it uses is pinned (scripts/sdk/).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=target/sdk
VENV=.venv-sdk
SPEC=openapi/openapi.json
mkdir -p "$OUT"

if ! cmp -s scripts/sdk/requirements.txt "$VENV/.installed-requirements"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/sdk/requirements.txt
    cp scripts/sdk/requirements.txt "$VENV/.installed-requirements"
fi
if ! cmp -s scripts/sdk/package-lock.json scripts/sdk/node_modules/.package-lock.json 2>/dev/null; then
    (cd scripts/sdk && npm ci --silent --no-audit --no-fund)
fi

# Generator messages that are not about the document losing types.
benign='OpenAPI 3.1 support is still in beta|Failed to get the schema name: null|cannot be used as model name. Renamed to'
check_log() {
    local name=$1 log=$2
    if grep -E 'WARN|ERROR|Warning|warning' "$log" | grep -Ev "$benign" >"$log.bad"; then
        echo "sdk: $name reported problems:" >&2
        cat "$log.bad" >&2
        exit 1
    fi
}

echo "sdk: openapi-python-client"
rm -rf "$OUT/python-client"
"$VENV/bin/openapi-python-client" generate --path "$SPEC" --output-path "$OUT/python-client" \
    --meta setup --config scripts/sdk/python-client.yaml >"$OUT/python-client.log" 2>&1
check_log openapi-python-client "$OUT/python-client.log"

for g in python typescript-fetch; do
    echo "sdk: openapi-generator $g"
    rm -rf "${OUT:?}/$g"
    "$VENV/bin/openapi-generator-cli" generate -i "$SPEC" -g "$g" -o "$OUT/$g" \
        --package-name ordo_generated --global-property apiTests=false,modelTests=false \
        >"$OUT/$g.log" 2>&1
    check_log "openapi-generator $g" "$OUT/$g.log"
done

echo "sdk: openapi-typescript"
mkdir -p "$OUT/openapi-typescript"
scripts/sdk/node_modules/.bin/openapi-typescript "$SPEC" -o "$OUT/openapi-typescript/schema.ts" >"$OUT/openapi-typescript.log" 2>&1
check_log openapi-typescript "$OUT/openapi-typescript.log"

echo "sdk: tsc (typescript-fetch client and openapi-typescript types)"
scripts/sdk/node_modules/.bin/tsc -p scripts/sdk/tsconfig.json

echo "sdk: the Python clients import"
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$OUT/python-client" "$OUT/python"
"$VENV/bin/python" -c 'import ordo_client, ordo_generated; from ordo_generated.api.auth_api import AuthApi; from ordo_client.api.auth import create_token'

echo "sdk: the walkthrough through the generated client"
cargo build --bin ordo
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
ORDO_DATABASE_URL="sqlite://$work/sdk.db" ORDO_LOG=warn ORDO_ATTACHMENTS_DIR="$work/files" \
    "${CARGO_TARGET_DIR:-target}/debug/ordo" serve --demo --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then break; fi
    if ! kill -0 $server 2>/dev/null; then cat "$work/server.log" >&2; exit 1; fi
    sleep 0.2
done
"$VENV/bin/python" scripts/sdk/walkthrough.py "http://127.0.0.1:$port"
