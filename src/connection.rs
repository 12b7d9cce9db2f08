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
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use tokio::io::Interest;
use tokio::net::TcpStream;

use tokio::time::Sleep;

use crate::dump::Dump;
use crate::limits::Limits;
use crate::log::{AccessLog, Entry};
use crate::request::{self, ChunkedDrain, Framing, ParseError, RequestHead};
use crate::respond::{self, error, FileBody, Mode, Piece, Reply, Site};
use crate::sendfile;
use crate::stop::{self, Stopped};

/// Bytes requested from the socket per read.
const READ_CHUNK: usize = 8 * 1024;
/// Buffered output is flushed once it grows past this many bytes.
pub const OUT_FLUSH: usize = 64 * 1024;
/// File bodies that take more than one sendfile call are sent corked
/// (TCP_CORK), so that no call ends with a short segment.
const CORK_ABOVE: u64 = sendfile::SENDFILE_CHUNK as u64;
/// Idle buffers each worker keeps for reuse.
const POOLED_BUFFERS: usize = 16;

thread_local! {
    /// Buffers of connections that are waiting for their next request: an
    /// idle connection holds no buffer, so thousands of them cost little.
    static POOL: RefCell<Vec<(BytesMut, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// What every connection of a server shares.
#[derive(Debug)]
pub struct Shared {
    /// What responses are built from.
    pub site: Site,
    /// Where exchanges are dumped, with `--dump`.
    pub dump: Option<Arc<Dump>>,
    /// Limits and timeouts.
    pub limits: Limits,
    /// The access log.
    pub log: AccessLog,
}

/// Serves one accepted connection until it closes.
pub async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let accepted = Instant::now();
    let first_deadline = accepted + shared.limits.header_timeout;
    let mut conn = Connection {
        stream,
        peer,
        accepted,
        shared,
        stop: Stopped::default(),
        timer: Box::pin(tokio::time::sleep_until(first_deadline.into())),
        deadline: first_deadline,
        head: RequestHead::default(),
        buffered: false,
        buf: BytesMut::new(),
        out: Vec::new(),
        line: Vec::new(),
        agents: Vec::new(),
        referer_len: 0,
        eof: false,
        dump_id: 0,
        requests: std::cell::Cell::new(0),
        keep_bodies: false,
        body: Vec::new(),
        nodelay: false,
    };
    if let Some(dump) = &conn.shared.dump {
        conn.dump_id = dump.connection();
    }
    conn.keep_bodies = conn.shared.dump.is_some() || conn.shared.site.mode == Mode::Echo;
    let linger = match conn.run().await {
        Ok(linger) => linger,
        Err(e) => {
            tracing::debug!(peer = %conn.peer, error = %e, "connection ended");
            false
        }
    };
    if linger {
        Box::pin(conn.linger()).await;
    }
}

/// Why a wait for the client ended.
enum Wake {
    Readable,
    TimedOut,
    Stopping,
}

/// How reading a head ended.
enum HeadRead {
    /// A complete head, now in [`Connection::head`].
    Head,
    Malformed(ParseError),
    /// The client closed, went idle too long, or the server is stopping.
    Closed,
    /// A partial head did not complete in time.
    TimedOut,
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    shared: Arc<Shared>,
    /// Completes when the server stops: idle connections close then.
    stop: Stopped,
    /// One timer for the connection's life, armed no earlier than needed:
    /// when it fires before [`Connection::deadline`], it is re-armed.
    timer: Pin<Box<Sleep>>,
    /// When the current wait for the client ends.
    deadline: Instant,
    /// The head of the request being answered; spans point into `buf`.
    head: RequestHead,
    /// Whether `buf` and `out` are this connection's own, not placeholders
    /// while their allocations wait in the pool. (A buffer consumed to
    /// its end has no capacity left, so capacity cannot tell.)
    buffered: bool,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// Responses not yet written.
    out: Vec<u8>,
    /// The current request line, kept for the access log.
    line: Vec<u8>,
    /// Its Referer then User-Agent, for the access log, and where the
    /// first ends.
    agents: Vec<u8>,
    referer_len: usize,
    /// The client has closed its side.
    eof: bool,
    /// This connection's number in the dump, and its requests so far.
    dump_id: u64,
    requests: std::cell::Cell<u64>,
    /// Whether request bodies are kept (for `--echo` or `--dump`) rather
    /// than discarded.
    keep_bodies: bool,
    /// The body of the current request, when kept.
    body: Vec<u8>,
    /// TCP_NODELAY is set: done once a connection is kept alive or sends a
    /// file body, so one-request connections skip the call.
    nodelay: bool,
}

impl Connection {
    /// Answers requests until the connection should close. Returns whether
    /// to linger: read and discard what the client still sends, so that
    /// closing does not reset the connection under the last response.
    async fn run(&mut self) -> io::Result<bool> {
        let mut first = true;
        loop {
            match self.read_head(first).await? {
                HeadRead::Head => {}
                HeadRead::Closed => {
                    self.flush().await?;
                    return Ok(false);
                }
                HeadRead::TimedOut => {
                    self.line.clear();
                    let mark = self.out.len();
                    let reply = error(&mut self.out, 408, false, false, &[]);
                    self.record(&self.buf, mark, reply.bytes);
                    self.finish(reply, Some(Instant::now())).await?;
                    return Ok(true);
                }
                HeadRead::Malformed(e) => {
                    tracing::debug!(peer = %self.peer, reason = e.reason, "malformed request");
                    self.line.clear();
                    let end = self.buf.iter().position(|&b| b == b'\n');
                    let first_line = &self.buf[..end.unwrap_or(self.buf.len()).min(256)];
                    self.line
                        .extend_from_slice(first_line.strip_suffix(b"\r").unwrap_or(first_line));
                    let mark = self.out.len();
                    let reply = error(&mut self.out, e.status, false, false, &[]);
                    self.record(&self.buf, mark, reply.bytes);
                    self.finish(reply, Some(Instant::now())).await?;
                    return Ok(true);
                }
            }
            first = false;
            let head = &self.head;
            let started = self.shared.log.enabled().then(Instant::now);
            let keep_alive = head.keep_alive && !stop::stopping();
            if self.shared.log.enabled() {
                self.line.clear();
                self.line.extend_from_slice(head.line.of(&self.buf));
                self.agents.clear();
                if self.shared.log.wants_agents() {
                    let referer = head.referer.get(&self.buf).unwrap_or_default();
                    let agent = head.user_agent.get(&self.buf).unwrap_or_default();
                    self.agents.extend_from_slice(referer);
                    self.agents.extend_from_slice(agent);
                    self.referer_len = referer.len();
                }
            }
            let (len, framing, expect_continue) = (head.len, head.framing, head.expect_continue);
            let mark = self.out.len();
            let reply = if framing == Framing::None {
                let raw = &self.buf[..len];
                let site = &self.shared.site;
                let (out, peer) = (&mut self.out, self.peer);
                let mut reply = respond::build(site, head, raw, &[], keep_alive, out, peer, true);
                if let Some((info, coding)) = reply.compress.take() {
                    // A large file to compress first: off the event loop.
                    let cache_bytes = site.compression.cache_bytes;
                    respond::compress_off_loop(info, coding, cache_bytes).await;
                    let (site, head, raw) = (&self.shared.site, &self.head, &self.buf[..len]);
                    let (out, peer) = (&mut self.out, self.peer);
                    reply = respond::build(site, head, raw, &[], keep_alive, out, peer, false);
                }
                self.record(&self.buf[..len], mark, reply.bytes);
                self.buf.advance(len);
                reply
            } else {
                let raw = self.buf.split_to(len).freeze();
                self.body.clear();
                // Bodies are rare: their state lives on the heap.
                let drained = Box::pin(self.drain_body(framing, expect_continue)).await?;
                let mark = self.out.len();
                let reply = match drained {
                    Err(e) => error(&mut self.out, e.status, false, false, &[]),
                    Ok(()) => {
                        let (head, site) = (&self.head, &self.shared.site);
                        let (out, peer) = (&mut self.out, self.peer);
                        respond::build(site, head, &raw, &self.body, keep_alive, out, peer, false)
                    }
                };
                if self.shared.dump.is_some() {
                    let mut request = raw.to_vec();
                    request.extend_from_slice(&self.body);
                    self.record(&request, mark, reply.bytes);
                }
                if drained.is_err() {
                    self.finish(reply, started).await?;
                    return Ok(true);
                }
                reply
            };
            let keep_alive = reply.keep_alive;
            self.finish(reply, started).await?;
            if !keep_alive {
                return Ok(self.client_may_send());
            }
            if !self.nodelay {
                // Pipelined responses must not wait for the client's ACKs.
                self.nodelay = true;
                let _ = self.stream.set_nodelay(true);
            }
            if self.out.len() >= OUT_FLUSH {
                self.flush().await?;
            }
        }
    }

    /// Sends what a reply still needs and logs it.
    async fn finish(&mut self, reply: Reply, started: Option<Instant>) -> io::Result<()> {
        if let Some(body) = &reply.body {
            // Big bodies are rare next to small ones: their state lives on
            // the heap, so every connection's future stays small.
            Box::pin(self.send_body(body)).await?;
        }
        if !reply.keep_alive {
            self.flush().await?;
        }
        if let Some(started) = started {
            let split = self.referer_len.min(self.agents.len());
            let (referer, user_agent) = self.agents.split_at(split);
            self.shared.log.record(&Entry {
                peer: self.peer,
                line: &self.line,
                status: reply.status,
                bytes: reply.bytes,
                elapsed: started.elapsed(),
                referer,
                user_agent,
                range: reply.range.as_deref().unwrap_or(""),
                encoding: reply.encoding,
            });
        }
        Ok(())
    }

    /// Sends the buffered output (with the head of this response at its
    /// end), then the pieces of the body: file ranges with sendfile.
    async fn send_body(&mut self, body: &FileBody) -> io::Result<()> {
        if !self.nodelay {
            self.nodelay = true;
            let _ = self.stream.set_nodelay(true);
        }
        let len: u64 = body
            .pieces
            .iter()
            .map(|p| match p {
                Piece::File(r) => r.end - r.start,
                Piece::Bytes(b) => b.len() as u64,
            })
            .sum();
        // Corked, the head and the body leave in full segments, the last
        // one when the cork comes off.
        let corked =
            len > CORK_ABOVE && rustix::net::sockopt::set_tcp_cork(&self.stream, true).is_ok();
        for piece in &body.pieces {
            match piece {
                Piece::Bytes(bytes) => self.out.extend_from_slice(bytes),
                Piece::File(range) => {
                    self.write_out(true).await?;
                    let (mut offset, end) = (range.start, range.end);
                    while offset < end {
                        let file = &body.info.file;
                        match sendfile::try_send_file(&self.stream, file, &mut offset, end) {
                            Ok(_) => {}
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                self.wait_writable().await?
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
        }
        if corked {
            self.write_out(false).await?;
            let _ = rustix::net::sockopt::set_tcp_cork(&self.stream, false);
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.write_out(false).await
    }

    /// Writes all buffered output; `more` says a file body follows.
    async fn write_out(&mut self, more: bool) -> io::Result<()> {
        let mut sent = 0;
        while sent < self.out.len() {
            match sendfile::try_send(&self.stream, &self.out[sent..], more) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait_writable().await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.out.clear();
                    return Err(e);
                }
            }
        }
        self.out.clear();
        Ok(())
    }

    /// Waits until the socket takes more data; a client that reads nothing
    /// for the send timeout is dropped.
    async fn wait_writable(&mut self) -> io::Result<()> {
        let until = Instant::now() + self.shared.limits.send_timeout;
        self.arm(until);
        let Connection {
            stream,
            timer,
            deadline,
            ..
        } = self;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(ready) = stream.poll_write_ready(cx) {
                return Poll::Ready(ready);
            }
            if expired(timer, *deadline, cx) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client stopped reading",
                )));
            }
            Poll::Pending
        })
        .await
    }

    /// Makes `until` the end of the current wait, re-arming the timer only
    /// when the wait ends earlier than the timer would fire.
    fn arm(&mut self, until: Instant) {
        if until < self.timer.deadline().into_std() {
            self.timer.as_mut().reset(until.into());
        }
        self.deadline = until;
    }

    /// Dumps one exchange (with `--dump`): `request` as received, and the
    /// response head written to the output buffer from `mark`.
    fn record(&self, request: &[u8], mark: usize, body_bytes: u64) {
        let Some(dump) = &self.shared.dump else {
            return;
        };
        let number = self.requests.get() + 1;
        self.requests.set(number);
        let written = &self.out[mark..];
        let head_end = written
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(written.len(), |i| i + 4);
        dump.exchange(
            self.dump_id,
            number,
            request,
            &written[..head_end],
            body_bytes,
        );
    }

    /// Whether bytes from the client are pending after a last response, so
    /// that closing at once could reset the connection under it.
    fn client_may_send(&mut self) -> bool {
        if self.eof {
            return false;
        }
        if !self.buf.is_empty() {
            return true;
        }
        // Costs no call when the socket is known to be drained.
        matches!(self.try_read(), Ok(true)) && !self.eof
    }

    /// Takes buffers from the worker's pool if this connection has none.
    fn take_buffers(&mut self) {
        if !self.buffered {
            let pooled = POOL.with(|p| p.borrow_mut().pop());
            (self.buf, self.out) =
                pooled.unwrap_or_else(|| (BytesMut::with_capacity(READ_CHUNK), Vec::new()));
            self.buffered = true;
        }
    }

    /// Gives empty buffers back to the pool while the connection waits.
    fn release_buffers(&mut self) {
        if self.buffered && self.buf.is_empty() && self.out.is_empty() {
            self.buffered = false;
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
                    Ok(Some(head)) => {
                        self.head = head;
                        return Ok(HeadRead::Head);
                    }
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
            if idle && stop::stopping() {
                return Ok(HeadRead::Closed);
            }
            self.release_buffers();
            let until = deadline.unwrap_or_else(|| Instant::now() + keepalive_timeout);
            match self.wait_readable(until, idle).await? {
                Wake::Readable => {}
                Wake::TimedOut if idle => return Ok(HeadRead::Closed),
                Wake::TimedOut => return Ok(HeadRead::TimedOut),
                Wake::Stopping => return Ok(HeadRead::Closed),
            }
        }
    }

    /// Waits until the socket is readable, `until` passes, or (when `idle`)
    /// the server stops.
    async fn wait_readable(&mut self, until: Instant, idle: bool) -> io::Result<Wake> {
        self.arm(until);
        let Connection {
            stream,
            timer,
            stop,
            deadline,
            ..
        } = self;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(ready) = stream.poll_read_ready(cx) {
                return Poll::Ready(ready.map(|()| Wake::Readable));
            }
            if expired(timer, *deadline, cx) {
                return Poll::Ready(Ok(Wake::TimedOut));
            }
            if idle && Pin::new(&mut *stop).poll(cx).is_ready() {
                return Poll::Ready(Ok(Wake::Stopping));
            }
            Poll::Pending
        })
        .await
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
            let until = Instant::now() + self.shared.limits.body_timeout;
            match self.wait_readable(until, false).await? {
                Wake::Readable => {}
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request body stalled",
                    ))
                }
            }
        }
    }

    /// Waits for more of a body, first telling a client that expects it to
    /// go on (100 Continue).
    async fn more_body(&mut self, continued: &mut bool) -> io::Result<()> {
        if !*continued {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            *continued = true;
        }
        if !self.read_body_bytes().await? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Reads and discards the body, so the next request starts at the right
    /// byte. The outer error is the connection's; the inner one is answered.
    async fn drain_body(
        &mut self,
        framing: Framing,
        expect_continue: bool,
    ) -> io::Result<Result<(), ParseError>> {
        let shared = self.shared.clone();
        let limits = &shared.limits;
        let (max_body, max_trailer) = (limits.max_body, limits.max_header_bytes);
        let mut continued = !expect_continue;
        match framing {
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
                    if self.keep_bodies {
                        self.body.extend_from_slice(&self.buf[..take as usize]);
                    }
                    self.buf.advance(take as usize);
                    left -= take;
                    if left == 0 {
                        break;
                    }
                    self.more_body(&mut continued).await?;
                }
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDrain::default();
                loop {
                    let (used, done) = match decoder.drain(&self.buf, max_body, max_trailer) {
                        Ok(r) => r,
                        Err(e) => return Ok(Err(e)),
                    };
                    if self.keep_bodies {
                        self.body.extend_from_slice(&self.buf[..used]);
                    }
                    self.buf.advance(used);
                    if done {
                        break;
                    }
                    self.more_body(&mut continued).await?;
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
        self.take_buffers();
        loop {
            if !matches!(self.wait_readable(until, false).await, Ok(Wake::Readable)) {
                return;
            }
            self.buf.clear();
            match self.stream.try_read_buf(&mut self.buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

/// True when the connection's timer has passed `deadline`; a timer that
/// fired early is re-armed for `deadline` and polled again.
fn expired(
    timer: &mut Pin<Box<Sleep>>,
    deadline: Instant,
    cx: &mut std::task::Context<'_>,
) -> bool {
    while timer.as_mut().poll(cx).is_ready() {
        if Instant::now() >= deadline {
            return true;
        }
        timer.as_mut().reset(deadline.into());
    }
    false
}

#[cfg(test)]
mod footprint {
    #[test]
    fn a_connection_future_stays_small() {
        fn size<F: std::future::Future>(_: &F) -> usize {
            std::mem::size_of::<F>()
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let c = tokio::net::TcpStream::connect(l.local_addr().unwrap())
                .await
                .unwrap();
            let config = crate::Config::new(".", 0).unwrap();
            let root = crate::files::Root::open(&config.root).unwrap();
            let shared = std::sync::Arc::new(super::Shared {
                site: super::Site::new(root, &config),
                dump: None,
                limits: config.limits.clone(),
                log: crate::log::AccessLog::disabled(),
            });
            let f = super::serve(c, "127.0.0.1:1".parse().unwrap(), shared);
            // Thousands of idle connections each hold one of these.
            assert!(size(&f) <= 1536, "serve future is {} bytes", size(&f));
        });
    }
}
