#!/usr/bin/env bash
# One command for the benchmark: installs the reference tools, builds in release mode and runs
# every server side by side. Pass options through, e.g. ./bench/run.sh --repos 10000 --duration 10,
# or --baseline-bin path/to/previous/signet-server to run an earlier build beside this one.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends notary postgresql-15 nginx-light wrk openssl >/dev/null
cargo build --release -p signet-server -p signet-bench
exec target/release/signet-bench --server-bin target/release/signet-server "$@"
