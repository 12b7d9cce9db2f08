//! Writing to a connected socket: bytes, a range of a file, and holding
//! back short segments while a head and a large body go out.
//!
//! | | bytes | a file range | a head and a large body in full segments |
//! |---|---|---|---|
//! | Linux | `send(MSG_MORE \| MSG_NOSIGNAL)` | `sendfile(2)` | `TCP_CORK` |
//! | macOS, FreeBSD | `send` (SIGPIPE is ignored) | `sendfile(2)`, their signature | none (see below) |
//! | Windows | `send` | copied through a buffer | none |
//!
//! The BSDs' counterpart of `TCP_CORK` is `TCP_NOPUSH`, which neither
//! rustix, nix nor socket2 wraps; without it, the head of a body that
//! takes several `sendfile` calls leaves in a segment of its own, and the
//! body, handed over two MiB at a time, fills whole segments after it.
//! Windows has `TransmitFile`, which no well-kept crate offers safely:
//! bodies go through the copy path, as TLS in user space does.

use std::fs::File;
use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Whether this platform sends file ranges with `sendfile(2)`.
pub const SENDFILE: bool = cfg!(any(
    target_os = "linux",
    target_os = "freebsd",
    target_vendor = "apple"
));

/// Writes what the socket takes of `buf` now (`WouldBlock`: nothing).
/// With `more`, tells the kernel that more data follows at once.
pub fn send(stream: &TcpStream, buf: &[u8], more: bool) -> io::Result<usize> {
    stream.try_io(Interest::WRITABLE, || sys::send(stream, buf, more))
}

/// Sends what the socket takes of `file` from `*offset`, at most `len`
/// bytes, advancing `*offset`; returns how many went.
pub fn sendfile(
    stream: &TcpStream,
    file: &File,
    offset: &mut u64,
    len: usize,
) -> io::Result<usize> {
    stream.try_io(Interest::WRITABLE, || {
        sys::sendfile(stream, file, offset, len)
    })
}

/// Whether `e`, from [`sendfile`], says that this file cannot be sent so
/// (some special file systems): its bytes are copied instead.
pub fn cannot_sendfile(e: &io::Error) -> bool {
    sys::cannot_sendfile(e)
}

/// Holds back (`true`) or lets go (`false`) partial segments; `false`
/// where the platform cannot.
pub fn cork(stream: &TcpStream, on: bool) -> bool {
    sys::cork(stream, on)
}

#[cfg(unix)]
mod sys {
    use super::*;
    use rustix::io::Errno;
    use rustix::net::SendFlags;

    pub(super) fn send(stream: &TcpStream, buf: &[u8], more: bool) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        let flags = if more {
            SendFlags::MORE | SendFlags::NOSIGNAL
        } else {
            SendFlags::NOSIGNAL
        };
        #[cfg(not(target_os = "linux"))]
        let flags = {
            let _ = more;
            SendFlags::empty()
        };
        Ok(rustix::net::send(stream, buf, flags)?)
    }

    #[cfg(target_os = "linux")]
    pub(super) fn sendfile(
        stream: &TcpStream,
        file: &File,
        offset: &mut u64,
        len: usize,
    ) -> io::Result<usize> {
        Ok(rustix::fs::sendfile(stream, file, Some(offset), len)?)
    }

    /// macOS's and FreeBSD's `sendfile` report what they sent even when
    /// they stop early (the socket filled, a signal).
    #[cfg(any(target_os = "freebsd", target_vendor = "apple"))]
    pub(super) fn sendfile(
        stream: &TcpStream,
        file: &File,
        offset: &mut u64,
        len: usize,
    ) -> io::Result<usize> {
        let at = i64::try_from(*offset).map_err(|_| io::Error::from(Errno::INVAL))?;
        #[cfg(target_vendor = "apple")]
        let (result, sent) = nix::sys::sendfile::sendfile(
            file,
            stream,
            at,
            Some(i64::try_from(len).unwrap_or(i64::MAX)),
            None,
            None,
        );
        #[cfg(target_os = "freebsd")]
        let (result, sent) = nix::sys::sendfile::sendfile(
            file,
            stream,
            at,
            Some(len),
            None,
            None,
            nix::sys::sendfile::SfFlags::empty(),
            0,
        );
        let sent = u64::try_from(sent).unwrap_or(0);
        *offset += sent;
        match result {
            Ok(()) => Ok(sent as usize),
            Err(_) if sent > 0 => Ok(sent as usize),
            Err(e) => Err(io::Error::from_raw_os_error(e as i32)),
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "freebsd", target_vendor = "apple")))]
    pub(super) fn sendfile(_: &TcpStream, _: &File, _: &mut u64, _: usize) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn cannot_sendfile(e: &io::Error) -> bool {
        [Errno::INVAL, Errno::OPNOTSUPP, Errno::NOTSUP, Errno::NOSYS]
            .iter()
            .any(|r| e.raw_os_error() == Some(r.raw_os_error()))
            || e.kind() == io::ErrorKind::Unsupported
    }

    #[cfg(target_os = "linux")]
    pub(super) fn cork(stream: &TcpStream, on: bool) -> bool {
        rustix::net::sockopt::set_tcp_cork(stream, on).is_ok()
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn cork(_: &TcpStream, _: bool) -> bool {
        false
    }
}

#[cfg(windows)]
mod sys {
    use super::*;

    pub(super) fn send(stream: &TcpStream, buf: &[u8], _more: bool) -> io::Result<usize> {
        // Inside `try_io`: a plain non-blocking send on the socket.
        socket2::SockRef::from(stream).send(buf)
    }

    pub(super) fn sendfile(_: &TcpStream, _: &File, _: &mut u64, _: usize) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn cannot_sendfile(e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::Unsupported
    }

    pub(super) fn cork(_: &TcpStream, _: bool) -> bool {
        false
    }
}
