//! Per-client limits as configured: request rates (`--rate-limit`,
//! `[[limits]]`), connections and HTTP/2 streams per client
//! (`--conn-limit`, `--stream-limit`), bandwidth per response
//! (`--limit-rate`), and the table that holds the counts. `limit` enforces
//! them.

use std::sync::Arc;
use std::time::Duration;

use super::access::AccessRule;

/// Bytes of the per-client table (`--limit-table`): 1 MiB holds about
/// 31,000 clients (see `limit::table::ENTRY_BYTES`).
pub const DEFAULT_LIMIT_TABLE: usize = 1024 * 1024;
/// The smallest `--limit-table`: a few buckets of 8 clients.
pub const MIN_LIMIT_TABLE: usize = 4096;
/// IPv6 clients are counted by this prefix (`--limit-ipv6-prefix`): a
/// host given a /64 cannot escape its limits by rotating addresses.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;
/// The Retry-After of a connection refused for `--conn-limit`: when a
/// connection of the client's will close is not known.
pub const CONN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A request rate: `10/s`, `600/m`, `1000/h`, or `0.5/s`.
///
/// ```
/// let rate = henaserver::config::rate::Rate::parse("600/m")?;
/// assert_eq!(rate.interval(), std::time::Duration::from_millis(100));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per `unit`.
    pub count: f64,
    /// `s`, `m` or `h`.
    pub unit: char,
}

impl Rate {
    /// Parses `N/s`, `N/m` or `N/h` (also `Nr/s`, as nginx writes it).
    ///
    /// ```
    /// use henaserver::config::rate::Rate;
    /// assert!(Rate::parse("10r/s").is_ok());
    /// assert!(Rate::parse("10").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Rate, String> {
        let wrong = || format!("{text:?} is not a rate such as 10/s or 600/m");
        let (count, unit) = text.trim().split_once('/').ok_or_else(wrong)?;
        let count: f64 = count
            .trim()
            .trim_end_matches('r')
            .parse()
            .map_err(|_| wrong())?;
        let unit = match unit.trim() {
            "s" | "sec" | "second" => 's',
            "m" | "min" | "minute" => 'm',
            "h" | "hour" => 'h',
            _ => return Err(wrong()),
        };
        if !(count.is_finite() && count > 0.0) {
            return Err(format!("{text:?}: the rate must be above 0"));
        }
        let rate = Rate { count, unit };
        if rate.interval() == Duration::ZERO || rate.interval() > Duration::from_secs(86_400) {
            return Err(format!("{text:?}: between one a day and 10^9 a second"));
        }
        Ok(rate)
    }

    /// The time between two requests at this rate.
    ///
    /// ```
    /// let rate = henaserver::config::rate::Rate::parse("4/s")?;
    /// assert_eq!(rate.interval().as_millis(), 250);
    /// # Ok::<(), String>(())
    /// ```
    pub fn interval(&self) -> Duration {
        let unit = match self.unit {
            's' => 1.0,
            'm' => 60.0,
            _ => 3600.0,
        };
        Duration::from_secs_f64(unit / self.count)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.count, self.unit)
    }
}

/// One request limit of a site: a rate per client with its burst, and
/// allow and deny rules, for every path or those a glob matches.
///
/// ```
/// use henaserver::config::rate::{Rate, RateLimit};
/// let mut config = henaserver::Config::new(std::env::temp_dir(), 0)?;
/// config.rate_limits.push(RateLimit {
///     name: "login".into(),
///     glob: Some(henaserver::config::path_glob("/login/**")?),
///     glob_text: Some("/login/**".into()),
///     rate: Some(Rate::parse("5/m")?),
///     burst: 2,
///     delay: false,
///     access: Vec::new(),
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Its name in the log, the metrics and `Henaserver-Explain`.
    pub name: Arc<str>,
    /// The paths it covers (decoded, normalized); `None`: every path.
    pub glob: Option<globset::GlobMatcher>,
    /// The glob as written, for `--print-config`.
    pub glob_text: Option<String>,
    /// The rate, if it limits one.
    pub rate: Option<Rate>,
    /// Requests above the rate served at once (or, with `delay`, made to
    /// wait their turn); more are refused.
    pub burst: u32,
    /// Requests of the burst wait until the rate lets them through.
    pub delay: bool,
    /// Allow and deny rules for what it covers, the first match deciding;
    /// they narrow the site's, never widen them.
    pub access: Vec<AccessRule>,
}

impl RateLimit {
    /// Whether it covers `path` (decoded and normalized).
    ///
    /// ```
    /// use henaserver::config::rate::RateLimit;
    /// let limit = RateLimit {
    ///     name: "api".into(),
    ///     glob: Some(henaserver::config::path_glob("/api/**")?),
    ///     glob_text: Some("/api/**".into()),
    ///     rate: None,
    ///     burst: 0,
    ///     delay: false,
    ///     access: Vec::new(),
    /// };
    /// assert!(limit.covers("/api/v1/users"));
    /// assert!(!limit.covers("/index.html"));
    /// # Ok::<(), String>(())
    /// ```
    pub fn covers(&self, path: &str) -> bool {
        self.glob.as_ref().is_none_or(|g| g.is_match(path))
    }

    /// A number that names this limit as configured: the counts of a limit
    /// a reload leaves unchanged carry over, a changed one starts afresh.
    ///
    /// ```
    /// use henaserver::config::rate::{Rate, RateLimit};
    /// let mut limit = RateLimit {
    ///     name: "api".into(), glob: None, glob_text: None,
    ///     rate: Some(Rate::parse("10/s")?), burst: 0, delay: false, access: Vec::new(),
    /// };
    /// let before = limit.id("site");
    /// assert_eq!(limit.id("site"), before);
    /// limit.burst = 5;
    /// assert_ne!(limit.id("site"), before);
    /// # Ok::<(), String>(())
    /// ```
    pub fn id(&self, site: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        site.hash(&mut h);
        self.name.hash(&mut h);
        self.glob_text.hash(&mut h);
        self.rate.map(|r| (r.count.to_bits(), r.unit)).hash(&mut h);
        self.burst.hash(&mut h);
        self.delay.hash(&mut h);
        // Ids below 2^63 are the table's own (connections, streams).
        h.finish() | (1 << 63)
    }
}

/// `--limit-rate`: bytes per second per response, after the first
/// `after` bytes (`--limit-rate-after`).
///
/// ```
/// let mut config = henaserver::Config::new(std::env::temp_dir(), 0)?;
/// config.bandwidth = Some(henaserver::config::rate::Bandwidth { rate: 1 << 20, after: 4 << 20 });
/// # Ok::<(), henaserver::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    /// Bytes per second.
    pub rate: u64,
    /// Bytes sent at full speed first.
    pub after: u64,
}

/// The limits counted per client across the whole server.
///
/// ```
/// let mut config = henaserver::Config::new(std::env::temp_dir(), 0)?;
/// config.client_limits.connections = Some(16);
/// config.client_limits.streams = Some(64);
/// # Ok::<(), henaserver::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Connections open at once per client (`--conn-limit`).
    pub connections: Option<u32>,
    /// HTTP/2 and HTTP/3 streams in flight per client, over all its
    /// connections (`--stream-limit`).
    pub streams: Option<u32>,
    /// Log and count what would be limited, and limit nothing.
    pub dry_run: bool,
    /// IPv6 clients are counted by this prefix length.
    pub ipv6_prefix: u8,
    /// Bytes of the table of per-client counts.
    pub table_bytes: usize,
}

impl Default for ClientLimits {
    fn default() -> ClientLimits {
        ClientLimits {
            connections: None,
            streams: None,
            dry_run: false,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
            table_bytes: DEFAULT_LIMIT_TABLE,
        }
    }
}

/// A byte count: digits, with an optional `k`, `m` or `g` (powers of 1024).
///
/// ```
/// use henaserver::config::rate::byte_size;
/// assert_eq!(byte_size("64k"), Ok(65536));
/// assert!(byte_size("lots").is_err());
/// ```
pub fn byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is not a byte count such as 65536, 64k or 1m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(
            Rate::parse("10/s").unwrap().interval(),
            Duration::from_millis(100)
        );
        assert_eq!(
            Rate::parse("600/m").unwrap().interval(),
            Duration::from_millis(100)
        );
        assert_eq!(
            Rate::parse("5r/s").unwrap().interval(),
            Duration::from_millis(200)
        );
        assert_eq!(
            Rate::parse("0.5/s").unwrap().interval(),
            Duration::from_secs(2)
        );
        assert_eq!(
            Rate::parse("60/h").unwrap().interval(),
            Duration::from_secs(60)
        );
        for bad in ["10", "0/s", "-1/s", "10/d", "x/s", "1e12/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(byte_size("100"), Ok(100));
        assert_eq!(byte_size("64k"), Ok(65536));
        assert_eq!(byte_size("1M"), Ok(1 << 20));
        assert!(byte_size("1.5m").is_err());
        assert!(byte_size("k").is_err());
    }
}
