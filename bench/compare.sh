#!/usr/bin/env bash
# Benchmark henaserver against nginx side by side on loopback.
# Installs wrk and nginx if missing, builds henaserver in release, then runs
# bench/compare.py, which prints a table of medians and ratios.
#
#   bench/compare.sh                      # 5 rounds of 5 s per scenario
#   bench/compare.sh --rounds 3 --duration 3 --scenarios ka_1k,404
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v caddy >/dev/null 2>&1 || need+=(caddy)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"
if [ "$(nproc)" -lt 2 ]; then
    echo "bench: needs at least 2 cores (server and client pinned apart)" >&2
    exit 1
fi
ulimit -n "$(ulimit -Hn)"

# The examples build with the dev-dependencies' features (tokio's test-util
# among them): built in the same command, the server would be too. It is
# built on its own, as users build it.
cargo build --release --example sink --example h3load
cargo build --release --bin henaserver
exec python3 bench/compare.py "$@"
