#!/usr/bin/env bash
# Runs every Signet test on a fresh Debian machine: installs the reference implementation
# (notary, notary-server, notary-signer 0.7), dockerd, the distribution registry, PostgreSQL and MariaDB,
# then checks formatting and clippy and runs the whole cargo test suite, interop tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends notary docker.io docker-registry openssl \
  postgresql-15 mariadb-server ca-certificates iproute2 util-linux bsdutils nginx-light wrk curl \
  mmdebstrap binutils >/dev/null

export SIGNET_REQUIRE_INTEROP=1   # interop tests fail (not skip) when a reference binary is missing
# The style the code keeps: formatting and clippy's warnings fail the run.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast -- --test-threads="${SIGNET_TEST_THREADS:-2}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one per test binary, the last of which is
# often an empty doc-test run).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
