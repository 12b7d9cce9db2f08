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

/// Listens on the Unix socket at `path`, with permissions `mode`. A
/// socket file an earlier run left behind (nothing accepts on it) is
/// replaced; one a live server listens on, or a file that is not a
/// socket, is refused.
pub(super) fn listen_unix(
    path: &std::path::Path,
    mode: u32,
) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "a server is listening on it",
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path)?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the file exists and is not a socket",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::bind(&fd, &rustix::net::SocketAddrUnix::new(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    rustix::net::listen(&fd, LISTEN_BACKLOG)?;
    let listener = std::os::unix::net::UnixListener::from(fd);
    listener.set_nonblocking(true)?;
    Ok(listener)
}

pub(super) fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let family = if addr.is_ipv6() {
        AddressFamily::INET6
    } else {
        AddressFamily::INET
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
    if addr.is_ipv6() {
        rustix::net::sockopt::set_ipv6_v6only(&fd, true)?;
    }
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, LISTEN_BACKLOG)?;
    let listener = std::net::TcpListener::from(fd);
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Raises the soft limit on open descriptors to the hard limit, where
/// allowed, and returns the limit in force (`None`: unlimited).
pub(super) fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum;
        }
    }
    limit.current
}

/// A listening socket, handed to each worker.
#[derive(Debug)]
pub(super) enum Listening {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
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
    Unix(tokio::net::UnixListener),
}

impl Accepting {
    /// The next connection and its peer ([`UNIX_PEER`] on a Unix socket).
    ///
    /// A connection on a Unix stream socket is served through the same
    /// socket type as TCP: reading, writing, waiting for readiness,
    /// `sendfile(2)` and shutdown mean the same on both, and TCP's own
    /// options (TCP_NODELAY, TCP_CORK) fail on it and are skipped.
    pub(super) async fn accept(&self) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
        match self {
            Accepting::Tcp(l) => l.accept().await,
            Accepting::Unix(l) => {
                let (stream, _) = l.accept().await?;
                let fd = std::os::fd::OwnedFd::from(stream.into_std()?);
                let socket = std::net::TcpStream::from(fd);
                socket.set_nonblocking(true)?;
                Ok((tokio::net::TcpStream::from_std(socket)?, UNIX_PEER))
            }
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
                match shared.tls.clone() {
                    None => stop::spawn(async move {
                        let handover = connection::serve_tcp(stream, peer, shared.clone()).await;
                        if let Some(h) = handover {
                            // The connection opened with the HTTP/2 preface.
                            let io = Rewind::new(h.read, h.stream);
                            Box::pin(http2::serve(io, peer, shared, None)).await;
                        }
                        drop((permit, ticket));
                    }),
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
    pub(super) unix: Vec<(PathBuf, std::os::unix::net::UnixListener)>,
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
        let mut inherited = listenfd::ListenFd::from_env();
        let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
            .map(|v| v.split(':').map(str::to_string).collect())
            .unwrap_or_default();
        let mut found = Inherited {
            listeners: Vec::new(),
            unix: Vec::new(),
            redirects: Vec::new(),
            admin: None,
            quic: Vec::new(),
        };
        for i in 0..inherited.len() {
            if names.get(i).map(String::as_str) == Some(QUIC_NAME) {
                match inherited.take_udp_socket(i) {
                    Ok(Some(socket)) => found.quic.push(socket),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(fd = i + 3, error = %e, "ignoring an inherited socket that is not UDP")
                    }
                }
                continue;
            }
            if let Ok(Some(listener)) = inherited.take_unix_listener(i) {
                listener.set_nonblocking(true)?;
                let path = listener
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(PathBuf::from))
                    .unwrap_or_default();
                found.unix.push((path, listener));
                continue;
            }
            match inherited.take_tcp_listener(i) {
                Ok(Some(listener)) => {
                    listener.set_nonblocking(true)?;
                    match names.get(i).map(String::as_str) {
                        Some(REDIRECT_NAME) => found.redirects.push(listener),
                        Some(ADMIN_NAME) => found.admin = Some(listener),
                        _ => found.listeners.push(listener),
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(fd = i + 3, error = %e, "ignoring an inherited socket that is not a TCP listener")
                }
            }
        }
        Ok(found)
    }
}
