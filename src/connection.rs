//! One client connection: read a head, drain the body, answer, and go on
//! while the connection persists (RFC 9112 §9).
//!
//! Requests that arrive together (pipelining) are answered in order, and
//! their responses leave together: output is buffered and flushed only
//! when the connection must wait for the client, when a file body follows,
//! or when the buffer grows past [`OUT_FLUSH`].
//!
//! Timeouts: a client has [`Limits::header_timeout`] from its first byte
//! (from the accept for the first request) to deliver a complete head, and
//! [`Limits::keepalive_timeout`] of silence between requests. Bodies and
//! responses are dropped after their own no-progress timeouts.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::sleep_until;

use crate::cache;
use crate::files::{self, FileInfo, Lookup, Root, SMALL_FILE};
use crate::limits::Limits;
use crate::log::AccessLog;
use crate::request::{self, ChunkedDrain, Framing, Method, ParseError, RequestHead};
use crate::resolve::{self, Refusal};
use crate::response;
use crate::sendfile;

/// Bytes requested from the socket per read.
const READ_CHUNK: usize = 16 * 1024;
/// Buffered output is flushed once it grows past this many bytes.
pub const OUT_FLUSH: usize = 64 * 1024;
/// Idle buffers each worker keeps for reuse.
const POOLED_BUFFERS: usize = 64;

thread_local! {
    /// Buffers of connections that are waiting for their next request: an
    /// idle connection holds no buffer, so thousands of them cost little.
    static POOL: RefCell<Vec<(BytesMut, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}
/// The methods a file allows.
const ALLOW: &[u8] = b"GET, HEAD, OPTIONS";

/// What every connection of a server shares.
#[derive(Debug)]
pub struct Shared {
    /// The document root.
    pub root: Root,
    /// File name served for a directory.
    pub index: String,
    /// Limits and timeouts.
    pub limits: Limits,
    /// The access log.
    pub log: AccessLog,
}

/// Serves one accepted connection until it closes.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut conn = Connection {
        stream,
        peer,
        accepted: Instant::now(),
        shared,
        shutdown,
        buf: BytesMut::new(),
        out: Vec::new(),
        line: Vec::new(),
        eof: false,
    };
    let linger = match conn.run().await {
        Ok(linger) => linger,
        Err(e) => {
            tracing::debug!(peer = %conn.peer, error = %e, "connection ended");
            false
        }
    };
    if linger {
        conn.linger().await;
    }
}

/// How reading a head ended.
#[allow(clippy::large_enum_variant)] // one lives at a time, on the stack
enum HeadRead {
    Head(RequestHead),
    Malformed(ParseError),
    /// The client closed, went idle too long, or the server is stopping.
    Closed,
    /// A partial head did not complete in time.
    TimedOut,
}

/// What a response needs sent after its head.
struct Reply {
    status: u16,
    /// Body bytes the response carries (logged).
    bytes: u64,
    /// A file range to send after the buffered output.
    file: Option<(Arc<FileInfo>, u64, u64)>,
    keep_alive: bool,
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// Responses not yet written.
    out: Vec<u8>,
    /// The current request line, kept for the access log.
    line: Vec<u8>,
    /// The client has closed its side.
    eof: bool,
}

impl Connection {
    /// Answers requests until the connection should close. Returns whether
    /// to linger: read and discard what the client still sends, so that
    /// closing does not reset the connection under the last response.
    async fn run(&mut self) -> io::Result<bool> {
        let mut first = true;
        loop {
            let head = match self.read_head(first).await? {
                HeadRead::Head(head) => head,
                HeadRead::Closed => {
                    self.flush().await?;
                    return Ok(false);
                }
                HeadRead::TimedOut => {
                    self.line.clear();
                    let reply = error(&mut self.out, 408, false, false, &[]);
                    self.finish(reply, Instant::now()).await?;
                    return Ok(true);
                }
                HeadRead::Malformed(e) => {
                    tracing::debug!(peer = %self.peer, reason = e.reason, "malformed request");
                    self.line.clear();
                    let end = self.buf.iter().position(|&b| b == b'\n');
                    let first_line = &self.buf[..end.unwrap_or(self.buf.len()).min(256)];
                    self.line
                        .extend_from_slice(first_line.strip_suffix(b"\r").unwrap_or(first_line));
                    let reply = error(&mut self.out, e.status, false, false, &[]);
                    self.finish(reply, Instant::now()).await?;
                    return Ok(true);
                }
            };
            first = false;
            let started = Instant::now();
            let stopping = *self.shutdown.borrow();
            let keep_alive = head.keep_alive && !stopping;
            if self.shared.log.enabled() {
                self.line.clear();
                self.line.extend_from_slice(head.line.of(&self.buf));
            }
            let reply = if head.framing == Framing::None {
                let reply = build(
                    &self.shared,
                    &head,
                    &self.buf[..head.len],
                    keep_alive,
                    &mut self.out,
                    self.peer,
                );
                self.buf.advance(head.len);
                reply
            } else {
                let raw = self.buf.split_to(head.len).freeze();
                if let Err(e) = self.drain_body(&head).await? {
                    let reply = error(&mut self.out, e.status, false, false, &[]);
                    self.finish(reply, started).await?;
                    return Ok(true);
                }
                build(
                    &self.shared,
                    &head,
                    &raw,
                    keep_alive,
                    &mut self.out,
                    self.peer,
                )
            };
            let keep_alive = reply.keep_alive;
            self.finish(reply, started).await?;
            if !keep_alive {
                return Ok(!self.eof);
            }
            if self.out.len() >= OUT_FLUSH {
                self.flush().await?;
            }
        }
    }

    /// Sends what a reply still needs and logs it.
    async fn finish(&mut self, reply: Reply, started: Instant) -> io::Result<()> {
        let limits = &self.shared.limits;
        if let Some((info, offset, len)) = &reply.file {
            sendfile::write_all(&self.stream, &self.out, true, limits.send_timeout).await?;
            self.out.clear();
            sendfile::send_file(&self.stream, &info.file, *offset, *len, limits.send_timeout)
                .await?;
        }
        if !reply.keep_alive {
            self.flush().await?;
        }
        self.shared.log.record(
            self.peer,
            &self.line,
            reply.status,
            reply.bytes,
            started.elapsed(),
        );
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let timeout = self.shared.limits.send_timeout;
            sendfile::write_all(&self.stream, &self.out, false, timeout).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Takes buffers from the worker's pool if this connection has none.
    fn take_buffers(&mut self) {
        if self.buf.capacity() == 0 {
            let pooled = POOL.with(|p| p.borrow_mut().pop());
            (self.buf, self.out) =
                pooled.unwrap_or_else(|| (BytesMut::with_capacity(READ_CHUNK), Vec::new()));
        }
    }

    /// Gives empty buffers back to the pool while the connection waits.
    fn release_buffers(&mut self) {
        if self.buf.is_empty() && self.out.is_empty() && self.buf.capacity() > 0 {
            let buffers = (std::mem::take(&mut self.buf), std::mem::take(&mut self.out));
            POOL.with(|p| {
                let mut pool = p.borrow_mut();
                if pool.len() < POOLED_BUFFERS {
                    pool.push(buffers);
                }
            });
        }
    }

    /// Reads into the buffer without waiting. `Ok(false)`: nothing there yet.
    fn try_read(&mut self) -> io::Result<bool> {
        self.take_buffers();
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        let room = self.buf.capacity() - self.buf.len();
        match self.stream.try_read_buf(&mut self.buf) {
            Ok(0) => {
                self.eof = true;
                Ok(true)
            }
            Ok(n) => {
                if n < room {
                    // A short read drained the socket: forget the readiness
                    // now rather than learn it from a read that would block.
                    // New data raises a fresh edge, so nothing is missed.
                    let _ = self.stream.try_io(Interest::READABLE, || {
                        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
                    });
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn read_head(&mut self, first: bool) -> io::Result<HeadRead> {
        let header_timeout = self.shared.limits.header_timeout;
        let keepalive_timeout = self.shared.limits.keepalive_timeout;
        let mut deadline = first.then(|| self.accepted + header_timeout);
        loop {
            let skip = request::leading_empty_lines(&self.buf);
            self.buf.advance(skip);
            if !self.buf.is_empty() {
                let deadline = *deadline.get_or_insert_with(|| Instant::now() + header_timeout);
                match request::parse(&self.buf, &self.shared.limits) {
                    Ok(Some(head)) => return Ok(HeadRead::Head(head)),
                    Ok(None) => {}
                    Err(e) => return Ok(HeadRead::Malformed(e)),
                }
                if Instant::now() >= deadline {
                    return Ok(HeadRead::TimedOut);
                }
            }
            if self.eof {
                return Ok(HeadRead::Closed);
            }
            if self.try_read()? {
                continue;
            }
            self.flush().await?;
            let idle = self.buf.is_empty();
            if idle && *self.shutdown.borrow() {
                return Ok(HeadRead::Closed);
            }
            self.release_buffers();
            let until = deadline.unwrap_or_else(|| Instant::now() + keepalive_timeout);
            tokio::select! {
                ready = self.stream.readable() => ready?,
                () = sleep_until(until.into()) => {
                    return Ok(if idle { HeadRead::Closed } else { HeadRead::TimedOut });
                }
                _ = self.shutdown.changed(), if idle => return Ok(HeadRead::Closed),
            }
        }
    }

    /// Waits for more bytes of a body. `Ok(false)`: the client closed.
    async fn read_body_bytes(&mut self) -> io::Result<bool> {
        loop {
            if self.eof {
                return Ok(false);
            }
            if self.try_read()? {
                return Ok(!self.eof);
            }
            self.flush().await?;
            let timeout = self.shared.limits.body_timeout;
            match tokio::time::timeout(timeout, self.stream.readable()).await {
                Ok(ready) => ready?,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request body stalled",
                    ))
                }
            }
        }
    }

    /// Reads and discards the body, so the next request starts at the right
    /// byte. The outer error is the connection's; the inner one is answered.
    async fn drain_body(&mut self, head: &RequestHead) -> io::Result<Result<(), ParseError>> {
        let shared = self.shared.clone();
        let limits = &shared.limits;
        let (max_body, max_trailer) = (limits.max_body, limits.max_header_bytes);
        let mut continued = !head.expect_continue;
        match head.framing {
            Framing::None => {}
            Framing::Length(n) => {
                if n > max_body {
                    return Ok(Err(ParseError {
                        status: 413,
                        reason: "request body too large",
                    }));
                }
                let mut left = n;
                loop {
                    let take = left.min(self.buf.len() as u64);
                    self.buf.advance(take as usize);
                    left -= take;
                    if left == 0 {
                        break;
                    }
                    if !continued {
                        self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        continued = true;
                    }
                    if !self.read_body_bytes().await? {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDrain::default();
                loop {
                    let (used, done) = match decoder.drain(&self.buf, max_body, max_trailer) {
                        Ok(r) => r,
                        Err(e) => return Ok(Err(e)),
                    };
                    self.buf.advance(used);
                    if done {
                        break;
                    }
                    if !continued {
                        self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        continued = true;
                    }
                    if !self.read_body_bytes().await? {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    /// Half-closes, then reads and discards for a moment, so the client
    /// reads the last response before the connection goes away.
    async fn linger(&mut self) {
        use tokio::io::AsyncWriteExt;
        if self.flush().await.is_err() || self.stream.shutdown().await.is_err() {
            return;
        }
        let until = Instant::now() + self.shared.limits.linger_timeout;
        let mut sink = [0u8; 4096];
        loop {
            let read = tokio::time::timeout_at(until.into(), self.stream.readable()).await;
            if !matches!(read, Ok(Ok(()))) {
                return;
            }
            match self.stream.try_read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

/// Appends an error response with its HTML page.
fn error(
    out: &mut Vec<u8>,
    status: u16,
    head_only: bool,
    keep_alive: bool,
    extra: &[(&str, &[u8])],
) -> Reply {
    let page = response::error_page(status);
    response::start(out, status);
    for (name, value) in extra {
        response::field(out, name, value);
    }
    response::field(out, "Content-Type", b"text/html; charset=utf-8");
    response::content_length(out, page.len() as u64);
    response::finish(out, keep_alive);
    let bytes = if head_only {
        0
    } else {
        out.extend_from_slice(page.as_bytes());
        page.len() as u64
    };
    Reply {
        status,
        bytes,
        file: None,
        keep_alive,
    }
}

/// Builds the response to one request into `out`; a file body too large to
/// buffer is returned to be sent after it.
fn build(
    shared: &Shared,
    head: &RequestHead,
    raw: &[u8],
    keep_alive: bool,
    out: &mut Vec<u8>,
    peer: SocketAddr,
) -> Reply {
    let head_only = head.method == Method::Head;
    match head.method {
        Method::Get | Method::Head => {}
        Method::Options => {
            response::start(out, 204);
            response::field(out, "Allow", ALLOW);
            response::finish(out, keep_alive);
            return Reply {
                status: 204,
                bytes: 0,
                file: None,
                keep_alive,
            };
        }
        Method::NotAllowed => return error(out, 405, false, keep_alive, &[("Allow", ALLOW)]),
        Method::Unknown => return error(out, 501, false, keep_alive, &[]),
    }
    let path = head.path.of(raw);
    if let Some(info) = cache::get(&shared.root, path) {
        return file_response(out, info, head_only, keep_alive, peer);
    }
    let resolved = match resolve::resolve(path) {
        Ok(r) => r,
        Err(Refusal::BadRequest(_)) => return error(out, 400, head_only, keep_alive, &[]),
        Err(Refusal::Hidden) => return error(out, 404, head_only, keep_alive, &[]),
    };
    let lookup = files::lookup(&shared.root, &resolved.rel, resolved.slash, &shared.index);
    match lookup {
        Ok(Lookup::File(info)) => {
            let limits = &shared.limits;
            let (entries, bytes) = (limits.cache_entries, limits.cache_bytes);
            cache::put(&shared.root, path, &resolved.rel, &info, entries, bytes);
            file_response(out, info, head_only, keep_alive, peer)
        }
        Ok(Lookup::AddSlash) => {
            let mut location = resolve::directory_url(&resolved).into_bytes();
            if let Some(q) = head.query {
                location.push(b'?');
                location.extend_from_slice(q.of(raw));
            }
            error(out, 301, head_only, keep_alive, &[("Location", &location)])
        }
        Ok(Lookup::Forbidden) => error(out, 403, head_only, keep_alive, &[]),
        Ok(Lookup::NotFound) => error(out, 404, head_only, keep_alive, &[]),
        Err(e) => {
            tracing::warn!(%peer, path = %String::from_utf8_lossy(path), error = %e, "cannot open file");
            error(out, 500, head_only, keep_alive, &[])
        }
    }
}

fn file_response(
    out: &mut Vec<u8>,
    info: Arc<FileInfo>,
    head_only: bool,
    keep_alive: bool,
    peer: SocketAddr,
) -> Reply {
    if head_only {
        write_file_head(out, &info, info.size, keep_alive);
        return Reply {
            status: 200,
            bytes: 0,
            file: None,
            keep_alive,
        };
    }
    if let Some(body) = &info.body {
        write_file_head(out, &info, body.len() as u64, keep_alive);
        out.extend_from_slice(body);
        return Reply {
            status: 200,
            bytes: body.len() as u64,
            file: None,
            keep_alive,
        };
    }
    if info.size <= SMALL_FILE {
        // Read first and frame what was read: a file rewritten meanwhile is
        // never sent with a length that does not match its bytes.
        let mut body = vec![0; info.size as usize];
        let mut got = 0;
        while got < body.len() {
            match info.file.read_at(&mut body[got..], got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot read file");
                    return error(out, 500, false, keep_alive, &[]);
                }
            }
        }
        write_file_head(out, &info, got as u64, keep_alive);
        out.extend_from_slice(&body[..got]);
        return Reply {
            status: 200,
            bytes: got as u64,
            file: None,
            keep_alive,
        };
    }
    let len = info.size;
    write_file_head(out, &info, len, keep_alive);
    Reply {
        status: 200,
        bytes: len,
        file: Some((info, 0, len)),
        keep_alive,
    }
}

fn write_file_head(out: &mut Vec<u8>, info: &FileInfo, len: u64, keep_alive: bool) {
    response::start(out, 200);
    response::content_length(out, len);
    out.extend_from_slice(&info.fields);
    response::finish(out, keep_alive);
}
