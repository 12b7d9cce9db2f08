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

use std::ffi::OsString;
use std::path::PathBuf;

/// The directory for caches (the self-signed certificate).
pub fn cache_home() -> PathBuf {
    home("XDG_CACHE_HOME", sys::CACHE)
}

/// The directory for data kept across runs (ACME accounts and
/// certificates).
pub fn data_home() -> PathBuf {
    home("XDG_DATA_HOME", sys::DATA)
}

/// The variable `xdg`, else the platform's `base` and `under` it.
fn home(xdg: &str, under: &str) -> PathBuf {
    set(xdg)
        .map(PathBuf::from)
        .or_else(|| set(sys::BASE).map(|base| PathBuf::from(base).join(under)))
        .unwrap_or_else(std::env::temp_dir)
}

fn set(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

#[cfg(all(unix, not(target_vendor = "apple")))]
mod sys {
    pub(super) const BASE: &str = "HOME";
    pub(super) const CACHE: &str = ".cache";
    pub(super) const DATA: &str = ".local/share";
}

#[cfg(target_vendor = "apple")]
mod sys {
    pub(super) const BASE: &str = "HOME";
    pub(super) const CACHE: &str = "Library/Caches";
    pub(super) const DATA: &str = "Library/Application Support";
}

#[cfg(windows)]
mod sys {
    pub(super) const BASE: &str = "LOCALAPPDATA";
    pub(super) const CACHE: &str = "";
    pub(super) const DATA: &str = "";
}
