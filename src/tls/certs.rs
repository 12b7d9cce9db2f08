//! The certificates a TLS listener chooses from by SNI, reloaded without a
//! restart.
//!
//! Each `--tls-cert`/`--tls-key` pair is one certificate (its chain and
//! key, in PEM: PKCS#8, RSA or EC keys). A client's server name picks the
//! first certificate valid for it (wildcards included, as RFC 6125 says);
//! a client that sends no name, or one no certificate covers, gets the
//! first. [`CertStore::reload`] reads every file again and swaps the set
//! whole, or keeps the old one and says why; [`CertStore::changed`] tells
//! whether a file was replaced on disk, for the watcher that reloads.
//!
//! Certificates from an ACME CA are kept apart, by domain, and put in
//! place by the ACME manager ([`CertStore::set_managed`]); a client asking
//! for such a domain gets its certificate first. A handshake that offers
//! only the `acme-tls/1` protocol gets the TLS-ALPN-01 challenge
//! certificate for its name, if one is being validated, and nothing else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::TlsSettings;

/// How often certificate files are checked for a change on disk.
pub const CERT_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Where a certificate comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A certificate and a key file, read again on reload.
    Files { cert: PathBuf, key: PathBuf },
    /// Made at start (`--tls-self-signed`).
    Made(Arc<CertifiedKey>),
}

/// What tells one version of a file from another.
pub type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((
        meta.modified().ok()?,
        meta.len(),
        crate::platform::fs::inode(&meta),
    ))
}

/// The certificates in force, with the stamps of their files.
#[derive(Debug)]
struct Set {
    keys: Vec<Arc<CertifiedKey>>,
    stamps: Vec<Stamp>,
}

/// The ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Every certificate of a server, swapped whole on reload.
#[derive(Debug)]
pub struct CertStore {
    sources: Vec<Source>,
    current: RwLock<Arc<Set>>,
    /// Certificates from an ACME CA, by domain.
    managed: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// TLS-ALPN-01 challenge certificates being validated, by domain.
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// The SHA-256 fingerprint of the first certificate, as hex pairs
    /// (empty when every certificate comes from an ACME CA).
    pub fingerprint: String,
}

impl CertStore {
    /// Loads what `settings` name; the error names the file and the
    /// problem.
    pub fn load(settings: &TlsSettings) -> Result<CertStore, String> {
        let mut sources: Vec<Source> = settings
            .pairs
            .iter()
            .map(|(cert, key)| Source::Files {
                cert: cert.clone(),
                key: key.clone(),
            })
            .collect();
        if settings.self_signed {
            let made = super::self_signed::load_or_make(&settings.names, certified_key)?;
            sources.push(Source::Made(Arc::new(made)));
        }
        if sources.is_empty() && settings.managed.is_empty() {
            return Err(
                "HTTPS needs --tls-cert and --tls-key, --tls-self-signed, or --acme".into(),
            );
        }
        let set = read(&sources)?;
        let fingerprint = set
            .keys
            .first()
            .map(|k| fingerprint(&k.cert[0]))
            .unwrap_or_default();
        Ok(CertStore {
            sources,
            current: RwLock::new(Arc::new(set)),
            managed: RwLock::default(),
            challenges: RwLock::default(),
            fingerprint,
        })
    }

    /// Serves `key` for `domain` from the next handshake on.
    pub fn set_managed(&self, domain: &str, key: Arc<CertifiedKey>) {
        write(&self.managed).insert(domain.to_string(), key);
    }

    /// Answers the TLS-ALPN-01 challenge for `domain` with `key`, or no
    /// longer (`None`).
    pub fn set_challenge(&self, domain: &str, key: Option<Arc<CertifiedKey>>) {
        let mut challenges = write(&self.challenges);
        match key {
            Some(key) => challenges.insert(domain.to_string(), key),
            None => challenges.remove(domain),
        };
    }

    fn current(&self) -> Arc<Set> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads every file again. On success new handshakes use the new
    /// certificates; on failure the old ones stay and the error says why.
    pub fn reload(&self) -> Result<(), String> {
        let set = read(&self.sources)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        Ok(())
    }

    /// What tells the files' present versions apart: `None` when they
    /// are the ones loaded.
    pub fn changed(&self) -> Option<Vec<Stamp>> {
        let now = stamps(&self.sources);
        (now != self.current().stamps).then_some(now)
    }

    /// The certificate for a client that asks for `name`.
    fn choose(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = name {
            let managed = read_lock(&self.managed);
            if let Some(key) = managed.get(&name.to_ascii_lowercase()) {
                return Some(key.clone());
            }
        }
        let set = self.current();
        let chosen = name
            .and_then(|name| DnsName::try_from(name.to_string()).ok())
            .and_then(|dns| {
                let wanted = ServerName::DnsName(dns);
                set.keys.iter().find(|key| valid_for(key, &wanted)).cloned()
            });
        chosen.or_else(|| set.keys.first().cloned()).or_else(|| {
            let managed = read_lock(&self.managed);
            let mut domains: Vec<&String> = managed.keys().collect();
            domains.sort();
            domains.first().and_then(|d| managed.get(*d)).cloned()
        })
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let only_acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.all(|p| p == ACME_TLS_ALPN));
        if only_acme {
            let name = hello.server_name()?.to_ascii_lowercase();
            return read_lock(&self.challenges).get(&name).cloned();
        }
        self.choose(hello.server_name())
    }
}

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the end-entity certificate of `key` is valid for `name`.
fn valid_for(key: &CertifiedKey, name: &ServerName<'_>) -> bool {
    key.end_entity_cert()
        .ok()
        .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
        .is_some_and(|cert| cert.verify_is_valid_for_subject_name(name).is_ok())
}

fn stamps(sources: &[Source]) -> Vec<Stamp> {
    sources
        .iter()
        .flat_map(|s| match s {
            Source::Files { cert, key } => vec![stamp(cert), stamp(key)],
            Source::Made(_) => Vec::new(),
        })
        .collect()
}

/// Reads every source into a set.
fn read(sources: &[Source]) -> Result<Set, String> {
    let stamps = stamps(sources);
    let mut keys = Vec::with_capacity(sources.len());
    for source in sources {
        keys.push(match source {
            Source::Files { cert, key } => Arc::new(certified_key(cert, key)?),
            Source::Made(made) => made.clone(),
        });
    }
    Ok(Set { keys, stamps })
}

/// A certificate chain and its key from PEM files, checked to match.
pub fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let shown = |p: &Path| p.display().to_string();
    let text = std::fs::read(cert).map_err(|e| format!("--tls-cert {}: {e}", shown(cert)))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: not a PEM certificate ({e})", shown(cert)))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no certificate in the file",
            shown(cert)
        ));
    }
    if webpki::EndEntityCert::try_from(&chain[0]).is_err() {
        return Err(format!(
            "--tls-cert {}: the first certificate cannot be parsed",
            shown(cert)
        ));
    }
    let text = std::fs::read(key).map_err(|e| format!("--tls-key {}: {e}", shown(key)))?;
    let der = PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        format!(
            "--tls-key {}: no PKCS#8, RSA or EC private key in the file ({e})",
            shown(key)
        )
    })?;
    let signing = super::provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("--tls-key {}: unusable key ({e})", shown(key)))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| {
        format!(
            "--tls-key {} does not match --tls-cert {}",
            shown(key),
            shown(cert)
        )
    })?;
    Ok(certified)
}

/// The SHA-256 fingerprint of a certificate, as colon-separated hex.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ::ring::digest::digest(&::ring::digest::SHA256, cert.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
