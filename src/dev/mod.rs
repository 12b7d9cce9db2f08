//! Development mode: live reload (`--live`), the inspector (`--inspect`),
//! and the trace of how a response was reached (`--explain`). Everything
//! lives under `/.henaserver/`: dot paths are never files henaserver
//! serves, so no site's file can be shadowed, and without these flags
//! those paths answer 404 like any dot path.

pub mod explain;
pub mod inspect;
pub mod live;

use std::sync::Arc;

use bytes::Bytes;

use crate::exchange::{Body, Events, Plan, Request};

/// What development mode a site runs with.
#[derive(Debug, Clone, Default)]
pub struct Dev {
    /// `--live`.
    pub live: Option<Arc<live::Live>>,
    /// `--inspect`.
    pub inspect: Option<Arc<inspect::Inspector>>,
}

/// The answer to a request for a reserved path, or `None` when it is not
/// one this server answers (it is then a dot path, and not found).
pub fn reserved(dev: &Dev, req: &Request) -> Option<Plan> {
    let head_only = req.head_only();
    if let Some(live) = &dev.live {
        if req.path == live::EVENTS_PATH {
            return Some(event_stream(live.subscribe(), head_only));
        }
    }
    if let Some(inspector) = &dev.inspect {
        let from_here = req.peer.ip().is_loopback() || req.peer == crate::exchange::UNIX_PEER;
        let path = req.path;
        let known = [inspect::PAGE_PATH, inspect::EVENTS_PATH, inspect::LIST_PATH].contains(&path);
        if known && !from_here && !inspector.public {
            let mut plan = page(
                "text/plain; charset=utf-8",
                Bytes::from_static(
                    b"The inspector answers this machine only (--inspect-public opens it).\n",
                ),
                head_only,
            );
            plan.status = 403;
            return Some(plan);
        }
        if path == inspect::PAGE_PATH {
            // The page, or what it reads, as the client's Accept asks.
            let accept = req
                .field(crate::exchange::Name::Accept)
                .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
                .unwrap_or_default();
            let mut plan = if accept.contains("text/event-stream") {
                event_stream(inspector.subscribe(), head_only)
            } else if accept.contains("application/json") && !accept.contains("text/html") {
                page("application/json", inspector.list(), head_only)
            } else {
                page(
                    "text/html; charset=utf-8",
                    Bytes::from_static(inspect::PAGE.as_bytes()),
                    head_only,
                )
            };
            plan.field("Vary", "Accept");
            return Some(plan);
        }
        if path == inspect::EVENTS_PATH {
            return Some(event_stream(inspector.subscribe(), head_only));
        }
        if path == inspect::LIST_PATH {
            return Some(page("application/json", inspector.list(), head_only));
        }
    }
    None
}

fn page(content_type: &'static str, body: Bytes, head_only: bool) -> Plan {
    let mut plan = Plan::new(200);
    plan.field("Content-Type", content_type);
    plan.field("Cache-Control", "no-store");
    plan.with_bytes(body, head_only)
}

/// 200 with `events` as its body (none for HEAD).
fn event_stream(events: Events, head_only: bool) -> Plan {
    let mut plan = Plan::new(200);
    plan.field("Content-Type", "text/event-stream");
    plan.field("Cache-Control", "no-store");
    if !head_only {
        plan.body = Body::Events(Box::new(events));
    }
    plan
}
