//! The only descriptor-level code: writing buffers and file ranges to a
//! socket through tokio's readiness API.
//!
//! [`write_all`] sends a buffer, optionally with `MSG_MORE` so that a head
//! and the first bytes of the file that follows share a segment;
//! [`send_file`] sends a file range with `sendfile(2)` in chunks, without
//! copying it through user space. Both give up when the socket makes no
//! progress for the send timeout.

use std::fs::File;
use std::io;
use std::time::Duration;

use rustix::net::SendFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Largest piece handed to one `sendfile` call: big enough to amortize the
/// call, small enough that one connection does not hog its worker.
pub const SENDFILE_CHUNK: usize = 2 * 1024 * 1024;

fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")
}

async fn writable(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    match tokio::time::timeout(timeout, stream.writable()).await {
        Ok(r) => r,
        Err(_) => Err(stalled()),
    }
}

/// Writes all of `buf`. With `more`, tells the kernel more data follows.
pub async fn write_all(
    stream: &TcpStream,
    mut buf: &[u8],
    more: bool,
    timeout: Duration,
) -> io::Result<()> {
    let flags = if more {
        SendFlags::MORE | SendFlags::NOSIGNAL
    } else {
        SendFlags::NOSIGNAL
    };
    while !buf.is_empty() {
        match stream.try_io(Interest::WRITABLE, || {
            rustix::net::send(stream, buf, flags).map_err(io::Error::from)
        }) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable(stream, timeout).await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends `len` bytes of `file` from `offset`. A file that shrank meanwhile
/// is an error: the length promised in the head can no longer be kept.
pub async fn send_file(
    stream: &TcpStream,
    file: &File,
    mut offset: u64,
    len: u64,
    timeout: Duration,
) -> io::Result<u64> {
    let end = offset + len;
    while offset < end {
        let chunk = usize::try_from(end - offset).map_or(SENDFILE_CHUNK, |n| n.min(SENDFILE_CHUNK));
        match stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, Some(&mut offset), chunk).map_err(io::Error::from)
        }) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while it was being sent",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable(stream, timeout).await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}
