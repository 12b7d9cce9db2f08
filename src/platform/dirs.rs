//! Where a user's caches and data go, by each platform's convention;
//! `XDG_CACHE_HOME` and `XDG_DATA_HOME`, when set, win everywhere.
//!
//! | | cache | data |
//! |---|---|---|
//! | Linux, FreeBSD | `~/.cache` | `~/.local/share` |
//! | macOS | `~/Library/Caches` | `~/Library/Application Support` |
//! | Windows | `%LOCALAPPDATA%` | `%LOCALAPPDATA%` |
//!
//! Where none of these can be found, the temporary directory.

use std::path::PathBuf;

/// The directory for caches (the self-signed certificate).
pub fn cache_home() -> PathBuf {
    home("XDG_CACHE_HOME", CACHE)
}

/// The directory for data kept across runs (ACME accounts and
/// certificates).
pub fn data_home() -> PathBuf {
    home("XDG_DATA_HOME", DATA)
}

#[cfg(all(unix, not(target_vendor = "apple")))]
const CACHE: &str = ".cache";
#[cfg(all(unix, not(target_vendor = "apple")))]
const DATA: &str = ".local/share";
#[cfg(target_vendor = "apple")]
const CACHE: &str = "Library/Caches";
#[cfg(target_vendor = "apple")]
const DATA: &str = "Library/Application Support";
#[cfg(windows)]
const CACHE: &str = "";
#[cfg(windows)]
const DATA: &str = "";

fn home(xdg: &str, _under_home: &str) -> PathBuf {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    #[cfg(unix)]
    let base = set("HOME").map(|h| PathBuf::from(h).join(_under_home));
    #[cfg(windows)]
    let base = set("LOCALAPPDATA").map(PathBuf::from);
    set(xdg)
        .map(PathBuf::from)
        .or(base)
        .unwrap_or_else(std::env::temp_dir)
}
