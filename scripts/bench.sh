#!/usr/bin/env bash
# `make bench`: release server on a fresh SQLite file and on a fresh PostgreSQL
# database, seeded and measured by ordo-bench; results in target/bench/result.json.
set -euo pipefail
cd "$(dirname "$0")/.."

# ORDO_BIN=path/to/ordo measures another build of the server (a before/after
# comparison) with this load generator.
cargo build --release -p ordo -p ordo-bench
ordo_bin=${ORDO_BIN:-${CARGO_TARGET_DIR:-target}/release/ordo}
mkdir -p target/bench
out=${BENCH_OUT:-target/bench/result.json}
# One backend at a time adds to the file; both start it afresh.
[ -z "${BENCH_BACKENDS:-}" ] && rm -f "$out"
work=$(mktemp -d)
pg_db="ordo_bench_$$"
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

export ORDO_JWT_SECRET="bench-secret-bench-secret-bench-secret-01"
export ORDO_ADMIN_USER=admin ORDO_ADMIN_PASSWORD=bench-admin ORDO_DEBUG_HEADERS=1 ORDO_LOG=warn
# One principal sends thousands of requests a second: the limits would measure themselves.
export ORDO_RATE_LIMIT_TOKEN_PER_IP=0 ORDO_RATE_LIMIT_PER_PRINCIPAL=0

run_backend() {
    local name=$1 url=$2 port=$((20000 + RANDOM % 20000))
    local smtp_port=$((port + 1))
    # Mail goes to the SMTP sink ordo-bench starts on smtp_port; webhooks to its HTTP
    # sink on 127.0.0.1 (so private targets are allowed here).
    ORDO_SMTP_HOST=127.0.0.1 ORDO_SMTP_PORT=$smtp_port ORDO_SMTP_TLS=none ORDO_SMTP_FROM="Ordo bench <bench@example.com>" \
    ORDO_WEBHOOK_ALLOW_PRIVATE=1 ORDO_ATTACHMENTS_DIR="$work/files-$name" \
    ORDO_DATABASE_URL="$url" "$ordo_bin" serve --bind "127.0.0.1:$port" >"$work/$name.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    "${CARGO_TARGET_DIR:-target}/release/ordo-bench" --base "http://127.0.0.1:$port" --backend "$name" --user admin --password bench-admin \
        --seed "${BENCH_SEED:-10000}" --count "${BENCH_COUNT:-2000}" --concurrency 8 --out "$out" --database-url "$url" --smtp-port "$smtp_port" --server-pid "$server"
    kill "$server"; wait "$server" 2>/dev/null || true
    server=
}

# BENCH_BACKENDS=postgres (or sqlite) measures one database only.
backends=${BENCH_BACKENDS:-sqlite postgres}
[[ " $backends " == *" sqlite "* ]] && run_backend sqlite "sqlite://$work/bench.db"
if [[ " $backends " != *" postgres "* ]]; then
    :
elif scripts/ensure-postgres.sh; then
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $pg_db" >/dev/null
    run_backend postgres "postgres://postgres@127.0.0.1:5432/$pg_db"
else
    echo "bench: PostgreSQL unavailable, measured SQLite only" >&2
fi
echo "results: $out"
