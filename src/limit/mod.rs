//! Per-client limits, so that one client cannot take the server from the
//! others: request rates with a burst (`--rate-limit`, `[[limits]]`),
//! connections and streams in flight per client (`--conn-limit`,
//! `--stream-limit`), allow and deny per site and path, and bandwidth per
//! response ([`pace`]).
//!
//! A client is its address, or the client a trusted proxy names; IPv6
//! clients are counted by their prefix (`--limit-ipv6-prefix`, /64 by
//! default). One [`Limiter`] per server holds every count in one table of
//! fixed size ([`table`]), shared by all worker threads and protocols, so
//! `--threads 8` does not multiply a rate by 8, and it outlives reloads:
//! a limit that a reload leaves as it was keeps its counts.

pub mod pace;
pub mod table;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::config::access::{self, AccessRule};
use crate::config::rate::{ClientLimits, RateLimit};
use table::{Client, Counted, Rated, Table};

/// The table's key for connections per client.
const CONNECTIONS: u64 = 1;
/// The table's key for streams per client.
const STREAMS: u64 = 2;

/// The name `--conn-limit` is counted under.
pub const CONN_LIMIT: &str = "conn-limit";
/// The name `--stream-limit` is counted under.
pub const STREAM_LIMIT: &str = "stream-limit";
/// The name allow and deny rules are counted under.
pub const ACCESS: &str = "access";

/// The per-client counts of one server, and how they are kept.
#[derive(Debug)]
pub struct Limiter {
    /// Made at first use, so that a server without limits pays nothing.
    table: OnceLock<Table>,
    table_bytes: usize,
    epoch: Instant,
    connections: AtomicU32,
    streams: AtomicU32,
    dry_run: AtomicBool,
    ipv6_prefix: AtomicU8,
    /// What was limited, by limit and action, for the metrics.
    limited: Mutex<Vec<(Arc<str>, &'static str, u64)>>,
}

impl Limiter {
    /// A limiter as `limits` say.
    pub fn new(limits: &ClientLimits) -> Limiter {
        let limiter = Limiter {
            table: OnceLock::new(),
            table_bytes: limits.table_bytes,
            epoch: Instant::now(),
            connections: AtomicU32::new(0),
            streams: AtomicU32::new(0),
            dry_run: AtomicBool::new(false),
            ipv6_prefix: AtomicU8::new(0),
            limited: Mutex::new(Vec::new()),
        };
        limiter.set(limits);
        limiter
    }

    /// Takes the limits of a reloaded configuration (the table's size
    /// stays as it was).
    pub fn set(&self, limits: &ClientLimits) {
        self.connections
            .store(limits.connections.unwrap_or(0), Ordering::Relaxed);
        self.streams
            .store(limits.streams.unwrap_or(0), Ordering::Relaxed);
        self.dry_run.store(limits.dry_run, Ordering::Relaxed);
        self.ipv6_prefix
            .store(limits.ipv6_prefix, Ordering::Relaxed);
    }

    fn table(&self) -> &Table {
        self.table.get_or_init(|| Table::new(self.table_bytes))
    }

    /// The table's entries in use, its capacity and its bytes, when it
    /// has been made.
    pub fn usage(&self) -> Option<(usize, usize, usize)> {
        let t = self.table.get()?;
        Some((t.used(self.now()), t.capacity(), t.bytes()))
    }

    /// Whether limits are only logged and counted (`--limit-dry-run`).
    pub fn dry_run(&self) -> bool {
        self.dry_run.load(Ordering::Relaxed)
    }

    /// Nanoseconds since the limiter was made.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The table's name for `ip`: IPv4 as it is (also when mapped into
    /// IPv6), IPv6 cut to the prefix.
    pub fn client(&self, ip: IpAddr) -> Client {
        match ip.to_canonical() {
            IpAddr::V4(v4) => [0, 0xffff_0000_0000 | u64::from(u32::from(v4))],
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let prefix = u32::from(self.ipv6_prefix.load(Ordering::Relaxed).min(128));
                let kept = bits & u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                // Never the same as an IPv4 client: the low bit of the
                // prefix length is folded into a part IPv4 leaves at 0.
                [
                    (kept >> 64) as u64 | 1 << 63,
                    kept as u64 ^ u64::from(prefix),
                ]
            }
        }
    }

    /// Counts one thing `limit` did to a request or connection.
    pub fn count(&self, limit: &str, action: &'static str) {
        let Ok(mut limited) = self.limited.lock() else {
            return;
        };
        match limited
            .iter_mut()
            .find(|(l, a, _)| *a == action && **l == *limit)
        {
            Some(entry) => entry.2 += 1,
            None => limited.push((Arc::from(limit), action, 1)),
        }
    }

    /// What was limited so far: limit, action, count.
    pub fn limited(&self) -> Vec<(Arc<str>, &'static str, u64)> {
        self.limited.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// A connection from `peer`, counted against `--conn-limit`. The
    /// ticket lowers the count when dropped; `Err` when the client is at
    /// its limit (and no dry run).
    pub fn connection(self: &Arc<Self>, peer: IpAddr) -> Result<Ticket, ()> {
        self.open(CONNECTIONS, &self.connections, CONN_LIMIT, peer)
    }

    /// A stream from `peer`, counted against `--stream-limit` across all
    /// the client's connections.
    pub fn stream(self: &Arc<Self>, peer: IpAddr) -> Result<Ticket, ()> {
        self.open(STREAMS, &self.streams, STREAM_LIMIT, peer)
    }

    fn open(
        self: &Arc<Self>,
        key: u64,
        max: &AtomicU32,
        name: &'static str,
        peer: IpAddr,
    ) -> Result<Ticket, ()> {
        let max = max.load(Ordering::Relaxed);
        if max == 0 || peer == crate::exchange::UNIX_PEER.ip() {
            return Ok(Ticket(None));
        }
        let client = self.client(peer);
        match self.table().raise(key, client, max) {
            Counted::Yes => Ok(Ticket(Some((self.clone(), key, client)))),
            Counted::Untracked => Ok(Ticket(None)),
            Counted::Full => {
                let dry = self.dry_run();
                self.count(name, if dry { "dry-run" } else { "refused" });
                if dry {
                    tracing::info!(%peer, limit = name, "would be limited (dry run)");
                    Ok(Ticket(None))
                } else {
                    tracing::debug!(%peer, limit = name, "limited");
                    Err(())
                }
            }
        }
    }
}

/// A connection or stream counted for its client while it lives.
#[derive(Debug)]
pub struct Ticket(Option<(Arc<Limiter>, u64, Client)>);

impl Ticket {
    /// A ticket that counts nothing.
    pub fn none() -> Ticket {
        Ticket(None)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some((limiter, key, client)) = self.0.take() {
            limiter.table().lower(key, client);
        }
    }
}

/// One site's request limits and allow and deny rules.
#[derive(Debug)]
pub struct Guard {
    limiter: Arc<Limiter>,
    /// The site's own rules, checked first.
    access: Vec<AccessRule>,
    /// The limits, each with its table id and its interval in ns.
    limits: Vec<(RateLimit, u64, u64)>,
    /// Whether any limit covers only some paths.
    globs: bool,
    /// Whether the site has one rate for every path and no allow or deny
    /// rules (`--rate-limit` alone): then requests take the short way.
    simple: bool,
    trusted: Vec<ipnet::IpNet>,
}

/// What a site's guard decided for one request.
#[derive(Debug)]
pub enum Verdict {
    /// Served.
    Pass,
    /// Served after waiting (a burst made to wait its turn).
    Wait(Duration, Arc<str>),
    /// Refused: 403 by a deny, 429 by a rate (with the time after which a
    /// retry is served).
    Refuse(Box<Refusal>),
}

/// A refused request: what refused it, and why.
#[derive(Debug)]
pub struct Refusal {
    /// 403 or 429.
    pub status: u16,
    /// The limit's name.
    pub limit: Arc<str>,
    /// When a retry is served (429).
    pub retry_after: Option<Duration>,
    /// The client, as counted.
    pub client: IpAddr,
    /// The rate and burst that refused it (429).
    pub rate: Option<(crate::config::rate::Rate, u32)>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rate {
            Some((rate, burst)) => write!(
                f,
                "{} over {} ({rate}, burst {burst})",
                self.client, self.limit
            ),
            None => write!(f, "{} denied by {}", self.client, self.limit),
        }
    }
}

impl Guard {
    /// The guard of a site named `site` with `access` rules and `limits`;
    /// `None` when it has neither.
    pub fn new(
        limiter: &Arc<Limiter>,
        site: &str,
        access: &[AccessRule],
        limits: &[RateLimit],
        trusted: &[ipnet::IpNet],
    ) -> Option<Guard> {
        if access.is_empty() && limits.is_empty() {
            return None;
        }
        Some(Guard {
            limiter: limiter.clone(),
            access: access.to_vec(),
            limits: limits
                .iter()
                .map(|l| {
                    let interval = l.rate.map_or(0, |r| r.interval().as_nanos());
                    let interval = u64::try_from(interval).unwrap_or(u64::MAX);
                    (l.clone(), l.id(site), interval)
                })
                .collect(),
            globs: limits.iter().any(|l| l.glob.is_some()),
            simple: access.is_empty()
                && trusted.is_empty()
                && limits.len() == 1
                && limits[0].glob.is_none()
                && limits[0].access.is_empty()
                && limits[0].rate.is_some(),
            trusted: trusted.to_vec(),
        })
    }

    /// The verdict on `req`, whose path decoded and normalized is `path`
    /// (needed only when a limit has a glob). With `--limit-dry-run`,
    /// what would be limited is logged and counted, and passes.
    pub fn check(&self, req: &crate::exchange::Request, path: Option<&str>) -> Verdict {
        let peer = req.peer.ip();
        let ip = if self.trusted.is_empty() {
            peer
        } else {
            crate::forwarded::client(&self.trusted, peer, req.fields).unwrap_or(peer)
        };
        if req.peer == crate::exchange::UNIX_PEER && ip == peer {
            return Verdict::Pass;
        }
        let verdict = if self.simple {
            self.rated(&self.limits[0], ip)
        } else {
            self.decide(ip, path)
        };
        if let Verdict::Pass = verdict {
            return verdict;
        }
        let dry = self.limiter.dry_run();
        match verdict {
            Verdict::Pass => Verdict::Pass,
            Verdict::Wait(d, limit) => {
                self.limiter
                    .count(&limit, if dry { "dry-run" } else { "delayed" });
                if dry {
                    Verdict::Pass
                } else {
                    Verdict::Wait(d, limit)
                }
            }
            Verdict::Refuse(refusal) if dry => {
                self.limiter.count(&refusal.limit, "dry-run");
                tracing::info!(why = %refusal, "would be limited (dry run)");
                Verdict::Pass
            }
            Verdict::Refuse(refusal) => {
                let action = if refusal.status == 403 {
                    "denied"
                } else {
                    "refused"
                };
                self.limiter.count(&refusal.limit, action);
                Verdict::Refuse(refusal)
            }
        }
    }

    fn decide(&self, ip: IpAddr, path: Option<&str>) -> Verdict {
        let denied = |limit: Arc<str>| {
            Verdict::Refuse(Box::new(Refusal {
                status: 403,
                limit,
                retry_after: None,
                client: ip,
                rate: None,
            }))
        };
        if !access::allows(&self.access, ip) {
            return denied(Arc::from(ACCESS));
        }
        let covered = |l: &RateLimit| match (&l.glob, path) {
            (None, _) => true,
            (Some(_), Some(path)) => l.covers(path),
            (Some(_), None) => false,
        };
        let mut wait: Option<(Duration, Arc<str>)> = None;
        for limit in self.limits.iter().filter(|(l, ..)| covered(l)) {
            if !access::allows(&limit.0.access, ip) {
                return denied(limit.0.name.clone());
            }
            match self.rated(limit, ip) {
                Verdict::Pass => {}
                Verdict::Wait(d, name) => {
                    if wait.as_ref().is_none_or(|(w, _)| d > *w) {
                        wait = Some((d, name));
                    }
                }
                refused => return refused,
            }
        }
        match wait {
            Some((d, name)) => Verdict::Wait(d, name),
            None => Verdict::Pass,
        }
    }

    /// A request of `ip` against one limit's rate.
    #[inline]
    fn rated(&self, (limit, id, interval): &(RateLimit, u64, u64), ip: IpAddr) -> Verdict {
        let Some(rate) = limit.rate else {
            return Verdict::Pass;
        };
        let who = self.limiter.client(ip);
        let now = self.limiter.now();
        let table = self.limiter.table();
        match table.rate(
            *id,
            who,
            now,
            *interval,
            u64::from(limit.burst),
            limit.delay,
        ) {
            Rated::Now => Verdict::Pass,
            Rated::After(ns) => Verdict::Wait(Duration::from_nanos(ns), limit.name.clone()),
            Rated::Refused(ns) => Verdict::Refuse(Box::new(Refusal {
                status: 429,
                limit: limit.name.clone(),
                retry_after: Some(Duration::from_nanos(ns)),
                client: ip,
                rate: Some((rate, limit.burst)),
            })),
        }
    }

    /// Whether a limit covers only some paths, so that the request's path
    /// must be decoded for it.
    pub fn needs_path(&self) -> bool {
        self.globs
    }
}

/// The Retry-After value for `wait`: whole seconds, rounded up, so that a
/// client that waits that long is served.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_nanos().div_ceil(1_000_000_000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_by_prefix() {
        let l = Limiter::new(&ClientLimits::default());
        let a = l.client("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = l.client("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = l.client("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let v4 = l.client("192.0.2.1".parse().unwrap());
        assert_eq!(v4, l.client("::ffff:192.0.2.1".parse().unwrap()));
        assert_ne!(v4, l.client("::".parse().unwrap()));
        l.set(&ClientLimits {
            ipv6_prefix: 128,
            ..ClientLimits::default()
        });
        assert_ne!(
            l.client("2001:db8:1:2:aaaa::1".parse().unwrap()),
            l.client("2001:db8:1:2:aaaa::2".parse().unwrap())
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
    }
}
