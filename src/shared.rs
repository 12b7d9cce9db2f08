//! What every connection of a listener shares, whatever its protocol.

use arc_swap::ArcSwap;

use crate::config::{Config, Limits};
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
        }
    }

    /// Whether request bodies are kept (for `--echo`, `--dump` or the
    /// inspector) rather than discarded.
    pub fn keeps_bodies(&self) -> bool {
        self.observe.records_exchanges() || self.responder.load().reads_requests()
    }
}
