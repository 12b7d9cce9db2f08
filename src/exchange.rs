//! The protocol-neutral exchange: the request view every protocol hands
//! the pipeline, and the response plan the pipeline hands back.
//!
//! Nothing here knows of keep-alive, `Connection`, output buffers, frames
//! or sockets: HTTP/1.1 (and any later protocol) reads the request into a
//! [`Request`] and encodes the [`Plan`] its own way.

use std::fs::File;
use std::net::SocketAddr;
use std::ops::{Deref, Range};
use std::sync::Arc;

use bytes::Bytes;

/// The peer of a connection over a Unix socket, which has no address:
/// the unspecified IPv6 address and port 0, which no TCP peer can have.
/// The access log shows it as `unix`.
pub const UNIX_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0);

/// The request method, as far as a static-file server cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// `GET`: serve the resource.
    #[default]
    Get,
    /// `HEAD`: as GET, without the body.
    Head,
    /// `OPTIONS`: answer with the allowed methods.
    Options,
    /// A method RFC 9110 defines that this server does not allow: 405.
    NotAllowed,
    /// Any other well-formed method: 501.
    Unknown,
}

/// Methods RFC 9110 defines that a static-file server does not allow.
const NOT_ALLOWED: [&str; 6] = ["POST", "PUT", "DELETE", "PATCH", "CONNECT", "TRACE"];

impl Method {
    /// Classifies a method token; the error (answered with 400) says why
    /// it is not one.
    pub fn classify(m: &[u8]) -> Result<Method, &'static str> {
        match m {
            b"GET" => return Ok(Method::Get),
            b"HEAD" => return Ok(Method::Head),
            b"OPTIONS" => return Ok(Method::Options),
            _ => {}
        }
        if m.is_empty() || !m.iter().all(|&b| is_tchar(b)) {
            return Err("method is not a token");
        }
        if NOT_ALLOWED.iter().any(|k| k.as_bytes() == m) {
            return Ok(Method::NotAllowed);
        }
        // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET, and
        // a client that sends it is broken rather than asking for an
        // extension.
        let known = ["GET", "HEAD", "OPTIONS"].iter().chain(NOT_ALLOWED.iter());
        if known
            .into_iter()
            .any(|k| k.as_bytes().eq_ignore_ascii_case(m))
        {
            return Err("method in the wrong case");
        }
        Ok(Method::Unknown)
    }
}

/// The request fields the pipeline reads, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// `If-Match`.
    IfMatch,
    /// `If-None-Match`.
    IfNoneMatch,
    /// `If-Modified-Since`.
    IfModifiedSince,
    /// `If-Unmodified-Since`.
    IfUnmodifiedSince,
    /// `Range`.
    Range,
    /// `If-Range`.
    IfRange,
    /// `Accept-Encoding`.
    AcceptEncoding,
    /// `Accept`.
    Accept,
    /// `Origin`.
    Origin,
    /// `Access-Control-Request-Method` (CORS preflight).
    CorsMethod,
    /// `Access-Control-Request-Headers` (CORS preflight).
    CorsHeaders,
    /// `Authorization`.
    Authorization,
    /// `Referer`.
    Referer,
    /// `User-Agent`.
    UserAgent,
    /// `Forwarded` (RFC 7239).
    Forwarded,
    /// `X-Forwarded-For`.
    XForwardedFor,
    /// `X-Forwarded-Proto`.
    XForwardedProto,
}

impl Name {
    /// Every name, in the order of [`Name::index`].
    pub const ALL: [Name; 17] = [
        Name::IfMatch,
        Name::IfNoneMatch,
        Name::IfModifiedSince,
        Name::IfUnmodifiedSince,
        Name::Range,
        Name::IfRange,
        Name::AcceptEncoding,
        Name::Accept,
        Name::Origin,
        Name::CorsMethod,
        Name::CorsHeaders,
        Name::Authorization,
        Name::Referer,
        Name::UserAgent,
        Name::Forwarded,
        Name::XForwardedFor,
        Name::XForwardedProto,
    ];

    /// The position of this name in [`Name::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name a lowercase field name stands for, if the pipeline reads
    /// it.
    pub fn from_lowercase(name: &str) -> Option<Name> {
        Name::ALL.into_iter().find(|n| n.as_str() == name)
    }

    /// The field name, in lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::IfMatch => "if-match",
            Name::IfNoneMatch => "if-none-match",
            Name::IfModifiedSince => "if-modified-since",
            Name::IfUnmodifiedSince => "if-unmodified-since",
            Name::Range => "range",
            Name::IfRange => "if-range",
            Name::AcceptEncoding => "accept-encoding",
            Name::Accept => "accept",
            Name::Origin => "origin",
            Name::CorsMethod => "access-control-request-method",
            Name::CorsHeaders => "access-control-request-headers",
            Name::Authorization => "authorization",
            Name::Referer => "referer",
            Name::UserAgent => "user-agent",
            Name::Forwarded => "forwarded",
            Name::XForwardedFor => "x-forwarded-for",
            Name::XForwardedProto => "x-forwarded-proto",
        }
    }
}

/// A request's header fields, looked up by name. Several field lines of
/// one name come back combined as RFC 9110 §5.3 says.
pub trait Fields {
    /// The value of `name`, or `None` when absent.
    fn get(&self, name: Name) -> Option<&[u8]>;
}

/// No fields at all.
impl Fields for () {
    fn get(&self, _: Name) -> Option<&[u8]> {
        None
    }
}

/// tchar, RFC 9110 §5.6.2.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Fields held as a list of names and values, several lines of one name
/// combined when added.
#[cfg(test)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldList(Vec<(String, Vec<u8>)>);

#[cfg(test)]
impl FieldList {
    /// Adds a field line; a name already present gets the value appended
    /// as a list element (RFC 9110 §5.3).
    pub fn add(&mut self, name: &str, value: &[u8]) {
        match self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, v)) if v.is_empty() => v.extend_from_slice(value),
            Some((_, v)) if value.is_empty() => {}
            Some((_, v)) => {
                v.extend_from_slice(b", ");
                v.extend_from_slice(value);
            }
            None => self.0.push((name.to_ascii_lowercase(), value.to_vec())),
        }
    }

    /// Fields from `Name: value` lines.
    pub fn parse(text: &str) -> FieldList {
        let mut list = FieldList::default();
        for line in text.lines() {
            if let Some((name, value)) = line.split_once(':') {
                list.add(name.trim(), value.trim().as_bytes());
            }
        }
        list
    }
}

#[cfg(test)]
impl Fields for FieldList {
    fn get(&self, name: Name) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == name.as_str())
            .map(|(_, v)| v.as_slice())
    }
}

/// What the pipeline sees of a request, whatever protocol carried it.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The method as classified.
    pub method: Method,
    /// The path of the target, still percent-encoded; empty means `/`.
    pub path: &'a [u8],
    /// The query, without the `?`.
    pub query: Option<&'a [u8]>,
    /// The authority (Host, `:authority`, or an absolute-form target's).
    pub authority: Option<&'a [u8]>,
    /// Who sent it.
    pub peer: SocketAddr,
    /// Whether it came over TLS (the `https` scheme).
    pub secure: bool,
    /// The server name the client asked for in its TLS handshake (SNI).
    pub server_name: Option<&'a str>,
    /// The header fields.
    pub fields: &'a (dyn Fields + Sync),
    /// The request head as received, in the protocol's text form (for
    /// `--echo`).
    pub raw: &'a [u8],
    /// The body, when kept (for `--echo`); empty otherwise.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A GET of `path` from loopback with `fields`, nothing else: for
    /// driving the pipeline without a connection.
    #[cfg(test)]
    pub fn get(path: &'a [u8], fields: &'a (dyn Fields + Sync)) -> Request<'a> {
        Request {
            method: Method::Get,
            path,
            query: None,
            authority: None,
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            secure: false,
            server_name: None,
            fields,
            raw: b"",
            body: b"",
        }
    }

    /// The value of the field `name`.
    pub fn field(&self, name: Name) -> Option<&[u8]> {
        self.fields.get(name)
    }

    /// Whether the method is HEAD: the plan then carries no body bytes.
    pub fn head_only(&self) -> bool {
        self.method == Method::Head
    }
}

/// A field name or value: static text, shared text (cloned by a reference
/// count), or text made for one response.
#[derive(Debug, Clone)]
pub enum Text {
    /// Text known at compile time.
    Static(&'static str),
    /// Text shared by many responses (a file's validators, a configured
    /// field).
    Shared(Arc<str>),
    /// Text made for this response.
    Owned(Box<str>),
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl Eq for Text {}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Text {
        Text::Static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::Owned(s.into_boxed_str())
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Text {
        Text::Shared(s)
    }
}

/// A content coding the server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// Brotli.
    Br,
    /// Zstandard (precompressed siblings only).
    Zstd,
    /// gzip.
    Gzip,
}

/// The order codings are preferred in when the client likes them equally.
pub const DEFAULT_PREFERENCE: [Coding; 3] = [Coding::Br, Coding::Zstd, Coding::Gzip];

impl Coding {
    /// The token in Accept-Encoding and Content-Encoding.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// The file name suffix of a precompressed sibling.
    pub fn suffix(self) -> &'static str {
        match self {
            Coding::Br => ".br",
            Coding::Zstd => ".zst",
            Coding::Gzip => ".gz",
        }
    }

    /// The bit of this coding in a set of precompressed siblings.
    pub(crate) fn bit(self) -> u8 {
        match self {
            Coding::Br => 1,
            Coding::Zstd => 2,
            Coding::Gzip => 4,
        }
    }

    /// Whether the server compresses with this coding on the fly.
    pub fn on_the_fly(self) -> bool {
        matches!(self, Coding::Br | Coding::Gzip)
    }

    /// Parses a token such as `br`; `x-gzip` is gzip (RFC 9110 §8.4.1.3).
    pub fn from_token(token: &str) -> Option<Coding> {
        match token.to_ascii_lowercase().as_str() {
            "br" => Some(Coding::Br),
            "zstd" => Some(Coding::Zstd),
            "gzip" | "x-gzip" => Some(Coding::Gzip),
            _ => None,
        }
    }
}

/// One piece of a file body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes, such as a part head of a multipart body.
    Bytes(Bytes),
    /// A byte range of the file.
    File(Range<u64>),
}

impl Piece {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File(r) => r.end - r.start,
        }
    }
}

/// Size of the buffers file chunks of HTTP/2 and HTTP/3 bodies are read
/// into, and most that are read into one.
pub const POOLED_CHUNK: usize = 64 * 1024;
/// Chunks this size or larger are read into a pooled buffer.
const POOLED_FROM: usize = 16 * 1024;
/// Chunk buffers each thread keeps for reuse.
const POOLED_CHUNKS: usize = 8;

thread_local! {
    static CHUNK_BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A pooled buffer holding a chunk; it goes back to its thread's pool
/// when the last `Bytes` of the chunk is dropped, so that a large body is
/// read into memory that is already mapped and warm, never zeroed again.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let _ = CHUNK_BUFFERS.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOLED_CHUNKS {
                pool.push(buf);
            }
        });
    }
}

/// Reads up to `want` bytes of `file` from `offset`, to be handed on as
/// one chunk of a body: from [`POOLED_FROM`] to [`POOLED_CHUNK`] bytes
/// into a pooled buffer, else into fresh memory, never zeroed first. An
/// empty chunk: the file ends before `offset`.
pub fn read_chunk(file: &File, offset: u64, want: usize) -> std::io::Result<Bytes> {
    if !(POOLED_FROM..=POOLED_CHUNK).contains(&want) {
        let mut buf = Vec::with_capacity(want);
        crate::platform::fs::read_into(file, &mut buf, offset)?;
        return Ok(Bytes::from(buf));
    }
    let buf = CHUNK_BUFFERS
        .with(|pool| pool.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; POOLED_CHUNK]);
    // Dropped on an error, it goes back to the pool.
    let mut chunk = Pooled { buf, len: 0 };
    chunk.len = crate::platform::fs::read_at(file, &mut chunk.buf[..want], offset)?;
    Ok(Bytes::from_owner(chunk))
}

/// What a response carries after its head.
#[derive(Debug, Default)]
pub enum Body {
    /// Nothing (HEAD, 304, 204).
    #[default]
    Empty,
    /// Bytes in memory.
    Bytes(Bytes),
    /// Ranges of an open file, with bytes between them (multipart); a
    /// protocol sends them without holding the file in memory.
    File {
        /// The open file.
        file: Arc<File>,
        /// What to send, in order.
        pieces: Vec<Piece>,
    },
    /// Server-Sent Events, sent as they come until their source ends or
    /// the server stops; the length is not known in advance.
    Events(Box<Events>),
}

/// How often an event stream with nothing to say sends a comment, so that
/// a client that went away is noticed and proxies keep it open.
pub const EVENTS_PING: std::time::Duration = std::time::Duration::from_secs(15);

/// A stream of Server-Sent Events, each already in the `text/event-stream`
/// format, until its source ends or the server stops.
pub struct Events {
    first: Option<Bytes>,
    source: tokio::sync::broadcast::Receiver<Bytes>,
    stopped: crate::stop::Stopped,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    /// `first`, then what `source` broadcasts.
    pub fn new(first: Bytes, source: tokio::sync::broadcast::Receiver<Bytes>) -> Events {
        Events {
            first: Some(first),
            source,
            stopped: crate::stop::Stopped::default(),
        }
    }

    /// The next event, a comment after [`EVENTS_PING`] of silence, or
    /// `None` when the source is gone or the server stops. Events a slow
    /// client missed are skipped. Poll it from the connection's task only.
    pub async fn next(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            let received = tokio::select! {
                biased;
                () = &mut self.stopped => return None,
                r = tokio::time::timeout(EVENTS_PING, self.source.recv()) => r,
            };
            match received {
                Err(_) => return Some(Bytes::from_static(b": ping\n\n")),
                Ok(Ok(event)) => return Some(event),
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
            }
        }
    }
}

impl Body {
    /// The number of bytes the body holds.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { pieces, .. } => pieces.iter().map(Piece::len).sum(),
            Body::Events(_) => 0,
        }
    }

    /// True when there are no bytes to send.
    pub fn is_empty(&self) -> bool {
        !matches!(self, Body::Events(_)) && self.len() == 0
    }
}

/// Header fields many responses share, such as a file's type and
/// validators: a protocol may encode them once and reuse the encoding
/// while the block lives.
pub type SharedFields = Arc<[(Text, Text)]>;

/// A response, decided: what any protocol encodes and sends.
#[derive(Debug, Default)]
pub struct Plan {
    /// The status code.
    pub status: u16,
    /// A reason phrase other than the standard one (`--reply` files).
    pub reason: Option<Box<str>>,
    /// Whether the protocol adds its usual fields (Date, Server); a
    /// `--reply` file's head is sent as written.
    pub bare: bool,
    /// Header fields shared with other responses, sent before `fields`.
    pub shared: Option<SharedFields>,
    /// The header fields, in order; the protocol adds its framing and
    /// connection fields itself.
    pub fields: Vec<(Text, Text)>,
    /// The Content-Length the representation has, also for HEAD; `None`
    /// where the status carries no content (304, 204, 1xx).
    pub content_length: Option<u64>,
    /// What follows the head; empty for HEAD.
    pub body: Body,
    /// The content coding served, or "" (for the access log).
    pub encoding: &'static str,
    /// The ranges served, for a 206 (for the access log).
    pub range: Option<Box<str>>,
    /// The site that answered, when the server has several (for the
    /// access log).
    pub site: Option<Arc<str>>,
    /// How the response was reached (`--explain`), for the access log.
    pub explain: Option<Arc<str>>,
    /// The bandwidth the body goes out at (`--limit-rate`).
    pub pace: Option<Arc<crate::config::rate::Bandwidth>>,
}

impl Plan {
    /// A plan with `status` and nothing else yet.
    pub fn new(status: u16) -> Plan {
        Plan {
            status,
            fields: Vec::new(),
            ..Plan::default()
        }
    }

    /// Adds a header field.
    pub fn field(&mut self, name: impl Into<Text>, value: impl Into<Text>) {
        self.fields.push((name.into(), value.into()));
    }

    /// The value of the first field named `name` (ASCII case ignored).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all_fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }

    /// Every header field: the shared ones, then the plan's own.
    pub fn all_fields(&self) -> impl Iterator<Item = &(Text, Text)> {
        self.shared
            .iter()
            .flat_map(|s| s.iter())
            .chain(&self.fields)
    }

    /// Sets the body to `bytes` with its length, or for a HEAD request
    /// only the length.
    pub fn with_bytes(mut self, bytes: Bytes, head_only: bool) -> Plan {
        self.content_length = Some(bytes.len() as u64);
        self.body = if head_only {
            Body::Empty
        } else {
            Body::Bytes(bytes)
        };
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(data: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(data).unwrap();
        file
    }

    #[test]
    fn chunks_hold_the_file_bytes_whatever_their_buffer_held_before() {
        let a = file_of(&[b'a'; 3 * POOLED_CHUNK]);
        let b: Vec<u8> = (0..POOLED_CHUNK).map(|i| (i % 251) as u8).collect();
        let b_file = file_of(&b);
        // Fill the pool with buffers that held `a`.
        let held: Vec<Bytes> = (0..3)
            .map(|i| read_chunk(&a, (i * POOLED_CHUNK) as u64, POOLED_CHUNK).unwrap())
            .collect();
        assert!(held
            .iter()
            .all(|c| c.len() == POOLED_CHUNK && c.iter().all(|&x| x == b'a')));
        drop(held);
        for (offset, want) in [(0, POOLED_FROM), (100, 20_000), (0, POOLED_CHUNK), (7, 100)] {
            let chunk = read_chunk(&b_file, offset as u64, want).unwrap();
            let end = (offset + want).min(b.len());
            assert_eq!(&chunk[..], &b[offset..end], "{want} bytes from {offset}");
        }
        // Past the end: short, then empty.
        let tail = read_chunk(&b_file, (POOLED_CHUNK - 10) as u64, POOLED_CHUNK).unwrap();
        assert_eq!(&tail[..], &b[POOLED_CHUNK - 10..]);
        assert!(read_chunk(&b_file, POOLED_CHUNK as u64, POOLED_CHUNK)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_shared_chunk_keeps_its_bytes_until_its_last_part_is_dropped() {
        let a = file_of(&[1; POOLED_CHUNK]);
        let b = file_of(&[2; POOLED_CHUNK]);
        let mut first = read_chunk(&a, 0, POOLED_CHUNK).unwrap();
        let front = first.split_to(POOLED_FROM);
        drop(first);
        // The buffer under `front` is still in use: `b` goes elsewhere.
        let second = read_chunk(&b, 0, POOLED_CHUNK).unwrap();
        assert!(front.iter().all(|&x| x == 1));
        assert!(second.iter().all(|&x| x == 2));
    }
}
