#!/usr/bin/env bash
# Bounded soak: wrk plus slow, silent, stalled and malformed clients at once,
# sampling henaserver's RSS and open descriptors. Fails if a good request
# fails or if either keeps growing.
#
#   bench/soak.sh                 # 10 minutes
#   bench/soak.sh --duration 120  # 2 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
ulimit -n "$(ulimit -Hn)"
cargo build --release --bin henaserver
exec python3 bench/soak.py "$@"
