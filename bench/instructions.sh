#!/usr/bin/env bash
# User-space instructions per request, counted by cachegrind: steadier on
# a shared machine than any timing. Runs BINARY twice under valgrind on
# bench/out/root (bench/compare.py makes it), loads it with h2load, and
# divides the difference between a run of N+2000 requests and one of 2000
# (start-up, warm-up and shutdown cancel out) by N.
#
#   bench/instructions.sh BINARY PATH N [h2load options]
#   bench/instructions.sh target/release/henaserver /1k.bin 20000 --h1 -c 10
#   HENA_ARGS="--rate-limit 1000000/s" bench/instructions.sh target/release/henaserver /1k.bin 20000 --h1 -c 10
set -euo pipefail
BIN=$1; P=$2; N=$3; shift 3
ROOT="$(dirname "$0")/out/root"
[ -d "$ROOT" ] || { echo "instructions: $ROOT is missing: run bench/compare.py once" >&2; exit 2; }
for tool in valgrind h2load curl; do
    command -v "$tool" >/dev/null || { echo "instructions: $tool is not installed" >&2; exit 2; }
done
run() {
    local n=$1; shift
    local port=$((18500 + RANDOM % 1000))
    local out err
    out=$(mktemp); err=$(mktemp)
    # shellcheck disable=SC2086
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$out" \
        "$BIN" "$ROOT" --port "$port" --quiet --threads 1 ${HENA_ARGS:-} >/dev/null 2>"$err" &
    local pid=$!
    for _ in $(seq 100); do
        sleep 0.2
        curl -s -o /dev/null "http://127.0.0.1:$port/1k.bin" && break
    done
    if [ "$n" -gt 0 ]; then h2load -n "$n" "$@" "http://127.0.0.1:$port$P" >/dev/null 2>&1; fi
    kill -TERM "$pid"; wait "$pid" || true
    grep -oP 'I\s+refs:\s+\K[\d,]+' "$err" | tr -d ,
    rm -f "$out" "$err"
}
A=$(run 2000 "$@")
B=$(run $((N + 2000)) "$@")
echo "$(basename "$BIN") $P $* ${HENA_ARGS:-}: $(((B - A) / N)) instructions/request"
