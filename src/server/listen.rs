//! Listening sockets: TCP and Unix listeners bound as the configuration
//! asks (stale Unix socket files replaced), the descriptor limit raised,
//! and the accept loop, which takes a connection permit before `accept`.

use super::*;

/// Connections the kernel queues for each listening socket.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Descriptors kept free for everything but connections and the cache:
/// listeners, the root, logs, the runtime's own.
pub(super) const RESERVED_FDS: u64 = 64;

/// First pause after a failed accept (out of descriptors, say).
pub(super) const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);

/// Longest pause between accept attempts after repeated failures.
pub(super) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Listens on the Unix socket at `path`, with permissions `mode`
/// (`platform::net::listen_unix` says what becomes of a file already
/// there).
pub(super) fn listen_unix(path: &std::path::Path, mode: u32) -> io::Result<UnixListener> {
    platform::net::listen_unix(path, mode, LISTEN_BACKLOG)
}

/// Listens on `addr`, handing over connections once their first bytes
/// arrive or `defer` has passed (`--defer-accept`).
pub(super) fn listen(addr: SocketAddr, defer: Duration) -> io::Result<std::net::TcpListener> {
    platform::net::listen_tcp(addr, LISTEN_BACKLOG, defer)
}

/// A listening socket, handed to each worker.
#[derive(Debug)]
pub(super) enum Listening {
    Tcp(std::net::TcpListener),
    Unix(UnixListener),
}

impl Listening {
    pub(super) fn try_clone(&self) -> io::Result<Listening> {
        Ok(match self {
            Listening::Tcp(l) => Listening::Tcp(l.try_clone()?),
            Listening::Unix(l) => Listening::Unix(l.try_clone()?),
        })
    }
}

/// A listening socket a worker accepts from.
pub(super) enum Accepting {
    Tcp(TcpListener),
    Unix(platform::net::AsyncUnixListener),
}

impl Accepting {
    /// The next connection and its peer ([`UNIX_PEER`] on a Unix socket).
    ///
    /// A connection on a Unix stream socket is served through the same
    /// socket type as TCP (`platform::net::accept_unix`).
    pub(super) async fn accept(&self) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
        match self {
            Accepting::Tcp(l) => l.accept().await,
            Accepting::Unix(l) => Ok((platform::net::accept_unix(l).await?, UNIX_PEER)),
        }
    }
}

pub(super) async fn accept_loop(listener: Accepting, shared: Arc<Shared>, permits: Arc<Semaphore>) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut stopped = Stopped::default();
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut stopped => return,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = &mut stopped => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((_, peer)) if !shared.admits(peer) => {
                // Closed before any byte or handshake (`--access`).
                backoff = ACCEPT_BACKOFF_MIN;
                tracing::debug!(%peer, "connection denied");
                drop(permit);
            }
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                tracing::debug!(%peer, "connection accepted");
                // Counted against --conn-limit while it lives; a client at
                // its limit is served by the listener that answers 429.
                let (ticket, shared) = shared.admit(peer);
                // Each connection's state lives on the heap from the
                // start: the task then moves a pointer, not the future.
                match shared.tls.clone() {
                    None => stop::spawn(Box::pin(async move {
                        let handover = connection::serve_tcp(stream, peer, shared.clone()).await;
                        if let Some(h) = handover {
                            // The connection opened with the HTTP/2 preface.
                            let io = Rewind::new(h.read, h.stream);
                            Box::pin(http2::serve(io, peer, shared, None)).await;
                        }
                        drop((permit, ticket));
                    })),
                    // The handshake's state is large: it lives on the heap.
                    Some(tls) => stop::spawn(Box::pin(async move {
                        serve_tls(tls, stream, peer, shared).await;
                        drop((permit, ticket));
                    })),
                };
            }
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %e, retry_in = ?backoff, "accept failed");
                tokio::select! {
                    biased;
                    () = &mut stopped => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// Listening sockets handed over in `LISTEN_FDS`, by systemd's socket
/// activation or by an upgrading process, used instead of binding.
pub(super) struct Inherited {
    /// The site's TCP listeners.
    pub(super) listeners: Vec<std::net::TcpListener>,
    /// The site's Unix sockets, by path.
    pub(super) unix: Vec<(PathBuf, UnixListener)>,
    /// Plain listeners that redirect to HTTPS.
    pub(super) redirects: Vec<std::net::TcpListener>,
    /// The admin listener.
    pub(super) admin: Option<std::net::TcpListener>,
    /// UDP sockets HTTP/3 was served on.
    pub(super) quic: Vec<std::net::UdpSocket>,
}

impl Inherited {
    /// The sockets the environment hands over. `LISTEN_FDNAMES` tells the
    /// kinds apart when an upgrade hands over redirect and admin listeners
    /// too; unnamed sockets serve the site.
    pub(super) fn from_env() -> io::Result<Inherited> {
        let mut found = Inherited {
            listeners: Vec::new(),
            unix: Vec::new(),
            redirects: Vec::new(),
            admin: None,
            quic: Vec::new(),
        };
        for (name, socket) in platform::net::inherited(|name| name == Some(QUIC_NAME))? {
            match socket {
                platform::net::Inherited::Udp(socket) => found.quic.push(socket),
                platform::net::Inherited::Unix(listener, path) => found.unix.push((path, listener)),
                platform::net::Inherited::Tcp(listener) => match name.as_deref() {
                    Some(REDIRECT_NAME) => found.redirects.push(listener),
                    Some(ADMIN_NAME) => found.admin = Some(listener),
                    _ => found.listeners.push(listener),
                },
            }
        }
        Ok(found)
    }
}
