//! Files only their owner may read (keys, certificates, accounts), in
//! directories only their owner may enter, written whole.

use std::io::{self, Write};
use std::path::Path;

/// Creates `dir` and its parents, mode 0700, if missing.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    crate::platform::fs::ensure_private_dir(dir)
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file and a
/// rename, so that no reader, in this process or another, sees half of
/// it.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let part = path.with_extension(format!("part{}", std::process::id()));
    let mut out = crate::platform::fs::owner_only()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&part)?;
    out.write_all(bytes)?;
    out.sync_all()?;
    std::fs::rename(&part, path)
}
