#!/usr/bin/env bash
# Writes link/startup.order, the functions henaserver runs from exec to
# its first answers (HTTP/1.1 and HTTP/2, plain and over TLS), by their
# linker names. build.rs hands the file to the linker, which places those
# functions side by side: start-up then touches one run of code rather
# than pages spread over the whole binary, each of which the kernel maps
# with its neighbours (fault-around) and which then stay resident while
# the server idles.
#
#   link/order.sh            # after code changes that move start-up
#   link/order.sh --check    # how many of its names the release binary has
#
# Needs valgrind, curl and openssl (--check: nm). Names that a new
# toolchain or dependency changes (their hashes) are skipped by the linker
# until the file is made again; --check fails when a tenth or more are.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --check ]; then
    cargo build --release --bin henaserver
    total=$(sort -u link/startup.order | wc -l)
    found=$(comm -12 <(nm target/release/henaserver | awk '{print $NF}' | sort -u) \
        <(sort -u link/startup.order) | wc -l)
    echo "order: the binary has $found of the $total names in link/startup.order"
    if [ $((found * 10)) -lt $((total * 9)) ]; then
        echo "order: link/startup.order is stale: run link/order.sh" >&2
        exit 1
    fi
    exit 0
fi
for tool in valgrind curl openssl; do
    command -v "$tool" >/dev/null || { echo "order: $tool is not installed" >&2; exit 2; }
done
cargo build --release --bin henaserver
BIN=$PWD/target/release/henaserver
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/root"
head -c 1024 /dev/zero >"$WORK/root/1k.bin"
# Older than the racy window, as a site's files are: it is cached, and the
# cache's code is run as an idle server has run it.
touch -d '1 hour ago' "$WORK/root/1k.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
run() {
    local name=$1 scheme=$2 version=$3; shift 3
    local port=$((18600 + RANDOM % 1000))
    valgrind --tool=callgrind --demangle=no --dump-line=no \
        --callgrind-out-file="$WORK/$name.out" \
        "$BIN" "$WORK/root" --port "$port" --quiet --threads 1 "$@" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 150); do
        sleep 0.2
        curl -sk -o /dev/null "$scheme://127.0.0.1:$port/1k.bin" && break
    done
    curl -sk "$version" -o /dev/null "$scheme://127.0.0.1:$port/1k.bin"
    curl -sk "$version" -o /dev/null "$scheme://127.0.0.1:$port/missing"
    kill -TERM "$pid"
    wait "$pid" || true
}
# HTTP/1.1 first, so that what an idle server has run sits at the front;
# HTTP/2's own code follows it.
run plain http --http1.1
run tls https --http1.1 --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
run h2c http --http2-prior-knowledge
run h2 https --http2 --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
python3 - "$BIN" "$WORK"/{plain,tls,h2c,h2}.out >link/startup.order <<'PY'
import re, sys
binary, outs = sys.argv[1], sys.argv[2:]
# The C run-time's entry point first: left where the linker puts it, just
# past the packed code, the pages mapped around it would be others.
seen, order = {"_start"}, ["_start"]
for out in outs:
    objects, names, current = {}, {}, None
    for line in open(out):
        m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(3):
                objects[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                current = objects.get(m.group(2))
            continue
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(3):
                names[m.group(2)] = m.group(3)
            # A recursive call is named with a depth suffix: name'2.
            name = re.sub(r"'\d+$", "", names.get(m.group(2)) or "")
            if m.group(1) == "fn" and current == binary and name and name not in seen \
                    and not name.startswith("0x"):
                seen.add(name)
                order.append(name)
print("\n".join(order))
PY
echo "order: $(wc -l <link/startup.order) functions in link/startup.order" >&2
