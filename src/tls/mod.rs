//! HTTPS: TLS with rustls and its ring provider, configured as Mozilla's
//! "intermediate" profile (which nginx and Caddy follow):
//!
//! - TLS 1.3, and TLS 1.2 with ECDHE key exchange and AES-GCM or
//!   ChaCha20-Poly1305 only;
//! - key exchange groups X25519, P-256 and P-384;
//! - session resumption by TLS 1.3 tickets and a TLS 1.2 session cache,
//!   both bounded;
//! - ALPN `h2` (unless `--no-http2`) and `http/1.1`;
//! - the client's cipher preference honoured (every suite offered is
//!   strong).
//!
//! Certificates are chosen by SNI ([`certs`]), reloaded on SIGHUP and when
//! their files change on disk; `--tls-self-signed` makes one for
//! development ([`self_signed`]); `--tls-keylog` writes the session secrets
//! for Wireshark ([`keylog`]). Where the kernel offers kernel TLS, it takes
//! over each session after the handshake ([`kernel`]).

pub(crate) mod certs;
/// Kernel TLS on Linux (with glibc); elsewhere a stand-in that is never
/// available.
#[cfg_attr(
    not(all(target_os = "linux", not(target_env = "musl"))),
    path = "kernel_absent.rs"
)]
pub(crate) mod kernel;
pub(crate) mod keylog;
pub(crate) mod self_signed;

use std::io;
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::server::ServerSessionMemoryCache;
use rustls::{ServerConfig, ServerConnection};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsSettings;
use certs::CertStore;
use kernel::KernelTls;

/// TLS 1.2 sessions remembered for resumption.
pub const TLS_SESSION_CACHE: usize = 4096;
/// The first byte of a TLS handshake record (RFC 8446 §5.1).
const HANDSHAKE_RECORD: u8 = 0x16;
/// The ring provider restricted to the intermediate profile's suites and
/// groups.
pub fn provider() -> CryptoProvider {
    use ring::cipher_suite::*;
    use ring::kx_group::{SECP256R1, SECP384R1, X25519};
    CryptoProvider {
        cipher_suites: vec![
            TLS13_AES_128_GCM_SHA256,
            TLS13_AES_256_GCM_SHA384,
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![X25519, SECP256R1, SECP384R1],
        ..ring::default_provider()
    }
}

/// A server's TLS: the acceptor and the certificates it chooses from.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    /// Sessions move to the kernel after the handshake.
    kernel: bool,
    /// The certificates, reloadable.
    pub certs: Arc<CertStore>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

/// How a TLS connection began.
pub enum Accepted {
    /// A finished handshake.
    Tls(Box<TlsStream<TcpStream>>),
    /// A finished handshake whose session the kernel took over.
    Kernel(Box<KernelTls>),
    /// Plain HTTP, to be answered with 400 and closed (by `http1`).
    Plain(TcpStream),
    /// The peer closed, stalled, or sent something else.
    Failed(io::Error),
}

impl Tls {
    /// TLS as `settings` ask, with the certificates loaded (or made);
    /// with `http2`, ALPN offers `h2` before `http/1.1`.
    pub fn new(settings: &TlsSettings, http2: bool) -> Result<Tls, String> {
        let certs = Arc::new(CertStore::load(settings)?);
        let provider = Arc::new(provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        config.session_storage = ServerSessionMemoryCache::new(TLS_SESSION_CACHE);
        config.ticketer = ring::Ticketer::new().map_err(|e| e.to_string())?;
        config.alpn_protocols = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        if !settings.managed.is_empty() {
            // TLS-ALPN-01 (RFC 8737): offered last, so it is chosen only by
            // a client that offers nothing else.
            config.alpn_protocols.push(certs::ACME_TLS_ALPN.to_vec());
        }
        if let Some(path) = &settings.keylog {
            config.key_log = Arc::new(keylog::KeyLogFile::open(path)?);
        }
        let kernel = settings.kernel
            && match kernel::available() {
                Ok(()) => true,
                Err(why) => {
                    tracing::debug!(reason = %why, "kernel TLS unavailable; TLS stays in user space");
                    false
                }
            };
        config.enable_secret_extraction = kernel;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            kernel,
            certs,
        })
    }

    /// Whether the kernel takes over sessions after the handshake.
    pub fn kernel(&self) -> bool {
        self.kernel
    }

    /// Runs the handshake on `stream` (the caller bounds it in time). A
    /// stream that begins as plain HTTP is handed back.
    pub async fn accept(&self, stream: TcpStream) -> Accepted {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) if first[0] == HANDSHAKE_RECORD => {}
            Ok(1) if first[0].is_ascii_uppercase() => return Accepted::Plain(stream),
            Ok(_) => {
                return Accepted::Failed(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not a TLS handshake",
                ))
            }
            Err(e) => return Accepted::Failed(e),
        }
        if self.kernel {
            return match KernelTls::accept(&self.acceptor, stream).await {
                Err(e) => Accepted::Failed(e),
                Ok(Ok(kernel)) => Accepted::Kernel(Box::new(kernel)),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "a TLS session could not move to the kernel");
                    Accepted::Failed(e)
                }
            };
        }
        match self.acceptor.accept(stream).await {
            Ok(tls) => Accepted::Tls(Box::new(tls)),
            Err(e) => Accepted::Failed(e),
        }
    }
}

/// The TLS version and ALPN protocol of `session`, as the log names them.
pub fn session_info(session: &ServerConnection) -> (&'static str, &'static str) {
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLS",
    };
    let alpn = match session.alpn_protocol() {
        Some(b"http/1.1") => "http/1.1",
        Some(b"h2") => "h2",
        Some(certs::ACME_TLS_ALPN) => "acme-tls/1",
        _ => "",
    };
    (version, alpn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_intermediate_suites_and_groups() {
        let p = provider();
        assert_eq!(p.cipher_suites.len(), 9);
        assert_eq!(p.kx_groups.len(), 3);
        for suite in &p.cipher_suites {
            let name = format!("{:?}", suite.suite());
            assert!(name.contains("GCM") || name.contains("CHACHA20"), "{name}");
        }
    }
}
