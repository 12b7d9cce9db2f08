//! HTTP semantics in the `http` crate's types, which HTTP/2 (`h2`) and
//! HTTP/3 (`h3`) both speak: the request fields the pipeline reads, a
//! plan's response head, and both heads as readable text for `--dump` and
//! `--echo`. Several field lines of one name are combined as RFC 9110 §5.3
//! says; HTTP/2 and HTTP/3 send each `cookie` crumb apart, but the
//! pipeline reads none.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use crate::exchange::{Body, Fields, Method, Name, Plan, Request};
use crate::observe::{Protocol, Record};
use crate::shared::Shared;
use crate::site::pages;
use crate::wire;

/// The TLS version and ALPN protocol of a connection.
pub type TlsInfo = (&'static str, &'static str);

/// One HTTP/2 or HTTP/3 connection, as its streams see it: where its
/// requests come from and what answers and records them.
pub struct Origin {
    pub shared: Arc<Shared>,
    pub protocol: Protocol,
    pub peer: SocketAddr,
    /// The TLS version and ALPN protocol, over TLS.
    pub tls: Option<TlsInfo>,
    /// The server name the client asked for in its handshake (SNI).
    pub server_name: Option<Box<str>>,
    /// This connection's number in the dump, and its exchanges so far.
    connection: u64,
    exchanges: AtomicU64,
}

/// A request read whole: its head, and its body when it is kept (for
/// `--echo` and `--dump`).
pub struct Asked {
    pub parts: http::request::Parts,
    pub kept: Vec<u8>,
    /// The body was larger than `--max-body`.
    pub too_large: bool,
    /// When the request head was complete.
    pub started: Instant,
}

impl Origin {
    pub fn new(
        shared: Arc<Shared>,
        protocol: Protocol,
        peer: SocketAddr,
        tls: Option<TlsInfo>,
        server_name: Option<Box<str>>,
    ) -> Origin {
        Origin {
            connection: shared.observe.connection_number(),
            shared,
            protocol,
            peer,
            tls,
            server_name,
            exchanges: AtomicU64::new(0),
        }
    }

    /// `asked` as the responder and the observers read it: its fields
    /// found and its method classified once, and its head as text when
    /// the exchange is kept.
    pub fn view<'a>(&self, asked: &'a Asked) -> View<'a> {
        let parts = &asked.parts;
        View {
            asked,
            fields: MapFields::new(&parts.headers),
            method: Method::classify(parts.method.as_str().as_bytes()),
            raw: if self.shared.keeps_bodies() {
                request_text(parts, self.tls.is_some())
            } else {
                Vec::new()
            },
        }
    }

    /// The plan that answers `view`.
    pub async fn plan(&self, view: &View<'_>) -> Plan {
        let shared = &self.shared;
        let asked = view.asked;
        let parts = &asked.parts;
        let authority = parts
            .uri
            .authority()
            .map(|a| a.as_str().as_bytes())
            .or_else(|| parts.headers.get("host").map(HeaderValue::as_bytes));
        let mut plan = match view.method {
            _ if asked.too_large => pages::error_plan(413, false),
            Err(_) => pages::error_plan(400, false),
            Ok(method) => {
                let req = Request {
                    method,
                    path: parts.uri.path().as_bytes(),
                    query: parts.uri.query().map(str::as_bytes),
                    authority,
                    peer: self.peer,
                    secure: self.tls.is_some()
                        || crate::forwarded::https(&shared.trusted, self.peer.ip(), &view.fields),
                    server_name: self.server_name.as_deref(),
                    fields: &view.fields,
                    raw: &view.raw,
                    body: &asked.kept,
                };
                let responder = shared.responder.load_full();
                responder.respond(&req).await
            }
        };
        if self.protocol != Protocol::Http3 {
            shared.advertise(&mut plan);
        }
        plan
    }

    /// What goes out for `plan`: its response head, its body (taken from
    /// it), and the head as text for `--dump` and the inspector (no copy
    /// of the fields otherwise).
    pub fn outgoing(&self, plan: &mut Plan) -> (http::Response<()>, Body, Option<Vec<u8>>) {
        let response = response_head(plan);
        let body = std::mem::replace(&mut plan.body, Body::Empty);
        let text = self
            .shared
            .observe
            .records_exchanges()
            .then(|| response_text(&response));
        (response, body, text)
    }

    /// Hands a finished exchange to the observers: `plan` as answered
    /// (its body taken, `bytes` long) and `head` the response head as
    /// text, when kept.
    pub fn finish(&self, view: View<'_>, plan: &Plan, bytes: u64, head: Option<Vec<u8>>) {
        let observe = &self.shared.observe;
        if !observe.active() {
            return;
        }
        let View {
            asked,
            fields,
            method,
            raw,
        } = view;
        let parts = &asked.parts;
        let request = head.as_ref().map(|_| {
            let mut request = raw;
            request.extend_from_slice(&asked.kept);
            request
        });
        // The request line HTTP/1 would have, for the log and the inspector.
        let line = observe.wants_line().then(|| {
            let target = parts
                .uri
                .path_and_query()
                .map_or(parts.uri.path(), |pq| pq.as_str());
            format!("{} {target} {}", parts.method, self.protocol.as_str())
        });
        observe.finish(&Record {
            protocol: self.protocol,
            connection: self.connection,
            number: self.exchanges.fetch_add(1, Ordering::Relaxed) + 1,
            peer: self.peer,
            client: crate::forwarded::client(&self.shared.trusted, self.peer.ip(), &fields),
            tls: self.tls,
            method: method.unwrap_or(Method::Unknown),
            line: line.as_deref().unwrap_or_default().as_bytes(),
            referer: fields.get_bytes(Name::Referer),
            user_agent: fields.get_bytes(Name::UserAgent),
            exchange: request.as_deref().zip(head.as_deref()),
            status: plan.status,
            bytes,
            elapsed: asked.started.elapsed(),
            encoding: plan.encoding,
            range: plan.range.as_deref().unwrap_or(""),
            site: plan.site.as_deref(),
            explain: plan.explain.as_deref(),
        });
    }
}

/// A request as the responder and the observers read it ([`Origin::view`]).
pub struct View<'a> {
    asked: &'a Asked,
    fields: MapFields<'a>,
    method: Result<Method, &'static str>,
    raw: Vec<u8>,
}

/// The fields the pipeline reads, found in one pass over the map.
pub struct MapFields<'a> {
    values: [Option<Cow<'a, [u8]>>; Name::ALL.len()],
}

impl<'a> MapFields<'a> {
    /// The fields of `map`.
    pub fn new(map: &'a HeaderMap) -> MapFields<'a> {
        let mut values: [Option<Cow<'a, [u8]>>; Name::ALL.len()] = Default::default();
        for (name, value) in map {
            let Some(known) = Name::from_lowercase(name.as_str()) else {
                continue;
            };
            let value = value.as_bytes();
            let slot = &mut values[known.index()];
            *slot = Some(match slot.take() {
                None => Cow::Borrowed(value),
                Some(first) if value.is_empty() => first,
                Some(first) if first.is_empty() => Cow::Borrowed(value),
                Some(first) => {
                    let mut joined = first.into_owned();
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(value);
                    Cow::Owned(joined)
                }
            });
        }
        MapFields { values }
    }
}

impl MapFields<'_> {
    /// The value of `name`, empty when absent.
    pub fn get_bytes(&self, name: Name) -> &[u8] {
        self.get(name).unwrap_or_default()
    }
}

impl Fields for MapFields<'_> {
    fn get(&self, name: Name) -> Option<&[u8]> {
        self.values[name.index()].as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_one_name_are_combined() {
        let mut map = HeaderMap::new();
        map.append("if-none-match", "\"a\"".parse().unwrap());
        map.append("if-none-match", "\"b\"".parse().unwrap());
        map.append("range", "bytes=0-1".parse().unwrap());
        map.append("x-other", "ignored".parse().unwrap());
        let f = MapFields::new(&map);
        assert_eq!(f.get(Name::IfNoneMatch), Some(&b"\"a\", \"b\""[..]));
        assert_eq!(f.get(Name::Range), Some(&b"bytes=0-1"[..]));
        assert_eq!(f.get(Name::Accept), None);
    }
}

/// Fields RFC 9113 §8.2.2 and RFC 9114 §4.2 forbid in HTTP/2 and HTTP/3.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// The response head of a plan, as HTTP/2 and HTTP/3 send it: its status, Date and Server (unless
/// the plan is bare), its fields without the connection-specific ones, and
/// content-length.
pub fn response_head(plan: &Plan) -> http::Response<()> {
    let mut response = http::Response::new(());
    *response.status_mut() =
        http::StatusCode::from_u16(plan.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if !plan.bare {
        let mut date = Vec::with_capacity(29);
        wire::push_date(&mut date);
        if let Ok(date) = HeaderValue::from_bytes(&date) {
            headers.insert(http::header::DATE, date);
        }
        headers.insert(http::header::SERVER, HeaderValue::from_static("henaserver"));
    }
    for (name, value) in plan.all_fields() {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if CONNECTION_SPECIFIC.contains(&name.as_str()) {
            continue;
        }
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(name, value);
        }
    }
    if let Some(n) = plan.content_length {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    response
}

/// A request head in readable text, pseudo-header fields first (for
/// `--echo` and `--dump`).
pub fn request_text(parts: &http::request::Parts, secure: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut line = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    line(":method", parts.method.as_str().as_bytes());
    let scheme = parts
        .uri
        .scheme_str()
        .unwrap_or(if secure { "https" } else { "http" });
    line(":scheme", scheme.as_bytes());
    if let Some(authority) = parts.uri.authority() {
        line(":authority", authority.as_str().as_bytes());
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    line(":path", path.as_bytes());
    for (name, value) in &parts.headers {
        line(name.as_str(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A response head in readable text, `:status` first (for `--dump`).
pub fn response_text(response: &http::Response<()>) -> Vec<u8> {
    let mut out = format!(":status: {}\r\n", response.status().as_u16()).into_bytes();
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod heads {
    use super::*;

    #[test]
    fn connection_specific_fields_never_go_out() {
        let mut plan = Plan::new(200);
        plan.field("Connection", "close");
        plan.field("Transfer-Encoding", "chunked");
        plan.field("Keep-Alive", "timeout=5");
        plan.field("Upgrade", "h2c");
        plan.field("ETag", "\"x\"");
        plan.content_length = Some(3);
        let head = response_head(&plan);
        for name in CONNECTION_SPECIFIC {
            assert!(head.headers().get(name).is_none(), "{name}");
        }
        assert_eq!(head.headers()["etag"], "\"x\"");
        assert_eq!(head.headers()["content-length"], "3");
        assert!(head.headers().contains_key("date"));
        let text = String::from_utf8(response_text(&head)).unwrap();
        assert!(text.starts_with(":status: 200\r\n"), "{text}");
    }
}
