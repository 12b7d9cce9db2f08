//! Request heads: the request line (RFC 9112 §3), the header section parsed
//! with httparse (RFC 9112 §5), and the decisions taken from them: framing
//! of the body (RFC 9112 §6.3), persistence (RFC 9112 §9.3) and
//! expectations (RFC 9110 §10.1.1).
//!
//! The parser works on a byte buffer that may hold less than a whole head
//! ([`parse`] returns `Ok(None)`) or several pipelined requests (it reports
//! how many bytes the head took). Everything it keeps points into the
//! buffer as [`Span`]s, so parsing allocates nothing.

use crate::config::limits::Limits;
use std::net::SocketAddr;

use crate::exchange::{is_tchar, Fields, Method, Name, Request};

/// A byte range into the buffer the head was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes this span covers in `buf`.
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }

    /// True when the span covers nothing.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// The protocol version the request was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1, or any later HTTP/1.x, answered as 1.1.
    #[default]
    Http11,
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// No body.
    #[default]
    None,
    /// A body of exactly this many bytes.
    Length(u64),
    /// A chunked body.
    Chunked,
}

/// A header value that may have come in several field lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field {
    /// Absent.
    #[default]
    Absent,
    /// One field line.
    One(Span),
    /// Several field lines, combined as RFC 9110 §5.3 says (rare, so kept
    /// out of line to keep every head small).
    #[allow(clippy::box_collection)] // a thin pointer keeps every Field small
    Many(Box<String>),
}

impl Field {
    /// The value, combined, or `None` when absent.
    pub fn get<'a>(&'a self, head: &'a [u8]) -> Option<&'a [u8]> {
        match self {
            Field::Absent => None,
            Field::One(span) => Some(span.of(head)),
            Field::Many(s) => Some(s.as_bytes()),
        }
    }

    /// Adds a field line; empty lines add no list element.
    fn add(&mut self, head: &[u8], span: Span) {
        *self = match std::mem::take(self) {
            Field::Absent => Field::One(span),
            Field::One(first) if first.is_empty() => Field::One(span),
            kept if span.is_empty() => kept,
            Field::One(first) => {
                let mut s = String::from_utf8_lossy(first.of(head)).into_owned();
                s.push_str(", ");
                s.push_str(&String::from_utf8_lossy(span.of(head)));
                Field::Many(Box::new(s))
            }
            Field::Many(mut s) => {
                s.push_str(", ");
                s.push_str(&String::from_utf8_lossy(span.of(head)));
                Field::Many(s)
            }
        };
    }
}

/// A parsed request head. Spans point into the buffer given to [`parse`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHead {
    /// Length of the head in bytes, from the request line to the empty line.
    pub len: usize,
    /// The request line, without its line ending.
    pub line: Span,
    /// The method as classified.
    pub method: Method,
    /// The method as sent.
    pub method_name: Span,
    /// The version, normalized.
    pub version: Version,
    /// The path of the target, still percent-encoded; empty means `/`.
    pub path: Span,
    /// The query, without the `?`.
    pub query: Option<Span>,
    /// True for the asterisk-form target `*`.
    pub asterisk: bool,
    /// The authority: from an absolute-form target, else from Host.
    pub authority: Option<Span>,
    /// How the body is framed.
    pub framing: Framing,
    /// Whether the client allows the connection to stay open afterwards.
    pub keep_alive: bool,
    /// `Expect: 100-continue` in an HTTP/1.1 request.
    pub expect_continue: bool,
    /// `If-Match`.
    pub if_match: Field,
    /// `If-None-Match`.
    pub if_none_match: Field,
    /// `If-Modified-Since`.
    pub if_modified_since: Field,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Field,
    /// `Range`.
    pub range: Field,
    /// `If-Range`.
    pub if_range: Field,
    /// `Accept-Encoding`.
    pub accept_encoding: Field,
    /// `Accept`.
    pub accept: Field,
    /// `Origin`.
    pub origin: Field,
    /// `Access-Control-Request-Method` (CORS preflight).
    pub cors_method: Field,
    /// `Access-Control-Request-Headers` (CORS preflight).
    pub cors_headers: Field,
    /// `Authorization`.
    pub authorization: Field,
    /// `Referer`.
    pub referer: Field,
    /// `User-Agent`.
    pub user_agent: Field,
}

impl RequestHead {
    /// The protocol-neutral view of this request, whose head is `raw` (the
    /// buffer it was parsed from) and whose body is `body`.
    pub fn request<'a>(
        &self,
        raw: &'a [u8],
        fields: &'a HeadFields<'a>,
        peer: SocketAddr,
        tls: (bool, Option<&'a str>),
        body: &'a [u8],
    ) -> Request<'a> {
        Request {
            secure: tls.0,
            server_name: tls.1,
            method: self.method,
            path: self.path.of(raw),
            query: self.query.map(|q| q.of(raw)),
            authority: self.authority.map(|a| a.of(raw)),
            peer,
            fields,
            raw: &raw[..self.len],
            body,
        }
    }
}

/// The header fields of a parsed head, looked up by name.
pub struct HeadFields<'a> {
    head: &'a RequestHead,
    raw: &'a [u8],
}

impl<'a> HeadFields<'a> {
    /// The fields of `head`, parsed from `raw`.
    pub fn new(head: &'a RequestHead, raw: &'a [u8]) -> HeadFields<'a> {
        HeadFields { head, raw }
    }
}

impl Fields for HeadFields<'_> {
    fn get(&self, name: Name) -> Option<&[u8]> {
        let h = self.head;
        let field = match name {
            Name::IfMatch => &h.if_match,
            Name::IfNoneMatch => &h.if_none_match,
            Name::IfModifiedSince => &h.if_modified_since,
            Name::IfUnmodifiedSince => &h.if_unmodified_since,
            Name::Range => &h.range,
            Name::IfRange => &h.if_range,
            Name::AcceptEncoding => &h.accept_encoding,
            Name::Accept => &h.accept,
            Name::Origin => &h.origin,
            Name::CorsMethod => &h.cors_method,
            Name::CorsHeaders => &h.cors_headers,
            Name::Authorization => &h.authorization,
            Name::Referer => &h.referer,
            Name::UserAgent => &h.user_agent,
            // Read only behind a trusted proxy: looked for in the head
            // then, rather than kept in every head.
            Name::Forwarded | Name::XForwardedFor | Name::XForwardedProto => {
                return scan(&self.raw[..h.len.min(self.raw.len())], name.as_str())
            }
        };
        field.get(self.raw)
    }
}

/// The value of the first field line named `name` in a head as received.
fn scan<'a>(head: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n')
        .skip(1)
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon]
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| trim_ows(&line[colon + 1..]))
        })
}

/// Why a request head was refused. The connection is closed afterwards:
/// after a malformed head nothing that follows can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// The status code to answer with.
    pub status: u16,
    /// A short explanation for the log.
    pub reason: &'static str,
}

pub(crate) fn err(status: u16, reason: &'static str) -> ParseError {
    ParseError { status, reason }
}

/// Number of bytes of empty lines (CRLF or LF) at the start of `buf`, which
/// RFC 9112 §2.2 says a server should ignore before a request line.
pub fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\r', b'\n', ..]) => i += 2,
            Some([b'\n', ..]) => i += 1,
            _ => return i,
        }
    }
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1),
/// trimmed of whitespace.
pub fn list_elements(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

fn parse_version(v: &[u8]) -> Result<Version, ParseError> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(err(505, "HTTP version not supported")),
            }
        }
        _ => Err(err(400, "malformed HTTP version")),
    }
}

/// Bytes allowed in a request target: visible ASCII but `#` (a fragment
/// is never sent, RFC 9112 §3.2).
fn is_target_byte(b: u8) -> bool {
    b > 0x20 && b < 0x7f && b != b'#'
}

/// Checks a Host value or an authority: `uri-host [ ":" port ]`
/// (RFC 9110 §7.2, RFC 3986 §3.2.2). An empty value is valid.
pub fn valid_authority(a: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = a.strip_prefix(b"[") {
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..close];
        let ok = !literal.is_empty()
            && literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ok {
            return false;
        }
        match &rest[close + 1..] {
            [] => return true,
            [b':', port @ ..] => (&b""[..], port),
            _ => return false,
        }
    } else {
        match a.iter().position(|&b| b == b':') {
            Some(i) => (&a[..i], &a[i + 1..]),
            None => (a, &b""[..]),
        }
    };
    let host_ok = host.iter().all(|&b| HOST_BYTE[usize::from(b)]);
    host_ok && port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
}

/// Which bytes a reg-name or IPv4 address may hold: unreserved,
/// sub-delims and `%` (RFC 3986 §3.2.2), one lookup per byte.
static HOST_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~!$&'()*+,;=%";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

fn parse_content_length(v: &[u8]) -> Result<u64, ParseError> {
    let mut value: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let part = trim_ows(part);
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(err(400, "invalid Content-Length"));
        }
        let mut n: u64 = 0;
        for &d in part {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(err(400, "Content-Length overflows"))?;
        }
        match value {
            Some(prev) if prev != n => return Err(err(400, "differing Content-Length values")),
            _ => value = Some(n),
        }
    }
    value.ok_or(err(400, "empty Content-Length"))
}

/// Transfer codings whose framing the server can see through while
/// discarding a body; anything else is 501 (RFC 9112 §6.1).
const KNOWN_CODINGS: [&str; 5] = ["gzip", "x-gzip", "deflate", "compress", "x-compress"];

/// Decides the framing from all Transfer-Encoding values (RFC 9112 §6.1,
/// §6.3): chunked must be the final coding, once.
fn check_transfer_encoding(codings: &[&[u8]]) -> Result<(), ParseError> {
    let mut elements = Vec::with_capacity(2);
    for v in codings {
        for e in list_elements(v) {
            if !is_token(e) {
                return Err(err(400, "malformed Transfer-Encoding"));
            }
            elements.push(e);
        }
    }
    let Some((last, before)) = elements.split_last() else {
        return Err(err(400, "empty Transfer-Encoding"));
    };
    if !last.eq_ignore_ascii_case(b"chunked") {
        return Err(err(400, "chunked is not the final transfer coding"));
    }
    for e in before {
        if e.eq_ignore_ascii_case(b"chunked") {
            return Err(err(400, "chunked applied more than once"));
        }
        if !KNOWN_CODINGS
            .iter()
            .any(|k| k.as_bytes().eq_ignore_ascii_case(e))
        {
            return Err(err(501, "unknown transfer coding"));
        }
    }
    Ok(())
}

fn span_in(base: &[u8], part: &[u8]) -> Span {
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    Span::new(start, start + part.len())
}

/// Header fields parsed with storage on the stack; more go to the heap.
const STACK_HEADERS: usize = 24;

/// Parses one request head at the start of `buf`, which must not begin with
/// empty lines (see [`leading_empty_lines`]). `Ok(None)`: more bytes are
/// needed. Spans in the result point into `buf`.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, ParseError> {
    // Request line (RFC 9112 §3).
    let window = &buf[..buf.len().min(limits.max_request_line + 2)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_request_line {
            return Err(err(414, "request line too long"));
        }
        return Ok(None);
    };
    let line_end = if lf > 0 && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    if line_end > limits.max_request_line {
        return Err(err(414, "request line too long"));
    }
    let line = &buf[..line_end];
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(err(400, "malformed request line"));
    };
    if method.is_empty() || target.is_empty() {
        return Err(err(400, "malformed request line"));
    }
    if !version.starts_with(b"HTTP/") || version.contains(&b' ') {
        return Err(err(400, "malformed request line"));
    }
    let method_kind = Method::classify(method).map_err(|reason| err(400, reason))?;
    let version_kind = parse_version(version)?;
    if !target.iter().all(|&b| is_target_byte(b)) {
        return Err(err(400, "invalid character in request target"));
    }

    // Header section (RFC 9112 §5), parsed by httparse.
    let fields_start = lf + 1;
    let section = &buf[fields_start..];
    let max = limits.max_headers;
    // Most requests have a few fields: parse with room for STACK_HEADERS
    // on the stack, and again on the heap only when there are more.
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap;
    let parsed = match httparse::parse_headers(section, &mut stack[..max.min(STACK_HEADERS)]) {
        Err(httparse::Error::TooManyHeaders) if max > STACK_HEADERS => {
            heap = vec![httparse::EMPTY_HEADER; max];
            httparse::parse_headers(section, &mut heap)
        }
        other => other,
    };
    let (section_len, fields) = match parsed {
        Ok(httparse::Status::Complete((n, fields))) => (n, fields),
        Ok(httparse::Status::Partial) => {
            if section.len() > limits.max_header_bytes {
                return Err(err(431, "header section too large"));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(err(431, "too many header fields")),
        Err(_) => return Err(err(400, "malformed header field")),
    };
    if section_len > limits.max_header_bytes {
        return Err(err(431, "header section too large"));
    }

    let mut head = RequestHead {
        len: fields_start + section_len,
        line: Span::new(0, line_end),
        method: method_kind,
        method_name: span_in(buf, method),
        version: version_kind,
        path: Span::default(),
        query: None,
        asterisk: false,
        authority: None,
        framing: Framing::None,
        keep_alive: version_kind == Version::Http11,
        expect_continue: false,
        if_match: Field::Absent,
        if_none_match: Field::Absent,
        if_modified_since: Field::Absent,
        if_unmodified_since: Field::Absent,
        range: Field::Absent,
        if_range: Field::Absent,
        accept_encoding: Field::Absent,
        accept: Field::Absent,
        origin: Field::Absent,
        cors_method: Field::Absent,
        cors_headers: Field::Absent,
        authorization: Field::Absent,
        referer: Field::Absent,
        user_agent: Field::Absent,
    };
    parse_target(buf, method, target, &mut head)?;

    let mut host: Option<&[u8]> = None;
    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect: Option<&[u8]> = None;
    for f in fields.iter() {
        let name = f.name.as_bytes();
        let value = trim_ows(f.value);
        // One pass rather than a search per byte: values are short.
        if value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
            return Err(err(400, "control character in header field"));
        }
        let span = span_in(buf, value);
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                hosts += 1;
                host = Some(value);
            }
            5 if name.eq_ignore_ascii_case(b"range") => head.range.add(buf, span),
            6 if name.eq_ignore_ascii_case(b"accept") => head.accept.add(buf, span),
            7 if name.eq_ignore_ascii_case(b"referer") => head.referer.add(buf, span),
            10 if name.eq_ignore_ascii_case(b"user-agent") => head.user_agent.add(buf, span),

            6 if name.eq_ignore_ascii_case(b"origin") => head.origin.add(buf, span),
            13 if name.eq_ignore_ascii_case(b"authorization") => head.authorization.add(buf, span),
            29 if name.eq_ignore_ascii_case(b"access-control-request-method") => {
                head.cors_method.add(buf, span)
            }
            30 if name.eq_ignore_ascii_case(b"access-control-request-headers") => {
                head.cors_headers.add(buf, span)
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                if expect.is_some() {
                    return Err(err(417, "several expectations"));
                }
                expect = Some(value);
            }
            8 if name.eq_ignore_ascii_case(b"if-match") => head.if_match.add(buf, span),
            8 if name.eq_ignore_ascii_case(b"if-range") => head.if_range.add(buf, span),
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in list_elements(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        conn_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        conn_keep_alive = true;
                    }
                }
            }
            13 if name.eq_ignore_ascii_case(b"if-none-match") => head.if_none_match.add(buf, span),
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let n = parse_content_length(value)?;
                if content_length.is_some_and(|prev| prev != n) {
                    return Err(err(400, "differing Content-Length values"));
                }
                content_length = Some(n);
            }
            15 if name.eq_ignore_ascii_case(b"accept-encoding") => {
                head.accept_encoding.add(buf, span)
            }
            17 if name.eq_ignore_ascii_case(b"if-modified-since") => {
                head.if_modified_since.add(buf, span)
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => codings.push(value),
            19 if name.eq_ignore_ascii_case(b"if-unmodified-since") => {
                head.if_unmodified_since.add(buf, span)
            }
            _ => {}
        }
    }

    // Host (RFC 9112 §3.2): exactly one in HTTP/1.1, and well-formed.
    if hosts > 1 {
        return Err(err(400, "more than one Host field"));
    }
    if let Some(h) = host {
        if !valid_authority(h) {
            return Err(err(400, "invalid Host"));
        }
    } else if version_kind == Version::Http11 {
        return Err(err(400, "missing Host"));
    }
    if head.authority.is_none() {
        head.authority = host.map(|h| span_in(buf, h));
    }

    // Framing (RFC 9112 §6.3).
    if !codings.is_empty() {
        if content_length.is_some() {
            return Err(err(400, "both Content-Length and Transfer-Encoding"));
        }
        if version_kind == Version::Http10 {
            return Err(err(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        check_transfer_encoding(&codings)?;
        head.framing = Framing::Chunked;
    } else if let Some(n) = content_length {
        if n > 0 {
            head.framing = Framing::Length(n);
        }
    }

    // Persistence (RFC 9112 §9.3).
    head.keep_alive = match version_kind {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };

    // Expectations (RFC 9110 §10.1.1); ignored in HTTP/1.0.
    if let Some(e) = expect {
        if version_kind == Version::Http11 {
            if e.eq_ignore_ascii_case(b"100-continue") {
                head.expect_continue = true;
            } else {
                return Err(err(417, "unknown expectation"));
            }
        }
    }
    Ok(Some(head))
}

/// Splits the request target into path, query and authority
/// (RFC 9112 §3.2).
fn parse_target(
    buf: &[u8],
    method: &[u8],
    target: &[u8],
    head: &mut RequestHead,
) -> Result<(), ParseError> {
    let path_and_query = if target.first() == Some(&b'/') {
        target
    } else if target == b"*" {
        if method != b"OPTIONS" {
            return Err(err(
                400,
                "asterisk-form target with a method other than OPTIONS",
            ));
        }
        head.asterisk = true;
        return Ok(());
    } else if let Some(rest) = strip_scheme(target) {
        let end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() || authority.contains(&b'@') || !valid_authority(authority) {
            return Err(err(400, "invalid authority in absolute-form target"));
        }
        head.authority = Some(span_in(buf, authority));
        &rest[end..]
    } else if method == b"CONNECT" && valid_authority(target) {
        return Ok(());
    } else {
        return Err(err(400, "request target must start with /"));
    };
    match path_and_query.iter().position(|&b| b == b'?') {
        Some(q) => {
            head.path = span_in(buf, &path_and_query[..q]);
            head.query = Some(span_in(buf, &path_and_query[q + 1..]));
        }
        None => head.path = span_in(buf, path_and_query),
    }
    Ok(())
}

fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], &b"https://"[..]] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&target[scheme.len()..]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_byte_table_is_unreserved_sub_delims_and_percent() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b);
            assert_eq!(HOST_BYTE[usize::from(b)], expected, "byte {b:#04x}");
            if b != b':' && b != b'[' {
                assert_eq!(valid_authority(&[b'h', b]), expected, "byte {b:#04x}");
            }
        }
        assert!(valid_authority(b"example.com:8080"));
        assert!(!valid_authority(b"exa mple.com"));
    }
    use crate::http1::body::ChunkedDrain;

    fn p(s: &str) -> Result<Option<RequestHead>, ParseError> {
        parse(s.as_bytes(), &Limits::default())
    }

    fn status(s: &str) -> u16 {
        match p(s) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(e) => e.status,
        }
    }

    #[test]
    fn simple_get() {
        let s = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\nrest";
        let h = p(s).unwrap().unwrap();
        assert_eq!(h.len, s.len() - 4);
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.path.of(s.as_bytes()), b"/a/b");
        assert_eq!(h.query.unwrap().of(s.as_bytes()), b"x=1");
        assert_eq!(h.authority.unwrap().of(s.as_bytes()), b"example.com");
        assert!(h.keep_alive);
        assert_eq!(h.framing, Framing::None);
    }

    #[test]
    fn partial_heads() {
        let full = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(p(&full[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn methods() {
        assert_eq!(status("POST / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(
            p("POST / HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap()
                .unwrap()
                .method,
            Method::NotAllowed
        );
        assert_eq!(
            p("BREW / HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap()
                .unwrap()
                .method,
            Method::Unknown
        );
        assert_eq!(status("get / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    }

    #[test]
    fn versions() {
        assert_eq!(status("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/3.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET / http/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET /\r\n\r\n"), 400);
    }

    #[test]
    fn hosts() {
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), 200);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 200);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a:99999999\r\n\r\n"), 400);
        let s = "GET http://other:8/x?q HTTP/1.1\r\nHost: a\r\n\r\n";
        let h = p(s).unwrap().unwrap();
        assert_eq!(h.authority.unwrap().of(s.as_bytes()), b"other:8");
        assert_eq!(h.path.of(s.as_bytes()), b"/x");
    }

    #[test]
    fn targets() {
        assert_eq!(status("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(status("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET index.html HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET http://u@x/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    }

    #[test]
    fn field_errors() {
        assert_eq!(status("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), 400);
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n"),
            400
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nA: b\x01c\r\n\r\n"),
            400
        );
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\nA: b\0c\r\n\r\n"), 400);
    }

    #[test]
    fn limits() {
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
        assert_eq!(status(&long), 414);
        assert_eq!(status(&long[..8500]), 414);
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            431
        );
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "v".repeat(70000)
        );
        assert_eq!(status(&big), 431);
        assert_eq!(status(&big[..66000]), 431);
    }

    #[test]
    fn framing() {
        let h = p("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(5));
        let h = p("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(5));
        let h = p("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let bad = [
            "Content-Length: 5\r\nContent-Length: 6",
            "Content-Length: 5, 6",
            "Content-Length: -5",
            "Content-Length: +5",
            "Content-Length: 0x5",
            "Content-Length: 99999999999999999999999",
            "Content-Length: ",
            "Content-Length: 5\r\nTransfer-Encoding: chunked",
            "Transfer-Encoding: chunked, gzip",
            "Transfer-Encoding: \"chunked\"",
            "Transfer-Encoding: chunked, chunked",
            "Transfer-Encoding: chunked;x=1",
        ];
        for b in bad {
            assert_eq!(
                status(&format!("POST / HTTP/1.1\r\nHost: x\r\n{b}\r\n\r\n")),
                400,
                "{b}"
            );
        }
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |s: &str| p(s).unwrap().unwrap().keep_alive;
        assert!(ka("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n"
        ));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn expectations() {
        let h = p("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(h.unwrap().unwrap().expect_continue);
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n"),
            417
        );
        assert_eq!(status("GET / HTTP/1.0\r\nExpect: teapot\r\n\r\n"), 200);
    }

    #[test]
    fn empty_lines() {
        assert_eq!(leading_empty_lines(b"\r\n\n\r\nGET"), 5);
        assert_eq!(leading_empty_lines(b"\r"), 0);
    }

    fn drain_all(body: &[u8]) -> Result<(usize, bool), ParseError> {
        ChunkedDrain::default().drain(body, 1 << 20, 1024)
    }

    #[test]
    fn chunked() {
        assert_eq!(drain_all(b"5\r\nhello\r\n0\r\n\r\nNEXT"), Ok((15, true)));
        assert_eq!(
            drain_all(b"5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n"),
            Ok((25, true))
        );
        // Byte by byte gives the same answer.
        let body = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut d = ChunkedDrain::default();
        for (i, b) in body.iter().enumerate() {
            let (n, done) = d.drain(std::slice::from_ref(b), 1 << 20, 1024).unwrap();
            assert_eq!(n, 1);
            assert_eq!(done, i == body.len() - 1);
        }
        for bad in [
            &b"x\r\n"[..],
            b"5\nhello\r\n",
            b"5\r\nhelloXX",
            b"\r\n",
            b"11111111111111111\r\n",
        ] {
            assert_eq!(drain_all(bad).unwrap_err().status, 400, "{bad:?}");
        }
        assert_eq!(
            ChunkedDrain::default()
                .drain(b"ff\r\n", 10, 10)
                .unwrap_err()
                .status,
            413
        );
    }

    /// A canonical encoding of what the server took from a head: the
    /// request line, Host, and a field for every decision and every field
    /// it keeps.
    fn canonical(head: &RequestHead, raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(head.method_name.of(raw));
        out.push(b' ');
        if head.asterisk {
            out.push(b'*');
        } else {
            out.push(b'/');
            out.extend_from_slice(head.path.of(raw).strip_prefix(b"/").unwrap_or_default());
            if let Some(q) = head.query {
                out.push(b'?');
                out.extend_from_slice(q.of(raw));
            }
        }
        out.extend_from_slice(match head.version {
            Version::Http10 => b" HTTP/1.0\r\n",
            Version::Http11 => b" HTTP/1.1\r\n",
        });
        if let Some(a) = head.authority {
            out.extend_from_slice(b"Host: ");
            out.extend_from_slice(a.of(raw));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(if head.keep_alive {
            b"Connection: keep-alive\r\n"
        } else {
            b"Connection: close\r\n"
        });
        match head.framing {
            Framing::None => {}
            Framing::Length(n) => {
                out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes())
            }
            Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        if head.expect_continue {
            out.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        for (name, field) in [
            ("If-Match", &head.if_match),
            ("If-None-Match", &head.if_none_match),
            ("If-Modified-Since", &head.if_modified_since),
            ("If-Unmodified-Since", &head.if_unmodified_since),
            ("Range", &head.range),
            ("If-Range", &head.if_range),
            ("Accept-Encoding", &head.accept_encoding),
        ] {
            if let Some(v) = field.get(raw) {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v);
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn field_line() -> impl Strategy<Value = String> {
            let names = prop::sample::select(vec![
                "Host",
                "Connection",
                "Content-Length",
                "Transfer-Encoding",
                "Expect",
                "If-Match",
                "If-None-Match",
                "If-Modified-Since",
                "Range",
                "If-Range",
                "Accept-Encoding",
                "X-Other",
                "User-Agent",
            ]);
            let values = prop::sample::select(vec![
                "x",
                "close",
                "keep-alive",
                "5",
                "0",
                "chunked",
                "gzip, chunked",
                "100-continue",
                "\"a\", W/\"b\"",
                "*",
                "bytes=0-9,20-",
                "br;q=0.5, gzip",
                "Sat, 21 Nov 2026 20:16:36 GMT",
                "",
                "a b\tc",
                "[::1]:80",
            ]);
            (names, values).prop_map(|(n, v)| format!("{n}: {v}\r\n"))
        }

        proptest! {
            #[test]
            fn reencoding_a_head_is_stable(
                method in prop::sample::select(vec!["GET", "HEAD", "OPTIONS", "POST", "BREW"]),
                path in "/[a-zA-Z0-9._~%/-]{0,30}",
                query in proptest::option::of("[a-z0-9=&%]{0,12}"),
                version in prop::sample::select(vec!["HTTP/1.0", "HTTP/1.1", "HTTP/1.7"]),
                fields in proptest::collection::vec(field_line(), 0..8),
            ) {
                let target = match &query {
                    Some(q) => format!("{path}?{q}"),
                    None => path.clone(),
                };
                let raw = format!("{method} {target} {version}\r\n{}\r\n", fields.concat());
                let limits = Limits::default();
                if let Ok(Some(head)) = parse(raw.as_bytes(), &limits) {
                    let once = canonical(&head, raw.as_bytes());
                    let again = parse(&once, &limits).unwrap().unwrap();
                    let twice = canonical(&again, &once);
                    prop_assert_eq!(String::from_utf8_lossy(&once), String::from_utf8_lossy(&twice));
                    prop_assert_eq!(head.method, again.method);
                    prop_assert_eq!(head.version, again.version);
                    prop_assert_eq!(head.framing, again.framing);
                    prop_assert_eq!(head.keep_alive, again.keep_alive);
                    prop_assert_eq!(head.expect_continue, again.expect_continue);
                }
            }
        }
    }
}
