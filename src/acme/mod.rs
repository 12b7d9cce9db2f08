//! Automatic HTTPS: certificates from an ACME CA (RFC 8555), ordered and
//! renewed by the server itself, with the `instant-acme` crate for the
//! protocol.
//!
//! At start, each `--acme` domain gets the certificate kept in `--acme-dir`
//! if there is one, else a temporary self-signed certificate for its name;
//! either is served at once. Then one task per domain (so that a failing
//! name never holds up another):
//!
//! 1. reads the directory again, taking a newer certificate another
//!    replica (or an earlier run) wrote;
//! 2. sleeps until renewal is due: two thirds into the certificate's
//!    lifetime, a little earlier at random ([`store::RENEWAL_JITTER`]), or
//!    earlier when the CA's renewal information (ARI, RFC 9773) says so;
//!    waking every [`RECHECK`] to look at the directory;
//! 3. takes the domain's lock file, so that replicas sharing the
//!    directory do not order at once (one that finds it taken waits and
//!    reads what the other wrote);
//! 4. orders: the account (made once and kept), the challenge (TLS-ALPN-01
//!    on the HTTPS listeners, or HTTP-01 on the plain one, as
//!    `--acme-challenge` and the listeners allow), a CSR for a new key, the
//!    chain; keeps them (mode 0600) and serves them from the next
//!    handshake, without a restart;
//! 5. on failure keeps serving what it has, logs one line, and tries again
//!    after `--acme-retry`, doubled after each failure up to [`RETRY_MAX`].

pub mod challenges;
pub mod status;
pub mod store;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::config::{AcmeChallenge, AcmeSettings};
use crate::tls::certs::CertStore;
use challenges::Challenges;
use status::{CertState, Status};
use store::Stored;

/// Longest wait between attempts after failures in a row.
pub const RETRY_MAX: Duration = Duration::from_secs(6 * 3600);
/// How often a domain's task reads the directory while nothing is due,
/// to take a certificate another replica wrote.
pub const RECHECK: Duration = Duration::from_secs(600);
/// How often a replica that found the lock taken looks again.
pub const LOCK_POLL: Duration = Duration::from_secs(2);
/// How long an order may take to become ready, and its certificate to be
/// issued, before the attempt counts as failed.
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(120);

/// Orders and renews the certificates of `--acme`.
pub struct Manager {
    settings: AcmeSettings,
    certs: Arc<CertStore>,
    challenges: Arc<Challenges>,
    /// What the log, the metrics and `--print-config` show.
    pub status: Arc<Status>,
    /// Whether a plain listener answers HTTP-01.
    http01: bool,
    account: tokio::sync::Mutex<Option<Account>>,
    /// When each domain's certificate was last installed from the
    /// directory, so that a newer file is told apart.
    installed: Mutex<std::collections::HashMap<String, SystemTime>>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("domains", &self.settings.domains)
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager for `settings` that serves through `certs` and answers
    /// HTTP-01 through `challenges` when `http01`. Every domain gets a
    /// certificate at once: the one kept, or a temporary self-signed one.
    pub fn new(
        settings: AcmeSettings,
        certs: Arc<CertStore>,
        challenges: Arc<Challenges>,
        http01: bool,
    ) -> Result<Manager, String> {
        crate::private_file::ensure_dir(&settings.dir)
            .map_err(|e| format!("--acme-dir {}: {e}", settings.dir.display()))?;
        let manager = Manager {
            settings,
            certs,
            challenges,
            status: Arc::new(Status::default()),
            http01,
            account: tokio::sync::Mutex::new(None),
            installed: Mutex::default(),
        };
        for domain in &manager.settings.domains {
            match store::load(&manager.settings.dir, domain) {
                Some(stored) if stored.not_after > SystemTime::now() => {
                    manager.install(domain, &stored, "loaded", random_fraction())
                }
                _ => manager.install_temporary(domain)?,
            }
        }
        Ok(manager)
    }

    /// Starts one task per domain on the current runtime.
    pub fn spawn(self: &Arc<Self>) {
        for domain in &self.settings.domains {
            tokio::spawn(self.clone().manage(domain.clone()));
        }
    }

    /// Serves `stored` for `domain` and says so.
    fn install(&self, domain: &str, stored: &Stored, how: &str, jitter: f64) {
        self.certs.set_managed(domain, stored.key.clone());
        self.installed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(domain.to_string(), stored.written);
        let renewal = stored.renew_at(jitter);
        tracing::info!(
            domain,
            names = %stored.names.join(","),
            issuer = %stored.issuer,
            not_after = %status::rfc3339(stored.not_after),
            next_renewal = %status::rfc3339(renewal),
            "ACME certificate {how}"
        );
        self.status.set(
            domain,
            CertState {
                names: stored.names.clone(),
                issuer: stored.issuer.clone(),
                not_after: Some(stored.not_after),
                next_renewal: Some(renewal),
                temporary: false,
                last_error: None,
                failures: 0,
            },
        );
    }

    /// Serves a self-signed certificate for `domain` until one is issued.
    fn install_temporary(&self, domain: &str) -> Result<(), String> {
        let made = rcgen::generate_simple_self_signed(vec![domain.to_string()])
            .map_err(|e| format!("--acme {domain}: cannot make a temporary certificate: {e}"))?;
        let key = certified(made.cert.der().clone(), made.signing_key.serialize_der())?;
        self.certs.set_managed(domain, Arc::new(key));
        tracing::info!(
            domain,
            "serving a temporary self-signed certificate while one is ordered"
        );
        self.status.set(
            domain,
            CertState {
                names: vec![domain.to_string()],
                issuer: "self-signed (temporary)".into(),
                temporary: true,
                ..CertState::default()
            },
        );
        Ok(())
    }

    /// The certificate in the directory, when it is newer than the one
    /// served.
    fn newer_on_disk(&self, domain: &str) -> Option<Stored> {
        let stored = store::load(&self.settings.dir, domain)?;
        let installed = self
            .installed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(domain)
            .copied();
        let newer = installed.is_none_or(|at| stored.written > at);
        (newer && stored.not_after > SystemTime::now()).then_some(stored)
    }

    /// One domain's life: see the module docs.
    async fn manage(self: Arc<Self>, domain: String) {
        let jitter = random_fraction();
        let mut current =
            store::load(&self.settings.dir, &domain).filter(|s| s.not_after > SystemTime::now());
        let mut failures: u32 = 0;
        loop {
            if let Some(found) = self.newer_on_disk(&domain) {
                self.install(&domain, &found, "loaded", jitter);
                current = Some(found);
            }
            if let Some(stored) = &current {
                let due = self.renewal_due(stored, jitter).await;
                let now = SystemTime::now();
                if now < due {
                    let wait = due.duration_since(now).unwrap_or(Duration::ZERO);
                    tokio::time::sleep(wait.min(RECHECK)).await;
                    continue;
                }
            }
            let lock = match store::try_lock(&self.settings.dir, &domain) {
                Ok(Some(lock)) => lock,
                Ok(None) => {
                    tracing::debug!(%domain, "another process is ordering this certificate");
                    tokio::time::sleep(LOCK_POLL).await;
                    continue;
                }
                Err(e) => {
                    let wait = self.failed(
                        &domain,
                        &format!("cannot take the lock: {e}"),
                        &mut failures,
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            // Another replica may have renewed it while we waited.
            if let Some(found) = self.newer_on_disk(&domain) {
                if SystemTime::now() < found.renew_at(jitter) {
                    self.install(&domain, &found, "loaded", jitter);
                    current = Some(found);
                    continue;
                }
            }
            let how = if current.is_some() {
                "renewed"
            } else {
                "issued"
            };
            let ordered = self.order(&domain).await;
            let ordered = ordered.and_then(|(chain, key)| {
                store::save(&self.settings.dir, &domain, &chain, &key)
                    .map_err(|e| format!("cannot keep the certificate: {e}"))?;
                store::load(&self.settings.dir, &domain)
                    .ok_or_else(|| "the certificate issued cannot be used".to_string())
            });
            drop(lock);
            match ordered {
                Ok(stored) => {
                    failures = 0;
                    self.install(&domain, &stored, how, jitter);
                    current = Some(stored);
                }
                Err(e) => {
                    let wait = self.failed(&domain, &e, &mut failures);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Records a failure and returns how long to wait before the next try.
    fn failed(&self, domain: &str, error: &str, failures: &mut u32) -> Duration {
        *failures = failures.saturating_add(1);
        let wait = backoff(self.settings.retry, *failures);
        tracing::warn!(
            domain,
            error,
            failures = *failures,
            retry_in = %humantime::format_duration(wait),
            "ACME order failed; serving the certificate in place, retrying in {}",
            humantime::format_duration(wait)
        );
        store::save_error(&self.settings.dir, domain, error);
        let mut state = self.status.get(domain).unwrap_or_default();
        state.last_error = Some(error.to_string());
        state.failures = *failures;
        state.next_renewal = Some(SystemTime::now() + wait);
        self.status.set(domain, state);
        wait
    }

    /// When `stored` is due: two thirds into its life (less jitter), or
    /// the start of the window the CA suggests, if that is earlier.
    async fn renewal_due(&self, stored: &Stored, jitter: f64) -> SystemTime {
        let own = stored.renew_at(jitter);
        let Some(account) = self.account.lock().await.clone() else {
            return own;
        };
        let Some(der) = stored.key.cert.first() else {
            return own;
        };
        let Ok(id) = instant_acme::CertificateIdentifier::try_from(der) else {
            return own;
        };
        match account.renewal_info(&id).await {
            Ok((info, _)) => {
                let start = SystemTime::UNIX_EPOCH
                    + Duration::from_secs(
                        info.suggested_window.start.unix_timestamp().max(0) as u64
                    );
                own.min(start)
            }
            Err(e) => {
                tracing::debug!(error = %e, "no ACME renewal information");
                own
            }
        }
    }

    /// The account at the CA: the one kept for this directory URL, else a
    /// new one, kept.
    async fn account(&self) -> Result<Account, String> {
        let mut cached = self.account.lock().await;
        if let Some(account) = cached.as_ref() {
            return Ok(account.clone());
        }
        let settings = &self.settings;
        let builder = || match &settings.ca_root {
            Some(root) => Account::builder_with_root(root),
            None => Account::builder(),
        };
        let path = store::account_file(&settings.dir, &settings.directory);
        let kept = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<AccountCredentials>(&bytes).ok());
        let account = match kept {
            Some(credentials) => builder()
                .map_err(|e| e.to_string())?
                .from_credentials(credentials)
                .await
                .map_err(|e| format!("the kept account: {e}"))?,
            None => {
                let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let (account, credentials) = builder()
                    .map_err(|e| e.to_string())?
                    .create(
                        &NewAccount {
                            contact: &contacts,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        settings.directory.clone(),
                        None,
                    )
                    .await
                    .map_err(|e| {
                        format!("cannot create an account at {}: {e}", settings.directory)
                    })?;
                let json = serde_json::to_vec(&credentials).map_err(|e| e.to_string())?;
                crate::private_file::write(&path, &json)
                    .map_err(|e| format!("cannot keep the account: {e}"))?;
                tracing::info!(directory = %settings.directory, "ACME account created");
                account
            }
        };
        *cached = Some(account.clone());
        Ok(account)
    }

    /// The challenge answered among those `offered`.
    fn pick(&self, offered: &[ChallengeType]) -> Option<ChallengeType> {
        let has = |t: ChallengeType| offered.contains(&t).then_some(t);
        match self.settings.challenge {
            AcmeChallenge::Http01 => has(ChallengeType::Http01),
            AcmeChallenge::TlsAlpn01 => has(ChallengeType::TlsAlpn01),
            AcmeChallenge::Auto => has(ChallengeType::TlsAlpn01)
                .or_else(|| self.http01.then(|| has(ChallengeType::Http01)).flatten()),
        }
    }

    /// One order for `domain`: the chain and key, in PEM.
    async fn order(&self, domain: &str) -> Result<(String, String), String> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(domain.to_string())];
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| format!("new order: {e}"))?;
        let mut answered: Vec<(ChallengeType, String)> = Vec::new();
        let result = async {
            let mut authorizations = order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization = authorization.map_err(|e| format!("authorization: {e}"))?;
                match authorization.status {
                    AuthorizationStatus::Valid => continue,
                    AuthorizationStatus::Pending => {}
                    other => return Err(format!("authorization is {other:?}")),
                }
                let offered: Vec<ChallengeType> = authorization
                    .challenges
                    .iter()
                    .map(|c| c.r#type.clone())
                    .collect();
                let kind = self.pick(&offered).ok_or_else(|| {
                    format!("no challenge henaserver can answer here among {offered:?}")
                })?;
                let mut challenge = authorization
                    .challenge(kind.clone())
                    .ok_or("the challenge went away")?;
                let key_authorization = challenge.key_authorization();
                match kind {
                    ChallengeType::Http01 => {
                        self.challenges
                            .add(&challenge.token, key_authorization.as_str());
                        answered.push((kind, challenge.token.clone()));
                    }
                    _ => {
                        let key = alpn_certificate(domain, key_authorization.digest().as_ref())?;
                        self.certs.set_challenge(domain, Some(Arc::new(key)));
                        answered.push((kind, String::new()));
                    }
                }
                challenge
                    .set_ready()
                    .await
                    .map_err(|e| format!("challenge: {e}"))?;
            }
            let retries = RetryPolicy::new().timeout(ORDER_TIMEOUT);
            let status = order
                .poll_ready(&retries)
                .await
                .map_err(|e| format!("waiting for validation: {e}"))?;
            if status != OrderStatus::Ready {
                return Err(format!(
                    "the order is {status:?}: {}",
                    why_invalid(&mut order).await
                ));
            }
            let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
            let mut params = rcgen::CertificateParams::new(vec![domain.to_string()])
                .map_err(|e| e.to_string())?;
            params.distinguished_name = rcgen::DistinguishedName::new();
            let csr = params.serialize_request(&key).map_err(|e| e.to_string())?;
            order
                .finalize_csr(csr.der())
                .await
                .map_err(|e| format!("finalize: {e}"))?;
            let chain = order
                .poll_certificate(&retries)
                .await
                .map_err(|e| format!("certificate: {e}"))?;
            Ok((chain, key.serialize_pem()))
        }
        .await;
        for (kind, token) in answered {
            match kind {
                ChallengeType::Http01 => self.challenges.remove(&token),
                _ => self.certs.set_challenge(domain, None),
            }
        }
        result
    }
}

/// The state of each domain's certificate in `dir`, as TOML comments
/// (for `--print-config`).
pub fn comments(dir: &std::path::Path, domains: &[String]) -> String {
    let mut out = String::new();
    for domain in domains {
        match store::load(dir, domain) {
            Some(stored) => out.push_str(&format!(
                "# acme {domain}: names {}, issuer {}, not after {}, next renewal from {}\n",
                stored.names.join(","),
                stored.issuer,
                status::rfc3339(stored.not_after),
                status::rfc3339(stored.renew_at(0.0)),
            )),
            None => out.push_str(&format!(
                "# acme {domain}: no certificate yet in {}\n",
                dir.display()
            )),
        }
        if let Some(error) = store::last_error(dir, domain) {
            out.push_str(&format!(
                "# acme {domain}: last error: {}\n",
                error.replace('\n', " ")
            ));
        }
    }
    out
}

/// What the CA says went wrong with an order's authorizations.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        for challenge in &authorization.challenges {
            if let Some(problem) = &challenge.error {
                reasons.push(problem.to_string());
            }
        }
    }
    if reasons.is_empty() {
        "no reason given".into()
    } else {
        reasons.join("; ")
    }
}

/// The TLS-ALPN-01 certificate for `domain` (RFC 8737 §3): self-signed,
/// with the acmeIdentifier extension holding the key authorization's
/// digest.
fn alpn_certificate(domain: &str, digest: &[u8]) -> Result<CertifiedKey, String> {
    let mut params =
        rcgen::CertificateParams::new(vec![domain.to_string()]).map_err(|e| e.to_string())?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    certified(cert.der().clone(), key.serialize_der())
}

/// A certificate and its PKCS#8 key, ready to serve.
fn certified(cert: CertificateDer<'static>, pkcs8: Vec<u8>) -> Result<CertifiedKey, String> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8));
    let signing = crate::tls::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| e.to_string())?;
    Ok(CertifiedKey::new(vec![cert], signing))
}

/// The wait after `failures` failures in a row: `first`, doubled each
/// time, at most [`RETRY_MAX`].
pub fn backoff(first: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    first.saturating_mul(1 << doublings).min(RETRY_MAX)
}

/// A number in [0, 1), from the system's random source.
fn random_fraction() -> f64 {
    use ::ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    let _ = ::ring::rand::SystemRandom::new().fill(&mut bytes);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_most() {
        let first = Duration::from_secs(60);
        assert_eq!(backoff(first, 1), first);
        assert_eq!(backoff(first, 2), first * 2);
        assert_eq!(backoff(first, 4), first * 8);
        assert_eq!(backoff(first, 400), RETRY_MAX);
    }

    #[test]
    fn random_fractions_stay_in_range() {
        for _ in 0..100 {
            let f = random_fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
