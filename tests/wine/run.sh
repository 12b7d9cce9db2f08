#!/bin/sh
# The Windows binary, run under Wine: it starts, serves the demo site, a
# 5 MiB file intact, 404, a range, a conditional request, a listing,
# HTTP/2 by prior knowledge, HTTPS with the development certificate,
# --echo, --reply, `henaserver raw`, --dump, development mode and the
# access log; refuses Unix-only options with one
# line and status 2; and stops gracefully on Ctrl-C.
#
# Usage: tests/wine/run.sh [henaserver.exe]   (default: builds it with
# cargo-zigbuild for x86_64-pc-windows-gnu)
#
# What Wine cannot do that Windows can, and how this test stands in:
# - Wine 8.0 (Debian 12's) has no bcryptprimitives.dll, whose ProcessPrng
#   the Rust standard library takes random numbers from on every Windows
#   since 10: tests/wine/bcryptprimitives.c stands in, built with Zig and
#   put beside the binary.
# - Ctrl-C is the console's CTRL_C_EVENT, which Wine raises when the
#   process gets SIGINT: the test sends SIGINT.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# No request may hang the test.
curl() { command curl --max-time 60 "$@"; }
project=$(cd "$here/../.." && pwd)
target=x86_64-pc-windows-gnu

for tool in wine curl python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "wine test: $tool is not installed (.ci/run installs it)" >&2
        exit 1
    fi
done

exe=${1:-}
if [ -z "$exe" ]; then
    (cd "$project" && cargo zigbuild --target $target --bin henaserver --target-dir target/cross)
    exe="$project/target/cross/$target/debug/henaserver.exe"
fi

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill "$server" 2>/dev/null || true
    fi
    wineserver -k 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export WINEPREFIX="$work/prefix" WINEDEBUG=-all
mkdir -p "$work/bin" "$work/cache"
cp "$exe" "$work/bin/henaserver.exe"
python3 -m ziglang cc -shared -target x86_64-windows-gnu -O2 \
    -o "$work/bin/bcryptprimitives.dll" "$here/bcryptprimitives.c" -ladvapi32
# The development certificate is kept under LOCALAPPDATA.
winpath() { printf 'Z:%s' "$1" | tr / '\\'; }
export LOCALAPPDATA="$(winpath "$work/cache")"
export WINEDLLOVERRIDES="mscoree,mshtml="

cp -r "$project/static" "$work/site"
mkdir -p "$work/site/files"
head -c 5242880 /dev/urandom >"$work/site/files/big.bin"

fail() {
    echo "wine test: $*" >&2
    echo "--- server output" >&2
    cat "$work/out" "$work/err" >&2 || true
    # Wine says nothing under WINEDEBUG=-all when its prefix cannot be
    # written: the space left is part of the report.
    echo "--- space left" >&2
    df -h "$work" >&2 || true
    exit 1
}

# Starts the Windows binary with "$@" and waits for its start line.
# A start that ends before its start line without a byte of output is
# tried once more, with Wine's error messages on: the first start in a
# new prefix has ended so on a fresh CI machine, where Wine said nothing
# under WINEDEBUG=-all. A start that says why it ended, or that ends
# twice, fails the test.
start() {
    if try_start "$@"; then
        return
    fi
    [ ! -s "$work/out" ] && [ ! -s "$work/err" ] || fail "the server exited at start (status $status)"
    echo "wine test: the server exited at start (status $status) with no output; trying once more with WINEDEBUG=err+all" >&2
    winedebug=err+all
    try_start "$@" || fail "the server exited at start twice (status $status)"
    winedebug=-all
}

winedebug=-all
# One start: 0 once the start line is out, 1 if the server ended first
# (its exit status in $status).
try_start() {
    : >"$work/out"
    : >"$work/err"
    WINEDEBUG=$winedebug wine "$work/bin/henaserver.exe" "$@" >"$work/out" 2>"$work/err" &
    server=$!
    i=0
    while ! grep -q "http[s]*://127.0.0.1:[0-9]*" "$work/out" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 600 ] || fail "no start line after 60 s"
        if ! kill -0 "$server" 2>/dev/null; then
            status=0
            wait "$server" || status=$?
            server=""
            return 1
        fi
        sleep 0.1
    done
    addr=$(grep -o "127.0.0.1:[0-9]*" "$work/out" | head -1)
}

# Ctrl-C, then the exit status must be 0, within 60 s.
stop() {
    kill -INT "$server"
    (sleep 60 && kill -KILL "$server") >/dev/null 2>&1 &
    watchdog=$!
    status=0
    wait "$server" || status=$?
    kill "$watchdog" 2>/dev/null || true
    server=""
    [ "$status" -eq 0 ] || fail "exit status $status after Ctrl-C"
    grep -q "stopping" "$work/err" || fail "no graceful stop in the log"
}

expect() { # what got expected
    [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

# The first wine start makes the prefix: not timed against the server.
# Then wait until Wine's own processes for the new prefix have ended, so
# that the server's first start does not race them.
wine "$work/bin/henaserver.exe" --version >/dev/null 2>&1 || true
wineserver -w 2>/dev/null || true

echo "wine test: files over HTTP/1.1 and HTTP/2, one worker on the main thread"
start --bind 127.0.0.1 --port 0 --threads 1 --listing "$(winpath "$work/site")"
expect "GET /" "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/")" 200
curl -s "http://$addr/" | cmp -s - "$work/site/index.html" || fail "the demo's index differs"
got=$(curl -s "http://$addr/files/big.bin" | sha256sum | cut -d' ' -f1)
expect "5 MiB" "$got" "$(sha256sum <"$work/site/files/big.bin" | cut -d' ' -f1)"
expect "404" "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/no-such-file")" 404
expect "range status" "$(curl -s -o /dev/null -w '%{http_code}' -r 1000-1999 "http://$addr/files/big.bin")" 206
got=$(curl -s -r 1000-1999 "http://$addr/files/big.bin" | sha256sum | cut -d' ' -f1)
expect "range bytes" "$got" "$(tail -c +1001 "$work/site/files/big.bin" | head -c 1000 | sha256sum | cut -d' ' -f1)"
etag=$(curl -sI "http://$addr/index.html" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
[ -n "$etag" ] || fail "no ETag"
expect "If-None-Match" "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://$addr/index.html")" 304
curl -s "http://$addr/files/" | grep -q 'big.bin' || fail "the listing does not name big.bin"
expect "h2c" "$(curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2-prior-knowledge "http://$addr/index.html")" "2 200"
# Names Windows reads as something else are not found; escapes are refused.
expect "stream name" "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/index.html::\$DATA")" 404
expect "trailing dot" "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/index.html.")" 404
expect "device" "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/CON")" 404
expect "climbing" "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "http://$addr/../../etc/passwd")" 400
grep -q '"GET /files/big.bin HTTP/1.1" 200 5242880' "$work/out" || fail "the access log lacks the 5 MiB request"
stop

echo "wine test: HTTPS with the development certificate, --dump"
start --bind 127.0.0.1 --port 0 --tls-self-signed --dump "$(winpath "$work/dump")" "$(winpath "$work/site")"
expect "HTTPS" "$(curl -sk -o /dev/null -w '%{http_code}' "https://$addr/index.html")" 200
expect "h2" "$(curl -sk -o /dev/null -w '%{http_version}' "https://$addr/index.html")" 2
got=$(curl -sk "https://$addr/files/big.bin" | sha256sum | cut -d' ' -f1)
expect "5 MiB over TLS" "$got" "$(sha256sum <"$work/site/files/big.bin" | cut -d' ' -f1)"
stop
ls "$work/dump" | grep -q . || fail "--dump wrote nothing"

echo "wine test: development mode"
start --bind 127.0.0.1 --port 0 --live --inspect "$(winpath "$work/site")"
curl -s "http://$addr/" | grep -q '/.henaserver/live' || fail "--live did not add its script to the page"
command curl -sN --max-time 30 "http://$addr/.henaserver/live" >"$work/events" &
events=$!
sleep 2
echo "<p>edited</p>" >>"$work/site/index.html"
i=0
while ! grep -q "event: reload" "$work/events"; do
    i=$((i + 1))
    [ $i -lt 250 ] || fail "no reload event after editing the page (got: $(cat "$work/events"))"
    sleep 0.1
done
kill "$events" 2>/dev/null || true
expect "inspector" "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/.henaserver/inspect")" 200
stop

echo "wine test: --echo"
start --bind 127.0.0.1 --port 0 --echo
curl -s -H "X-Probe: wine" "http://$addr/anything" | grep -q "X-Probe: wine" || fail "--echo did not echo the request"
printf 'GET /raw HTTP/1.1\nHost: x\nConnection: close\n\n' >"$work/request.txt"
wine "$work/bin/henaserver.exe" raw "$addr" "$(winpath "$work/request.txt")" >"$work/raw.txt" 2>&1 ||
    fail "henaserver raw failed: $(cat "$work/raw.txt")"
grep -q "GET /raw HTTP/1.1" "$work/raw.txt" || fail "henaserver raw did not print the echoed request"
stop

echo "wine test: --reply"
printf 'HTTP/1.1 418 I'"'"'m a teapot\r\nContent-Length: 5\r\n\r\nshort' >"$work/reply.txt"
start --bind 127.0.0.1 --port 0 --reply "$(winpath "$work/reply.txt")"
expect "--reply" "$(curl -s -w ' %{http_code}' "http://$addr/")" "short 418"
stop

echo "wine test: Unix-only options are refused"
status=0
wine "$work/bin/henaserver.exe" --bind unix:/tmp/x.sock >"$work/out" 2>"$work/err" || status=$?
expect "--bind unix: status" "$status" 2
grep -q "Unix-only" "$work/err" || fail "--bind unix: does not say it is Unix-only"
status=0
wine "$work/bin/henaserver.exe" --user nobody >"$work/out" 2>"$work/err" || status=$?
expect "--user status" "$status" 2
grep -q "Unix-only" "$work/err" || fail "--user does not say it is Unix-only"

echo "wine test: passed"
