//! Building the response to one request into the connection's output
//! buffer. For a file, the pipeline runs in this order:
//!
//! 1. method: GET and HEAD serve, OPTIONS lists, others 405 or 501;
//! 2. the open-file cache, then resolve and open beneath the root;
//! 3. the representation: a precompressed sibling, a compressed copy, or
//!    the file as it is, by Accept-Encoding (RFC 9110 §12.5.3);
//! 4. preconditions (RFC 9110 §13.2.2) on that representation: 304 or 412;
//! 5. If-Range, then Range (RFC 9110 §14): 206, multipart 206, or 416;
//! 6. the head and, for small bodies, the bytes; a large body is returned
//!    as pieces for the connection to send with sendfile.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use crate::conditional::{self, Precondition};
use crate::encoding::{self, Coding, Siblings};
use crate::files::{self, FileInfo, Lookup, Root, SMALL_FILE};
use crate::limits::Limits;
use crate::range::{self, Ranges};
use crate::reply::{ReplyFile, ReplySource};
use crate::request::{Method, RequestHead};
use crate::resolve::{self, Refusal};
use crate::response;
use crate::{auth, cache, cors};

/// The methods a file allows.
pub const ALLOW: &[u8] = b"GET, HEAD, OPTIONS";

impl Site {
    /// What `config` says responses are built from, for files under `root`.
    pub fn new(root: Root, config: &crate::Config) -> Site {
        let encoded = |fields: &[(String, String)]| {
            fields.iter().fold(Vec::new(), |mut out, (name, value)| {
                response::field(&mut out, name, value.as_bytes());
                out
            })
        };
        Site {
            root,
            index: config.index.clone(),
            limits: config.limits.clone(),
            cache_control: config
                .cache_control
                .as_ref()
                .map(|v| encoded(&[("Cache-Control".to_string(), v.clone())])),
            compression: config.compression.clone(),
            preference: config.preference.clone(),
            mode: config.mode.clone(),
            headers: encoded(&config.headers),
            cors: config.cors.clone(),
            listing: config.listing,
            fallback: config.fallback.clone(),
            error_pages: config.error_pages.clone(),
            clean_urls: config.clean_urls,
            users: config.users.clone(),
            rules: config.rules.clone(),
        }
    }
}

/// What responses are built from.
#[derive(Debug)]
pub struct Site {
    /// The document root.
    pub root: Root,
    /// File name served for a directory.
    pub index: String,
    /// Limits, the cache's and the ranges' among them.
    pub limits: Limits,
    /// An encoded `Cache-Control` field line for file responses.
    pub cache_control: Option<Vec<u8>>,
    /// Compression on the fly.
    pub compression: Compression,
    /// Codings in the order preferred when the client likes them equally.
    pub preference: Vec<Coding>,
    /// What the server answers with.
    pub mode: Mode,
    /// Encoded `--header` field lines, sent with every response.
    pub headers: Vec<u8>,
    /// Origins allowed by `--cors` (`*` for any); empty: no CORS.
    pub cors: Vec<String>,
    /// `--listing`: list directories without an index file.
    pub listing: bool,
    /// `--fallback`: the file served for unknown paths that take HTML.
    pub fallback: Option<String>,
    /// `--error-page`: status and file, relative to the root.
    pub error_pages: Vec<(u16, String)>,
    /// `--clean-urls`: `/about` serves `about.html`, which redirects there.
    pub clean_urls: bool,
    /// Basic authentication users and their password hashes.
    pub users: Vec<auth::User>,
    /// Rules from the configuration file: fields by path glob or type.
    pub rules: Vec<crate::settings::Rule>,
}

/// What the server answers with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Files from the root.
    #[default]
    Files,
    /// The same raw response to every request (`--reply`).
    Reply(Arc<ReplySource>),
    /// Each request, as received, as a text/plain body (`--echo`).
    Echo,
}

/// When files are compressed on the fly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// Whether compressible files are compressed on the fly at all.
    pub enabled: bool,
    /// Smallest file compressed, in bytes.
    pub min: u64,
    /// Largest file compressed, in bytes.
    pub max: u64,
    /// Bytes of compressed copies kept, for all workers together.
    pub cache_bytes: usize,
}

/// One piece of a body sent after the buffered output.
#[derive(Debug)]
pub enum Piece {
    /// Bytes, such as a part head of a multipart body.
    Bytes(Vec<u8>),
    /// A byte range of the file.
    File(Range<u64>),
}

/// A body too large to buffer, sent with sendfile after the head.
#[derive(Debug)]
pub struct FileBody {
    /// The open file.
    pub info: Arc<FileInfo>,
    /// What to send, in order.
    pub pieces: Vec<Piece>,
}

/// A response built into the output buffer.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Body bytes the response carries (logged).
    pub bytes: u64,
    /// What still has to be sent after the output buffer.
    pub body: Option<FileBody>,
    /// Whether the connection stays open.
    pub keep_alive: bool,
    /// The content coding served, or "" (logged).
    pub encoding: &'static str,
    /// The ranges served, for a 206 (logged).
    pub range: Option<Box<str>>,
    /// Nothing was written: compress this file with this coding off the
    /// event loop, then build the response again.
    pub compress: Option<(Arc<FileInfo>, Coding)>,
}

impl Reply {
    fn buffered(status: u16, bytes: u64, keep_alive: bool) -> Reply {
        Reply {
            status,
            bytes,
            body: None,
            keep_alive,
            encoding: "",
            range: None,
            compress: None,
        }
    }
}

/// Files larger than this are compressed on the blocking pool, so that
/// the other connections of the worker are not kept waiting.
pub const INLINE_COMPRESS: u64 = 64 * 1024;

/// Compresses `info` with `coding` into the shared cache, on a thread of
/// the blocking pool.
pub async fn compress_off_loop(info: Arc<FileInfo>, coding: Coding, cache_bytes: usize) {
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(whole) = read_up_to(&info, info.size) {
            if whole.len() as u64 == info.size {
                encoding::compressed(info.identity, &whole, coding, cache_bytes);
            }
        }
    })
    .await;
}

/// Appends an error (or redirect) response with its HTML page.
pub fn error(
    out: &mut Vec<u8>,
    status: u16,
    head_only: bool,
    keep_alive: bool,
    extra: &[(&str, &[u8])],
) -> Reply {
    let html = response::error_page(status).as_bytes();
    let end = |out: &mut Vec<u8>| response::finish(out, keep_alive);
    let page = Page {
        status,
        extra,
        content_type: "text/html; charset=utf-8",
        body: html,
        head_only,
        keep_alive,
    };
    page.write(out, end)
}

/// A response whose body is a page held in memory.
struct Page<'a> {
    status: u16,
    extra: &'a [(&'a str, &'a [u8])],
    content_type: &'a str,
    body: &'a [u8],
    head_only: bool,
    keep_alive: bool,
}

impl Page<'_> {
    /// Writes the head (ended by `end`, which adds the last fields and the
    /// Connection field) and, unless HEAD, the body.
    fn write(self, out: &mut Vec<u8>, end: impl FnOnce(&mut Vec<u8>)) -> Reply {
        response::start(out, self.status);
        for (name, value) in self.extra {
            response::field(out, name, value);
        }
        response::field(out, "Content-Type", self.content_type.as_bytes());
        response::content_length(out, self.body.len() as u64);
        end(out);
        if self.head_only {
            return Reply::buffered(self.status, 0, self.keep_alive);
        }
        out.extend_from_slice(self.body);
        Reply::buffered(self.status, self.body.len() as u64, self.keep_alive)
    }
}

/// What every step of one response needs to know.
struct Ctx<'a> {
    /// Whether a large compression may be handed off (see `Reply::compress`).
    defer: bool,
    site: &'a Site,
    head: &'a RequestHead,
    raw: &'a [u8],
    keep_alive: bool,
    head_only: bool,
    peer: SocketAddr,
}

impl Ctx<'_> {
    /// Ends a head: `--header` fields, CORS fields, Connection.
    fn finish(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.site.headers);
        cors::response_fields(self.site, self.head, self.raw, out);
        response::finish(out, self.keep_alive);
    }

    /// An error response: the `--error-page` file for `status` if one is
    /// configured and readable, else the built-in page.
    fn fail(&self, out: &mut Vec<u8>, status: u16, extra: &[(&str, &[u8])]) -> Reply {
        let custom = self
            .site
            .error_pages
            .iter()
            .find(|(s, _)| *s == status)
            .and_then(|(_, rel)| {
                match files::lookup(&self.site.root, rel, false, &self.site.index) {
                    Ok(Lookup::File(info)) if info.size <= SMALL_FILE => {
                        read_up_to(&info, info.size)
                            .ok()
                            .map(|body| (info.content_type, body))
                    }
                    _ => None,
                }
            });
        let (content_type, page): (&str, Bytes) = match custom {
            Some(found) => found,
            None => (
                "text/html; charset=utf-8",
                Bytes::from_static(response::error_page(status).as_bytes()),
            ),
        };
        let page = Page {
            status,
            extra,
            content_type,
            body: &page,
            head_only: self.head_only,
            keep_alive: self.keep_alive,
        };
        page.write(out, |out| self.finish(out))
    }

    /// A 301 to `location` with the request's query kept.
    fn redirect(&self, out: &mut Vec<u8>, location: &str) -> Reply {
        let mut location = location.as_bytes().to_vec();
        if let Some(q) = self.head.query {
            location.push(b'?');
            location.extend_from_slice(q.of(self.raw));
        }
        self.fail(out, 301, &[("Location", &location)])
    }

    /// Whether the request would take an HTML page (for `--fallback`).
    fn accepts_html(&self) -> bool {
        self.head.accept.get(self.raw).is_some_and(|a| {
            let a = String::from_utf8_lossy(a).to_ascii_lowercase();
            a.contains("text/html") || a.contains("application/xhtml+xml")
        })
    }
}

/// Builds the response to one request into `out`. `raw` is the request
/// head as received and `body` its body (kept only when a mode or the dump
/// needs it).
#[allow(clippy::too_many_arguments)]
pub fn build(
    site: &Site,
    head: &RequestHead,
    raw: &[u8],
    body: &[u8],
    keep_alive: bool,
    out: &mut Vec<u8>,
    peer: SocketAddr,
    defer: bool,
) -> Reply {
    let head_only = head.method == Method::Head;
    match &site.mode {
        Mode::Files => {}
        Mode::Echo => return echo(out, raw, body, head_only, keep_alive),
        Mode::Reply(source) => return replay(out, &source.current(), head_only, keep_alive),
    }
    let ctx = Ctx {
        defer,
        site,
        head,
        raw,
        keep_alive,
        head_only,
        peer,
    };
    match head.method {
        Method::Get | Method::Head => {}
        Method::Options => {
            response::start(out, 204);
            response::field(out, "Allow", ALLOW);
            cors::preflight_fields(site, head, raw, out);
            ctx.finish(out);
            return Reply::buffered(204, 0, keep_alive);
        }
        Method::NotAllowed => return ctx.fail(out, 405, &[("Allow", ALLOW)]),
        Method::Unknown => return ctx.fail(out, 501, &[]),
    }
    if let Some(challenge) = auth::check(site, head, raw) {
        return ctx.fail(out, 401, &[("WWW-Authenticate", challenge.as_bytes())]);
    }
    let path = head.path.of(raw);
    if let Some((info, siblings)) = cache::get(&site.root, path) {
        return file(&ctx, out, info, siblings);
    }
    let resolved = match resolve::resolve(path) {
        Ok(r) => r,
        Err(Refusal::BadRequest(_)) => return ctx.fail(out, 400, &[]),
        Err(Refusal::Hidden) => return not_found(&ctx, out),
    };
    let found = files::lookup(&site.root, &resolved.rel, resolved.slash, &site.index);
    // --clean-urls: `/about` serves `about.html`.
    let found = match found {
        Ok(Lookup::NotFound) if site.clean_urls && !resolved.slash && resolved.rel != "." => {
            match files::lookup(
                &site.root,
                &format!("{}.html", resolved.rel),
                false,
                &site.index,
            ) {
                Ok(Lookup::File(info)) => Ok(Lookup::File(info)),
                _ => Ok(Lookup::NotFound),
            }
        }
        other => other,
    };
    match found {
        Ok(Lookup::File(info)) => {
            if site.clean_urls {
                if let Some(clean) = clean_url(&resolved) {
                    return ctx.redirect(out, &clean);
                }
            }
            let siblings = site.root.siblings(&info.rel);
            let (entries, bytes) = (site.limits.cache_entries, site.limits.cache_bytes);
            cache::put(&site.root, path, &info, siblings, entries, bytes);
            file(&ctx, out, info, siblings)
        }
        Ok(Lookup::AddSlash) => ctx.redirect(out, &resolve::directory_url(&resolved)),
        Ok(Lookup::NoIndex) if site.listing => listing(&ctx, out, &resolved),
        Ok(Lookup::NoIndex) | Ok(Lookup::Forbidden) => ctx.fail(out, 403, &[]),
        Ok(Lookup::NotFound) => not_found(&ctx, out),
        Err(e) => {
            let shown = String::from_utf8_lossy(path);
            tracing::warn!(%peer, path = %shown, error = %e, "cannot open file");
            ctx.fail(out, 500, &[])
        }
    }
}

/// For `--clean-urls`: where a request naming an `.html` file (or an
/// index file) should go instead, without the extension.
fn clean_url(resolved: &resolve::Resolved) -> Option<String> {
    let stem = resolved.rel.strip_suffix(".html")?;
    if stem.is_empty() || resolved.slash {
        return None;
    }
    let parent = resolve::Resolved {
        rel: stem.rsplit_once('/').map_or(".", |(p, _)| p).to_string(),
        slash: true,
    };
    let dir = resolve::directory_url(&parent);
    let last = stem.rsplit('/').next().unwrap_or(stem);
    if last == "index" {
        return Some(dir);
    }
    let name: String =
        percent_encoding::utf8_percent_encode(last, percent_encoding::NON_ALPHANUMERIC).collect();
    Some(format!("{dir}{name}"))
}

/// 404, or the `--fallback` page for a GET that would take HTML.
fn not_found(ctx: &Ctx, out: &mut Vec<u8>) -> Reply {
    if let Some(fallback) = &ctx.site.fallback {
        if ctx.accepts_html() {
            if let Ok(Lookup::File(info)) =
                files::lookup(&ctx.site.root, fallback, false, &ctx.site.index)
            {
                return file(ctx, out, info, Siblings::default());
            }
        }
    }
    ctx.fail(out, 404, &[])
}

/// `--listing`: the directory as an HTML page or JSON.
fn listing(ctx: &Ctx, out: &mut Vec<u8>, resolved: &resolve::Resolved) -> Reply {
    let entries = match crate::listing::entries(&ctx.site.root, &resolved.rel) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(peer = %ctx.peer, error = %e, "cannot list directory");
            return ctx.fail(out, 500, &[]);
        }
    };
    let (content_type, page) = if crate::listing::prefers_json(ctx.head.accept.get(ctx.raw)) {
        ("application/json", crate::listing::json(&entries))
    } else {
        let url = resolve::directory_url(resolved);
        (
            "text/html; charset=utf-8",
            crate::listing::html(&url, &entries),
        )
    };
    response::start(out, 200);
    response::field(out, "Content-Type", content_type.as_bytes());
    response::content_length(out, page.len() as u64);
    response::field(out, "Vary", b"Accept");
    ctx.finish(out);
    if ctx.head_only {
        return Reply::buffered(200, 0, ctx.keep_alive);
    }
    out.extend_from_slice(page.as_bytes());
    Reply::buffered(200, page.len() as u64, ctx.keep_alive)
}

/// The request as received, as a text/plain body.
fn echo(out: &mut Vec<u8>, raw: &[u8], body: &[u8], head_only: bool, keep_alive: bool) -> Reply {
    let len = (raw.len() + body.len()) as u64;
    response::start(out, 200);
    response::field(out, "Content-Type", b"text/plain; charset=utf-8");
    response::content_length(out, len);
    response::field(out, "X-Content-Type-Options", b"nosniff");
    response::finish(out, keep_alive);
    if head_only {
        return Reply::buffered(200, 0, keep_alive);
    }
    out.extend_from_slice(raw);
    out.extend_from_slice(body);
    Reply::buffered(200, len, keep_alive)
}

/// The reply file's response, with the server's framing and Connection.
fn replay(out: &mut Vec<u8>, file: &ReplyFile, head_only: bool, keep_alive: bool) -> Reply {
    out.extend_from_slice(&file.head);
    if file.has_body() {
        response::content_length(out, file.body.len() as u64);
    }
    response::finish(out, keep_alive);
    if head_only || !file.has_body() {
        return Reply::buffered(file.status, 0, keep_alive);
    }
    out.extend_from_slice(&file.body);
    Reply::buffered(file.status, file.body.len() as u64, keep_alive)
}

/// Reads up to `size` bytes from the start of the file; fewer if it
/// shrank meanwhile.
fn read_up_to(info: &FileInfo, size: u64) -> std::io::Result<Bytes> {
    let mut body = vec![0; size as usize];
    let mut got = 0;
    while got < body.len() {
        match info.file.read_at(&mut body[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    body.truncate(got);
    Ok(Bytes::from(body))
}

/// One representation of a file (RFC 9110 §3.2): what is sent and its
/// validators.
struct Representation<'a> {
    /// The file the bytes come from when they are not in memory.
    info: Arc<FileInfo>,
    /// The bytes, when in memory.
    content: Option<Bytes>,
    /// Length in bytes.
    len: u64,
    /// Strong validator.
    etag: Cow<'a, str>,
    /// Last-Modified and ETag field lines.
    validators: Cow<'a, [u8]>,
    /// The content coding, if any.
    coding: Option<Coding>,
}

/// The file as it is; small bodies are read now and framed by what is
/// read, so a file rewritten meanwhile is never sent with a length that
/// does not match its bytes.
fn identity(info: &Arc<FileInfo>, head_only: bool) -> std::io::Result<Representation<'_>> {
    let content = match &info.body {
        Some(body) => Some(body.clone()),
        None if info.size <= SMALL_FILE && !head_only => Some(read_up_to(info, info.size)?),
        None => None,
    };
    Ok(Representation {
        info: info.clone(),
        len: content.as_ref().map_or(info.size, |c| c.len() as u64),
        content,
        etag: Cow::Borrowed(&info.etag),
        validators: Cow::Borrowed(&info.validators),
        coding: None,
    })
}

/// The precompressed sibling of `info` for `coding`, opened beneath the
/// root and cached like any file.
fn sibling(
    site: &Site,
    info: &FileInfo,
    coding: Coding,
    head_only: bool,
) -> Option<Representation<'static>> {
    let rel = format!("{}{}", info.rel, coding.suffix());
    let mut key = Vec::with_capacity(rel.len() + 1);
    key.push(0);
    key.extend_from_slice(rel.as_bytes());
    let found = match cache::get(&site.root, &key) {
        Some((found, _)) => found,
        None => match files::lookup(&site.root, &rel, false, &site.index) {
            Ok(Lookup::File(found)) => {
                let (entries, bytes) = (site.limits.cache_entries, site.limits.cache_bytes);
                cache::put(
                    &site.root,
                    &key,
                    &found,
                    Siblings::default(),
                    entries,
                    bytes,
                );
                found
            }
            _ => return None,
        },
    };
    let rep = identity(&found, head_only).ok()?;
    Some(Representation {
        etag: Cow::Owned(rep.etag.into_owned()),
        validators: Cow::Owned(rep.validators.into_owned()),
        coding: Some(coding),
        ..rep
    })
}

/// `info` compressed with `coding` on the fly (once per file version).
fn compressed(
    site: &Site,
    info: &Arc<FileInfo>,
    coding: Coding,
) -> Option<Representation<'static>> {
    let whole = match &info.body {
        Some(body) => body.clone(),
        None => read_up_to(info, info.size).ok()?,
    };
    if whole.len() as u64 != info.size {
        return None;
    }
    let bytes = encoding::compressed(info.identity, &whole, coding, site.compression.cache_bytes)?;
    let etag = encoding::coded_etag(&info.etag, coding);
    let mut validators = Vec::with_capacity(96);
    let last_modified = httpdate::fmt_http_date(info.modified);
    response::field(&mut validators, "Last-Modified", last_modified.as_bytes());
    response::field(&mut validators, "ETag", etag.as_bytes());
    Some(Representation {
        info: info.clone(),
        len: bytes.len() as u64,
        content: Some(bytes),
        etag: Cow::Owned(etag),
        validators: Cow::Owned(validators),
        coding: Some(coding),
    })
}

/// The Cache-Control and header fields the configuration's rules give a
/// file, or `None` when no rule matches (the common case costs nothing).
fn rules_fields(site: &Site, info: &FileInfo) -> Option<Vec<u8>> {
    if site.rules.is_empty() {
        return None;
    }
    let path = format!("/{}", info.rel);
    let mut cache_control = site.cache_control.clone();
    let mut fields = Vec::new();
    let mut matched = false;
    for rule in site
        .rules
        .iter()
        .filter(|r| r.matches(&path, info.content_type))
    {
        matched = true;
        if let Some(value) = &rule.cache_control {
            let mut line = Vec::new();
            response::field(&mut line, "Cache-Control", value.as_bytes());
            cache_control = Some(line);
        }
        for (name, value) in &rule.headers {
            response::field(&mut fields, name, value.as_bytes());
        }
    }
    if !matched {
        return None;
    }
    let mut out = cache_control.unwrap_or_default();
    out.extend_from_slice(&fields);
    Some(out)
}

/// The response for an open file: steps 3 to 6 of the module docs.
fn file(ctx: &Ctx, out: &mut Vec<u8>, info: Arc<FileInfo>, siblings: Siblings) -> Reply {
    let (site, head, raw) = (ctx.site, ctx.head, ctx.raw);
    let (keep_alive, head_only, peer) = (ctx.keep_alive, ctx.head_only, ctx.peer);
    let ruled = rules_fields(site, &info);
    let cache_control: &[u8] = match &ruled {
        Some(fields) => fields,
        None => site.cache_control.as_deref().unwrap_or_default(),
    };

    // Step 3: the representation.
    let c = &site.compression;
    let on_the_fly = c.enabled && (c.min..=c.max).contains(&info.size) && info.compressible;
    let vary = siblings.any() || on_the_fly;
    let chosen = head.accept_encoding.get(raw).and_then(|ae| {
        let available =
            |coding: Coding| siblings.has(coding) || (on_the_fly && coding.on_the_fly());
        encoding::choose(ae, available, &site.preference)
    });
    if let Some(coding) = chosen {
        let large = info.size > INLINE_COMPRESS;
        if !siblings.has(coding)
            && large
            && ctx.defer
            && encoding::cached(info.identity, coding).is_none()
        {
            return Reply {
                compress: Some((info, coding)),
                ..Reply::buffered(0, 0, keep_alive)
            };
        }
    }
    let coded = chosen.and_then(|coding| {
        if siblings.has(coding) {
            sibling(site, &info, coding, head_only)
        } else {
            compressed(site, &info, coding)
        }
    });
    let rep = match coded {
        Some(rep) => rep,
        None => match identity(&info, head_only) {
            Ok(rep) => rep,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot read file");
                return ctx.fail(out, 500, &[]);
            }
        },
    };
    let mut negotiated = Vec::new();
    if let Some(coding) = rep.coding {
        response::field(
            &mut negotiated,
            "Content-Encoding",
            coding.token().as_bytes(),
        );
    }
    if vary {
        negotiated.extend_from_slice(b"Vary: Accept-Encoding\r\n");
    }

    // Step 4: preconditions.
    match conditional::evaluate(head, raw, &rep.etag, info.modified) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            response::start(out, 304);
            out.extend_from_slice(&rep.validators);
            out.extend_from_slice(&negotiated);
            out.extend_from_slice(cache_control);
            ctx.finish(out);
            return Reply::buffered(304, 0, keep_alive);
        }
        Precondition::Failed => return ctx.fail(out, 412, &[]),
    }

    // Step 5: ranges, of the representation chosen.
    let len = rep.len;
    let ranges = match (head.range.get(raw), head.if_range.get(raw)) {
        (None, _) => Ranges::Whole,
        (Some(_), Some(validator))
            if !conditional::if_range_allows(validator, &rep.etag, info.modified) =>
        {
            Ranges::Whole
        }
        (Some(value), _) => range::parse(value, len, site.limits.max_ranges),
    };

    // Step 6: head and body.
    // One range (the whole file, or a part) needs no list of pieces: the
    // common case allocates nothing.
    let (status, single, pieces): (u16, Option<Range<u64>>, Vec<Piece>) = match ranges {
        Ranges::Whole => {
            response::start(out, 200);
            out.extend_from_slice(&info.type_field);
            response::content_length(out, len);
            (200, Some(0..len), Vec::new())
        }
        Ranges::Unsatisfiable => {
            let unsatisfied = format!("bytes */{len}");
            let extra = [
                ("Content-Range", unsatisfied.as_bytes()),
                ("Accept-Ranges", &b"bytes"[..]),
            ];
            return ctx.fail(out, 416, &extra);
        }
        Ranges::Satisfiable(ranges) if ranges.len() == 1 => {
            let r = ranges[0].clone();
            response::start(out, 206);
            out.extend_from_slice(&info.type_field);
            response::field(
                out,
                "Content-Range",
                range::content_range(&r, len).as_bytes(),
            );
            response::content_length(out, r.end - r.start);
            (206, Some(r), Vec::new())
        }
        Ranges::Satisfiable(ranges) => {
            let boundary = range::boundary();
            let mut pieces = Vec::with_capacity(ranges.len() * 2 + 1);
            let mut total = 0;
            for r in ranges {
                let part = range::part_head(&boundary, info.content_type, &r, len).into_bytes();
                total += part.len() as u64 + (r.end - r.start);
                pieces.push(Piece::Bytes(part));
                pieces.push(Piece::File(r));
            }
            let closing = range::closing(&boundary).into_bytes();
            total += closing.len() as u64;
            pieces.push(Piece::Bytes(closing));
            response::start(out, 206);
            let ctype = format!("multipart/byteranges; boundary={boundary}");
            response::field(out, "Content-Type", ctype.as_bytes());
            response::content_length(out, total);
            (206, None, pieces)
        }
    };
    out.extend_from_slice(&rep.validators);
    out.extend_from_slice(&negotiated);
    out.extend_from_slice(info.other_fields);
    out.extend_from_slice(cache_control);
    ctx.finish(out);

    let bytes: u64 = match &single {
        Some(r) => r.end - r.start,
        None => pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes(b) => b.len() as u64,
                Piece::File(r) => r.end - r.start,
            })
            .sum(),
    };
    let encoding = rep.coding.map_or("", Coding::token);
    let range = (status == 206).then(|| {
        let parts: Vec<String> = single
            .iter()
            .chain(pieces.iter().filter_map(|p| match p {
                Piece::File(r) => Some(r),
                Piece::Bytes(_) => None,
            }))
            .map(|r| format!("{}-{}", r.start, r.end - 1))
            .collect();
        format!("bytes={}", parts.join(",")).into_boxed_str()
    });
    if head_only {
        return Reply {
            encoding,
            range,
            ..Reply::buffered(status, 0, keep_alive)
        };
    }
    if let Some(content) = rep.content {
        let slice = |r: &Range<u64>| &content[r.start as usize..r.end as usize];
        match &single {
            Some(r) => out.extend_from_slice(slice(r)),
            None => {
                for piece in &pieces {
                    match piece {
                        Piece::Bytes(b) => out.extend_from_slice(b),
                        Piece::File(r) => out.extend_from_slice(slice(r)),
                    }
                }
            }
        }
        return Reply {
            encoding,
            range,
            ..Reply::buffered(status, bytes, keep_alive)
        };
    }
    Reply {
        status,
        bytes,
        body: Some(FileBody {
            info: rep.info,
            pieces: match single {
                Some(r) => vec![Piece::File(r)],
                None => pieces,
            },
        }),
        keep_alive,
        encoding,
        range,
        compress: None,
    }
}
