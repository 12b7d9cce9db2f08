#!/usr/bin/env bash
# Builds the release binaries people download, one archive per platform,
# and their checksums, into dist/out/:
#
#   henaserver-VERSION-x86_64-unknown-linux-gnu.tar.gz    Linux, glibc 2.28 or later
#   henaserver-VERSION-x86_64-unknown-linux-musl.tar.gz   Linux, static (any distribution)
#   henaserver-VERSION-aarch64-unknown-linux-musl.tar.gz  Linux on ARM, static
#   henaserver-VERSION-aarch64-apple-darwin.tar.gz        macOS, Apple silicon
#   henaserver-VERSION-x86_64-apple-darwin.tar.gz         macOS, Intel
#   henaserver-VERSION-x86_64-unknown-freebsd.tar.gz      FreeBSD 13 or later
#   henaserver-VERSION-x86_64-pc-windows-gnu.zip          Windows 10 or later
#   SHA256SUMS
#
# Every binary is cross-built from Linux with Zig as the C compiler and
# linker (PyPI's ziglang, driven by cargo-zigbuild), installed if missing.
# The macOS binaries link Apple's frameworks (CoreServices for the file
# watcher's FSEvents, Security for the system's trust store when ACME
# speaks to its CA), which only Apple's SDK carries: set SDKROOT to a
# MacOSX.sdk, or run this on a Mac; without either they are skipped, and
# the script says so and exits 3 after building the rest.
# Usage: dist/build.sh [TARGET...]   (default: all of the above)
set -euo pipefail
cd "$(dirname "$0")/.."

all=(
    x86_64-unknown-linux-gnu
    x86_64-unknown-linux-musl
    aarch64-unknown-linux-musl
    aarch64-apple-darwin
    x86_64-apple-darwin
    x86_64-unknown-freebsd
    x86_64-pc-windows-gnu
)
targets=("${@:-${all[@]}}")
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out=dist/out

python3 -c 'import ziglang' 2>/dev/null || python3 -m pip install --quiet ziglang
command -v cargo-zigbuild >/dev/null 2>&1 || cargo install --quiet --locked cargo-zigbuild
rustup target add "${targets[@]}" >/dev/null

rm -rf "$out"
mkdir -p "$out"
skipped=()
for target in "${targets[@]}"; do
    if [[ $target == *apple* && -z ${SDKROOT:-} && $(uname) != Darwin ]]; then
        echo "dist: skipped $target: linking for macOS needs Apple's SDK (set SDKROOT)" >&2
        skipped+=("$target")
        continue
    fi
    # glibc: linked against 2.28 (2018), so that older distributions run it.
    zig_target=$target
    [ "$target" = x86_64-unknown-linux-gnu ] && zig_target=$target.2.28
    echo "dist: $target"
    # Without the line tables the release profile keeps for profiling.
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols \
        cargo zigbuild --release --locked --bin henaserver --target "$zig_target" --target-dir target/dist
    exe=henaserver
    case $target in *windows*) exe=henaserver.exe ;; esac
    name=henaserver-$version-$target
    stage=$(mktemp -d)
    mkdir "$stage/$name"
    cp "target/dist/$target/release/$exe" README.md CHANGELOG.md "$stage/$name/"
    case $target in
        *windows*) (cd "$stage" && python3 -m zipfile -c "$OLDPWD/$out/$name.zip" "$name") ;;
        *) tar -C "$stage" -czf "$out/$name.tar.gz" "$name" ;;
    esac
    rm -rf "$stage"
done
shopt -s nullglob
(cd "$out" && sha256sum -- *.tar.gz *.zip >SHA256SUMS)
echo "dist: written to $out/"
cat "$out/SHA256SUMS"
if [ ${#skipped[@]} -gt 0 ]; then
    echo "dist: not built: ${skipped[*]}" >&2
    exit 3
fi
