#!/usr/bin/env bash
# Runs one command inside a small virtual machine whose kernel offers kernel
# TLS (the `tls` module), and exits with the command's status.
#
#   tests/kernel-vm.sh COMMAND [ARG...]
#
# The machine boots Debian's kernel under QEMU (emulated: no KVM needed),
# sees this machine's whole file system read-only through 9p, with fresh
# tmpfs for HOME and TMPDIR, and runs COMMAND as root in the current
# directory. It is how the kernel TLS path is exercised on hosts whose own
# kernel lacks the module (the plain test suite exercises the fallback
# there).
#
# Needs qemu-system-x86, busybox-static, cpio and apt-get download; installs
# them when missing. Exits with 77 when the machine cannot be set up (no
# QEMU and no way to install it, no kernel package), so that a caller can
# tell that from a command that failed.
#
# KERNEL_VM_DIR (default /tmp/henaserver-kernel-vm) keeps the kernel and
# the initramfs between runs. KERNEL_VM_MEMORY (default 2048, in MiB) and
# KERNEL_VM_CPUS (default 2) size the machine; KERNEL_VM_KVM=1 uses KVM
# where /dev/kvm is writable.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: tests/kernel-vm.sh COMMAND [ARG...]" >&2
    exit 2
fi

dir=${KERNEL_VM_DIR:-/tmp/henaserver-kernel-vm}
memory=${KERNEL_VM_MEMORY:-2048}
cpus=${KERNEL_VM_CPUS:-2}
mkdir -p "$dir"

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
cannot() {
    echo "kernel-vm: cannot set up the machine: $*" >&2
    exit 77
}
if [ ${#need[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || cannot "${need[*]} missing and no apt-get"
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
        cannot "could not install ${need[*]}"
fi

# Debian's kernel, unpacked once.
if [ ! -d "$dir/kernel/boot" ]; then
    image=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
    if [ -z "$image" ]; then
        apt-get update -qq
        image=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
    fi
    [ -n "$image" ] || cannot "no Debian kernel package (linux-image-amd64) here"
    (cd "$dir" && rm -f linux-image-*.deb && apt-get download -qq "$image" 2>/dev/null) ||
        cannot "could not download $image"
    rm -rf "$dir/kernel.new"
    dpkg-deb -x "$dir"/linux-image-*.deb "$dir/kernel.new"
    rm -f "$dir"/linux-image-*.deb
    mv "$dir/kernel.new" "$dir/kernel"
fi
vmlinuz=$(ls "$dir"/kernel/boot/vmlinuz-*)
modules=$(ls -d "$dir"/kernel/lib/modules/*)

# The initramfs: busybox, the modules for 9p over virtio and for TLS, and an
# init that mounts the host, chroots into it and powers off when done.
initrd="$dir/initrd-$(sha256sum "$0" | cut -c1-12).gz"
if [ ! -f "$initrd" ]; then
    root="$dir/root"
    rm -rf "$root"
    mkdir -p "$root"/{bin,sbin,proc,sys,dev,host}
    cp /bin/busybox "$root/bin/"
    ln -s ../bin/busybox "$root/sbin/modprobe"
    # The modules for 9p over virtio, TLS and the ciphers it uses; the
    # kernel loads the ones it asks for through /sbin/modprobe.
    version=$(basename "$modules")
    mkdir -p "$root/lib/modules/$version"
    cp "$modules"/modules.builtin* "$modules"/modules.order "$root/lib/modules/$version/" 2>/dev/null || true
    for sub in kernel/crypto kernel/arch/x86/crypto kernel/lib kernel/net/tls kernel/net/9p \
        kernel/fs/9p kernel/fs/netfs kernel/fs/fscache kernel/drivers/virtio; do
        mkdir -p "$root/lib/modules/$version/$sub"
        cp -r "$modules/$sub/." "$root/lib/modules/$version/$sub/"
    done
    cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox depmod
for m in virtio_pci 9pnet_virtio 9p tls; do
    /bin/busybox modprobe $m
done
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 host /host
cover=
for word in $(/bin/busybox cat /proc/cmdline); do
    case "$word" in
        henaserver_command=*) /bin/busybox cp "/host${word#henaserver_command=}" /command ;;
        henaserver_cover=*) cover=$(echo "${word#henaserver_cover=}" | /bin/busybox tr , ' ') ;;
    esac
done
/bin/busybox mount -t proc proc /host/proc
/bin/busybox mount -t sysfs sys /host/sys
/bin/busybox mount -o bind /dev /host/dev
/bin/busybox mount -t devpts devpts /host/dev/pts 2>/dev/null
/bin/busybox mount -t tmpfs run /host/run
/bin/busybox mkdir -p /host/run/tmp /host/run/home
for d in $cover; do
    /bin/busybox mount -t tmpfs fresh "/host$d"
done
/bin/busybox ip link set lo up
ulimit -n 65536
/bin/busybox chroot /host /bin/sh -c "$(/bin/busybox cat /command)"
echo "kernel-vm-status: $?"
/bin/busybox poweroff -f
EOF
    chmod +x "$root/init"
    (cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$initrd.new")
    mv "$initrd.new" "$initrd"
fi

# The command, quoted, run in the current directory with this environment's
# PATH, and HOME and TMPDIR in a fresh tmpfs. /tmp and /root get a fresh
# tmpfs too, unless the current directory is under one of them.
command=$(printf '%q ' "$@")
script=$(mktemp "$dir/command.XXXXXX")
trap 'rm -f "$script"' EXIT
printf 'cd %q && export PATH=%q HOME=/run/home TMPDIR=/run/tmp && %s' \
    "$PWD" "$PATH" "$command" >"$script"
cover=()
for d in /tmp /root; do
    case "$PWD/" in "$d"/*) ;; *) cover+=("$d") ;; esac
done
cover=$(IFS=,; echo "${cover[*]}")

accel="tcg -cpu max"
if [ "${KERNEL_VM_KVM:-0}" = 1 ] && [ -w /dev/kvm ]; then
    accel="kvm -cpu host"
fi

log="$dir/console.log"
# shellcheck disable=SC2086
qemu-system-x86_64 -accel $accel -m "$memory" -smp "$cpus" -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 henaserver_command=$script henaserver_cover=$cover" \
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
    -nic none </dev/null | tee "$log" | grep -a -v '^kernel-vm-status: ' || true

status=$(grep -a '^kernel-vm-status: ' "$log" | tail -n1 | tr -dc '0-9')
if [ -z "$status" ]; then
    echo "kernel-vm: the machine stopped without a status (see $log)" >&2
    exit 1
fi
exit "$status"
