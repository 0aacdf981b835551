#!/usr/bin/env bash
# `make contract`: a server (the dev build the tests use too, so CI compiles Ordo
# once) on a throw-away SQLite file, fuzzed by
# schemathesis against the served OpenAPI document. Fails on any 5xx and on any
# response that breaks the documented schema, status codes or content types.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
# (Re)install the pinned tools when the requirements changed since the last install.
if ! cmp -s scripts/contract-requirements.txt "$VENV/.installed-requirements"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/contract-requirements.txt
    cp scripts/contract-requirements.txt "$VENV/.installed-requirements"
fi

# The committed document must be valid OpenAPI 3.1 (the served one is tested to equal it).
"$VENV/bin/openapi-spec-validator" openapi/openapi.json

cargo build --bin ordo
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export ORDO_DATABASE_URL="sqlite://$work/contract.db"
export ORDO_JWT_SECRET="contract-secret-contract-secret-0123456789"
export ORDO_ADMIN_USER=admin ORDO_ADMIN_PASSWORD=contract-admin ORDO_LOG=warn
# The fuzzer sends thousands of requests a minute and random passwords: limits and
# lockouts would only answer 429 (documented) in place of the operations under test.
export ORDO_RATE_LIMIT_TOKEN_PER_IP=0 ORDO_RATE_LIMIT_PER_PRINCIPAL=0 ORDO_LOGIN_MAX_FAILURES=0
"${CARGO_TARGET_DIR:-target}/debug/ordo" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT

base="http://127.0.0.1:$port"
up=
for _ in $(seq 1 100); do
    if curl -sf "$base/readyz" >/dev/null; then up=1; break; fi
    if ! kill -0 $server 2>/dev/null; then break; fi
    sleep 0.2
done
if [ -z "$up" ]; then
    echo "contract: the server did not start; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
token=$(curl -sf -X POST "$base/api/v1/auth/token" -d grant_type=password -d username=admin -d password=contract-admin |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Run schemathesis; on a non-zero exit, the JUnit report decides: a check failure
# fails the run, while operations that only hit an internal error of the tool are
# run once more (and fail the run if they error again).
# Logout and a change of the admin's password or roles (PATCH /users/1 is a likely
# draw) revoke the fuzzer's own token: every later request would be a 401. The HTTP
# tests cover those two operations (tests/api/auth.rs).
fuzz() {
    "$VENV/bin/python" scripts/contract-run.py --config-file scripts/schemathesis.toml \
        run "$base/api/v1/openapi.json" \
        --url "$base" \
        ${CONTRACT_PHASES:+--phases "$CONTRACT_PHASES"} \
        -H "Authorization: Bearer $token" \
        --exclude-operation-id logout --exclude-operation-id updateUser \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "${CONTRACT_EXAMPLES:-25}" \
        --seed "${CONTRACT_SEED:-4242}" \
        --generation-deterministic \
        --no-color \
        --workers 2 \
        --request-timeout 10 \
        --report junit --report-junit-path "$work/junit.xml" \
        "$@"
}
if fuzz; then
    exit 0
fi
if ! errored=$("$VENV/bin/python" scripts/contract-verdict.py "$work/junit.xml"); then
    exit 1
fi
if [ -z "$errored" ]; then
    echo "contract: schemathesis failed without a report entry" >&2
    exit 1
fi
echo "contract: no check failed; rerunning where the tool itself errored:" >&2
echo "$errored" >&2
# Operations are labelled "METHOD /path"; an error outside one (the stateful phase)
# reruns everything.
args=()
while IFS= read -r op; do
    if [[ "$op" =~ ^[A-Z]+\ / ]]; then args+=(--include-name "$op"); else args=(); break; fi
done <<<"$errored"
fuzz "${args[@]}"
