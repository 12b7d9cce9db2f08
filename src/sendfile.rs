//! The only descriptor-level code: single non-blocking attempts to write a
//! buffer or a file range to a socket. The connection does the waiting, so
//! that one timer per connection serves every wait.
//!
//! [`try_send`] sends a buffer, optionally with `MSG_MORE` so that a head
//! and the first bytes of the file that follows share a segment;
//! [`try_send_file`] sends a piece of a file with `sendfile(2)`, without
//! copying it through user space. Both report `WouldBlock` when the socket
//! is full, through tokio's readiness tracking.

use std::fs::File;
use std::io;

use rustix::net::SendFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Largest piece handed to one `sendfile` call: big enough to amortize the
/// call, small enough that one connection does not hog its worker.
pub const SENDFILE_CHUNK: usize = 2 * 1024 * 1024;

fn forget_writable(stream: &TcpStream) {
    let _ = stream.try_io(Interest::WRITABLE, || {
        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
    });
}

/// Sends what the socket takes of `buf` now. With `more`, tells the kernel
/// that more data follows at once.
pub fn try_send(stream: &TcpStream, buf: &[u8], more: bool) -> io::Result<usize> {
    let flags = if more {
        SendFlags::MORE | SendFlags::NOSIGNAL
    } else {
        SendFlags::NOSIGNAL
    };
    let sent = stream.try_io(Interest::WRITABLE, || {
        rustix::net::send(stream, buf, flags).map_err(io::Error::from)
    })?;
    if sent < buf.len() {
        forget_writable(stream);
    }
    Ok(sent)
}

/// Sends what the socket takes of `file` from `*offset`, up to `end`, and
/// advances `*offset`. A file that ends before `end` (it shrank) is an
/// error: the length promised in the head can no longer be kept.
pub fn try_send_file(
    stream: &TcpStream,
    file: &File,
    offset: &mut u64,
    end: u64,
) -> io::Result<usize> {
    let chunk = usize::try_from(end - *offset).map_or(SENDFILE_CHUNK, |n| n.min(SENDFILE_CHUNK));
    let sent = stream.try_io(Interest::WRITABLE, || {
        rustix::fs::sendfile(stream, file, Some(offset), chunk).map_err(io::Error::from)
    })?;
    if sent == 0 && chunk > 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file shrank while it was being sent",
        ));
    }
    if sent < chunk {
        // A short send filled the socket: forget the readiness now rather
        // than learn it from a call that would block. Room freed later
        // raises a fresh edge.
        forget_writable(stream);
    }
    Ok(sent)
}
