//! The admin listener (`--admin ADDR:PORT`): a plain HTTP/1.1 listener of
//! its own, never mixed with the site, for the service manager and the
//! load balancer.
//!
//! - `GET /healthz`: 200 `ok` while the process runs (liveness);
//! - `GET /readyz`: 200 once every listener is bound and serving, 503 from
//!   the moment shutdown begins (readiness), so that load balancers stop
//!   sending before connections close;
//! - `GET /metrics`: the [`metrics`] in the Prometheus text format, or
//!   OpenMetrics when the `Accept` field asks for it.
//!
//! Any other path is 404: the admin listener serves no file.

pub(crate) mod metrics;

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use prometheus_client::registry::Registry;

use crate::exchange::{Method, Name, Plan, Request};

/// The methods the admin paths allow.
const ALLOW: &str = "GET, HEAD";
/// OpenMetrics' media type, and the one sent for it.
const OPENMETRICS: &str = "application/openmetrics-text";
const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format's media type.
const PROMETHEUS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the admin listener answers from.
#[derive(Debug)]
pub struct Admin {
    ready: AtomicBool,
    registry: Registry,
}

impl PartialEq for Admin {
    fn eq(&self, other: &Admin) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Admin {}

impl Admin {
    /// An admin endpoint whose metrics also read `sources`; not ready yet.
    pub fn new(sources: metrics::Sources) -> Admin {
        let mut registry = Registry::default();
        sources.stats.enable();
        registry.register_collector(Box::new(metrics::Scrape::new(sources)));
        Admin {
            ready: AtomicBool::new(false),
            registry,
        }
    }

    /// Says whether the server takes traffic.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// The answer to an admin request.
    pub fn plan(&self, req: &Request) -> Plan {
        let head_only = req.head_only();
        if !matches!(req.method, Method::Get | Method::Head) {
            let mut plan = text(405, "method not allowed\n", head_only);
            plan.field("Allow", ALLOW);
            return plan;
        }
        match req.path {
            b"/healthz" => text(200, "ok\n", head_only),
            b"/readyz" if self.ready.load(Ordering::SeqCst) => text(200, "ready\n", head_only),
            b"/readyz" => text(503, "stopping\n", head_only),
            b"/metrics" => self.metrics(req),
            _ => text(404, "not found\n", head_only),
        }
    }

    /// The metrics, in the format the client asks for.
    fn metrics(&self, req: &Request) -> Plan {
        let openmetrics = req
            .field(Name::Accept)
            .is_some_and(|a| String::from_utf8_lossy(a).contains(OPENMETRICS));
        let mut body = String::with_capacity(4096);
        let encoded = if openmetrics {
            prometheus_client::encoding::text::encode(&mut body, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut body, &self.registry)
        };
        if encoded.is_err() {
            return text(500, "cannot encode the metrics\n", req.head_only());
        }
        let mut plan = Plan::new(200);
        let media = if openmetrics {
            OPENMETRICS_TYPE
        } else {
            PROMETHEUS_TYPE
        };
        plan.field("Content-Type", media);
        plan.field("Cache-Control", "no-store");
        plan.with_bytes(Bytes::from(body), req.head_only())
    }
}

/// A short plain-text answer.
fn text(status: u16, body: &'static str, head_only: bool) -> Plan {
    let mut plan = Plan::new(status);
    plan.field("Content-Type", "text/plain; charset=utf-8");
    plan.field("Cache-Control", "no-store");
    plan.with_bytes(Bytes::from_static(body.as_bytes()), head_only)
}
