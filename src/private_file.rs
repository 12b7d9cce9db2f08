//! Files only their owner may read (keys, certificates, accounts), in
//! directories only their owner may enter, written whole.

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Creates `dir` and its parents, mode 0700, if missing.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file and a
/// rename, so that no reader, in this process or another, sees half of
/// it.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let part = path.with_extension(format!("part{}", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&part)?;
    out.write_all(bytes)?;
    out.sync_all()?;
    std::fs::rename(&part, path)
}
