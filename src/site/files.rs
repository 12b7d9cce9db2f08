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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::os::unix::fs::FileExt;

use bytes::Bytes;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};

use super::mime;
use crate::exchange::{Coding, DEFAULT_PREFERENCE};
use crate::exchange::{SharedFields, Text};

/// Which precompressed siblings exist beside a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Siblings(u8);

impl Siblings {
    /// Adds `coding` to the set.
    pub fn add(&mut self, coding: Coding) {
        self.0 |= coding.bit();
    }

    /// Whether the sibling for `coding` exists.
    pub fn has(self, coding: Coding) -> bool {
        self.0 & coding.bit() != 0
    }

    /// Whether there is any sibling.
    pub fn any(self) -> bool {
        self.0 != 0
    }
}

/// The document root: its canonical path and an open descriptor.
#[derive(Debug)]
pub struct Root {
    id: usize,
    path: PathBuf,
    fd: OwnedFd,
    /// Dropped with the root, so caches can tell it is gone.
    alive: std::sync::Arc<()>,
    /// Content types by extension (lower case) that replace the built-in
    /// ones.
    types: std::sync::Arc<[(Box<str>, &'static str)]>,
}

static ROOTS_OPENED: AtomicUsize = AtomicUsize::new(1);

impl Root {
    /// Opens `path`, which must be a directory.
    pub fn open(path: &Path) -> io::Result<Root> {
        let path = path.canonicalize()?;
        let fd = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let id = ROOTS_OPENED.fetch_add(1, Ordering::Relaxed);
        Ok(Root {
            id,
            path,
            fd,
            alive: std::sync::Arc::new(()),
            types: std::sync::Arc::new([]),
        })
    }

    /// This root, with content types by extension that replace the
    /// built-in ones (each type is kept for the life of the process).
    pub fn with_types(self, types: &[(String, String)]) -> Root {
        let types = types
            .iter()
            .map(|(ext, mime)| {
                let mime: &'static str = Box::leak(mime.clone().into_boxed_str());
                (ext.to_ascii_lowercase().into_boxed_str(), mime)
            })
            .collect();
        Root { types, ..self }
    }

    /// The Content-Type of the file `rel`.
    fn content_type(&self, rel: &str) -> &'static str {
        if !self.types.is_empty() {
            if let Some((_, ext)) = rel.rsplit_once('.') {
                if let Some((_, mime)) =
                    self.types.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext))
                {
                    return mime;
                }
            }
        }
        mime::content_type(rel)
    }

    /// Its canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `rel` is a regular file now (following links).
    pub fn is_file(&self, rel: &str) -> bool {
        rustix::fs::statat(&self.fd, rel, AtFlags::empty())
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
    }

    /// Which precompressed siblings (`rel.br`, `rel.zst`, `rel.gz`) exist.
    pub fn siblings(&self, rel: &str) -> Siblings {
        let mut found = Siblings::default();
        let mut name = String::with_capacity(rel.len() + 4);
        for coding in DEFAULT_PREFERENCE {
            name.clear();
            name.push_str(rel);
            name.push_str(coding.suffix());
            if self.is_file(&name) {
                found.add(coding);
            }
        }
        found
    }

    /// The identity of `rel` now, following links, for cache validation:
    /// never used to open anything.
    pub fn identity(&self, rel: &str) -> Option<Identity> {
        rustix::fs::statat(&self.fd, rel, AtFlags::empty())
            .ok()
            .map(|stat| Identity::of(&stat))
    }

    /// A token that stops upgrading once the root is dropped.
    pub fn liveness(&self) -> std::sync::Weak<()> {
        std::sync::Arc::downgrade(&self.alive)
    }

    /// A number no other root opened by this process has.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Opens `rel` (a path `resolve` made) without leaving the root.
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
                    .map_err(|_| io::Error::from(rustix::io::Errno::XDEV))?
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
    File(Arc<FileInfo>),
    /// A directory asked for without its trailing slash: redirect.
    AddSlash,
    /// A file or directory the server may not read.
    Forbidden,
    /// A directory without an index file.
    NoIndex,
    /// Nothing servable there, and why.
    NotFound(Missing),
}

/// Why nothing is served for a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No file or directory by that name.
    NoSuchFile,
    /// A symbolic link on the way points outside the root.
    LeavesRoot,
    /// A FIFO, socket or device, not a regular file or directory.
    Special,
    /// A regular file asked for with a trailing slash.
    FileWithSlash,
}

impl Missing {
    /// The reason, as `--explain` says it.
    pub fn reason(self) -> &'static str {
        match self {
            Missing::NoSuchFile => "no such file",
            Missing::LeavesRoot => "a symbolic link leaves the root",
            Missing::Special => "a special file, not a regular file or directory",
            Missing::FileWithSlash => "a file asked for as a directory",
        }
    }
}

/// What identifies one version of a file: any write, truncation, rename
/// over it, chmod or touch changes at least the change time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, u64),
    ctime: (i64, u64),
}

impl Identity {
    fn of(stat: &rustix::fs::Stat) -> Identity {
        Identity {
            dev: stat.st_dev,
            ino: stat.st_ino,
            size: stat.st_size,
            mtime: (stat.st_mtime, stat.st_mtime_nsec),
            ctime: (stat.st_ctime, stat.st_ctime_nsec),
        }
    }
}

/// A file changed less than this long ago may change again within the
/// same timestamp tick, unseen; it is neither cached nor kept in memory.
pub const RACY_WINDOW: Duration = Duration::from_secs(1);

/// An open file and everything its response head needs, computed once.
#[derive(Debug)]
pub struct FileInfo {
    /// Where it was found, relative to the root.
    pub rel: String,
    /// The open file, read with `pread` and `sendfile` only (no shared
    /// position), so one descriptor serves every connection.
    pub file: Arc<File>,
    /// Size in bytes when it was opened.
    pub size: u64,
    /// Modification time.
    pub modified: SystemTime,
    /// Strong validator: inode, size and modification time in nanoseconds.
    pub etag: Arc<str>,
    /// The modification time as an HTTP-date, for Last-Modified.
    pub last_modified: Arc<str>,
    /// The fields every whole or single-range response of the file as it
    /// is carries: Content-Type, Last-Modified, ETag, nosniff and
    /// Accept-Ranges; shared, so a protocol can encode them once.
    pub fields: SharedFields,
    /// Content-Type from the name.
    pub content_type: &'static str,
    /// Whether the type is worth compressing on the fly.
    pub compressible: bool,
    /// The whole content, for a small file that is not changing.
    pub body: Option<Bytes>,
    /// The version of the file this describes.
    pub identity: Identity,
    /// Unchanged for [`RACY_WINDOW`]: safe to cache.
    pub stable: bool,
}

impl FileInfo {
    fn open(
        fd: OwnedFd,
        stat: &rustix::fs::Stat,
        name: &str,
        content_type: &'static str,
    ) -> FileInfo {
        let secs = u64::try_from(stat.st_mtime).unwrap_or(0);
        let nanos = u32::try_from(stat.st_mtime_nsec).unwrap_or(0);
        let modified = UNIX_EPOCH + Duration::new(secs, nanos);
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        let mtime_ns = u128::from(secs) * 1_000_000_000 + u128::from(nanos);
        let etag = format!("\"{:x}-{:x}-{:x}\"", stat.st_ino, size, mtime_ns);
        let last_modified = httpdate::fmt_http_date(modified);
        let changed = UNIX_EPOCH
            + Duration::new(
                u64::try_from(stat.st_ctime).unwrap_or(0),
                u32::try_from(stat.st_ctime_nsec).unwrap_or(0),
            );
        let stable = SystemTime::now()
            .duration_since(changed.max(modified))
            .is_ok_and(|age| age >= RACY_WINDOW);
        let file = File::from(fd);
        let body = if stable && size <= SMALL_FILE {
            read_exactly(&file, size)
        } else {
            None
        };
        let etag: Arc<str> = etag.into();
        let last_modified: Arc<str> = last_modified.into();
        let fields = Arc::new([
            (Text::Static("Content-Type"), Text::Static(content_type)),
            (
                Text::Static("Last-Modified"),
                Text::Shared(last_modified.clone()),
            ),
            (Text::Static("ETag"), Text::Shared(etag.clone())),
            (
                Text::Static("X-Content-Type-Options"),
                Text::Static("nosniff"),
            ),
            (Text::Static("Accept-Ranges"), Text::Static("bytes")),
        ]) as SharedFields;
        FileInfo {
            rel: name.to_string(),
            file: Arc::new(file),
            size,
            modified,
            fields,
            etag,
            last_modified,
            content_type,
            compressible: mime::compressible(content_type),
            body,
            identity: Identity::of(stat),
            stable,
        }
    }
}

/// Files up to this size are kept in memory when cached, and leave with
/// their head in one write; larger ones go out with sendfile.
pub const SMALL_FILE: u64 = 64 * 1024;

/// The whole of a file of `size` bytes, or `None` if it is not that long.
pub fn read_exactly(file: &File, size: u64) -> Option<Bytes> {
    let mut body = vec![0; usize::try_from(size).ok()?];
    let mut got = 0;
    while got < body.len() {
        match file.read_at(&mut body[got..], got as u64) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(Bytes::from(body))
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
        Err(e) if not_found(&e) => return Ok(Lookup::NotFound(missing(&e))),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(Lookup::Forbidden),
        Err(e) => return Err(e),
    };
    let stat = rustix::fs::fstat(&fd)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile if !slash => {
            let content_type = root.content_type(rel);
            Ok(Lookup::File(Arc::new(FileInfo::open(
                fd,
                &stat,
                rel,
                content_type,
            ))))
        }
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
                Err(e) if not_found(&e) => return Ok(Lookup::NoIndex),
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return Ok(Lookup::Forbidden)
                }
                Err(e) => return Err(e),
            };
            let stat = rustix::fs::fstat(&fd)?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Ok(Lookup::NoIndex);
            }
            let content_type = root.content_type(&index_rel);
            Ok(Lookup::File(Arc::new(FileInfo::open(
                fd,
                &stat,
                &index_rel,
                content_type,
            ))))
        }
        FileType::RegularFile => Ok(Lookup::NotFound(Missing::FileWithSlash)),
        _ => Ok(Lookup::NotFound(Missing::Special)),
    }
}

/// Why an error that means "not found" happened.
fn missing(e: &io::Error) -> Missing {
    use rustix::io::Errno;
    let leaves = [Errno::XDEV, Errno::LOOP]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()));
    if leaves {
        Missing::LeavesRoot
    } else {
        Missing::NoSuchFile
    }
}
