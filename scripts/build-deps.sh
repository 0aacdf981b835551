#!/usr/bin/env bash
# What the build needs besides Rust, made true on a fresh Debian machine.
#
# SQLite is bundled and compiled by the build; libpq is bundled too, but it links the
# system OpenSSL (for TLS to PostgreSQL), found through pkg-config. So the build needs
# a C compiler, pkg-config and OpenSSL's headers. Run as root, this installs what is
# missing from Debian's packages; otherwise it stops at once with the exact
# `apt-get install` line.
#
#   scripts/build-deps.sh           ensure the packages (the Makefile calls this)
#   scripts/build-deps.sh --verify  fail when Cargo.lock has a -sys crate whose
#                                   system packages this script does not know (CI)
set -euo pipefail
cd "$(dirname "$0")/.."

# Every native (-sys) crate in the build, and the Debian packages it needs ("-" for
# none: bundled, or not built on Linux).
declare -A NEEDS=(
    [libsqlite3-sys]="-"
    [pq-sys]="pkg-config libssl-dev"
    [openssl-sys]="pkg-config libssl-dev"
    [js-sys]="-"
    [web-sys]="-"
    [windows-sys]="-"
    [linux-raw-sys]="-"
    # rustls-platform-verifier's macOS and Android backends: not built on Linux.
    [core-foundation-sys]="-"
    [security-framework-sys]="-"
    [jni-sys]="-"
)

if [ "${1:-}" = "--verify" ]; then
    unknown=()
    while read -r crate; do
        [ -n "${NEEDS[$crate]+x}" ] || unknown+=("$crate")
    done < <(sed -n 's/^name = "\(.*-sys\)"$/\1/p' Cargo.lock | sort -u)
    if [ ${#unknown[@]} -gt 0 ]; then
        echo "build-deps: native crates without a known Debian package list: ${unknown[*]}" >&2
        echo "build-deps: add them to NEEDS in scripts/build-deps.sh" >&2
        exit 1
    fi
    echo "build-deps: every native crate in Cargo.lock is covered"
    exit 0
fi

packages=()
for crate in $(sed -n 's/^name = "\(.*-sys\)"$/\1/p' Cargo.lock | sort -u); do
    for p in ${NEEDS[$crate]:-}; do
        [ "$p" = "-" ] || packages+=("$p")
    done
done
command -v cc >/dev/null 2>&1 || packages+=(gcc libc6-dev)
missing=()
for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "build-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "The build needs Debian packages that are not installed. Run:" >&2
    echo "    sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
