//! Observers of finished exchanges: every protocol hands one [`Record`]
//! per exchange to [`Observers::finish`], which feeds the access log,
//! `--dump`, the inspector and the metrics. No protocol imports them.
//!
//! What the observers need decides what a protocol keeps of a request:
//! nothing at all when every observer is off ([`Observers::active`]), the
//! request line and agents for the log, the exchange's bytes for the dump
//! and the inspector.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::dev::inspect::{self, Inspector};
use crate::exchange::Method;
use crate::log::{AccessLog, Entry};
use crate::stats;
use crate::window::dump::Dump;

/// The protocol of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
    /// HTTP/2.
    Http2,
    /// HTTP/3.
    Http3,
}

impl Protocol {
    /// As the access log and the inspector write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http10 => "HTTP/1.0",
            Protocol::Http11 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2.0",
            Protocol::Http3 => "HTTP/3.0",
        }
    }

    /// Its index in the metrics' protocols (`stats::PROTOCOLS`).
    fn index(self) -> usize {
        match self {
            Protocol::Http10 | Protocol::Http11 => 0,
            Protocol::Http2 => 1,
            Protocol::Http3 => 2,
        }
    }
}

/// One finished exchange, as its protocol saw it.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The protocol.
    pub protocol: Protocol,
    /// The connection's number ([`Observers::connection_number`]).
    pub connection: u64,
    /// The exchange's number on its connection, from 1.
    pub number: u64,
    /// The peer.
    pub peer: SocketAddr,
    /// The client a trusted proxy named.
    pub client: Option<IpAddr>,
    /// The TLS version and ALPN protocol, over HTTPS.
    pub tls: Option<(&'static str, &'static str)>,
    /// The method, as the metrics count it.
    pub method: Method,
    /// The request line (HTTP/1) or its equivalent.
    pub line: &'a [u8],
    /// Referer, if sent.
    pub referer: &'a [u8],
    /// User-Agent, if sent.
    pub user_agent: &'a [u8],
    /// The request as received (head and body) and the response head as
    /// sent, when [`Observers::records_exchanges`].
    pub exchange: Option<(&'a [u8], &'a [u8])>,
    /// The status sent.
    pub status: u16,
    /// Body bytes of the response.
    pub bytes: u64,
    /// From the complete request head to the last byte.
    pub elapsed: Duration,
    /// The content coding served, if any.
    pub encoding: &'a str,
    /// The ranges served (`bytes=0-99`), if a part was.
    pub range: &'a str,
    /// The site that answered, when the server has several.
    pub site: Option<&'a str>,
    /// How the response was reached, with `--explain`.
    pub explain: Option<&'a str>,
}

/// Everything that watches the exchanges of one listener.
#[derive(Debug, Clone)]
pub struct Observers {
    log: AccessLog,
    dump: Option<Arc<Dump>>,
    inspect: Option<Arc<Inspector>>,
    /// Where exchanges are counted for the metrics (not the admin
    /// listener's own).
    stats: Option<Arc<stats::Stats>>,
}

/// A connection, counted as open in the metrics while it lives.
#[derive(Debug)]
pub struct Open(#[allow(dead_code)] stats::Open);

impl Observers {
    /// Observers that write `log`, dump to `dump`, show exchanges in
    /// `inspect`, and count them in `stats`.
    pub fn new(
        log: AccessLog,
        dump: Option<Arc<Dump>>,
        inspect: Option<Arc<Inspector>>,
        stats: Option<Arc<stats::Stats>>,
    ) -> Observers {
        Observers {
            log,
            dump,
            inspect,
            stats,
        }
    }

    /// Counts a TLS handshake and whether it failed.
    pub fn handshake(&self, ok: bool) {
        if let Some(stats) = &self.stats {
            stats.handshake(ok);
        }
    }

    /// Observers that see nothing.
    pub fn none() -> Observers {
        Observers::new(AccessLog::disabled(), None, None, None)
    }

    /// The access log.
    pub fn log(&self) -> &AccessLog {
        &self.log
    }

    /// Whether any observer is on: when none is, a protocol keeps nothing
    /// of an exchange and reports none.
    pub fn active(&self) -> bool {
        self.log.enabled()
            || self.records_exchanges()
            || self.stats.as_ref().is_some_and(|s| s.enabled())
    }

    /// Whether the request line is wanted (the log, the inspector).
    pub fn wants_line(&self) -> bool {
        self.log.enabled() || self.inspect.is_some()
    }

    /// Whether Referer and User-Agent are wanted.
    pub fn wants_agents(&self) -> bool {
        self.log.wants_agents()
    }

    /// Whether each exchange's bytes are kept (request as received,
    /// response head as sent), for `--dump` or the inspector.
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

    /// Counts a connection of `protocol` as open while the result lives.
    pub fn open(&self, protocol: Protocol, tls: bool) -> Open {
        Open(stats::Open::new(
            protocol.index(),
            usize::from(tls),
            self.stats.as_ref(),
        ))
    }

    /// Hands a finished exchange to every observer that is on.
    pub fn finish(&self, r: &Record) {
        if let Some(stats) = &self.stats {
            stats.request(r.protocol.index(), r.method, r.status, r.bytes, r.elapsed);
        }
        if let (Some(dump), Some((request, response))) = (&self.dump, r.exchange) {
            dump.exchange(r.connection, r.number, request, response, r.bytes);
        }
        if let (Some(inspector), Some((request, response))) = (&self.inspect, r.exchange) {
            inspector.record(&inspect::Record {
                connection: r.connection,
                protocol: r.protocol.as_str(),
                line: r.line,
                status: r.status,
                bytes: r.bytes,
                elapsed: r.elapsed,
                encoding: r.encoding,
                range: r.range,
                request,
                response,
            });
        }
        if self.log.enabled() {
            self.log.record(&Entry {
                peer: r.peer,
                line: r.line,
                status: r.status,
                bytes: r.bytes,
                elapsed: r.elapsed,
                referer: r.referer,
                user_agent: r.user_agent,
                range: r.range,
                encoding: r.encoding,
                site: r.site,
                explain: r.explain,
                tls: r.tls,
                protocol: r.protocol.as_str(),
                client: r.client,
            });
        }
    }
}
