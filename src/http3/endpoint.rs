//! The QUIC endpoints: a UDP socket at the address and port of each HTTPS
//! listener, and one thread whose event loop drives them all.
//!
//! The thread is the one QUIC driver: `--threads` does not multiply it,
//! because a QUIC connection is addressed by its connection IDs, not its
//! 4-tuple, and one endpoint per socket keeps a client that migrates (a
//! phone moving from Wi-Fi to mobile) on the connection it had.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::connection::Early;
use crate::config::Limits;
use crate::shared::Shared;
use crate::stop::{self, Stopped};
use crate::tls::Tls;

/// QUIC's application error for a clean close: H3_NO_ERROR (RFC 9114 §8.1).
const H3_NO_ERROR: u32 = 0x100;
/// Unidirectional streams a client may open: HTTP/3's control stream and
/// QPACK's two, with room for the reserved ones clients send as grease.
const MAX_UNI_STREAMS: u32 = 16;

/// Binds a UDP socket at each of `addrs`, for HTTP/3 beside the HTTPS
/// listeners there.
pub fn bind(addrs: &[SocketAddr]) -> std::io::Result<Vec<UdpSocket>> {
    addrs.iter().map(UdpSocket::bind).collect()
}

/// The QUIC server settings: TLS 1.3 with the HTTPS listeners'
/// certificates (chosen by SNI, reloaded with them), ALPN `h3`, 0-RTT only
/// when `early_data`, and the limits of `limits`.
pub fn server_config(
    tls: &Tls,
    limits: &Limits,
    early_data: bool,
) -> Result<quinn::ServerConfig, String> {
    let provider = Arc::new(crate::tls::provider());
    let mut crypto = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(tls.certs.clone());
    crypto.alpn_protocols = vec![b"h3".to_vec()];
    // QUIC takes all or none of a resumed session's early data (RFC 9001
    // §4.6.1): u32::MAX turns it on.
    crypto.max_early_data_size = if early_data { u32::MAX } else { 0 };
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(crypto).map_err(|e| e.to_string())?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(limits.max_concurrent_streams.into())
        .max_concurrent_uni_streams(MAX_UNI_STREAMS.into())
        .stream_receive_window(limits.quic_stream_window.into())
        .receive_window(limits.quic_connection_window.into())
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(limits.quic_idle_timeout).map_err(|e| e.to_string())?,
        ));
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// The endpoint settings: the largest UDP payload.
fn endpoint_config(limits: &Limits) -> Result<quinn::EndpointConfig, String> {
    let mut config = quinn::EndpointConfig::default();
    config
        .max_udp_payload_size(limits.quic_max_udp_payload)
        .map_err(|e| e.to_string())?;
    Ok(config)
}

/// What the QUIC endpoints do beyond the limits.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Take GET and HEAD in 0-RTT early data (`--http3-0rtt`).
    pub early_data: bool,
    /// Use segmentation offload (GSO, GRO) where the kernel has it (not
    /// `--quic-no-offload`).
    pub offload: bool,
}

/// The thread that drives the QUIC endpoints.
pub struct QuicThread {
    handle: std::thread::JoinHandle<()>,
}

impl QuicThread {
    /// Serves HTTP/3 on `sockets` with `shared` (the HTTPS listeners'),
    /// counting connections in `permits`, until `stop` turns true.
    pub fn start(
        sockets: Vec<UdpSocket>,
        shared: Arc<Shared>,
        permits: Arc<Semaphore>,
        stop: watch::Receiver<bool>,
        options: Options,
    ) -> Result<QuicThread, String> {
        let tls = shared.tls.clone().ok_or("HTTP/3 needs HTTPS")?;
        let server = server_config(&tls, &shared.limits, options.early_data)?;
        let endpoint = endpoint_config(&shared.limits)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let handle = std::thread::Builder::new()
            .name("henaserver-quic".into())
            .spawn(move || {
                runtime.block_on(drive(
                    sockets, endpoint, server, shared, permits, stop, options,
                ));
            })
            .map_err(|e| e.to_string())?;
        Ok(QuicThread { handle })
    }

    /// Waits for the thread to finish (after the stop).
    pub fn join(self) {
        let _ = self.handle.join();
    }
}

async fn drive(
    sockets: Vec<UdpSocket>,
    endpoint: quinn::EndpointConfig,
    server: quinn::ServerConfig,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    options: Options,
) {
    let Some(runtime) = quinn::default_runtime() else {
        return;
    };
    let runtime: Arc<dyn quinn::Runtime> = if options.offload {
        runtime
    } else {
        Arc::new(super::offload::NoOffload(runtime))
    };
    let mut endpoints = Vec::new();
    let mut accepting = JoinSet::new();
    let handshakes = Arc::new(AtomicUsize::new(0));
    for socket in sockets {
        match quinn::Endpoint::new(
            endpoint.clone(),
            Some(server.clone()),
            socket,
            runtime.clone(),
        ) {
            Ok(e) => {
                accepting.spawn(accept_loop(
                    e.clone(),
                    shared.clone(),
                    permits.clone(),
                    handshakes.clone(),
                    options.early_data,
                ));
                endpoints.push(e);
            }
            Err(e) => tracing::error!(error = %e, "cannot serve HTTP/3 on a UDP socket"),
        }
    }
    let _ = stop.wait_for(|&s| s).await;
    stop::stop_worker();
    // GOAWAY has gone out on every connection; the streams in flight get
    // the grace period to finish.
    let drained = async { while accepting.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(shared.limits.shutdown_grace, drained).await;
    accepting.abort_all();
    for e in &endpoints {
        e.close(H3_NO_ERROR.into(), b"");
    }
    let grace = shared.limits.linger_timeout;
    for e in endpoints {
        let _ = tokio::time::timeout(grace, e.wait_idle()).await;
    }
    shared.observe.log().flush();
}

/// Accepts QUIC connections on `endpoint` until the server stops, then
/// waits for those it accepted to finish.
async fn accept_loop(
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    handshakes: Arc<AtomicUsize>,
    early_data: bool,
) {
    let limits = &shared.limits;
    let mut connections = JoinSet::new();
    let mut stopped = Stopped::default();
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut stopped => break,
        };
        if !shared.admits(incoming.remote_address()) {
            // Refused before any handshake (`--access`).
            incoming.refuse();
            continue;
        }
        // Under a handshake flood, a client proves its address first
        // (RFC 9000 §8.1): a spoofed one then costs a packet, not a
        // handshake.
        if handshakes.load(Ordering::Relaxed) >= limits.quic_retry_above
            && !incoming.remote_address_validated()
        {
            if let Err(e) = incoming.retry() {
                e.into_incoming().ignore();
            }
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            incoming.refuse();
            continue;
        };
        // A client at --conn-limit is refused before any handshake.
        let (ticket, admitted) = shared.admit(incoming.remote_address());
        if admitted.refuses {
            incoming.refuse();
            continue;
        }
        let Ok(connecting) = incoming.accept() else {
            continue;
        };
        let shared = shared.clone();
        let handshakes = handshakes.clone();
        connections.spawn(async move {
            let _held = (permit, ticket);
            // A resuming client's early data: requests may come before
            // the handshake completes, and `Early` says when it has.
            let connecting = if early_data {
                match connecting.into_0rtt() {
                    Ok((conn, accepted)) => {
                        let early = Early::new(accepted);
                        return super::connection::serve(conn, shared, early).await;
                    }
                    Err(connecting) => connecting,
                }
            } else {
                connecting
            };
            handshakes.fetch_add(1, Ordering::Relaxed);
            let timeout = shared.limits.tls_handshake_timeout;
            let connected = tokio::time::timeout(timeout, connecting).await;
            handshakes.fetch_sub(1, Ordering::Relaxed);
            match connected {
                Ok(Ok(conn)) => super::connection::serve(conn, shared, Early::done()).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "QUIC handshake failed"),
                Err(_) => tracing::debug!("QUIC handshake timed out"),
            }
        });
    }
    while connections.join_next().await.is_some() {}
}
