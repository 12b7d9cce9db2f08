//! The ACME state directory (`--acme-dir`, mode 0700): the account for
//! each CA, and for each domain its certificate chain, its key and a lock
//! file, every file mode 0600. Replicas that share the directory take the
//! domain's lock before ordering, and read what another one wrote.
//!
//! ```text
//! account-<CA>.json    the account's credentials for one directory URL
//! <domain>.crt         the chain, PEM
//! <domain>.key         its key, PEM
//! <domain>.lock        held (flock) while the domain is being ordered
//! <domain>.error       the last failure, until an order succeeds
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::sign::CertifiedKey;

use crate::private_file::{ensure_dir, write as write_private};

/// A certificate read from the directory, with what the manager needs of
/// it.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The chain and key, ready to serve.
    pub key: Arc<CertifiedKey>,
    /// The names it covers.
    pub names: Vec<String>,
    /// Its issuer's name.
    pub issuer: String,
    /// Its validity.
    pub not_before: SystemTime,
    /// See `not_before`.
    pub not_after: SystemTime,
    /// The modification time of the chain file, which tells a newer one.
    pub written: SystemTime,
}

impl Stored {
    /// When it is due for renewal: two thirds into its lifetime, less
    /// `jitter` (a fraction of the lifetime, 0 to 1).
    pub fn renew_at(&self, jitter: f64) -> SystemTime {
        let life = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or(Duration::ZERO);
        let at = life.mul_f64(2.0 / 3.0);
        let early = life.mul_f64(RENEWAL_JITTER * jitter.clamp(0.0, 1.0));
        self.not_before + at.saturating_sub(early)
    }
}

/// The share of a certificate's lifetime by which renewal is moved
/// earlier, at random, so that replicas and restarts spread their orders.
pub const RENEWAL_JITTER: f64 = 0.05;

fn file(dir: &Path, domain: &str, ext: &str) -> PathBuf {
    dir.join(format!("{domain}.{ext}"))
}

/// The certificate kept for `domain`, if there is one that can be used.
pub fn load(dir: &Path, domain: &str) -> Option<Stored> {
    let (cert, key) = (file(dir, domain, "crt"), file(dir, domain, "key"));
    let written = std::fs::metadata(&cert).and_then(|m| m.modified()).ok()?;
    let certified = crate::tls::certs::certified_key(&cert, &key).ok()?;
    let (names, issuer, not_before, not_after) = describe(certified.cert.first()?.as_ref())?;
    Some(Stored {
        key: Arc::new(certified),
        names,
        issuer,
        not_before,
        not_after,
        written,
    })
}

/// The names, issuer and validity of a DER certificate.
pub fn describe(der: &[u8]) -> Option<(Vec<String>, String, SystemTime, SystemTime)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let time = |t: x509_parser::time::ASN1Time| {
        let secs = u64::try_from(t.timestamp()).ok()?;
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    };
    let validity = cert.validity();
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let issuer = cert
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map_or_else(|| cert.issuer().to_string(), str::to_string);
    Some((
        names,
        issuer,
        time(validity.not_before)?,
        time(validity.not_after)?,
    ))
}

/// Keeps a new chain and key for `domain`.
pub fn save(dir: &Path, domain: &str, chain_pem: &str, key_pem: &str) -> io::Result<()> {
    ensure_dir(dir)?;
    // The key first: a reader that sees the new chain finds its key.
    write_private(&file(dir, domain, "key.next"), key_pem.as_bytes())?;
    write_private(&file(dir, domain, "crt.next"), chain_pem.as_bytes())?;
    std::fs::rename(file(dir, domain, "key.next"), file(dir, domain, "key"))?;
    std::fs::rename(file(dir, domain, "crt.next"), file(dir, domain, "crt"))?;
    let _ = std::fs::remove_file(file(dir, domain, "error"));
    Ok(())
}

/// Records the last failure for `domain` (for `--print-config`).
pub fn save_error(dir: &Path, domain: &str, error: &str) {
    let _ =
        ensure_dir(dir).and_then(|()| write_private(&file(dir, domain, "error"), error.as_bytes()));
}

/// The last failure recorded for `domain`.
pub fn last_error(dir: &Path, domain: &str) -> Option<String> {
    std::fs::read_to_string(file(dir, domain, "error")).ok()
}

/// The lock on ordering `domain`, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the lock on ordering `domain` if no one holds it: `Ok(None)`
/// when another process (a replica sharing the directory) does.
pub fn try_lock(dir: &Path, domain: &str) -> io::Result<Option<Lock>> {
    ensure_dir(dir)?;
    let lock = crate::platform::fs::owner_only()
        .create(true)
        .truncate(false)
        .write(true)
        .open(file(dir, domain, "lock"))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(Lock { _file: lock })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Where the account for the CA at `directory` is kept.
pub fn account_file(dir: &Path, directory: &str) -> PathBuf {
    let digest = ::ring::digest::digest(&::ring::digest::SHA256, directory.as_bytes());
    let id: String = digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join(format!("account-{id}.json"))
}
