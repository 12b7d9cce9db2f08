//! Dispatch by transport and ALPN: plain TCP and Unix sockets go to
//! HTTP/1.1 (which hands an HTTP/2 preface on); TLS is accepted within its
//! timeout, in user space or handed to the kernel, then served as HTTP/2
//! or HTTP/1.1 as ALPN chose. Plain HTTP on an HTTPS port gets `http1`'s
//! 400.

use super::*;

/// A finished TLS session, in user space or in the kernel: what the
/// connection is served over once the handshake is done.
pub(super) trait Session:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
    /// The TLS version and ALPN protocol.
    fn info(&self) -> (&'static str, &'static str);
    /// The server name the client asked for (SNI).
    fn server_name(&self) -> Option<&str>;
    /// The HTTP/1 transport over the session, whose first wait ends at
    /// `deadline`.
    fn transport(self, shared: &Shared, deadline: std::time::Instant) -> Transport;
}

impl Session for Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    fn info(&self) -> (&'static str, &'static str) {
        crate::tls::session_info(self.get_ref().1)
    }
    fn server_name(&self) -> Option<&str> {
        self.get_ref().1.server_name()
    }
    fn transport(self, _: &Shared, deadline: std::time::Instant) -> Transport {
        Transport::tls(self, deadline)
    }
}

impl Session for Box<crate::tls::kernel::KernelTls> {
    fn info(&self) -> (&'static str, &'static str) {
        (**self).info()
    }
    fn server_name(&self) -> Option<&str> {
        (**self).server_name()
    }
    fn transport(self, shared: &Shared, deadline: std::time::Instant) -> Transport {
        Transport::kernel_tls(self, shared.zero_copy, deadline)
    }
}

/// Serves a finished session by its ALPN protocol: a TLS-ALPN-01
/// validation ends there, `h2` goes to HTTP/2, anything else to HTTP/1.1.
pub(super) async fn serve_session(
    mut session: impl Session,
    peer: SocketAddr,
    shared: Arc<Shared>,
) {
    let info = session.info();
    match info.1 {
        "acme-tls/1" => {
            // The handshake was all the validation needed.
            tracing::debug!(%peer, "answered a TLS-ALPN-01 challenge");
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut session).await;
        }
        "h2" => {
            let name = session.server_name().map(Box::from);
            http2::serve(session, peer, shared, Some((info, name))).await
        }
        _ => {
            let now = std::time::Instant::now();
            let io = session.transport(&shared, now + shared.limits.header_timeout);
            connection::serve(io, peer, shared, now).await;
        }
    }
}

/// Runs the TLS handshake within the handshake timeout, then serves the
/// connection over it.
pub(super) async fn serve_tls(
    tls: Tls,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) {
    let timeout = shared.limits.tls_handshake_timeout;
    let accepted = tokio::time::timeout(timeout, tls.accept(stream)).await;
    shared.observe.handshake(matches!(
        accepted,
        Ok(Accepted::Tls(_) | Accepted::Kernel(_))
    ));
    match accepted {
        Ok(Accepted::Tls(session)) => serve_session(session, peer, shared).await,
        Ok(Accepted::Kernel(session)) => serve_session(session, peer, shared).await,
        Ok(Accepted::Plain(stream)) => {
            tracing::debug!(%peer, "plain HTTP on the HTTPS port; answering 400");
            let within = shared.limits.header_timeout;
            let _ = tokio::time::timeout(within, crate::http1::plain::refuse(stream)).await;
        }
        Ok(Accepted::Failed(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}
