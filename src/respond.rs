//! What a listener answers with: one [`Responder`] per listener, which
//! every protocol calls with a request and gets a plan from, without
//! asking which kind it is.
//!
//! - [`Responder::Files`]: the sites' file pipelines (`site`), with ACME's
//!   HTTP-01 challenges and development mode's `/.henaserver/` paths in
//!   front of them;
//! - [`Responder::Echo`] (`--echo`) and [`Responder::Reply`] (`--reply`),
//!   the window into HTTP;
//! - [`Responder::Redirect`]: `--redirect-http`, 308 to HTTPS, with the
//!   HTTP-01 challenges in front;
//! - [`Responder::Admin`]: health, readiness and metrics (`--admin`);
//! - [`Responder::Busy`]: 429 to a client over `--conn-limit`.

use std::sync::Arc;

use bytes::Bytes;

use crate::acme::challenges::{Challenges, HTTP01_PREFIX};
use crate::admin::Admin;
use crate::dev::Dev;
use crate::exchange::{Plan, Request};
use crate::site::{hosts, pages, Pipeline, Sites};
use crate::window::echo;
use crate::window::reply::ReplySource;

/// What one listener answers every request with.
#[derive(Debug)]
pub enum Responder {
    /// Files of the sites.
    Files(Files),
    /// Each request, as received, as a text/plain body (`--echo`).
    Echo,
    /// The same raw response to every request (`--reply`).
    Reply(Arc<ReplySource>),
    /// Every request redirected to the same URL over HTTPS.
    Redirect(Redirect),
    /// Health, readiness and metrics.
    Admin(Arc<Admin>),
    /// 429 to a client over `--conn-limit`, and the connection closed.
    Busy,
}

/// The sites' files and what is answered in front of them.
#[derive(Debug)]
pub struct Files {
    /// The sites, each with its file pipeline.
    pub sites: Sites,
    /// HTTP-01 challenges of ACME, answered before anything else.
    pub challenges: Option<Arc<Challenges>>,
    /// Development mode's pages under `/.henaserver/`.
    pub dev: Dev,
}

/// `--redirect-http`: 308 to HTTPS on `port`, ACME's HTTP-01 challenges
/// answered first.
#[derive(Debug)]
pub struct Redirect {
    /// The HTTPS port redirected to.
    pub port: u16,
    /// HTTP-01 challenges of ACME.
    pub challenges: Option<Arc<Challenges>>,
}

impl Responder {
    /// The response to `req`. Only a site's file pipeline waits; every
    /// other answer is made at once.
    pub async fn respond(&self, req: &Request<'_>) -> Plan {
        match self.route(req) {
            Route::Now(plan) => plan,
            Route::Files(pipeline) => pipeline.handle(req).await,
        }
    }

    /// Whether answering needs the request as received, body included
    /// (`--echo`), so that the protocol keeps it.
    pub fn reads_requests(&self) -> bool {
        matches!(self, Responder::Echo)
    }

    /// Who answers `req`: an answer made at once, or a site's pipeline.
    fn route<'a>(&'a self, req: &Request<'_>) -> Route<'a> {
        match self {
            Responder::Files(files) => files.route(req),
            Responder::Echo => Route::Now(echo::plan(req)),
            Responder::Reply(source) => Route::Now(source.current().plan(req.head_only())),
            Responder::Redirect(redirect) => Route::Now(
                challenge(&redirect.challenges, req)
                    .unwrap_or_else(|| redirect_to_https(req, redirect.port)),
            ),
            Responder::Admin(admin) => Route::Now(admin.plan(req)),
            Responder::Busy => {
                let mut plan = pages::error_plan(429, req.head_only());
                let wait = crate::config::rate::CONN_RETRY_AFTER;
                plan.field(
                    "Retry-After",
                    crate::limit::retry_after_seconds(wait).to_string(),
                );
                Route::Now(plan)
            }
        }
    }
}

/// Who answers a request.
enum Route<'a> {
    Now(Plan),
    Files(&'a Pipeline),
}

impl Files {
    fn route(&self, req: &Request<'_>) -> Route<'_> {
        if let Some(plan) = challenge(&self.challenges, req) {
            return Route::Now(plan);
        }
        let Some(pipeline) = self.sites.pipeline_for(req) else {
            return Route::Now(hosts::misdirected(req));
        };
        // Development mode's own pages, under a dot path no file can have.
        if req.path.starts_with(b"/.henaserver/") {
            if let Some(plan) = crate::dev::reserved(&self.dev, req) {
                return Route::Now(plan);
            }
        }
        Route::Files(pipeline)
    }
}

/// The answer to an HTTP-01 validation (the key authorization, or 404 for
/// a token not being validated), when `req` is one.
#[inline]
fn challenge(challenges: &Option<Arc<Challenges>>, req: &Request) -> Option<Plan> {
    let challenges = challenges.as_ref()?;
    let token = req.path.strip_prefix(HTTP01_PREFIX)?;
    Some(match challenges.answer(token) {
        Some(answer) => {
            let mut plan = Plan::new(200);
            plan.field("Content-Type", "application/octet-stream");
            plan.field("Cache-Control", "no-store");
            plan.with_bytes(Bytes::from(answer), req.head_only())
        }
        None => pages::error_plan(404, req.head_only()),
    })
}

/// 308 to the same host, path and query over HTTPS on `port` (RFC 9110
/// §15.4.9); a request naming no host gets 400.
fn redirect_to_https(req: &Request, port: u16) -> Plan {
    let head_only = req.head_only();
    let host = req
        .authority
        .and_then(|a| std::str::from_utf8(a).ok())
        .and_then(hosts::host_part);
    let Some(host) = host else {
        return pages::error_plan(400, head_only);
    };
    let mut location = format!("https://{host}");
    if port != 443 {
        location.push_str(&format!(":{port}"));
    }
    let path = String::from_utf8_lossy(req.path);
    location.push_str(if path.is_empty() { "/" } else { &path });
    if let Some(q) = req.query {
        location.push('?');
        location.push_str(&String::from_utf8_lossy(q));
    }
    let mut plan = pages::error_plan(308, head_only);
    plan.field("Location", location);
    plan
}
