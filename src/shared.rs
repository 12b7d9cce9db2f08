//! What every connection of a listener shares, whatever its protocol.

use arc_swap::ArcSwap;

use crate::config::access::AccessRule;
use crate::config::{Config, Limits};
use crate::exchange::Plan;
use crate::observe::Observers;
use crate::respond::Responder;
use crate::tls::Tls;

/// What every connection of one listener shares.
#[derive(Debug)]
pub struct Shared {
    /// What requests are answered with; replaced whole when the
    /// configuration is reloaded, while requests in flight keep the one
    /// they began with.
    pub responder: ArcSwap<Responder>,
    /// What watches the exchanges: the access log, the dump, the
    /// inspector, the metrics.
    pub observe: Observers,
    /// Limits and timeouts.
    pub limits: Limits,
    /// Whether file bodies go out with `sendfile(2)`.
    pub zero_copy: bool,
    /// HTTPS, on the listeners that speak it.
    pub tls: Option<Tls>,
    /// Whether HTTP/2 is spoken (ALPN `h2`, and prior knowledge in
    /// cleartext).
    pub http2: bool,
    /// Peers whose forwarding fields are believed (`--trusted-proxy`).
    pub trusted: Vec<ipnet::IpNet>,
    /// Who may connect (`--access`); an empty list lets everyone in.
    /// Replaced whole when the configuration is reloaded.
    pub access: ArcSwap<Vec<AccessRule>>,
    /// The `Alt-Svc` value HTTP/1.1 and HTTP/2 responses carry when
    /// HTTP/3 is spoken beside them (`h3=":PORT"; ma=...`).
    pub alt_svc: Option<std::sync::Arc<str>>,
}

impl Shared {
    /// The state of a listener of `config`'s that answers with
    /// `responder`, watched by `observe`, over `tls` when it is HTTPS.
    pub fn new(
        config: &Config,
        responder: Responder,
        observe: Observers,
        tls: Option<Tls>,
        http2: bool,
    ) -> Shared {
        Shared {
            responder: ArcSwap::from_pointee(responder),
            observe,
            limits: config.limits.clone(),
            zero_copy: config.sendfile,
            tls,
            http2,
            trusted: config.trusted_proxies.clone(),
            access: ArcSwap::from_pointee(config.access.clone()),
            alt_svc: None,
        }
    }

    /// Adds what every response of this listener carries beside the
    /// plan's own fields: `Alt-Svc`, when HTTP/3 is offered.
    #[inline]
    pub fn advertise(&self, plan: &mut Plan) {
        if let Some(alt_svc) = &self.alt_svc {
            // Shared, not copied: one reference count per response.
            plan.field("Alt-Svc", alt_svc.clone());
        }
    }

    /// Whether `peer` may connect (a Unix socket's peers always may).
    #[inline]
    pub fn admits(&self, peer: std::net::SocketAddr) -> bool {
        peer == crate::exchange::UNIX_PEER
            || crate::config::access::allows(&self.access.load(), peer.ip())
    }

    /// Whether request bodies are kept (for `--echo`, `--dump` or the
    /// inspector) rather than discarded.
    pub fn keeps_bodies(&self) -> bool {
        self.observe.records_exchanges() || self.responder.load().reads_requests()
    }
}
