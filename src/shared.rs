//! What every connection of a server shares, whatever its protocol.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{Limits, Mode};
use crate::log::AccessLog;
use crate::site::Sites;
use crate::tls::Tls;
use crate::window::dump::Dump;

/// What every connection of one listener shares.
#[derive(Debug)]
pub struct Shared {
    /// What responses are decided by; replaced whole when the
    /// configuration is reloaded, while requests in flight keep the one
    /// they began with.
    pub sites: ArcSwap<Sites>,
    /// Where exchanges are dumped, with `--dump`.
    pub dump: Option<Arc<Dump>>,
    /// Limits and timeouts.
    pub limits: Limits,
    /// The access log.
    pub log: AccessLog,
    /// Whether file bodies go out with `sendfile(2)`.
    pub zero_copy: bool,
    /// HTTPS, on the listeners that speak it.
    pub tls: Option<Tls>,
    /// Whether HTTP/2 is spoken (ALPN `h2`, and prior knowledge in
    /// cleartext).
    pub http2: bool,
    /// Peers whose forwarding fields are believed (`--trusted-proxy`).
    pub trusted: Vec<ipnet::IpNet>,
    /// Whether requests are counted in the metrics (not the admin
    /// listener's own).
    pub counted: bool,
    /// The inspector that exchanges are shown in (`--inspect`).
    pub inspect: Option<Arc<crate::dev::inspect::Inspector>>,
}

impl Shared {
    /// Whether request bodies are kept (for `--echo`, `--dump` or the
    /// inspector) rather than discarded.
    pub fn keeps_bodies(&self) -> bool {
        self.records_exchanges() || *self.sites.load().mode() == Mode::Echo
    }

    /// Whether each exchange's request and response head are kept, for
    /// `--dump` or the inspector.
    pub fn records_exchanges(&self) -> bool {
        self.dump.is_some() || self.inspect.is_some()
    }

    /// A number for a new connection, in the dump or the inspector (0
    /// when neither is on).
    pub fn connection_number(&self) -> u64 {
        match (&self.dump, &self.inspect) {
            (Some(dump), _) => dump.connection(),
            (None, Some(inspector)) => inspector.connection(),
            (None, None) => 0,
        }
    }
}
