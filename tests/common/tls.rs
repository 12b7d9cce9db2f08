//! A test certificate authority made with rcgen, and a rustls client.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::{Client, PATIENCE};

#[path = "../../bench/accept_all.rs"]
mod accept_all;
use accept_all::AcceptAll;

/// A TLS client connection.
pub type TlsClient = Client<StreamOwned<ClientConnection, TcpStream>>;

/// A certificate authority for one test.
pub struct Ca {
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, in PEM and DER.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Leaf {
    /// Writes the certificate and key into `dir` as NAME.crt and NAME.key.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

impl Ca {
    pub fn new() -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "henaserver test CA");
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate for `names` signed by this CA, with an ECDSA P-256
    /// key in PKCS#8.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, rcgen::KeyPair::generate().unwrap())
    }

    /// A certificate for `names` with the key `key`.
    pub fn leaf_with(&self, names: &[&str], key: rcgen::KeyPair) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client configuration trusting this CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        client_config_trusting(&self.pem, alpn)
    }
}

/// A client configuration trusting the roots in `pem`, offering `alpn`.
pub fn client_config_trusting(pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

use rustls::pki_types::pem::PemObject;

fn builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
}

/// A client configuration that accepts any certificate: for looking at
/// which one the server chose.
pub fn trusting_config() -> Arc<ClientConfig> {
    let config = builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAll))
        .with_no_client_auth();
    Arc::new(config)
}

/// Connects to `addr` over TLS, naming `server_name` (a DNS name sends
/// SNI; an IP address sends none), and finishes the handshake.
pub fn connect(addr: SocketAddr, server_name: &str, config: Arc<ClientConfig>) -> TlsClient {
    try_connect(addr, server_name, config).expect("TLS handshake")
}

/// As [`connect`], but a failed handshake is an error.
pub fn try_connect(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsClient> {
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(PATIENCE))?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(Client::over(stream))
}

/// The DER of the certificate the server presented.
pub fn peer_cert(client: &TlsClient) -> Vec<u8> {
    client.stream.conn.peer_certificates().unwrap()[0].to_vec()
}
