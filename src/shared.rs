//! What every connection of a listener shares, whatever its protocol.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::access::AccessRule;
use crate::config::{Config, Limits};
use crate::exchange::Plan;
use crate::limit::{Limiter, Ticket};
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
    /// The server's per-client counts.
    pub limiter: Arc<Limiter>,
    /// What serves a connection over `--conn-limit`: this listener, but
    /// answering 429 and closing.
    pub busy: Option<Arc<Shared>>,
    /// Whether this is such a listener: one response, then close.
    pub refuses: bool,
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
            access: ArcSwap::from_pointee(listener_access(config)),
            alt_svc: None,
            limiter: Arc::new(Limiter::new(&config.client_limits)),
            busy: None,
            refuses: false,
        }
    }

    /// This listener, counting clients in `limiter` (the server's, shared
    /// by all its listeners), with the listener that answers a client over
    /// `--conn-limit` made beside it.
    pub fn limited_by(self, limiter: Arc<Limiter>) -> Shared {
        let busy = Shared {
            responder: ArcSwap::from_pointee(Responder::Busy),
            observe: self.observe.clone(),
            limits: self.limits.clone(),
            zero_copy: self.zero_copy,
            tls: self.tls.clone(),
            http2: self.http2,
            trusted: self.trusted.clone(),
            access: ArcSwap::from_pointee(Vec::new()),
            alt_svc: None,
            limiter: limiter.clone(),
            busy: None,
            refuses: true,
        };
        Shared {
            limiter,
            busy: Some(Arc::new(busy)),
            ..self
        }
    }

    /// A connection from `peer` counted against `--conn-limit`: its ticket
    /// and the listener state to serve it with (this one, or the one that
    /// answers 429 when the client is at its limit). Trusted proxies
    /// speak for many clients and are not counted.
    pub fn admit(self: &Arc<Self>, peer: std::net::SocketAddr) -> (Ticket, Arc<Shared>) {
        if self.is_trusted(peer) {
            return (Ticket::none(), self.clone());
        }
        match (self.limiter.connection(peer.ip()), &self.busy) {
            (Ok(ticket), _) => (ticket, self.clone()),
            (Err(()), Some(busy)) => (Ticket::none(), busy.clone()),
            (Err(()), None) => (Ticket::none(), self.clone()),
        }
    }

    /// A stream from `peer` counted against `--stream-limit`; `Err` when
    /// the client is at its limit.
    pub fn stream(&self, peer: std::net::SocketAddr) -> Result<Ticket, ()> {
        if self.is_trusted(peer) {
            return Ok(Ticket::none());
        }
        self.limiter.stream(peer.ip())
    }

    /// Whether `peer` is a trusted proxy (`--trusted-proxy`).
    #[inline]
    pub fn is_trusted(&self, peer: std::net::SocketAddr) -> bool {
        !self.trusted.is_empty() && self.trusted.iter().any(|n| n.contains(&peer.ip()))
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

    /// Whether `peer` may connect: a Unix socket's peers and trusted
    /// proxies always may (the clients a proxy names are checked request by
    /// request).
    #[inline]
    pub fn admits(&self, peer: std::net::SocketAddr) -> bool {
        if peer == crate::exchange::UNIX_PEER
            || crate::config::access::allows(&self.access.load(), peer.ip())
            || self.is_trusted(peer)
        {
            return true;
        }
        let dry = self.limiter.dry_run();
        self.limiter
            .count(crate::limit::ACCESS, if dry { "dry-run" } else { "closed" });
        if dry {
            tracing::info!(%peer, "would be closed by allow and deny (dry run)");
        }
        dry
    }

    /// Whether request bodies are kept (for `--echo`, `--dump` or the
    /// inspector) rather than discarded.
    pub fn keeps_bodies(&self) -> bool {
        self.observe.records_exchanges() || self.responder.load().reads_requests()
    }
}

/// The allow and deny rules a listener applies as it accepts: those every
/// site has (a client all sites deny costs no handshake); none when the
/// sites differ, and each request is checked against its own site's.
pub fn listener_access(config: &Config) -> Vec<AccessRule> {
    let same = config
        .sites
        .iter()
        .all(|s| s.config.access == config.access);
    if same {
        config.access.clone()
    } else {
        Vec::new()
    }
}
