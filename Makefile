# Ordo — two commands: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
PORT ?= 8080

.PHONY: run test lint openapi contract sdk bench soak build clean-db

## Build and start the server on ./ordo.db with demo data and the docs UI.
run:
	scripts/build-deps.sh
	$(CARGO) run --release --bin ordo -- serve --demo --bind 127.0.0.1:$(PORT)

## Every test (unit + HTTP integration) on SQLite and PostgreSQL.
test:
	scripts/build-deps.sh
	scripts/test.sh

build:
	scripts/build-deps.sh
	$(CARGO) build --release --bin ordo

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Regenerate the committed OpenAPI document from the code.
openapi:
	$(CARGO) run -q --bin ordo -- openapi > openapi/openapi.json

## Fuzz the running API against its own OpenAPI document (schemathesis).
contract:
	scripts/contract.sh

## Clients from four SDK generators: generate, type-check, run the walkthrough through one.
sdk:
	scripts/sdk.sh

## Throughput and latency on SQLite and PostgreSQL; writes target/bench/result.json.
bench:
	scripts/bench.sh

## Crash soak: kill -9 the release server ROUNDS times per database under a write load.
ROUNDS ?= 20
soak:
	scripts/build-deps.sh
	scripts/ensure-postgres.sh
	$(CARGO) build --release --bin ordo
	ORDO_SERVER_BIN=$${CARGO_TARGET_DIR:-target}/release/ordo ORDO_SOAK_ROUNDS=$(ROUNDS) \
		$(CARGO) test --test api -- soak:: --nocapture

clean-db:
	rm -f ordo.db ordo.db-wal ordo.db-shm
