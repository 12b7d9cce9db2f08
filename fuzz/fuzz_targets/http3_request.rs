//! Arbitrary bytes as an HTTP/3 request stream (frames, QPACK field
//! sections, bodies) to henaserver's HTTP/3 layer with the echo responder,
//! over one QUIC connection on loopback that is opened again whenever an
//! input closes it: no input panics, every stream is answered, reset or
//! closed within a bound, and memory stays within libFuzzer's
//! `-rss_limit_mb`.
#![no_main]

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use henaserver::internals::{serve_http3_echo, Http3Echo};
use libfuzzer_sys::fuzz_target;

/// Far beyond the default body and header timeouts' effect on a stream
/// whose request has ended.
const BOUND: Duration = Duration::from_secs(20);

struct Server {
    _echo: Http3Echo,
    addr: SocketAddr,
}

struct Client {
    runtime: tokio::runtime::Runtime,
    endpoint: quinn::Endpoint,
    conn: Option<(quinn::Connection, quinn::SendStream)>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let echo = serve_http3_echo(socket).expect("an HTTP/3 endpoint");
        Server { _echo: echo, addr }
    })
}

#[derive(Debug)]
struct AcceptAll;

impl rustls::client::danger::ServerCertVerifier for AcceptAll {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client() -> &'static Mutex<Client> {
    static CLIENT: OnceLock<Mutex<Client>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let endpoint = runtime.block_on(async {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAll))
                .with_no_client_auth();
            tls.alpn_protocols = vec![b"h3".to_vec()];
            let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
            let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
            endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
            endpoint
        });
        Mutex::new(Client {
            runtime,
            endpoint,
            conn: None,
        })
    })
}

/// A connection with the client's control stream open (type 0, an empty
/// SETTINGS frame).
async fn connect(endpoint: &quinn::Endpoint, addr: SocketAddr) -> (quinn::Connection, quinn::SendStream) {
    let conn = endpoint
        .connect(addr, "localhost")
        .unwrap()
        .await
        .expect("QUIC handshake");
    let mut control = conn.open_uni().await.unwrap();
    control.write_all(&[0x00, 0x04, 0x00]).await.unwrap();
    (conn, control)
}

fuzz_target!(|data: &[u8]| {
    let addr = server().addr;
    let mut client = client().lock().unwrap();
    let Client {
        runtime,
        endpoint,
        conn,
    } = &mut *client;
    runtime.block_on(async {
        if conn.as_ref().is_none_or(|(c, _)| c.close_reason().is_some()) {
            *conn = Some(
                tokio::time::timeout(BOUND, connect(endpoint, addr))
                    .await
                    .expect("the server accepts a connection"),
            );
        }
        let (c, _) = conn.as_ref().unwrap();
        let Ok((mut send, mut recv)) = c.open_bi().await else {
            *conn = None;
            return;
        };
        let _ = send.write_all(data).await;
        let _ = send.finish();
        // Answered, reset, or the connection closed: anything but silence.
        let answered = tokio::time::timeout(BOUND, recv.read_to_end(8 << 20)).await;
        assert!(answered.is_ok(), "the stream was left hanging");
    });
});
