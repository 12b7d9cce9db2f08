//! Files: the document root's handle, opening beneath it, what a file's
//! metadata says, positional reads and owner-only modes.
//!
//! | | opening beneath the root | a file's identity |
//! |---|---|---|
//! | Linux | `openat2(RESOLVE_BENEATH \| RESOLVE_NO_MAGICLINKS)` | device, inode, size, mtime, ctime |
//! | FreeBSD | `openat(O_RESOLVE_BENEATH)` | the same |
//! | macOS | `openat(O_NOFOLLOW_ANY)`: no link anywhere on the way | the same |
//! | Windows | canonical path checked against the root, then opened | size, mtime |
//!
//! Everywhere, a path the strict open refuses because of a symbolic link
//! is looked at once more: its canonical target is opened, strictly again,
//! when it lies inside the root. On Windows that check and the open are
//! two steps (no call opens a path beneath a handle there), and a name
//! Windows would read as something else (`a.txt::$DATA`, a trailing dot
//! or space, a device such as `CON`) is not found.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A FIFO, socket, device or anything else.
    Other,
}

/// What the server reads of a file's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Meta {
    /// What it is.
    pub kind: Kind,
    /// The device it is on (0 where the platform does not say).
    pub dev: u64,
    /// Its inode number (0 where the platform does not say).
    pub ino: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Last modification: seconds and nanoseconds since the epoch.
    pub mtime: (u64, u32),
    /// Last change of content or metadata (the modification time where
    /// the platform has no change time).
    pub ctime: (u64, u32),
}

impl Meta {
    /// The modification time.
    pub fn modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::new(self.mtime.0, self.mtime.1)
    }

    /// The change time.
    pub fn changed(&self) -> SystemTime {
        UNIX_EPOCH + Duration::new(self.ctime.0, self.ctime.1)
    }
}

/// An open directory that files are opened beneath.
#[derive(Debug)]
pub struct Dir {
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
    /// Its canonical path.
    path: PathBuf,
}

/// The canonical form of `path`, as users write it: on Windows without the
/// `\\?\` prefix wherever the path means the same without it.
pub fn canonicalize(path: &Path) -> io::Result<PathBuf> {
    #[cfg(windows)]
    return dunce::canonicalize(path);
    #[cfg(unix)]
    path.canonicalize()
}

/// `rel`'s segments (joined by `/`) under `base`: pushed one by one, for a
/// canonical Windows path (`\\?\C:\...`) takes no `/` as a separator.
fn join(base: &Path, rel: &str) -> PathBuf {
    let mut path = base.to_path_buf();
    path.extend(rel.split('/').filter(|s| !s.is_empty() && *s != "."));
    path
}

/// Whether an error opening a path means that nothing servable is there.
pub fn not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
    ) || leaves_root(e)
        || sys::not_found(e)
}

/// Whether an error opening a path means that a link on the way leads out
/// of the root.
pub fn leaves_root(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LeavesRoot>()) || sys::leaves_root(e)
}

/// The error of a path whose canonical form lies outside the root.
#[derive(Debug)]
struct LeavesRoot;

impl std::fmt::Display for LeavesRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a symbolic link leaves the root")
    }
}

impl std::error::Error for LeavesRoot {}

fn leaving() -> io::Error {
    io::Error::other(LeavesRoot)
}

impl Dir {
    /// Opens the directory at `path`, made canonical.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let path = path.canonicalize()?;
        sys::open_dir(path)
    }

    /// Its canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The metadata of `rel` (following links); for checks, never to open
    /// anything by.
    pub fn stat(&self, rel: &str) -> io::Result<Meta> {
        sys::stat_at(self, rel)
    }

    /// Opens `rel` (plain segments joined by `/`, `.` for the directory
    /// itself) for reading without leaving the directory.
    pub fn open_beneath(&self, rel: &str) -> io::Result<File> {
        match sys::open_strict(self, Path::new(rel)) {
            Err(e) if sys::refused_link(&e) => {
                // A link the strict open will not follow: follow it by
                // hand and open where it ends, if that is inside.
                let target = join(&self.path, rel).canonicalize()?;
                let inside = target.strip_prefix(&self.path).map_err(|_| leaving())?;
                let inside = if inside.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    inside
                };
                sys::open_strict(self, inside)
            }
            other => other,
        }
    }
}

/// The metadata of an open file.
pub fn meta(file: &File) -> io::Result<Meta> {
    sys::meta(file)
}

/// Reads into `buf` from `offset`, not moving any shared position that
/// another reader of `file` depends on.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    sys::read_at(file, buf, offset)
}

/// Reads up to the spare capacity of `buf` from `offset`, appending.
pub fn read_into(file: &File, buf: &mut Vec<u8>, offset: u64) -> io::Result<usize> {
    sys::read_into(file, buf, offset)
}

/// Options that create a file only its owner may read and write (mode
/// 0600 on Unix; Windows files inherit their directory's access list).
pub fn owner_only() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates `dir` and its parents, only its owner may enter (mode 0700 on
/// Unix), if missing.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    #[allow(unused_mut)]
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `bytes` to a new file `dir/name` unnamed and then links it, so
/// that no reader of the directory sees half of it; `Err` where the
/// platform or file system cannot (the caller writes and renames).
pub fn write_unnamed(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    sys::write_unnamed(dir, name, bytes)
}

/// The inode of the file at `path` (0 where the platform has none), to
/// tell a replaced file from the one it replaced.
pub fn inode(meta: &std::fs::Metadata) -> u64 {
    sys::inode(meta)
}

#[cfg(unix)]
mod sys {
    use super::*;
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;

    pub(super) fn open_dir(path: PathBuf) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd, path })
    }

    fn of(stat: &rustix::fs::Stat) -> Meta {
        let kind = match FileType::from_raw_mode(stat.st_mode as _) {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Directory,
            _ => Kind::Other,
        };
        let time = |secs: i64, nanos: i64| {
            (
                u64::try_from(secs).unwrap_or(0),
                u32::try_from(nanos).unwrap_or(0),
            )
        };
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        Meta {
            kind,
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
            size: u64::try_from(stat.st_size).unwrap_or(0),
            mtime: time(stat.st_mtime as i64, stat.st_mtime_nsec as i64),
            ctime: time(stat.st_ctime as i64, stat.st_ctime_nsec as i64),
        }
    }

    pub(super) fn stat_at(dir: &Dir, rel: &str) -> io::Result<Meta> {
        Ok(of(&rustix::fs::statat(&dir.fd, rel, AtFlags::empty())?))
    }

    pub(super) fn meta(file: &File) -> io::Result<Meta> {
        Ok(of(&rustix::fs::fstat(file)?))
    }

    const FLAGS: OFlags = OFlags::RDONLY
        .union(OFlags::CLOEXEC)
        .union(OFlags::NONBLOCK)
        .union(OFlags::NOCTTY);

    /// The canonical path of `rel` checked against the directory's, then
    /// opened: where no call opens beneath a descriptor.
    #[cfg(not(any(target_os = "freebsd", target_vendor = "apple")))]
    fn open_canonical(dir: &Dir, rel: &Path) -> io::Result<File> {
        let target = dir.path.join(rel).canonicalize()?;
        if !target.starts_with(&dir.path) {
            return Err(leaving());
        }
        Ok(rustix::fs::open(&target, FLAGS, Mode::empty())?.into())
    }

    /// `openat2` with every link kept beneath the directory; a kernel
    /// without `openat2` (before 5.6) gets the same check by hand.
    #[cfg(target_os = "linux")]
    pub(super) fn open_strict(dir: &Dir, rel: &Path) -> io::Result<File> {
        use rustix::fs::ResolveFlags;
        let beneath = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&dir.fd, rel, FLAGS, Mode::empty(), beneath) {
            Err(Errno::NOSYS) => open_canonical(dir, rel),
            other => Ok(other?.into()),
        }
    }

    /// `O_RESOLVE_BENEATH` (FreeBSD 13): the kernel refuses a path that
    /// leaves the directory, through `..` or a link, with `ENOTCAPABLE`.
    #[cfg(target_os = "freebsd")]
    pub(super) fn open_strict(dir: &Dir, rel: &Path) -> io::Result<File> {
        let flags = FLAGS | OFlags::RESOLVE_BENEATH;
        Ok(rustix::fs::openat(&dir.fd, rel, flags, Mode::empty())?.into())
    }

    /// `O_NOFOLLOW_ANY` (macOS 11): no symbolic link anywhere on the way,
    /// so a path of plain segments stays beneath the directory.
    #[cfg(target_vendor = "apple")]
    pub(super) fn open_strict(dir: &Dir, rel: &Path) -> io::Result<File> {
        let flags = FLAGS | OFlags::NOFOLLOW_ANY;
        Ok(rustix::fs::openat(&dir.fd, rel, flags, Mode::empty())?.into())
    }

    /// Elsewhere: the canonical path checked, then opened.
    #[cfg(not(any(target_os = "linux", target_os = "freebsd", target_vendor = "apple")))]
    pub(super) fn open_strict(dir: &Dir, rel: &Path) -> io::Result<File> {
        open_canonical(dir, rel)
    }

    /// The errors a strict open gives for a link it will not follow.
    pub(super) fn refused_link(e: &io::Error) -> bool {
        #[cfg(target_os = "linux")]
        let refused = [Errno::XDEV];
        #[cfg(target_os = "freebsd")]
        let refused = [Errno::NOTCAPABLE];
        #[cfg(target_vendor = "apple")]
        let refused = [Errno::LOOP];
        #[cfg(not(any(target_os = "linux", target_os = "freebsd", target_vendor = "apple")))]
        let refused: [Errno; 0] = [];
        refused
            .iter()
            .any(|r| e.raw_os_error() == Some(r.raw_os_error()))
    }

    pub(super) fn not_found(e: &io::Error) -> bool {
        [Errno::LOOP, Errno::NAMETOOLONG, Errno::NXIO]
            .iter()
            .any(|r| e.raw_os_error() == Some(r.raw_os_error()))
    }

    pub(super) fn leaves_root(e: &io::Error) -> bool {
        refused_link(e) || e.raw_os_error() == Some(Errno::LOOP.raw_os_error())
    }

    pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }

    pub(super) fn read_into(file: &File, buf: &mut Vec<u8>, offset: u64) -> io::Result<usize> {
        // Into fresh capacity, never zeroed first.
        Ok(rustix::io::pread(
            file,
            rustix::buffer::spare_capacity(buf),
            offset,
        )?)
    }

    pub(super) fn names_beneath(dir: &Dir, rel: &str) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(dir.open_beneath(rel)?)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy();
            if name != "." && name != ".." {
                out.push(name.into_owned());
            }
        }
        Ok(out)
    }

    /// `O_TMPFILE` and a link through `/proc/self/fd`.
    #[cfg(target_os = "linux")]
    pub(super) fn write_unnamed(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
        use rustix::fs::CWD;
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let fd = rustix::fs::open(
            dir,
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?;
        let mut file = File::from(fd);
        file.write_all(bytes)?;
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        rustix::fs::linkat(
            CWD,
            path.as_str(),
            CWD,
            dir.join(name),
            AtFlags::SYMLINK_FOLLOW,
        )?;
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn write_unnamed(_: &Path, _: &str, _: &[u8]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn inode(meta: &std::fs::Metadata) -> u64 {
        std::os::unix::fs::MetadataExt::ino(meta)
    }
}

#[cfg(windows)]
mod sys {
    use super::*;

    pub(super) fn open_dir(path: PathBuf) -> io::Result<Dir> {
        if !std::fs::metadata(&path)?.is_dir() {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        Ok(Dir { path })
    }

    fn of(meta: &std::fs::Metadata) -> Meta {
        let kind = if meta.is_file() {
            Kind::File
        } else if meta.is_dir() {
            Kind::Directory
        } else {
            Kind::Other
        };
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()));
        Meta {
            kind,
            dev: 0,
            ino: 0,
            size: meta.len(),
            mtime,
            ctime: mtime,
        }
    }

    /// Refuses a segment Windows would read as something other than a
    /// plain name: a stream (`:`), a trailing dot or space.
    fn plain(rel: &Path) -> io::Result<()> {
        for segment in rel.to_string_lossy().split('/') {
            if segment.contains(':')
                || segment.ends_with('.') && segment != "."
                || segment.ends_with(' ')
            {
                return Err(io::ErrorKind::NotFound.into());
            }
        }
        Ok(())
    }

    /// The canonical path of `rel`, which must lie beneath `dir`.
    fn beneath(dir: &Dir, rel: &Path) -> io::Result<PathBuf> {
        plain(rel)?;
        let target = join(&dir.path, &rel.to_string_lossy()).canonicalize()?;
        if !target.starts_with(&dir.path) {
            return Err(leaving());
        }
        Ok(target)
    }

    pub(super) fn stat_at(dir: &Dir, rel: &str) -> io::Result<Meta> {
        Ok(of(&std::fs::metadata(beneath(dir, Path::new(rel))?)?))
    }

    pub(super) fn meta(file: &File) -> io::Result<Meta> {
        Ok(of(&file.metadata()?))
    }

    pub(super) fn open_strict(dir: &Dir, rel: &Path) -> io::Result<File> {
        use std::os::windows::fs::OpenOptionsExt;
        /// Lets a directory be opened (to read its metadata).
        const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
        let target = beneath(dir, rel)?;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(target)
    }

    pub(super) fn refused_link(_: &io::Error) -> bool {
        false
    }

    pub(super) fn not_found(_: &io::Error) -> bool {
        false
    }

    pub(super) fn leaves_root(_: &io::Error) -> bool {
        false
    }

    pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        // Moves the handle's position, which nothing here reads by.
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }

    pub(super) fn read_into(file: &File, buf: &mut Vec<u8>, offset: u64) -> io::Result<usize> {
        let start = buf.len();
        buf.resize(buf.capacity(), 0);
        let read = read_at(file, &mut buf[start..], offset);
        buf.truncate(start + *read.as_ref().unwrap_or(&0));
        read
    }

    pub(super) fn names_beneath(dir: &Dir, rel: &str) -> io::Result<Vec<String>> {
        std::fs::read_dir(beneath(dir, Path::new(rel))?)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }

    pub(super) fn write_unnamed(_: &Path, _: &str, _: &[u8]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn inode(_: &std::fs::Metadata) -> u64 {
        0
    }
}

/// The names in directory `rel` beneath `dir` (`.` and `..` left out).
pub fn names_beneath(dir: &Dir, rel: &str) -> io::Result<Vec<String>> {
    sys::names_beneath(dir, rel)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, Dir) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("root/sub")).unwrap();
        std::fs::write(t.path().join("root/sub/a.txt"), b"inside").unwrap();
        std::fs::write(t.path().join("secret.txt"), b"outside").unwrap();
        let root = t.path().join("root");
        std::os::unix::fs::symlink(t.path().join("secret.txt"), root.join("out")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("up")).unwrap();
        std::os::unix::fs::symlink(root.join("sub/a.txt"), root.join("abs-in")).unwrap();
        std::os::unix::fs::symlink("sub/a.txt", root.join("rel-in")).unwrap();
        let dir = Dir::open(&root).unwrap();
        (t, dir)
    }

    fn read(file: File) -> Vec<u8> {
        let mut buf = Vec::with_capacity(64);
        read_into(&file, &mut buf, 0).unwrap();
        buf
    }

    #[test]
    fn links_inside_are_followed_and_links_out_refused() {
        let (_t, dir) = tree();
        assert_eq!(read(dir.open_beneath("sub/a.txt").unwrap()), b"inside");
        assert_eq!(read(dir.open_beneath("rel-in").unwrap()), b"inside");
        assert_eq!(read(dir.open_beneath("abs-in").unwrap()), b"inside");
        for escaping in ["out", "up"] {
            let e = dir.open_beneath(escaping).unwrap_err();
            assert!(leaves_root(&e) && not_found(&e), "{escaping}: {e}");
        }
        let e = dir.open_beneath("sub/none.txt").unwrap_err();
        assert!(not_found(&e) && !leaves_root(&e), "{e}");
    }

    #[test]
    fn metadata_and_names() {
        let (_t, dir) = tree();
        let meta = dir.stat("sub/a.txt").unwrap();
        assert_eq!((meta.kind, meta.size), (Kind::File, 6));
        assert_eq!(dir.stat("sub").unwrap().kind, Kind::Directory);
        assert_eq!(
            meta,
            super::meta(&dir.open_beneath("sub/a.txt").unwrap()).unwrap()
        );
        let mut names = names_beneath(&dir, ".").unwrap();
        names.sort();
        assert_eq!(names, ["abs-in", "out", "rel-in", "sub", "up"]);
        assert_eq!(join(Path::new("/r"), "./a//b"), Path::new("/r/a/b"));
    }

    #[test]
    fn reads_at_an_offset_append() {
        let (_t, dir) = tree();
        let file = dir.open_beneath("sub/a.txt").unwrap();
        let mut buf = b"x".to_vec();
        buf.reserve_exact(3);
        let n = read_into(&file, &mut buf, 2).unwrap();
        assert!(n > 0);
        assert_eq!(buf, &b"xside"[..1 + n]);
        let mut two = [0; 2];
        assert_eq!(read_at(&file, &mut two, 4).unwrap(), 2);
        assert_eq!(&two, b"de");
    }
}
