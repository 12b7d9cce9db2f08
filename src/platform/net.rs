//! Listening sockets: TCP listeners bound as the server wants them, Unix
//! stream sockets, sockets inherited from systemd or an upgrading
//! process, and the limit on open descriptors.
//!
//! | | TCP listener | deferred accept | Unix sockets, inherited sockets | descriptor limit |
//! |---|---|---|---|---|
//! | Linux | `SO_REUSEADDR`, IPv6-only for `[::]` | `TCP_DEFER_ACCEPT` | yes | soft raised to hard |
//! | macOS, FreeBSD | `SO_REUSEADDR`, IPv6-only for `[::]` | no | yes | soft raised to hard |
//! | Windows | IPv6-only for `[::]`, no `SO_REUSEADDR` (there it lets another process take the port) | no | no: refused at configuration | none to raise |
//!
//! Deferred accept: the kernel completes the handshake but hands the
//! connection over only once its first bytes arrive, or when the time
//! given has passed, so a connection costs the server one wake-up rather
//! than two. FreeBSD's equivalent, the `accf_data` accept filter, needs a
//! kernel module loaded, and is not used. Sockets handed over in
//! `LISTEN_FDS` keep what they came with (systemd's `DeferAccept=`).
//!
//! No listener sets `SO_REUSEPORT`: every worker accepts from one shared
//! socket, so the semantics that differ (Linux balances connections
//! between sockets that share a port; macOS and FreeBSD before 12 hand them
//! all to the last one bound) never come into play, and a second server
//! started on a port in use fails to bind instead of sharing it.
//! On Windows, the Unix-only types exist but can never be made: the code
//! that serves them compiles everywhere and runs where they exist.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A listening or UDP socket, owned, for a new process to take over.
#[cfg(unix)]
pub type Handle = std::os::fd::OwnedFd;
/// A listening or UDP socket, owned, for a new process to take over.
#[cfg(windows)]
pub type Handle = std::os::windows::io::OwnedSocket;

/// A Unix stream socket listening.
#[cfg(unix)]
pub type UnixListener = std::os::unix::net::UnixListener;
/// A Unix stream socket accepting, in the runtime.
#[cfg(unix)]
pub type AsyncUnixListener = tokio::net::UnixListener;

/// Whether this platform has Unix stream sockets, socket activation and
/// the binary upgrade.
pub const UNIX: bool = cfg!(unix);

/// Binds a TCP listener on `addr` with a queue of `backlog` connections,
/// non-blocking, closed on exec, accepting a connection once its first
/// bytes arrive or `defer` has passed (where the platform can; zero: at
/// once).
pub fn listen_tcp(
    addr: SocketAddr,
    backlog: i32,
    defer: Duration,
) -> io::Result<std::net::TcpListener> {
    sys::listen_tcp(addr, backlog, defer)
}

/// Raises the soft limit on open descriptors to the hard limit, where
/// allowed, and returns the limit in force (`None`: unlimited, or no such
/// limit on this platform).
pub fn raise_fd_limit() -> Option<u64> {
    sys::raise_fd_limit()
}

/// Listens on the Unix socket at `path`, with permissions `mode`. A
/// socket file an earlier run left behind (nothing accepts on it) is
/// replaced; one a live server listens on, or a file that is not a
/// socket, is refused.
pub fn listen_unix(path: &Path, mode: u32, backlog: i32) -> io::Result<UnixListener> {
    sys::listen_unix(path, mode, backlog)
}

/// A connection accepted on a Unix socket, as a TCP stream: reading,
/// writing, waiting for readiness, `sendfile(2)` and shutdown mean the
/// same on both, and TCP's own options fail on it and are skipped.
pub async fn accept_unix(listener: &AsyncUnixListener) -> io::Result<tokio::net::TcpStream> {
    sys::accept_unix(listener).await
}

/// A socket handed over in `LISTEN_FDS` (none on Windows).
#[derive(Debug)]
#[cfg_attr(windows, allow(dead_code))]
pub enum Inherited {
    /// A TCP listener.
    Tcp(std::net::TcpListener),
    /// A Unix stream listener, and its path.
    Unix(UnixListener, PathBuf),
    /// A UDP socket.
    Udp(std::net::UdpSocket),
}

/// The sockets the environment hands over (`LISTEN_FDS`, with
/// `LISTEN_FDNAMES`): each with its name, if it has one; a socket of
/// another kind is skipped with a warning. `udp` says, by name, which are
/// UDP sockets.
pub fn inherited(
    udp: impl Fn(Option<&str>) -> bool,
) -> io::Result<Vec<(Option<String>, Inherited)>> {
    sys::inherited(udp)
}

/// Linux's `TCP_DEFER_ACCEPT`, which nix does not list, declared with
/// nix's `sockopt_impl!`, its way to name further options: seconds, which
/// the kernel rounds up to a count of SYN-ACK retransmissions.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod defer {
    use nix::{getsockopt_impl, libc, setsockopt_impl, sockopt_impl};
    sockopt_impl!(
        /// Seconds a connection waits in the kernel for its first bytes.
        TcpDeferAccept,
        Both,
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        u32
    );

    /// Whole seconds for `defer`, a part of a second counting as one; at
    /// most a day.
    pub(super) fn seconds(defer: std::time::Duration) -> u32 {
        let secs = defer.as_secs() + u64::from(defer.subsec_nanos() > 0);
        secs.min(86_400) as u32
    }
}

#[cfg(unix)]
mod sys {
    use super::*;
    use rustix::net::{AddressFamily, SocketType};

    /// A stream socket of `family`, closed on exec.
    fn socket(family: AddressFamily) -> io::Result<std::os::fd::OwnedFd> {
        #[cfg(not(target_vendor = "apple"))]
        let fd = rustix::net::socket_with(
            family,
            SocketType::STREAM,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )?;
        // macOS has no SOCK_CLOEXEC: set just after, at start-up, before
        // any other thread could start a process.
        #[cfg(target_vendor = "apple")]
        let fd = {
            let fd = rustix::net::socket(family, SocketType::STREAM, None)?;
            rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
            fd
        };
        Ok(fd)
    }

    pub(super) fn listen_tcp(
        addr: SocketAddr,
        backlog: i32,
        defer: Duration,
    ) -> io::Result<std::net::TcpListener> {
        let family = if addr.is_ipv6() {
            AddressFamily::INET6
        } else {
            AddressFamily::INET
        };
        let fd = socket(family)?;
        rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
        if addr.is_ipv6() {
            rustix::net::sockopt::set_ipv6_v6only(&fd, true)?;
        }
        rustix::net::bind(&fd, &addr)?;
        rustix::net::listen(&fd, backlog)?;
        // A kernel without the option (a sandbox's, say) accepts at once.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if !defer.is_zero() {
            if let Err(e) =
                nix::sys::socket::setsockopt(&fd, defer::TcpDeferAccept, &defer::seconds(defer))
            {
                tracing::warn!(%addr, error = %e, "cannot defer accept; accepting at once");
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = defer;
        let listener = std::net::TcpListener::from(fd);
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    pub(super) fn raise_fd_limit() -> Option<u64> {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return limit.maximum;
            }
        }
        limit.current
    }

    pub(super) fn listen_unix(path: &Path, mode: u32, backlog: i32) -> io::Result<UnixListener> {
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
        let fd = socket(AddressFamily::UNIX)?;
        rustix::net::bind(&fd, &rustix::net::SocketAddrUnix::new(path)?)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        rustix::net::listen(&fd, backlog)?;
        let listener = UnixListener::from(fd);
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    pub(super) async fn accept_unix(
        listener: &AsyncUnixListener,
    ) -> io::Result<tokio::net::TcpStream> {
        let (stream, _) = listener.accept().await?;
        let fd = std::os::fd::OwnedFd::from(stream.into_std()?);
        let socket = std::net::TcpStream::from(fd);
        socket.set_nonblocking(true)?;
        tokio::net::TcpStream::from_std(socket)
    }

    pub(super) fn inherited(
        udp: impl Fn(Option<&str>) -> bool,
    ) -> io::Result<Vec<(Option<String>, Inherited)>> {
        let mut handed = listenfd::ListenFd::from_env();
        let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
            .map(|v| v.split(':').map(str::to_string).collect())
            .unwrap_or_default();
        let mut found = Vec::new();
        for i in 0..handed.len() {
            let name = names.get(i).cloned();
            if udp(name.as_deref()) {
                match handed.take_udp_socket(i) {
                    Ok(Some(socket)) => found.push((name, Inherited::Udp(socket))),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(fd = i + 3, error = %e, "ignoring an inherited socket that is not UDP")
                    }
                }
                continue;
            }
            if let Ok(Some(listener)) = handed.take_unix_listener(i) {
                listener.set_nonblocking(true)?;
                let path = listener
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(PathBuf::from))
                    .unwrap_or_default();
                found.push((name, Inherited::Unix(listener, path)));
                continue;
            }
            match handed.take_tcp_listener(i) {
                Ok(Some(listener)) => {
                    listener.set_nonblocking(true)?;
                    found.push((name, Inherited::Tcp(listener)));
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

/// Unix stream sockets, where there are none: the types exist so that the
/// code serving them compiles, and no value of them can be made.
#[cfg(windows)]
mod absent {
    use super::*;

    /// A Unix stream socket listening: never made on this platform.
    #[derive(Debug)]
    pub enum UnixListener {}

    impl UnixListener {
        /// Never called: there is no listener to copy.
        pub fn try_clone(&self) -> io::Result<UnixListener> {
            match *self {}
        }
    }

    impl From<UnixListener> for Handle {
        fn from(listener: UnixListener) -> Handle {
            match listener {}
        }
    }

    /// A Unix stream socket accepting: never made on this platform.
    #[derive(Debug)]
    pub enum AsyncUnixListener {}

    impl AsyncUnixListener {
        /// Never called: there is no listener to move into the runtime.
        pub fn from_std(listener: UnixListener) -> io::Result<AsyncUnixListener> {
            match listener {}
        }
    }
}

#[cfg(windows)]
pub use absent::{AsyncUnixListener, UnixListener};

#[cfg(windows)]
mod sys {
    use super::*;

    pub(super) fn listen_tcp(
        addr: SocketAddr,
        backlog: i32,
        _defer: Duration,
    ) -> io::Result<std::net::TcpListener> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(backlog)?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    }

    pub(super) fn raise_fd_limit() -> Option<u64> {
        None
    }

    pub(super) fn listen_unix(_: &Path, _: u32, _: i32) -> io::Result<UnixListener> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Unix sockets are not served on Windows",
        ))
    }

    pub(super) async fn accept_unix(
        listener: &AsyncUnixListener,
    ) -> io::Result<tokio::net::TcpStream> {
        match *listener {}
    }

    pub(super) fn inherited(
        _: impl Fn(Option<&str>) -> bool,
    ) -> io::Result<Vec<(Option<String>, Inherited)>> {
        Ok(Vec::new())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn deferral(listener: &std::net::TcpListener) -> Duration {
        let secs = nix::sys::socket::getsockopt(listener, defer::TcpDeferAccept).unwrap();
        Duration::from_secs(secs.into())
    }

    #[test]
    fn a_listener_defers_accept_as_long_as_asked() {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let cases = [
            (Duration::ZERO, Duration::ZERO),
            (Duration::from_millis(200), Duration::from_secs(1)),
            (Duration::from_secs(1), Duration::from_secs(1)),
            // The kernel counts in SYN-ACK retransmissions: 1 s, then 2 s.
            (Duration::from_secs(3), Duration::from_secs(3)),
        ];
        for (asked, in_force) in cases {
            let listener = listen_tcp(local, 16, asked).unwrap();
            assert_eq!(deferral(&listener), in_force, "asked for {asked:?}");
        }
    }
}
