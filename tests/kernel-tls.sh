#!/usr/bin/env bash
# Runs the HTTPS tests on a kernel with kernel TLS, inside the machine of
# tests/kernel-vm.sh, with KERNEL_TLS_EXPECTED set so that kernel TLS is
# required rather than merely allowed.
#
#   tests/kernel-tls.sh [TEST-TARGET...]     (default: tls http2 upgrade)
#
# On a host whose own kernel offers kernel TLS, `cargo test` already runs
# this path; this script is for the hosts (containers, CI machines) whose
# kernel does not.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tls http2 upgrade)

args=()
for t in "${targets[@]}"; do
    args+=(--test "$t")
done
binaries=$(cargo test --no-run "${args[@]}" 2>&1 |
    sed -n 's/.*Executable tests\/.*(\(.*\))$/\1/p')
if [ -z "$binaries" ]; then
    echo "kernel-tls: no test binaries were built" >&2
    exit 1
fi

script="set -e"
for b in $binaries; do
    script="$script; echo \"== $b\"; $b -q"
done
exec bash tests/kernel-vm.sh env KERNEL_TLS_EXPECTED=1 sh -c "$script"
