//! What is known about each ACME certificate, for the log on change, the
//! metrics and `--print-config`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

/// One domain's certificate as the manager last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertState {
    /// The names the certificate covers.
    pub names: Vec<String>,
    /// Its issuer.
    pub issuer: String,
    /// When it expires.
    pub not_after: Option<SystemTime>,
    /// When it is to be renewed.
    pub next_renewal: Option<SystemTime>,
    /// Whether a temporary self-signed certificate is served meanwhile.
    pub temporary: bool,
    /// The last failure, until an order succeeds.
    pub last_error: Option<String>,
    /// Failures in a row.
    pub failures: u32,
}

/// Every domain's state.
#[derive(Debug, Default)]
pub struct Status {
    domains: Mutex<BTreeMap<String, CertState>>,
}

impl Status {
    /// Records `state` for `domain`.
    pub fn set(&self, domain: &str, state: CertState) {
        self.lock().insert(domain.to_string(), state);
    }

    /// The state of `domain`, if known.
    pub fn get(&self, domain: &str) -> Option<CertState> {
        self.lock().get(domain).cloned()
    }

    /// Every domain and its state, by name.
    pub fn all(&self) -> Vec<(String, CertState)> {
        self.lock()
            .iter()
            .map(|(d, s)| (d.clone(), s.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CertState>> {
        self.domains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Seconds since the epoch, for metrics.
pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A time as RFC 3339 UTC, for the log and `--print-config`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
