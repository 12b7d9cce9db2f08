//! The site: a protocol-neutral request view in, a response plan out.
//!
//! [`Pipeline::handle`] runs these steps, in this order:
//!
//! 1. site: [`Sites`] chooses the site by host (421 for a host that
//!    belongs on another connection); `respond`, in front, has already
//!    answered ACME's challenges and development mode's own paths;
//!    Then the site's allow and deny rules (403) and request rates per
//!    client (429 with Retry-After, or a wait within the burst), from
//!    `limit`;
//! 2. method: GET and HEAD go on, OPTIONS gets 204 with Allow (and a CORS
//!    preflight's fields), other methods 405 or 501;
//! 3. redirects (301, 302, 307, 308 to a target with the pattern's
//!    captures) and rewrites (served from another path of the site), in
//!    the order the configuration writes them, matched on the path decoded
//!    and normalized as step 5 resolves it;
//! 4. authentication: without valid Basic credentials, 401;
//! 5. resolve: the open-file cache, else the path decoded and checked
//!    ([`resolve`]) and opened beneath the root ([`files`]); `--clean-urls`,
//!    the slash redirect of a directory, its index, `--listing`, 403;
//! 6. not found: the `--fallback` page for HTML, else 404;
//! 7. representation (RFC 9110 §12.5.3): a precompressed sibling, a copy
//!    compressed on the fly (large files off the event loop), or the file
//!    as it is ([`encoding`]);
//! 8. preconditions on that representation (RFC 9110 §13.2.2): 304 or 412
//!    ([`conditional`]);
//! 9. ranges (RFC 9110 §14): If-Range, then 206, multipart 206, or 416
//!    ([`range`]);
//! 10. fields: type, validators, coding and Vary, the rules' and
//!     Cache-Control, `--header`, CORS ([`cors`]);
//! 11. body: bytes in memory for small files, file pieces otherwise.
//!
//! Error responses (step 2 on) get the `--error-page` file for their status
//! when one is configured, and the same `--header` and CORS fields.

pub(crate) mod auth;
pub(crate) mod cache;
pub(crate) mod conditional;
pub(crate) mod cors;
pub(crate) mod encoding;
pub(crate) mod files;
pub(crate) mod hosts;
pub(crate) mod listing;
pub(crate) mod mime;
pub(crate) mod pages;
pub(crate) mod range;
pub(crate) mod resolve;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::config::Site;
use crate::dev::explain::{self, Trace};
use crate::dev::live::{self, Live};
use crate::exchange::{Body, Coding, Method, Name, Piece, Plan, Request, Text};
use crate::limit::{Guard, Limiter, Verdict};
use crate::stats::Stats;
use cache::Cached;
use conditional::Precondition;
use files::{FileInfo, Lookup, Root, Siblings, SMALL_FILE};
use range::Ranges;
use resolve::Refusal;

pub use hosts::{Named, Sites};

/// The methods a file allows.
pub const ALLOW: &str = "GET, HEAD, OPTIONS";

/// Files larger than this are compressed on the blocking pool, so that
/// the other connections of the worker are not kept waiting.
pub const INLINE_COMPRESS: u64 = 64 * 1024;

/// One site's files and settings: what every request is answered from.
#[derive(Debug)]
pub struct Pipeline {
    root: Root,
    site: Site,
    /// The live-reload watcher, with `--live`.
    live: Option<Arc<Live>>,
    /// The site's name in the access log, when the server has several.
    name: Option<Arc<str>>,
    /// Its allow and deny rules and request rates, when it has any.
    guard: Option<Guard>,
    /// Credentials this site has verified.
    verified: auth::Verified,
    /// Compressed copies, the server's (shared by its sites) or this
    /// pipeline's own.
    compressed: Arc<encoding::Compressed>,
    /// Where its caches are counted for the metrics.
    stats: Option<Arc<Stats>>,
}

/// A large file to compress before the plan can be made.
struct Deferred {
    info: Arc<FileInfo>,
    coding: Coding,
}

impl Pipeline {
    /// The pipeline serving `site` from `root`; HTML pages carry the
    /// live-reload script of `live`.
    pub fn new(root: Root, site: Site, live: Option<Arc<Live>>) -> Pipeline {
        Pipeline {
            root,
            site,
            live,
            name: None,
            guard: None,
            verified: auth::Verified::default(),
            compressed: Arc::default(),
            stats: None,
        }
    }

    /// This pipeline, its site's limits counted in `limiter` under the
    /// site's name `site`.
    pub fn limited(self, limiter: &Arc<Limiter>, site: &str) -> Pipeline {
        let s = &self.site;
        let guard = Guard::new(limiter, site, &s.access, &s.rate_limits, &s.trusted_proxies);
        Pipeline { guard, ..self }
    }

    /// This pipeline, keeping compressed copies in `store` (the server's,
    /// which its sites share and reloads keep) and counting in `stats`.
    pub fn shared_with(self, store: &Arc<encoding::Compressed>, stats: &Arc<Stats>) -> Pipeline {
        Pipeline {
            compressed: store.clone(),
            stats: Some(stats.clone()),
            ..self
        }
    }

    /// Counts in the stats, when there are any.
    #[inline]
    fn count(&self, f: impl FnOnce(&Arc<Stats>)) {
        if let Some(stats) = &self.stats {
            f(stats);
        }
    }

    /// The site's settings, to change before the pipeline serves.
    pub fn site_mut(&mut self) -> &mut Site {
        &mut self.site
    }

    /// The site's settings.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// The root it serves.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// This pipeline, named `name` in the access log.
    pub fn named(self, name: Arc<str>) -> Pipeline {
        Pipeline {
            name: Some(name),
            ..self
        }
    }

    /// The response to `req`, decided by the steps of the module docs.
    pub async fn handle(&self, req: &Request<'_>) -> Plan {
        let trace = Trace::new(self.site.explain);
        // Step 1½: allow and deny, and request rates.
        if let Some(guard) = &self.guard {
            match self.guarded(guard, req, &trace) {
                Ok(None) => {}
                Ok(Some(wait)) => Box::pin(tokio::time::sleep(wait)).await,
                Err(plan) => return self.finished(*plan, trace),
            }
        }
        // Nothing of the first answer is kept across the wait for a
        // compressed copy: a plan is large, and this future lives inside
        // every connection's.
        let compressing = match self.respond(req, &trace, true) {
            Ok(plan) => return self.finished(plan, trace),
            Err(Deferred { info, coding }) => {
                let cache_bytes = self.site.compression.cache_bytes;
                let store = self.compressed.clone();
                Box::pin(compress_off_loop(store, info, coding, cache_bytes))
            }
        };
        compressing.await;
        // The trace starts again once the copy is made.
        trace.restart();
        let plan = self.respond(req, &trace, false).unwrap_or_else(|_| {
            let ctx = Ctx {
                pipeline: self,
                req,
                trace: &trace,
                defer: false,
            };
            ctx.fail(500, Vec::new())
        });
        self.finished(plan, trace)
    }

    /// `plan` with the explanation, the site's name and its pace.
    fn finished(&self, mut plan: Plan, trace: Trace) -> Plan {
        if let Some(trace) = trace.finish() {
            let trace: Arc<str> = Arc::from(trace);
            plan.field(explain::FIELD, trace.clone());
            plan.explain = Some(trace);
        }
        plan.site.clone_from(&self.name);
        plan.pace.clone_from(&self.site.bandwidth);
        plan
    }

    /// What the guard says of `req`: go on (after a wait, for a burst
    /// made to wait its turn), or the refusal (403, 429).
    fn guarded(
        &self,
        guard: &Guard,
        req: &Request<'_>,
        trace: &Trace,
    ) -> Result<Option<std::time::Duration>, Box<Plan>> {
        let path = guard.needs_path().then(|| normalized(req.path)).flatten();
        match guard.check(req, path.as_deref()) {
            Verdict::Pass => Ok(None),
            Verdict::Wait(wait, limit) => {
                trace.note(|| format!("delayed {} ms by limit {limit}", wait.as_millis()));
                Ok(Some(wait))
            }
            Verdict::Refuse(refusal) => {
                let status = refusal.status;
                trace.note(|| format!("{status}: limit {}: {refusal}", refusal.limit));
                let ctx = Ctx {
                    pipeline: self,
                    req,
                    trace,
                    defer: false,
                };
                let extra = refusal
                    .retry_after
                    .map(|wait| {
                        let secs = crate::limit::retry_after_seconds(wait);
                        ("Retry-After".into(), Text::from(secs.to_string()))
                    })
                    .into_iter()
                    .collect();
                Err(Box::new(ctx.fail(status, extra)))
            }
        }
    }

    /// Steps 2 to 11; with `defer`, a large file to compress on the fly is
    /// handed back instead of compressed here.
    fn respond(&self, req: &Request, trace: &Trace, defer: bool) -> Result<Plan, Deferred> {
        let ctx = Ctx {
            pipeline: self,
            req,
            trace,
            defer,
        };
        let site = &self.site;

        // Step 2: the method.
        match req.method {
            Method::Get | Method::Head => {}
            Method::Options => {
                let mut plan = Plan::new(204);
                plan.field("Allow", ALLOW);
                cors::preflight_fields(&site.cors, req, &mut plan);
                ctx.finish(&mut plan);
                return Ok(plan);
            }
            Method::NotAllowed => return Ok(ctx.fail(405, vec![("Allow".into(), ALLOW.into())])),
            Method::Unknown => return Ok(ctx.fail(501, Vec::new())),
        }

        // Step 3: redirects, then rewrites, in the order written, matched
        // on the path as decoded and normalized (as rules are).
        if site.redirects.is_empty() && site.rewrites.is_empty() {
            return self.serve(req, trace, defer);
        }
        let Some(path) = normalized(req.path) else {
            // Refused when resolved, as any such path.
            return self.serve(req, trace, defer);
        };
        let query = req.query.and_then(|q| std::str::from_utf8(q).ok());
        for route in &site.redirects {
            if let (Some(to), Some(status)) = (route.target(&path, query), route.status) {
                trace.note(|| format!("{status}: redirect {} to {to}", route.from.as_str()));
                return Ok(ctx.fail(status, vec![("Location".into(), to.into())]));
            }
        }
        if let Some((route, to)) = site
            .rewrites
            .iter()
            .find_map(|r| r.target(&path, query).map(|to| (r, to)))
        {
            trace.note(|| format!("rewrite {} to {to}", route.from.as_str()));
            // Served from the target as if asked for it; it is resolved
            // like any path, so it never leaves the root.
            let (path, query) = match to.split_once('?') {
                Some((p, q)) => (p, Some(q.as_bytes())),
                None => (to.as_str(), None),
            };
            let rewritten = Request {
                path: path.as_bytes(),
                query,
                ..*req
            };
            return self.serve(&rewritten, trace, defer);
        }
        self.serve(req, trace, defer)
    }

    /// Steps 4 to 11 for `req`.
    fn serve(&self, req: &Request, trace: &Trace, defer: bool) -> Result<Plan, Deferred> {
        let ctx = Ctx {
            pipeline: self,
            req,
            trace,
            defer,
        };
        let site = &self.site;

        // Step 4: authentication.
        if let Some(challenge) = auth::check(&site.users, &self.verified, req) {
            trace.note(|| "401: no valid Basic credentials".into());
            let field = ("WWW-Authenticate".into(), challenge.into());
            return Ok(ctx.fail(401, vec![field]));
        }

        // Step 5: resolve and open.
        let path = req.path;
        let valid = site.limits.cache_valid;
        match cache::get(&self.root, path, valid) {
            Cached::File(info, siblings) => {
                self.count(|s| s.file_cache(true));
                trace.note(|| format!("file {} (open-file cache)", info.rel));
                return ctx.file(info, siblings);
            }
            Cached::Missing => {
                self.count(|s| s.file_cache(true));
                trace.note(|| "404: found missing within --file-cache-valid".into());
                return ctx.not_found();
            }
            Cached::Unknown => self.count(|s| s.file_cache(false)),
        }
        let resolved = match resolve::resolve(path) {
            Ok(r) => r,
            Err(Refusal::BadRequest(why)) => {
                trace.note(|| format!("400: {why}"));
                return Ok(ctx.fail(400, Vec::new()));
            }
            Err(Refusal::Hidden) if site.hidden_status == 403 => {
                trace.note(|| "403: a dot file or directory, never served".into());
                return Ok(ctx.fail(403, Vec::new()));
            }
            Err(Refusal::Hidden) => {
                trace.note(|| "404: a dot file or directory, never served".into());
                return ctx.not_found();
            }
        };
        trace.note(|| match resolved.rel.as_str() {
            "." => "path /".to_string(),
            rel if resolved.slash => format!("path {rel}/"),
            rel => format!("path {rel}"),
        });
        let found = files::lookup(&self.root, &resolved.rel, resolved.slash, &site.index);
        // --clean-urls: `/about` serves `about.html`.
        let found = match found {
            Ok(Lookup::NotFound(missing))
                if site.clean_urls && !resolved.slash && resolved.rel != "." =>
            {
                let html = format!("{}.html", resolved.rel);
                match files::lookup(&self.root, &html, false, &site.index) {
                    Ok(Lookup::File(info)) => {
                        trace.note(|| format!("clean URL: {html}"));
                        Ok(Lookup::File(info))
                    }
                    _ => Ok(Lookup::NotFound(missing)),
                }
            }
            other => other,
        };
        match found {
            Ok(Lookup::File(info)) => {
                trace.note(|| {
                    if resolved.slash {
                        format!("index {}", info.rel)
                    } else {
                        format!("file {}", info.rel)
                    }
                });
                if site.clean_urls {
                    if let Some(clean) = clean_url(&resolved) {
                        trace.note(|| format!("301: --clean-urls: {clean}"));
                        return Ok(ctx.redirect(&clean));
                    }
                }
                let siblings = self.root.siblings(&info.rel);
                let (entries, bytes) = (site.limits.cache_entries, site.limits.cache_bytes);
                if let Some(n) = cache::put(&self.root, path, &info, siblings, entries, bytes) {
                    self.count(|s| s.file_cache_entries(n));
                }
                ctx.file(info, siblings)
            }
            Ok(Lookup::AddSlash) => {
                trace.note(|| "301: a directory, asked for without its slash".into());
                Ok(ctx.redirect(&resolve::directory_url(&resolved)))
            }
            Ok(Lookup::NoIndex) if site.listing => {
                trace.note(|| "listing: a directory without an index file".into());
                Ok(ctx.listing(&resolved))
            }
            Ok(Lookup::NoIndex) => {
                trace.note(|| format!("403: a directory without {} and listing off", site.index));
                Ok(ctx.fail(403, Vec::new()))
            }
            Ok(Lookup::Forbidden) => {
                trace.note(|| "403: the server may not read it".into());
                Ok(ctx.fail(403, Vec::new()))
            }
            // Step 6: not found.
            Ok(Lookup::NotFound(missing)) => {
                trace.note(|| format!("404: {}", missing.reason()));
                cache::put_missing(&self.root, path, valid, site.limits.cache_entries);
                ctx.not_found()
            }
            Err(e) => {
                let shown = String::from_utf8_lossy(path);
                tracing::warn!(peer = %req.peer, path = %shown, error = %e, "cannot open file");
                Ok(ctx.fail(500, Vec::new()))
            }
        }
    }
}

/// The request path as the pipeline resolves it, decoded and normalized
/// (`/` for the root, a trailing `/` kept), for matching redirects and
/// rewrites; `None` when it would be refused.
fn normalized(path: &[u8]) -> Option<String> {
    let resolved = resolve::resolve(path).ok()?;
    Some(match resolved.rel.as_str() {
        "." => "/".to_string(),
        rel if resolved.slash => format!("/{rel}/"),
        rel => format!("/{rel}"),
    })
}

/// Compresses `info` with `coding` into the shared cache, on a thread of
/// the blocking pool.
async fn compress_off_loop(
    store: Arc<encoding::Compressed>,
    info: Arc<FileInfo>,
    coding: Coding,
    cache_bytes: usize,
) {
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(whole) = read_up_to(&info, info.size) {
            if whole.len() as u64 == info.size {
                store.compressed(info.identity, &whole, coding, cache_bytes);
            }
        }
    })
    .await;
}

/// Header fields of a response under construction.
type FieldVec = Vec<(Text, Text)>;

/// What every step of one response needs to know.
struct Ctx<'a, 'r> {
    pipeline: &'a Pipeline,
    req: &'a Request<'r>,
    /// The trace of `--explain`.
    trace: &'a Trace,
    /// Whether a large compression may be handed back (see [`Deferred`]).
    defer: bool,
}

impl Ctx<'_, '_> {
    fn site(&self) -> &Site {
        &self.pipeline.site
    }

    /// Ends a plan with the `--header` fields, the CORS fields, and on
    /// HTTPS Strict-Transport-Security.
    fn finish(&self, plan: &mut Plan) {
        if let (Some(hsts), true) = (&self.site().hsts, self.req.secure) {
            plan.field("Strict-Transport-Security", hsts.clone());
        }
        for (name, value) in &self.site().headers {
            plan.field(name.clone(), value.clone());
        }
        cors::response_fields(&self.site().cors, self.req, plan);
    }

    /// `page` with the `--live` script, when it is HTML and live reload is
    /// on.
    fn with_live_script(&self, content_type: &str, page: Bytes) -> Bytes {
        match &self.pipeline.live {
            Some(_) if content_type.starts_with("text/html") => live::inject(&page),
            _ => page,
        }
    }

    /// An error response: the `--error-page` file for `status` if one is
    /// configured and readable, else the built-in page.
    fn fail(&self, status: u16, extra: FieldVec) -> Plan {
        let site = self.site();
        let custom = site
            .error_pages
            .iter()
            .find(|(s, _)| *s == status)
            .and_then(|(_, rel)| {
                let info = self.named_file(rel).filter(|i| i.size <= SMALL_FILE)?;
                Some((info.content_type, whole(&info).ok()?))
            });
        let (content_type, page) = match custom {
            Some(found) => {
                self.trace.note(|| {
                    let rel = site.error_pages.iter().find(|(s, _)| *s == status);
                    format!("error page {}", rel.map_or("", |(_, r)| r.as_str()))
                });
                found
            }
            None => (
                "text/html; charset=utf-8",
                Bytes::from_static(pages::error_page(status).as_bytes()),
            ),
        };
        let page = self.with_live_script(content_type, page);
        let mut plan = Plan::new(status);
        plan.fields.extend(extra);
        plan.field("Content-Type", content_type);
        let mut plan = plan.with_bytes(page, self.req.head_only());
        self.finish(&mut plan);
        plan
    }

    /// A 301 to `location` with the request's query kept.
    fn redirect(&self, location: &str) -> Plan {
        let mut location = if self.site().relative_redirects {
            relative(self.req.path, location)
        } else {
            location.to_string()
        };
        if let Some(q) = self.req.query {
            location.push('?');
            location.push_str(&String::from_utf8_lossy(q));
        }
        self.fail(301, vec![("Location".into(), location.into())])
    }

    /// Whether the request would take an HTML page (for `--fallback`).
    fn accepts_html(&self) -> bool {
        self.req.field(Name::Accept).is_some_and(|a| {
            let a = String::from_utf8_lossy(a).to_ascii_lowercase();
            a.contains("text/html") || a.contains("application/xhtml+xml")
        })
    }

    /// Step 6: 404, or the `--fallback` page for a GET that would take
    /// HTML.
    fn not_found(&self) -> Result<Plan, Deferred> {
        let site = self.site();
        if let Some(fallback) = &site.fallback {
            if self.accepts_html() {
                if let Some(info) = self.named_file(fallback) {
                    self.trace
                        .note(|| format!("fallback {fallback} for a page"));
                    return self.file(info, Siblings::default());
                }
            }
        }
        Ok(self.fail(404, Vec::new()))
    }

    /// `--listing`: the directory as an HTML page or JSON.
    fn listing(&self, resolved: &resolve::Resolved) -> Plan {
        let entries = match listing::entries(&self.pipeline.root, &resolved.rel) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(peer = %self.req.peer, error = %e, "cannot list directory");
                return self.fail(500, Vec::new());
            }
        };
        let (content_type, page) = if listing::prefers_json(self.req.field(Name::Accept)) {
            ("application/json", Bytes::from(listing::json(&entries)))
        } else {
            let url = resolve::directory_url(resolved);
            let page = Bytes::from(listing::html(&url, &entries));
            let html = "text/html; charset=utf-8";
            (html, self.with_live_script(html, page))
        };
        let mut plan = Plan::new(200);
        plan.field("Content-Type", content_type);
        plan.field("Vary", "Accept");
        let mut plan = plan.with_bytes(page, self.req.head_only());
        self.finish(&mut plan);
        plan
    }

    /// Steps 7 to 11 for an open file.
    fn file(&self, info: Arc<FileInfo>, siblings: Siblings) -> Result<Plan, Deferred> {
        let (site, req) = (self.site(), self.req);
        let head_only = req.head_only();

        // Step 7: the representation. Under --live an HTML page is its own
        // representation, with the script: never compressed.
        let live = self.pipeline.live.is_some()
            && info.content_type.starts_with("text/html")
            && info.size <= live::INJECT_MAX;
        let c = &site.compression;
        let on_the_fly =
            c.enabled && (c.min..=c.max).contains(&info.size) && info.compressible && !live;
        let siblings = if live { Siblings::default() } else { siblings };
        let vary = siblings.any() || on_the_fly;
        let chosen = req.field(Name::AcceptEncoding).and_then(|ae| {
            let available =
                |coding: Coding| siblings.has(coding) || (on_the_fly && coding.on_the_fly());
            encoding::choose(ae, available, &site.preference)
        });
        if let Some(coding) = chosen {
            let large = info.size > INLINE_COMPRESS;
            if !siblings.has(coding)
                && large
                && self.defer
                && self
                    .pipeline
                    .compressed
                    .cached(info.identity, coding)
                    .is_none()
            {
                return Err(Deferred { info, coding });
            }
        }
        let coded = chosen.and_then(|coding| {
            if siblings.has(coding) {
                self.sibling(&info, coding)
            } else {
                compressed(&self.pipeline.compressed, site, &info, coding)
            }
        });
        if self.trace.on() {
            self.trace.note(|| {
                representation_note(&info, live, chosen, &coded, siblings, on_the_fly, req)
            });
        }
        let rep = match coded {
            Some(rep) => rep,
            None if live => match injected(&info) {
                Ok(rep) => rep,
                Err(e) => {
                    tracing::warn!(peer = %req.peer, error = %e, "cannot read file");
                    return Ok(self.fail(500, Vec::new()));
                }
            },
            None => match identity(&info, head_only) {
                Ok(rep) => rep,
                Err(e) => {
                    tracing::warn!(peer = %req.peer, error = %e, "cannot read file");
                    return Ok(self.fail(500, Vec::new()));
                }
            },
        };
        // Step 8: preconditions.
        let precondition = conditional::evaluate(req, &rep.etag, info.modified);
        if precondition == Precondition::Failed {
            self.trace.note(|| "412: a precondition failed".into());
            return Ok(self.fail(412, Vec::new()));
        }
        if precondition == Precondition::NotModified {
            self.trace
                .note(|| "304: the client's copy is current".into());
        }

        // Step 9: ranges, of the representation chosen.
        let len = rep.len;
        let ranges = match (req.field(Name::Range), req.field(Name::IfRange)) {
            _ if precondition == Precondition::NotModified => Ranges::Whole,
            (None, _) => Ranges::Whole,
            (Some(_), Some(validator))
                if !conditional::if_range_allows(validator, &rep.etag, info.modified) =>
            {
                self.trace
                    .note(|| "If-Range does not match: the whole representation".into());
                Ranges::Whole
            }
            (Some(value), _) => range::parse(value, len, site.limits.max_ranges),
        };
        // One range (the whole, or a part) needs no list of pieces: the
        // common case allocates none.
        let (status, single, multipart) = match ranges {
            _ if precondition == Precondition::NotModified => (304, None, None),
            Ranges::Whole => (200, Some(0..len), None),
            Ranges::Unsatisfiable => {
                self.trace
                    .note(|| "416: no range within the representation".into());
                let extra = vec![
                    ("Content-Range".into(), format!("bytes */{len}").into()),
                    ("Accept-Ranges".into(), "bytes".into()),
                ];
                return Ok(self.fail(416, extra));
            }
            Ranges::Satisfiable(mut ranges) if ranges.len() == 1 => {
                self.trace
                    .note(|| format!("206: bytes {}-{}", ranges[0].start, ranges[0].end - 1));
                (206, Some(ranges.swap_remove(0)), None)
            }
            Ranges::Satisfiable(ranges) => {
                self.trace
                    .note(|| format!("206: {} ranges, multipart", ranges.len()));
                (206, None, Some(ranges))
            }
        };

        // Step 10: fields.
        let mut plan = Plan::new(status);
        let mut pieces = Vec::new();
        if status != 304 {
            match (&single, &multipart) {
                // The file as it is: its shared fields.
                (Some(r), _) if rep.coding.is_none() && !live => {
                    plan.shared = Some(info.fields.clone());
                    if status == 206 {
                        plan.field("Content-Range", range::content_range(r, len));
                        plan.range = Some(format!("bytes={}-{}", r.start, r.end - 1).into());
                    }
                }
                (Some(r), _) => {
                    plan.field("Content-Type", info.content_type);
                    if status == 206 {
                        plan.field("Content-Range", range::content_range(r, len));
                        plan.range = Some(format!("bytes={}-{}", r.start, r.end - 1).into());
                    }
                }
                (None, Some(ranges)) => {
                    let boundary = range::boundary();
                    pieces.reserve(ranges.len() * 2 + 1);
                    let mut served = Vec::with_capacity(ranges.len());
                    for r in ranges {
                        let part = range::part_head(&boundary, info.content_type, r, len);
                        served.push(format!("{}-{}", r.start, r.end - 1));
                        pieces.push(Piece::Bytes(Bytes::from(part)));
                        pieces.push(Piece::File(r.clone()));
                    }
                    pieces.push(Piece::Bytes(Bytes::from(range::closing(&boundary))));
                    let ctype = format!("multipart/byteranges; boundary={boundary}");
                    plan.field("Content-Type", ctype);
                    plan.range = Some(format!("bytes={}", served.join(",")).into());
                }
                (None, None) => {}
            }
        }
        let shared = plan.shared.is_some();
        if !shared {
            plan.field("Last-Modified", rep.last_modified);
            plan.field("ETag", rep.etag);
        }
        if let Some(coding) = rep.coding {
            plan.field("Content-Encoding", coding.token());
        }
        if vary {
            plan.field("Vary", "Accept-Encoding");
        }
        if status != 304 && !shared {
            plan.field("X-Content-Type-Options", "nosniff");
            plan.field("Accept-Ranges", "bytes");
        }
        rules_fields(site, &info, &mut plan, self.trace);
        if status == 304 {
            self.finish(&mut plan);
            return Ok(plan);
        }
        plan.encoding = rep.coding.map_or("", Coding::token);

        // Step 11: the body.
        let total = match &single {
            Some(r) => r.end - r.start,
            None => pieces.iter().map(Piece::len).sum(),
        };
        plan.content_length = Some(total);
        if !head_only {
            plan.body = match (rep.content, single) {
                (Some(content), Some(r)) => {
                    Body::Bytes(content.slice(r.start as usize..r.end as usize))
                }
                (Some(content), None) => {
                    let mut joined = BytesMut::with_capacity(total as usize);
                    for piece in &pieces {
                        match piece {
                            Piece::Bytes(b) => joined.extend_from_slice(b),
                            Piece::File(r) => {
                                joined.extend_from_slice(&content[r.start as usize..r.end as usize])
                            }
                        }
                    }
                    Body::Bytes(joined.freeze())
                }
                (None, Some(r)) => Body::File {
                    file: rep.file,
                    pieces: vec![Piece::File(r)],
                },
                (None, None) => Body::File {
                    file: rep.file,
                    pieces,
                },
            };
        }
        self.finish(&mut plan);
        Ok(plan)
    }

    /// The precompressed sibling of `info` for `coding`, opened beneath the
    /// root and cached like any file.
    fn sibling(&self, info: &FileInfo, coding: Coding) -> Option<Representation> {
        let found = self.named_file(&format!("{}{}", info.rel, coding.suffix()))?;
        let rep = identity(&found, self.req.head_only()).ok()?;
        Some(Representation {
            coding: Some(coding),
            ..rep
        })
    }

    /// The file at `rel` (a precompressed sibling, a custom error page, the
    /// fallback page), opened beneath the root and cached like any file,
    /// found or missing, under a key no URL can be: a NUL and the path.
    fn named_file(&self, rel: &str) -> Option<Arc<FileInfo>> {
        let (site, root) = (self.site(), &self.pipeline.root);
        let limits = &site.limits;
        let mut key = Vec::with_capacity(rel.len() + 1);
        key.push(0);
        key.extend_from_slice(rel.as_bytes());
        match cache::get(root, &key, limits.cache_valid) {
            Cached::File(found, _) => return Some(found),
            Cached::Missing => return None,
            Cached::Unknown => {}
        }
        match files::lookup(root, rel, false, &site.index) {
            Ok(Lookup::File(found)) => {
                let (entries, bytes) = (limits.cache_entries, limits.cache_bytes);
                let held = cache::put(root, &key, &found, Siblings::default(), entries, bytes);
                if let Some(n) = held {
                    self.pipeline.count(|s| s.file_cache_entries(n));
                }
                Some(found)
            }
            Ok(Lookup::NotFound(_)) => {
                cache::put_missing(root, &key, limits.cache_valid, limits.cache_entries);
                None
            }
            _ => None,
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

/// `target`, a path from the site's root, as a reference relative to the
/// request path `from` (RFC 3986 §5.2): up to the site's root, then down,
/// so that it resolves to the same place under any prefix the site is
/// mounted at.
fn relative(from: &[u8], target: &str) -> String {
    let ups = from
        .iter()
        .filter(|&&b| b == b'/')
        .count()
        .saturating_sub(1);
    let down = target.trim_start_matches('/');
    let mut out = if ups == 0 {
        String::from("./")
    } else {
        "../".repeat(ups)
    };
    out.push_str(down);
    out
}

/// The file's content: the copy it holds in memory, else what a read
/// finds now.
fn whole(info: &FileInfo) -> std::io::Result<Bytes> {
    match &info.body {
        Some(body) => Ok(body.clone()),
        None => read_up_to(info, info.size),
    }
}

/// Reads up to `size` bytes from the start of the file; fewer if it
/// shrank meanwhile.
fn read_up_to(info: &FileInfo, size: u64) -> std::io::Result<Bytes> {
    let mut body = vec![0; size as usize];
    let mut got = 0;
    while got < body.len() {
        match crate::platform::fs::read_at(&info.file, &mut body[got..], got as u64) {
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
struct Representation {
    /// The file the bytes come from when they are not in memory.
    file: Arc<std::fs::File>,
    /// The bytes, when in memory.
    content: Option<Bytes>,
    /// Length in bytes.
    len: u64,
    /// Strong validator.
    etag: Text,
    /// Last-Modified value.
    last_modified: Text,
    /// The content coding, if any.
    coding: Option<Coding>,
}

/// The file as it is; small bodies are read now and framed by what is
/// read, so a file rewritten meanwhile is never sent with a length that
/// does not match its bytes.
fn identity(info: &FileInfo, head_only: bool) -> std::io::Result<Representation> {
    let content = match &info.body {
        Some(body) => Some(body.clone()),
        None if info.size <= SMALL_FILE && !head_only => Some(read_up_to(info, info.size)?),
        None => None,
    };
    Ok(Representation {
        file: info.file.clone(),
        len: content.as_ref().map_or(info.size, |c| c.len() as u64),
        content,
        etag: Text::Shared(info.etag.clone()),
        last_modified: Text::Shared(info.last_modified.clone()),
        coding: None,
    })
}

/// `info` with the `--live` script in it: a representation of its own,
/// whose validator differs from the file's.
fn injected(info: &FileInfo) -> std::io::Result<Representation> {
    let content = live::inject(&whole(info)?);
    Ok(Representation {
        file: info.file.clone(),
        len: content.len() as u64,
        content: Some(content),
        etag: encoding::tagged_etag(&info.etag, "live").into(),
        last_modified: Text::Shared(info.last_modified.clone()),
        coding: None,
    })
}

/// Why the representation of `info` is the one served, for `--explain`.
fn representation_note(
    info: &FileInfo,
    live: bool,
    chosen: Option<Coding>,
    coded: &Option<Representation>,
    siblings: Siblings,
    on_the_fly: bool,
    req: &Request,
) -> String {
    if live {
        return "representation: the page with the live script (not compressed)".into();
    }
    match (chosen, coded) {
        (Some(coding), Some(_)) if siblings.has(coding) => format!(
            "representation: precompressed {}{}",
            info.rel,
            coding.suffix()
        ),
        (Some(coding), Some(_)) => {
            format!("representation: {} compressed on the fly", coding.token())
        }
        (Some(coding), None) => {
            format!(
                "representation: identity ({} could not be made)",
                coding.token()
            )
        }
        (None, _) if req.field(Name::AcceptEncoding).is_none() => {
            "representation: identity (no Accept-Encoding)".into()
        }
        (None, _) if !siblings.any() && !on_the_fly => {
            let why = if !info.compressible {
                "its type is not compressed"
            } else {
                "its size is outside --compress-min..--compress-max"
            };
            format!("representation: identity ({why}, no precompressed file)")
        }
        (None, _) => "representation: identity (the client accepts no coding offered)".into(),
    }
}

/// `info` compressed with `coding` on the fly (once per file version).
fn compressed(
    store: &encoding::Compressed,
    site: &Site,
    info: &FileInfo,
    coding: Coding,
) -> Option<Representation> {
    let whole = whole(info).ok()?;
    if whole.len() as u64 != info.size {
        return None;
    }
    let bytes = store.compressed(info.identity, &whole, coding, site.compression.cache_bytes)?;
    Some(Representation {
        file: info.file.clone(),
        len: bytes.len() as u64,
        content: Some(bytes),
        etag: encoding::coded_etag(&info.etag, coding).into(),
        last_modified: Text::Shared(info.last_modified.clone()),
        coding: Some(coding),
    })
}

/// Adds the Cache-Control and header fields the configuration's rules
/// give a file; with no rule matching, the site's Cache-Control.
fn rules_fields(site: &Site, info: &FileInfo, plan: &mut Plan, trace: &Trace) {
    if site.rules.is_empty() {
        if let Some(value) = &site.cache_control {
            plan.field("Cache-Control", value.clone());
        }
        return;
    }
    let path = format!("/{}", info.rel);
    let mut cache_control = site.cache_control.clone().map(Text::Shared);
    let mut fields = FieldVec::new();
    for rule in site
        .rules
        .iter()
        .filter(|r| r.matches(&path, info.content_type))
    {
        trace.note(|| {
            let by = rule.glob_text.as_deref().or(rule.content_type.as_deref());
            format!("rule {}", by.unwrap_or(""))
        });
        if let Some(value) = &rule.cache_control {
            cache_control = Some(value.clone().into());
        }
        for (name, value) in &rule.headers {
            fields.push((name.clone().into(), value.clone().into()));
        }
    }
    if let Some(value) = cache_control {
        plan.field("Cache-Control", value);
    }
    plan.fields.extend(fields);
}

#[cfg(test)]
mod tests;
