#!/usr/bin/env bash
# Runs the whole test suite several times in a row while two busy loops
# hold both cores, as a loaded CI machine would: a test that fails here
# fails on a fresh machine some day.
#
#   bench/loaded.sh          # 5 runs
#   bench/loaded.sh 10       # 10 runs
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"

cargo test --all-features --no-run --quiet || exit 1
busy=()
for _ in 1 2; do
    sh -c 'while :; do :; done' &
    busy+=($!)
done
trap 'kill "${busy[@]}" 2>/dev/null' EXIT

passed=0
failed=0
for i in $(seq 1 "$runs"); do
    log="target/loaded-run-$i.log"
    if cargo test --all-features --quiet >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "run $i: passed"
    else
        failed=$((failed + 1))
        echo "run $i: FAILED (see $log)"
        grep -E "^---- |panicked|FAILED" "$log" | head -20
    fi
done
echo "loaded: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
