//! Packs the henaserver binary's start-up code together.
//!
//! `link/startup.order` names the functions the server runs from exec to
//! its first answers (`link/order.sh` makes it). Given to the linker, they
//! sit side by side, so start-up touches one run of code rather than
//! pages all over the binary, each of which the kernel maps with its
//! neighbours and which then stay resident while the server idles.
//!
//! Only where the linker is known to be LLD: release builds for
//! x86_64-unknown-linux-gnu with the toolchain's own `rust-lld` and no
//! linker chosen by the user. Elsewhere, and for names the file no longer
//! matches, the binary links as it would without it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target whose default linker is the toolchain's LLD.
const TARGET: &str = "x86_64-unknown-linux-gnu";

fn main() {
    println!("cargo:rerun-if-changed=link/startup.order");
    println!("cargo:rerun-if-env-changed=HENASERVER_NO_ORDER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    if var("TARGET") != TARGET
        || var("PROFILE") != "release"
        || env::var_os("RUSTC_LINKER").is_some()
        || env::var_os("HENASERVER_NO_ORDER").is_some()
        || var("CARGO_ENCODED_RUSTFLAGS").contains("link")
        || !bundled_lld()
    {
        return;
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("link/startup.order");
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    // Relative relocations packed (DT_RELR): the loader reads a few KiB at
    // start-up where it read the 400 KiB of a table kept resident after.
    // The C library must know the format, as glibc does from 2.36: the one
    // this binary is built against, and so runs with here.
    if glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the C library of the machine building is glibc `major.minor`
/// or later.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// Whether the compiler's sysroot carries `rust-lld` as the `ld.lld` its
/// linker driver uses, as rustup's toolchains for this target do.
fn bundled_lld() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    sysroot
        .join("lib/rustlib")
        .join(TARGET)
        .join("bin/gcc-ld/ld.lld")
        .is_file()
}
