//! Opening what a resolved path names, safely.
//!
//! Files are opened beneath a handle of the canonical root, so that no
//! resolution, through `..` or a symbolic link, leaves it: with
//! `openat2(RESOLVE_BENEATH)` on Linux, and each platform's own way (the
//! `platform::fs` module says which). A link refused only because it is
//! absolute is looked at once more: it is followed when its canonical
//! target is still inside the root. Only regular files and directories are
//! served; FIFOs, sockets and devices are not found.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::mime;
use crate::exchange::{Coding, DEFAULT_PREFERENCE};
use crate::exchange::{SharedFields, Text};
use crate::platform::fs::{self as platform, Dir, Kind, Meta};

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

/// The document root: its canonical path and an open handle.
#[derive(Debug)]
pub struct Root {
    id: usize,
    dir: Dir,
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
        let dir = Dir::open(path)?;
        let id = ROOTS_OPENED.fetch_add(1, Ordering::Relaxed);
        Ok(Root {
            id,
            dir,
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
        self.dir.path()
    }

    /// Whether `rel` is a regular file now (following links).
    pub fn is_file(&self, rel: &str) -> bool {
        self.dir.stat(rel).is_ok_and(|meta| meta.kind == Kind::File)
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
        self.dir.stat(rel).ok()
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
    pub fn open_beneath(&self, rel: &str) -> io::Result<File> {
        self.dir.open_beneath(rel)
    }

    /// The names in the directory `rel` (a path `resolve` made).
    pub fn names(&self, rel: &str) -> io::Result<Vec<String>> {
        platform::names_beneath(&self.dir, rel)
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

/// What identifies one version of a file (its device, inode, size and
/// times): any write, truncation, rename over it, chmod or touch changes
/// at least the change time.
pub type Identity = Meta;

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
    fn open(file: File, meta: &Meta, name: &str, content_type: &'static str) -> FileInfo {
        let (secs, nanos) = meta.mtime;
        let modified = meta.modified();
        let size = meta.size;
        let mtime_ns = u128::from(secs) * 1_000_000_000 + u128::from(nanos);
        let etag = format!("\"{:x}-{:x}-{:x}\"", meta.ino, size, mtime_ns);
        let last_modified = httpdate::fmt_http_date(modified);
        let changed = meta.changed();
        let stable = SystemTime::now()
            .duration_since(changed.max(modified))
            .is_ok_and(|age| age >= RACY_WINDOW);
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
            identity: *meta,
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
        match platform::read_at(file, &mut body[got..], got as u64) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(Bytes::from(body))
}

/// Looks `rel` up under `root`; `slash` says the URL ended with `/`, and
/// `index` names the file served for a directory.
pub fn lookup(root: &Root, rel: &str, slash: bool, index: &str) -> io::Result<Lookup> {
    let fd = match root.open_beneath(rel) {
        Ok(fd) => fd,
        Err(e) if platform::not_found(&e) => return Ok(Lookup::NotFound(missing(&e))),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(Lookup::Forbidden),
        Err(e) => return Err(e),
    };
    let meta = platform::meta(&fd)?;
    match meta.kind {
        Kind::File if !slash => {
            let content_type = root.content_type(rel);
            Ok(Lookup::File(Arc::new(FileInfo::open(
                fd,
                &meta,
                rel,
                content_type,
            ))))
        }
        Kind::Directory if !slash => Ok(Lookup::AddSlash),
        Kind::Directory => {
            drop(fd);
            let index_rel = if rel == "." {
                index.to_string()
            } else {
                format!("{rel}/{index}")
            };
            let fd = match root.open_beneath(&index_rel) {
                Ok(fd) => fd,
                Err(e) if platform::not_found(&e) => return Ok(Lookup::NoIndex),
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return Ok(Lookup::Forbidden)
                }
                Err(e) => return Err(e),
            };
            let meta = platform::meta(&fd)?;
            if meta.kind != Kind::File {
                return Ok(Lookup::NoIndex);
            }
            let content_type = root.content_type(&index_rel);
            Ok(Lookup::File(Arc::new(FileInfo::open(
                fd,
                &meta,
                &index_rel,
                content_type,
            ))))
        }
        Kind::File => Ok(Lookup::NotFound(Missing::FileWithSlash)),
        _ => Ok(Lookup::NotFound(Missing::Special)),
    }
}

/// Why an error that means "not found" happened.
fn missing(e: &io::Error) -> Missing {
    if platform::leaves_root(e) {
        Missing::LeavesRoot
    } else {
        Missing::NoSuchFile
    }
}
