//! Kernel TLS (kTLS): once rustls has finished a handshake, the session's
//! keys go to the kernel's `tls` module, which encrypts and decrypts from
//! then on. File bodies go out with `sendfile(2)` again, and no record
//! passes through user space.
//!
//! Whether the kernel can is learnt once, by [`available`]: a handshake
//! over loopback for every cipher the server offers, handed to the kernel
//! and checked with a real exchange and close_notify. Where any of that
//! fails (no `tls` module, as in many containers, or an older kernel
//! without one of the ciphers), connections stay in user space, silently.
//!
//! The handshake of a connection that will move runs over a
//! [`CorkStream`], which stops reading at a record boundary so that no
//! encrypted byte is left behind in rustls; the plaintext rustls had
//! already decrypted is kept and read first. After that the socket is read
//! and written as a plain one. A record that is not application data (an
//! alert, or a handshake message such as a TLS 1.3 KeyUpdate, whose new
//! keys are not handed to the kernel) ends the stream: an alert as a
//! close, anything else as an error.

use std::io::{self, IoSliceMut};
use std::os::unix::io::AsRawFd;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ktls::{CorkStream, KtlsStream};
use rustls::crypto::CryptoProvider;
use rustls::SupportedCipherSuite;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// How long the whole check of [`available`] may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The `errno` a kTLS socket reads when the next record is not
/// application data: EIO.
fn not_data(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error())
}

/// A TLS connection whose records the kernel encrypts and decrypts.
pub struct KernelTls {
    /// The socket; its shutdown sends close_notify first.
    stream: KtlsStream<TcpStream>,
    /// Plaintext rustls had decrypted before the keys moved, read first.
    early: Bytes,
    /// The server name the client asked for (SNI).
    server_name: Option<Box<str>>,
    /// The TLS version and ALPN protocol.
    info: (&'static str, &'static str),
}

impl KernelTls {
    /// Hands the session of a finished handshake to the kernel. On error
    /// the connection is lost: call it only where [`available`] said yes.
    pub async fn upgrade(tls: TlsStream<CorkStream<TcpStream>>) -> io::Result<KernelTls> {
        let session = tls.get_ref().1;
        let info = super::session_info(session);
        let server_name = session.server_name().map(Box::from);
        let stream = ktls::config_ktls_server(tls)
            .await
            .map_err(|e| io::Error::other(format!("kernel TLS: {e}")))?;
        let (early, socket) = stream.into_raw();
        Ok(KernelTls {
            stream: KtlsStream::new(socket, None),
            early: early.map(Bytes::from).unwrap_or_default(),
            server_name,
            info,
        })
    }

    /// Runs the handshake on `stream` with `acceptor` (the outer error),
    /// then hands the session to the kernel (the inner one).
    pub async fn accept(
        acceptor: &tokio_rustls::TlsAcceptor,
        stream: TcpStream,
    ) -> io::Result<io::Result<KernelTls>> {
        let tls = acceptor.accept(CorkStream::new(stream)).await?;
        Ok(KernelTls::upgrade(tls).await)
    }

    /// The TCP socket, which reads and writes plaintext.
    pub fn socket(&self) -> &TcpStream {
        self.stream.get_ref()
    }

    /// The server name the client asked for (SNI).
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The TLS version and ALPN protocol.
    pub fn info(&self) -> (&'static str, &'static str) {
        self.info
    }

    /// Reads what is there into `buf` without waiting. `Ok(None)`: nothing
    /// yet; `Ok(Some(0))`: the peer closed (or sent an alert).
    pub fn try_read(&mut self, buf: &mut BytesMut) -> io::Result<Option<usize>> {
        if !self.early.is_empty() {
            let early = std::mem::take(&mut self.early);
            buf.extend_from_slice(&early);
            return Ok(Some(early.len()));
        }
        match self.socket().try_read_buf(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if not_data(&e) => self.control_record().map(|()| Some(0)),
            Err(e) => Err(e),
        }
    }

    /// Reads the record that is not application data at the head of the
    /// socket: `Ok` for an alert (close_notify or a fatal one: the stream
    /// ends), an error for anything else.
    fn control_record(&self) -> io::Result<()> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, TlsGetRecordType};
        let mut data = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut data)];
        let mut space = Vec::with_capacity(64);
        let msg = recvmsg::<()>(
            self.socket().as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_DONTWAIT,
        )?;
        let kind = msg.cmsgs()?.find_map(|c| match c {
            ControlMessageOwned::TlsGetRecordType(kind) => Some(kind),
            _ => None,
        });
        match kind {
            Some(TlsGetRecordType::Alert) => Ok(()),
            Some(TlsGetRecordType::Handshake) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a TLS handshake message after the handshake (kernel TLS does not follow it)",
            )),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("an unexpected TLS record: {other:?}"),
            )),
        }
    }
}

impl AsyncRead for KernelTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if !this.early.is_empty() {
            let n = this.early.len().min(buf.remaining());
            buf.put_slice(&this.early.split_to(n));
            return Poll::Ready(Ok(()));
        }
        match Pin::new(this.stream.get_mut()).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if not_data(&e) => Poll::Ready(this.control_record()),
            other => other,
        }
    }
}

impl AsyncWrite for KernelTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().stream.get_mut()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    /// Sends close_notify, then shuts the sending side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Whether the kernel can take over every TLS session the server makes;
/// `Err` says why not. Checked once per process.
pub fn available() -> Result<(), String> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    AVAILABLE
        .get_or_init(|| {
            std::thread::spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(async {
                    tokio::time::timeout(PROBE_TIMEOUT, probe())
                        .await
                        .map_err(|_| "the check timed out".to_string())?
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the check failed".into()))
        })
        .clone()
}

/// Checks each cipher the server offers, by TLS version: TLS 1.2 suites
/// differ from each other only in the certificate, which the kernel never
/// sees, so their ECDSA forms stand for all.
async fn probe() -> Result<(), String> {
    use rustls::crypto::ring::cipher_suite::*;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .map_err(|e| e.to_string())?;
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    for suite in [
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ] {
        probe_suite(suite, &cert, &key)
            .await
            .map_err(|e| format!("{:?}: {e}", suite.suite()))?;
    }
    Ok(())
}

/// One handshake over loopback with `suite` only, handed to the kernel,
/// then a message each way and close_notify.
async fn probe_suite(
    suite: SupportedCipherSuite,
    cert: &rustls::pki_types::CertificateDer<'static>,
    key: &rustls::pki_types::PrivateKeyDer<'static>,
) -> io::Result<()> {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: vec![suite],
        ..super::provider()
    });
    let version = suite.version();
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.clone_key())
        .map_err(io::Error::other)?;
    server.enable_secret_extraction = true;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).map_err(io::Error::other)?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let serve = async {
        let (socket, _) = listener.accept().await?;
        let tls = acceptor.accept(CorkStream::new(socket)).await?;
        let mut kernel = KernelTls::upgrade(tls).await?;
        kernel.write_all(b"ping").await?;
        let mut got = [0u8; 4];
        kernel.read_exact(&mut got).await?;
        if &got != b"pong" {
            return Err(io::Error::other("the kernel decrypted something else"));
        }
        kernel.shutdown().await
    };
    let talk = async {
        let socket = TcpStream::connect(addr).await?;
        let name =
            rustls::pki_types::ServerName::try_from("localhost").map_err(io::Error::other)?;
        let mut tls = connector.connect(name, socket).await?;
        let mut got = [0u8; 4];
        tls.read_exact(&mut got).await?;
        if &got != b"ping" {
            return Err(io::Error::other("the kernel encrypted something else"));
        }
        tls.write_all(b"pong").await?;
        tls.flush().await?;
        // A clean end: close_notify, not a bare close.
        let mut rest = Vec::new();
        tls.read_to_end(&mut rest).await?;
        Ok(())
    };
    tokio::try_join!(serve, talk).map(|_| ())
}
