//! One HTTP/1.1 connection: read a head, drain the body, ask the site for
//! a plan, encode it, and go on while the connection persists
//! (RFC 9112 §9).
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
use tokio::net::TcpStream;

use super::body::ChunkedDrain;
use super::encode;
use super::parse::{self, Framing, HeadFields, ParseError, RequestHead};
use crate::config::rate::Bandwidth;
use crate::exchange::{Body, Events, Piece, Plan};
use crate::limit::pace::Pace;
use crate::observe::{Open, Protocol, Record};
pub(crate) use crate::shared::Shared;
use crate::site::pages;
use crate::stop::{self, Stopped};
use crate::transport::{Transport, Wake};

/// Bytes requested from the socket per read.
const READ_CHUNK: usize = 8 * 1024;
/// Buffered output is flushed once it grows past this many bytes.
pub const OUT_FLUSH: usize = 64 * 1024;
/// Idle buffers each worker keeps for reuse.
const POOLED_BUFFERS: usize = 16;
/// Room an output buffer starts with: a response head and a small body
/// fit without growing it.
const OUT_INITIAL: usize = 4 * 1024;
/// Buffers that grew past these (a long head, many pipelined responses)
/// are not pooled, so the pool of an idle worker stays small.
const POOLED_READ_MAX: usize = 2 * READ_CHUNK;
const POOLED_OUT_MAX: usize = 2 * OUT_FLUSH;

thread_local! {
    /// Buffers of connections that are waiting for their next request: an
    /// idle connection holds no buffer, so thousands of them cost little.
    static POOL: RefCell<Vec<(BytesMut, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// Serves one accepted plain TCP connection until it closes.
pub fn serve_tcp(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> impl std::future::Future<Output = Option<Handover>> + Send {
    let now = Instant::now();
    let io = Transport::tcp(stream, shared.zero_copy, now + shared.limits.header_timeout);
    serve(io, peer, shared, now)
}

/// Serves one connection over `io`, ready since `accepted`, until it
/// closes. The connection's state is on the heap and its future small: an
/// idle connection costs both, and thousands of them may wait.
pub fn serve(
    io: Transport,
    peer: SocketAddr,
    shared: Arc<Shared>,
    accepted: Instant,
) -> impl std::future::Future<Output = Option<Handover>> + Send {
    let keep_bodies = shared.keeps_bodies();
    let dump_id = shared.observe.connection_number();
    let open = shared.observe.open(Protocol::Http11, io.is_tls());
    let conn = Box::new(Connection {
        open,
        io,
        peer,
        accepted,
        shared,
        stop: Stopped::default(),
        head: RequestHead::default(),
        buffers: Buffers::Pooled,
        buf: BytesMut::new(),
        out: Vec::new(),
        reading: Reading::Open,
        dump_id,
        requests: std::cell::Cell::new(0),
        keep_bodies,
        exchange: Box::default(),
    });
    conn.serve()
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
    /// The connection opened with the HTTP/2 preface.
    Http2,
}

/// How the connection's loop ended.
enum Ending {
    /// Read and discard what the client still sends, so that closing does
    /// not reset the connection under the last response.
    Linger,
    Close,
    /// The client speaks HTTP/2: hand the connection over.
    Http2,
}

/// The first line of the HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// A connection that turned out to speak HTTP/2 (prior knowledge): its
/// socket and what was already read from it.
pub struct Handover {
    /// The socket.
    pub stream: TcpStream,
    /// The bytes read so far, the preface's start among them.
    pub read: bytes::Bytes,
}

/// Whether the client may still send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Open,
    /// The client closed its side.
    Closed,
}

/// Whether `buf` and `out` are this connection's own, or placeholders
/// while their allocations wait in the worker's pool. (A buffer consumed
/// to its end has no capacity left, so capacity cannot tell.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buffers {
    Held,
    Pooled,
}

/// What the access log needs of a plan once it is sent.
struct Logged {
    status: u16,
    bytes: u64,
    encoding: &'static str,
    /// What few responses have, on the heap: every connection's future
    /// holds a `Logged` while its body is sent.
    rare: Option<Box<Rare>>,
}

/// The ranges served, the site, and the trace of a response, when it has
/// any of them.
#[derive(Default)]
struct Rare {
    range: Option<Box<str>>,
    site: Option<Arc<str>>,
    explain: Option<Arc<str>>,
}

/// A plan whose body bytes are in the output buffer: what is left to log,
/// and the file body left to send.
type Staged = (Logged, Rest);

/// What of a body is left to send once its head is in the output buffer.
enum Rest {
    Nothing,
    File(Arc<std::fs::File>, Vec<Piece>),
    Events(Box<Events>),
    /// A body sent at `--limit-rate`.
    Paced(Box<(Body, Bandwidth)>),
}

/// What one request keeps until its response is logged.
#[derive(Debug, Default)]
struct Exchange {
    /// When the head was complete (with an access log only).
    started: Option<Instant>,
    /// The request line, kept for the access log.
    line: Vec<u8>,
    /// The client a trusted proxy named, for the access log.
    client: Option<std::net::IpAddr>,
    /// Its Referer then User-Agent, for the access log, and where the
    /// first ends.
    agents: Vec<u8>,
    referer_len: usize,
    /// The request as received and the response head as sent, for the
    /// inspector.
    inspected: Option<Box<Inspected>>,
}

/// A request as received and its response head as sent.
type Inspected = (Vec<u8>, Vec<u8>);

struct Connection {
    /// Counts the connection as open while it lives.
    #[allow(dead_code)]
    open: Open,
    io: Transport,
    peer: SocketAddr,
    accepted: Instant,
    shared: Arc<Shared>,
    /// Completes when the server stops: idle connections close then.
    stop: Stopped,
    /// The head of the request being answered; spans point into `buf`.
    head: RequestHead,
    buffers: Buffers,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// Responses not yet written.
    out: Vec<u8>,
    reading: Reading,
    /// This connection's number in the dump, and its requests so far.
    dump_id: u64,
    requests: std::cell::Cell<u64>,
    /// Whether request bodies are kept (for `--echo` or `--dump`) rather
    /// than discarded.
    keep_bodies: bool,
    /// Kept on the heap: only a logged exchange fills it.
    exchange: Box<Exchange>,
}

impl Connection {
    /// Serves requests, then closes: lingering after a last response that
    /// the client may still be sending into, or ending a TLS session with
    /// close_notify. A connection that opens with the HTTP/2 preface is
    /// handed back instead.
    async fn serve(mut self: Box<Self>) -> Option<Handover> {
        let ending = match self.run().await {
            Ok(ending) => ending,
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "connection ended");
                Ending::Close
            }
        };
        match ending {
            Ending::Linger => Box::pin(self.linger()).await,
            Ending::Close if self.io.is_tls() => {
                let grace = self.shared.limits.linger_timeout;
                Box::pin(self.io.close(grace)).await;
            }
            Ending::Close => {}
            Ending::Http2 => {
                let Connection { io, buf, .. } = *self;
                let stream = io.into_tcp()?;
                return Some(Handover {
                    stream,
                    read: buf.freeze(),
                });
            }
        }
        // What is left unread or unsent is of no use now: the next
        // connection reuses the buffers.
        self.buf.clear();
        self.out.clear();
        self.release_buffers();
        None
    }

    /// Answers requests until the connection should close. Returns whether
    /// to linger: read and discard what the client still sends, so that
    /// closing does not reset the connection under the last response.
    async fn run(&mut self) -> io::Result<Ending> {
        let mut first = true;
        loop {
            match self.read_head(first).await? {
                HeadRead::Head => {}
                HeadRead::Closed => {
                    self.flush().await?;
                    return Ok(Ending::Close);
                }
                HeadRead::Http2 => return Ok(Ending::Http2),
                HeadRead::TimedOut => {
                    *self.exchange = Exchange {
                        started: Some(Instant::now()),
                        ..Exchange::default()
                    };
                    let received = self.buf.clone();
                    self.answer_refusal(408, &received).await?;
                    return Ok(Ending::Linger);
                }
                HeadRead::Malformed(e) => {
                    tracing::debug!(peer = %self.peer, reason = e.reason, "malformed request");
                    let end = self.buf.iter().position(|&b| b == b'\n');
                    let first_line = &self.buf[..end.unwrap_or(self.buf.len()).min(256)];
                    let line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
                    *self.exchange = Exchange {
                        started: Some(Instant::now()),
                        line: line.to_vec(),
                        ..Exchange::default()
                    };
                    let received = self.buf.clone();
                    self.answer_refusal(e.status, &received).await?;
                    return Ok(Ending::Linger);
                }
            }
            first = false;
            self.begin_exchange();
            let keep_alive = self.head.keep_alive && !stop::stopping() && !self.shared.refuses;
            let (len, framing) = (self.head.len, self.head.framing);
            let keep_alive = if framing == Framing::None {
                // The request and the plan end in this block: what is
                // alive across an await is kept in the connection's
                // future, and sending needs only what is staged.
                let staged = {
                    let raw = &self.buf[..len];
                    let fields = HeadFields::new(&self.head, raw);
                    let req = self
                        .head
                        .request(raw, &fields, self.peer, self.io.tls_names(), &[]);
                    let responder = self.shared.responder.load_full();
                    let mut plan = responder.respond(&req).await;
                    self.shared.advertise(&mut plan);
                    let mark = self.out.len();
                    encode::head(&mut self.out, &plan, keep_alive);
                    self.exchange.inspected = self.record(&self.buf[..len], mark);
                    self.buf.advance(len);
                    self.stage(plan)
                };
                self.send(staged, keep_alive).await?;
                keep_alive
            } else {
                // Bodies are rare: their state lives on the heap.
                match Box::pin(self.answer_with_body(keep_alive)).await? {
                    Some(keep_alive) => keep_alive,
                    None => return Ok(Ending::Linger),
                }
            };
            if !keep_alive {
                return Ok(if self.client_may_send() {
                    Ending::Linger
                } else {
                    Ending::Close
                });
            }
            // Pipelined responses must not wait for the client's ACKs.
            self.io.set_nodelay();
            if self.out.len() >= OUT_FLUSH {
                self.flush().await?;
            }
        }
    }

    /// Reads the body of the request just parsed, then answers it.
    /// Returns whether the connection persists, or `None` when the body
    /// was refused and the connection must close.
    async fn answer_with_body(&mut self, keep_alive: bool) -> io::Result<Option<bool>> {
        let raw = self.buf.split_to(self.head.len).freeze();
        let mut body = Vec::new();
        let drained = self
            .drain_body(self.head.framing, self.head.expect_continue, &mut body)
            .await?;
        let (mut plan, keep_alive) = match drained {
            Err(e) => (pages::error_plan(e.status, false), false),
            Ok(()) => {
                let fields = HeadFields::new(&self.head, &raw);
                let req = self
                    .head
                    .request(&raw, &fields, self.peer, self.io.tls_names(), &body);
                let responder = self.shared.responder.load_full();
                (responder.respond(&req).await, keep_alive)
            }
        };
        self.shared.advertise(&mut plan);
        let mark = self.out.len();
        encode::head(&mut self.out, &plan, keep_alive);
        if self.shared.observe.records_exchanges() {
            let mut request = raw.to_vec();
            request.extend_from_slice(&body);
            self.exchange.inspected = self.record(&request, mark);
        }
        let staged = self.stage(plan);
        self.send(staged, keep_alive).await?;
        Ok(drained.is_ok().then_some(keep_alive))
    }

    /// Starts the exchange of the head just read: what the access log
    /// needs of it.
    fn begin_exchange(&mut self) {
        let observe = &self.shared.observe;
        if !observe.wants_line() {
            if observe.active() {
                self.exchange.started = Some(Instant::now());
            }
            return;
        }
        let head = &self.head;
        let trusted = &self.shared.trusted;
        let client = if trusted.is_empty() {
            None
        } else {
            let fields = HeadFields::new(head, &self.buf);
            crate::forwarded::client(trusted, self.peer.ip(), &fields)
        };
        let mut exchange = Exchange {
            started: Some(Instant::now()),
            line: head.line.of(&self.buf).to_vec(),
            client,
            ..Exchange::default()
        };
        if observe.wants_agents() {
            let referer = head.referer.get(&self.buf).unwrap_or_default();
            let agent = head.user_agent.get(&self.buf).unwrap_or_default();
            exchange.agents.extend_from_slice(referer);
            exchange.agents.extend_from_slice(agent);
            exchange.referer_len = referer.len();
        }
        *self.exchange = exchange;
    }

    /// Answers a request that could not be read (`status`: 400, 408, 413,
    /// 414, 431, 505…) and closes: nothing after it can be trusted.
    async fn answer_refusal(&mut self, status: u16, received: &[u8]) -> io::Result<()> {
        let staged = {
            let plan = pages::error_plan(status, false);
            let mark = self.out.len();
            encode::head(&mut self.out, &plan, false);
            self.exchange.inspected = self.record(received, mark);
            self.stage(plan)
        };
        self.send(staged, false).await
    }

    /// Sends the plan's body after its head (already in the output
    /// buffer), and logs the exchange.
    async fn send(&mut self, staged: Staged, keep_alive: bool) -> io::Result<()> {
        let (logged, rest) = staged;
        match rest {
            Rest::Nothing => {}
            // Big bodies are rare next to small ones: their state lives on
            // the heap, so every connection's future stays small.
            Rest::File(file, pieces) => Box::pin(self.send_file_body(file, pieces)).await?,
            Rest::Events(events) => Box::pin(self.send_events(events)).await?,
            Rest::Paced(paced) => Box::pin(self.send_paced(paced)).await?,
        }
        if !keep_alive {
            // The connection closes next: over plain TCP the end of this
            // response waits for the FIN, and both leave in one segment.
            let more = !self.io.is_tls();
            self.write_out(more).await?;
        }
        self.log(logged);
        Ok(())
    }

    /// Puts a plan's body bytes in the output buffer, and keeps of it what
    /// the access log needs; a file body is handed back to be sent.
    fn stage(&mut self, plan: Plan) -> Staged {
        let logged = Logged {
            status: plan.status,
            bytes: plan.body.len(),
            encoding: plan.encoding,
            rare: (plan.range.is_some() || plan.site.is_some() || plan.explain.is_some()).then(
                || {
                    Box::new(Rare {
                        range: plan.range,
                        site: plan.site,
                        explain: plan.explain,
                    })
                },
            ),
        };
        let rest = match (plan.body, plan.pace) {
            (Body::Empty, _) => Rest::Nothing,
            (body @ (Body::Bytes(_) | Body::File { .. }), Some(bandwidth)) => {
                Rest::Paced(Box::new((body, *bandwidth)))
            }
            (Body::Bytes(b), None) => {
                self.out.extend_from_slice(&b);
                Rest::Nothing
            }
            (Body::File { file, pieces }, None) => Rest::File(file, pieces),
            (Body::Events(events), _) => Rest::Events(events),
        };
        (logged, rest)
    }

    /// Sends Server-Sent Events as chunks, each as it comes, until their
    /// source ends or the server stops; then the last chunk. Reading the
    /// client waits meanwhile: an event stream has no idle timeout, and a
    /// client that stops reading meets the send timeout.
    async fn send_events(&mut self, mut events: Box<Events>) -> io::Result<()> {
        self.flush().await?;
        while let Some(event) = events.next().await {
            use std::io::Write;
            let _ = write!(self.out, "{:x}\r\n", event.len());
            self.out.extend_from_slice(&event);
            self.out.extend_from_slice(b"\r\n");
            self.flush().await?;
        }
        self.out.extend_from_slice(b"0\r\n\r\n");
        self.flush().await
    }

    /// Hands the finished exchange to the observers, if any is on.
    fn log(&self, logged: Logged) {
        let exchange = &self.exchange;
        let Some(started) = exchange.started else {
            return;
        };
        let number = self.requests.get() + 1;
        self.requests.set(number);
        let split = exchange.referer_len.min(exchange.agents.len());
        let (referer, user_agent) = exchange.agents.split_at(split);
        let none = Rare::default();
        let rare = logged.rare.as_deref().unwrap_or(&none);
        let protocol = match self.head.version {
            parse::Version::Http10 => Protocol::Http10,
            parse::Version::Http11 => Protocol::Http11,
        };
        self.shared.observe.finish(&Record {
            protocol,
            connection: self.dump_id,
            number,
            peer: self.peer,
            client: exchange.client,
            tls: self.io.tls_info(),
            method: self.head.method,
            line: &exchange.line,
            referer,
            user_agent,
            exchange: exchange
                .inspected
                .as_deref()
                .map(|(request, response)| (&request[..], &response[..])),
            status: logged.status,
            bytes: logged.bytes,
            elapsed: started.elapsed(),
            encoding: logged.encoding,
            range: rare.range.as_deref().unwrap_or(""),
            site: rare.site.as_deref(),
            explain: rare.explain.as_deref(),
        });
    }

    /// Sends the buffered output (with the head of this response at its
    /// end), then the pieces of a file body.
    async fn send_file_body(
        &mut self,
        file: Arc<std::fs::File>,
        pieces: Vec<Piece>,
    ) -> io::Result<()> {
        self.io.set_nodelay();
        let len: u64 = pieces.iter().map(Piece::len).sum();
        let corked = self.io.cork_for(len);
        let timeout = self.shared.limits.send_timeout;
        for piece in pieces {
            match piece {
                Piece::Bytes(bytes) => self.out.extend_from_slice(&bytes),
                // Nothing to send: no head may wait for a body that is
                // not coming (kernel TLS holds a record open until then).
                Piece::File(range) if range.is_empty() => {}
                Piece::File(range) => {
                    self.write_out(true).await?;
                    self.io.send_file(&file, range, timeout).await?;
                }
            }
        }
        if corked {
            self.write_out(false).await?;
            self.io.uncork();
        }
        Ok(())
    }

    /// Sends the buffered output, then a body no faster than `--limit-rate`
    /// lets it go: file ranges by `sendfile(2)` (or through TLS) a slice
    /// at a time, bytes likewise.
    async fn send_paced(&mut self, paced: Box<(Body, Bandwidth)>) -> io::Result<()> {
        let (body, bandwidth) = *paced;
        let mut pace = Pace::new(bandwidth);
        self.io.set_nodelay();
        self.write_out(false).await?;
        let timeout = self.shared.limits.send_timeout;
        let pieces = match body {
            Body::Bytes(bytes) => vec![(None, Piece::Bytes(bytes))],
            Body::File { file, pieces } => pieces
                .into_iter()
                .map(|p| (Some(file.clone()), p))
                .collect(),
            _ => Vec::new(),
        };
        for (file, piece) in pieces {
            match (piece, file) {
                (Piece::Bytes(bytes), _) => {
                    let mut at = 0;
                    while at < bytes.len() {
                        let left = (bytes.len() - at) as u64;
                        let n = usize::try_from(pace.allow(left).await).unwrap_or(1);
                        self.out.extend_from_slice(&bytes[at..at + n]);
                        self.write_out(false).await?;
                        pace.sent(n as u64);
                        at += n;
                    }
                }
                (Piece::File(range), Some(file)) => {
                    let mut at = range.start;
                    while at < range.end {
                        let n = pace.allow(range.end - at).await;
                        self.io.send_file(&file, at..at + n, timeout).await?;
                        pace.sent(n);
                        at += n;
                    }
                }
                (Piece::File(_), None) => {}
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.write_out(false).await
    }

    /// Writes all buffered output; `more` says a file body follows.
    async fn write_out(&mut self, more: bool) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        // The loop of Transport::write_all, written out: one future less
        // in every connection's state.
        let mut sent = 0;
        while sent < self.out.len() {
            match self.io.try_write(&self.out[sent..], more) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let timeout = self.shared.limits.send_timeout;
                    if let Err(e) = self.io.wait_writable(timeout).await {
                        self.out.clear();
                        return Err(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.out.clear();
                    return Err(e);
                }
            }
        }
        self.out.clear();
        if !self.io.try_flush()? {
            // An encrypted stream holds records the socket did not take
            // (rare: its state lives on the heap).
            Box::pin(self.io.flush(self.shared.limits.send_timeout)).await?;
        }
        Ok(())
    }

    /// Keeps one exchange's bytes for the dump and the inspector:
    /// `request` as received, and the response head written to the output
    /// buffer from `mark`.
    fn record(&self, request: &[u8], mark: usize) -> Option<Box<Inspected>> {
        self.shared
            .observe
            .records_exchanges()
            .then(|| Box::new((request.to_vec(), self.out[mark..].to_vec())))
    }

    /// Whether bytes from the client are pending after a last response, so
    /// that closing at once could reset the connection under it.
    fn client_may_send(&mut self) -> bool {
        if self.reading == Reading::Closed {
            return false;
        }
        if !self.buf.is_empty() {
            return true;
        }
        // Costs no call when the socket is known to be drained.
        matches!(self.try_read(), Ok(true)) && self.reading == Reading::Open
    }

    /// Takes buffers from the worker's pool if this connection has none.
    fn take_buffers(&mut self) {
        if self.buffers == Buffers::Pooled {
            let pooled = POOL.with(|p| p.borrow_mut().pop());
            (self.buf, self.out) = pooled.unwrap_or_else(|| {
                (
                    BytesMut::with_capacity(READ_CHUNK),
                    Vec::with_capacity(OUT_INITIAL),
                )
            });
            self.buffers = Buffers::Held;
        }
    }

    /// Gives empty buffers back to the pool while the connection waits
    /// (or once it has closed).
    fn release_buffers(&mut self) {
        if self.buffers == Buffers::Held && self.buf.is_empty() && self.out.is_empty() {
            self.buffers = Buffers::Pooled;
            let buffers = (std::mem::take(&mut self.buf), std::mem::take(&mut self.out));
            if buffers.0.capacity() > POOLED_READ_MAX || buffers.1.capacity() > POOLED_OUT_MAX {
                return;
            }
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
        match self.io.try_read(&mut self.buf)? {
            None => Ok(false),
            Some(0) => {
                self.reading = Reading::Closed;
                Ok(true)
            }
            Some(_) => Ok(true),
        }
    }

    async fn read_head(&mut self, first: bool) -> io::Result<HeadRead> {
        let header_timeout = self.shared.limits.header_timeout;
        let keepalive_timeout = self.shared.limits.keepalive_timeout;
        let mut deadline = first.then(|| self.accepted + header_timeout);
        loop {
            let skip = parse::leading_empty_lines(&self.buf);
            self.buf.advance(skip);
            if first && self.shared.http2 && !self.io.is_tls() && self.buf.starts_with(PREFACE_LINE)
            {
                return Ok(HeadRead::Http2);
            }
            if !self.buf.is_empty() {
                match parse::parse(&self.buf, &self.shared.limits) {
                    Ok(Some(head)) => {
                        self.head = head;
                        return Ok(HeadRead::Head);
                    }
                    Ok(None) => {}
                    Err(e) => return Ok(HeadRead::Malformed(e)),
                }
                // The clock is read only for a head that did not come
                // whole: its time runs from the first piece seen, once,
                // and is looked at again with each later piece.
                match deadline {
                    Some(d) if Instant::now() >= d => return Ok(HeadRead::TimedOut),
                    Some(_) => {}
                    None => deadline = Some(Instant::now() + header_timeout),
                }
            }
            if self.reading == Reading::Closed {
                return Ok(HeadRead::Closed);
            }
            if self.try_read()? {
                continue;
            }
            self.flush().await?;
            let idle = self.buf.is_empty();
            let stopping = stop::stopping();
            if idle && stopping {
                // A connection between requests closes when the server
                // stops. A new one may have its first request on the way
                // (the client cannot tell it from a lost one): it gets the
                // linger time to arrive.
                if !first {
                    return Ok(HeadRead::Closed);
                }
                let grace = Instant::now() + self.shared.limits.linger_timeout;
                deadline = Some(deadline.map_or(grace, |d| d.min(grace)));
            }
            self.release_buffers();
            let until = deadline.unwrap_or_else(|| Instant::now() + keepalive_timeout);
            let stop = (idle && !stopping).then_some(&mut self.stop);
            match self.io.wait_readable(until, stop).await? {
                Wake::Ready => {}
                Wake::TimedOut if idle => return Ok(HeadRead::Closed),
                Wake::TimedOut => return Ok(HeadRead::TimedOut),
                // Looked at again, with the grace for a first request.
                Wake::Stopping if first => {}
                Wake::Stopping => return Ok(HeadRead::Closed),
            }
        }
    }

    /// Waits for more bytes of a body. `Ok(false)`: the client closed.
    async fn read_body_bytes(&mut self) -> io::Result<bool> {
        loop {
            if self.reading == Reading::Closed {
                return Ok(false);
            }
            if self.try_read()? {
                return Ok(self.reading == Reading::Open);
            }
            self.flush().await?;
            let until = Instant::now() + self.shared.limits.body_timeout;
            if self.io.wait_readable(until, None).await? != Wake::Ready {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request body stalled",
                ));
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

    /// Reads the body (kept with `--echo` or `--dump`, else discarded), so
    /// the next request starts at the right byte. The outer error is the
    /// connection's; the inner one is answered.
    async fn drain_body(
        &mut self,
        framing: Framing,
        expect_continue: bool,
        kept: &mut Vec<u8>,
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
                        kept.extend_from_slice(&self.buf[..take as usize]);
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
                        kept.extend_from_slice(&self.buf[..used]);
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
        if self.flush().await.is_err() || self.io.shutdown().await.is_err() {
            return;
        }
        let until = Instant::now() + self.shared.limits.linger_timeout;
        self.take_buffers();
        loop {
            if !matches!(self.io.wait_readable(until, None).await, Ok(Wake::Ready)) {
                return;
            }
            self.buf.clear();
            match self.try_read() {
                Ok(_) if self.reading == Reading::Open => {}
                _ => return,
            }
        }
    }
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
            let shared = std::sync::Arc::new(super::Shared::new(
                &config,
                crate::respond::Responder::Echo,
                crate::observe::Observers::none(),
                None,
                true,
            ));
            let f = super::serve_tcp(c, "127.0.0.1:1".parse().unwrap(), shared);
            // Thousands of idle connections each hold one of these, and
            // the connection's state it points to.
            let state = std::mem::size_of::<super::Connection>();
            let total = size(&f) + state;
            assert!(
                total <= 1616,
                "serve future {} + state {state} bytes",
                size(&f)
            );
        });
    }
}
