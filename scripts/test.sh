#!/usr/bin/env bash
# Runs every Signet test on a fresh Debian machine: installs the reference implementation
# (notary, notary-server, notary-signer 0.7), dockerd, the distribution registry and PostgreSQL,
# then the whole cargo test suite, interop tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends notary docker.io docker-registry openssl \
  postgresql-15 ca-certificates iproute2 util-linux nginx-light wrk >/dev/null

export SIGNET_REQUIRE_INTEROP=1   # interop tests fail (not skip) when a reference binary is missing
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads="${SIGNET_TEST_THREADS:-2}"
