//! Opening what a resolved path names, safely.
//!
//! Files are opened relative to a descriptor of the canonical root with
//! `openat2(RESOLVE_BENEATH)`: the kernel refuses any resolution, through
//! `..` or a symbolic link, that leaves the root. A link the kernel refuses
//! only because it is absolute is looked at once more: it is followed when
//! its canonical target is still inside the root. Only regular files and
//! directories are served; FIFOs, sockets and devices are not found.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

use crate::mime;

/// The document root: its canonical path and an open descriptor.
#[derive(Debug)]
pub struct Root {
    path: PathBuf,
    fd: OwnedFd,
}

impl Root {
    /// Opens `path`, which must be a directory.
    pub fn open(path: &Path) -> io::Result<Root> {
        let path = path.canonicalize()?;
        let fd = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { path, fd })
    }

    /// The canonical path of the root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` (a path from [`crate::resolve`]) without leaving the root.
    pub fn open_beneath(&self, rel: &str) -> io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        let beneath = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), beneath) {
            Err(e) if e == rustix::io::Errno::XDEV || e == rustix::io::Errno::NOSYS => {
                // An absolute symbolic link, or a kernel without openat2:
                // follow the links by hand and check where they end.
                let target = self.path.join(rel).canonicalize()?;
                let inside = target
                    .strip_prefix(&self.path)
                    .map_err(|_| io::Error::from(io::ErrorKind::NotFound))?
                    .to_owned();
                let inside = if inside.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    inside
                };
                let strict = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
                match rustix::fs::openat2(&self.fd, &inside, flags, Mode::empty(), strict) {
                    Err(e) if e == rustix::io::Errno::NOSYS => {
                        Ok(rustix::fs::open(&target, flags, Mode::empty())?)
                    }
                    other => Ok(other?),
                }
            }
            other => Ok(other?),
        }
    }
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A regular file to serve.
    File(FileInfo),
    /// A directory asked for without its trailing slash: redirect.
    AddSlash,
    /// A directory without an index file, or a file the server may not read.
    Forbidden,
    /// Nothing servable there.
    NotFound,
}

/// An open file and what its response head needs.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// The open file; shared so that a cache can hand it out.
    pub file: Arc<File>,
    /// Size in bytes when it was opened.
    pub size: u64,
    /// Modification time.
    pub modified: SystemTime,
    /// Strong validator: inode, size and modification time in nanoseconds.
    pub etag: String,
    /// Content-Type from the name.
    pub content_type: &'static str,
}

impl FileInfo {
    fn from_fd(fd: OwnedFd, stat: &rustix::fs::Stat, name: &str) -> FileInfo {
        let secs = u64::try_from(stat.st_mtime).unwrap_or(0);
        let nanos = u32::try_from(stat.st_mtime_nsec).unwrap_or(0);
        let modified = UNIX_EPOCH + Duration::new(secs, nanos);
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        let mtime_ns = u128::from(secs) * 1_000_000_000 + u128::from(nanos);
        FileInfo {
            file: Arc::new(File::from(fd)),
            size,
            modified,
            etag: format!("\"{:x}-{:x}-{:x}\"", stat.st_ino, size, mtime_ns),
            content_type: mime::content_type(name),
        }
    }
}

fn not_found(e: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) || [Errno::XDEV, Errno::LOOP, Errno::NAMETOOLONG, Errno::NXIO]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// Looks `rel` up under `root`; `slash` says the URL ended with `/`, and
/// `index` names the file served for a directory.
pub fn lookup(root: &Root, rel: &str, slash: bool, index: &str) -> io::Result<Lookup> {
    let fd = match root.open_beneath(rel) {
        Ok(fd) => fd,
        Err(e) if not_found(&e) => return Ok(Lookup::NotFound),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(Lookup::Forbidden),
        Err(e) => return Err(e),
    };
    let stat = rustix::fs::fstat(&fd)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile if !slash => Ok(Lookup::File(FileInfo::from_fd(fd, &stat, rel))),
        FileType::Directory if !slash => Ok(Lookup::AddSlash),
        FileType::Directory => {
            drop(fd);
            let index_rel = if rel == "." {
                index.to_string()
            } else {
                format!("{rel}/{index}")
            };
            let fd = match root.open_beneath(&index_rel) {
                Ok(fd) => fd,
                Err(e) if not_found(&e) || e.kind() == io::ErrorKind::PermissionDenied => {
                    return Ok(Lookup::Forbidden)
                }
                Err(e) => return Err(e),
            };
            let stat = rustix::fs::fstat(&fd)?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Ok(Lookup::Forbidden);
            }
            Ok(Lookup::File(FileInfo::from_fd(fd, &stat, &index_rel)))
        }
        _ => Ok(Lookup::NotFound),
    }
}
