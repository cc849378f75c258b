#!/usr/bin/env bash
# The signed-only registry gate's overhead, beside run.sh: warm manifest GETs and a 50 MB blob
# pull, direct to distribution 2.8 vs through the gate, in one run. Pass options through, e.g.
# ./bench/gate.sh --duration 10 --rounds 5 --blob-mib 50.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends docker-registry wrk curl >/dev/null
cargo build --release -p signet-server -p signet-bench
exec target/release/gate-bench --server-bin target/release/signet-server "$@"
