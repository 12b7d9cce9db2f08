//! Listening sockets, worker threads and shutdown.
//!
//! Each worker thread runs its own single-threaded event loop and accepts
//! from every listening socket, so a connection lives on one core from
//! accept to close and nothing on the request path is shared between
//! threads. A semaphore caps the connections served at once: a permit is
//! taken before `accept`, so beyond the cap clients wait in the backlog.
//!
//! Shutdown: listeners stop accepting and are closed, idle connections
//! close at once, responses in flight finish (with `Connection: close`),
//! and whatever is still running after the grace period is dropped.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustix::net::{AddressFamily, SocketType};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::acme::challenges::Challenges;
use crate::acme::Manager;
use crate::admin::metrics::Sources;
use crate::admin::Admin;
use crate::config::{Config, Mode, Site};
use crate::dev::live::Live;
use crate::dev::Dev;
use crate::exchange::UNIX_PEER;
use crate::http1::connection::{self, Shared};
use crate::http2::connection as http2;
use crate::http2::rewind::Rewind;
use crate::log::{AccessLog, Target, FLUSH_INTERVAL};
use crate::observe::Observers;
use crate::respond::{Files, Redirect, Responder};
use crate::site::files::Root;
use crate::site::{Named, Pipeline, Sites};
use crate::stop::{self, Stopped};
use crate::tls::{certs::CERT_POLL, Accepted, Tls};
use crate::transport::Transport;
use crate::window::dump::Dump;
use crate::window::reply::ReplySource;

/// Connections the kernel queues for each listening socket.
pub const LISTEN_BACKLOG: i32 = 4096;
/// Descriptors kept free for everything but connections and the cache:
/// listeners, the root, logs, the runtime's own.
const RESERVED_FDS: u64 = 64;
/// First pause after a failed accept (out of descriptors, say).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause between accept attempts after repeated failures.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Why a server could not start.
#[derive(Debug)]
pub enum Error {
    /// The document root cannot be opened.
    Root(PathBuf, io::Error),
    /// An address cannot be listened on.
    Bind(SocketAddr, io::Error),
    /// A Unix socket cannot be listened on.
    BindUnix(PathBuf, io::Error),
    /// The dump directory cannot be created.
    Dump(PathBuf, io::Error),
    /// The access log file cannot be opened.
    Log(PathBuf, io::Error),
    /// A certificate or key cannot be used (the message names the file).
    Tls(String),
    /// The pid file cannot be written.
    PidFile(PathBuf, io::Error),
    /// `--user` could not be switched to (the message says why).
    Privileges(String),
    /// The `--reply` file cannot be used (the message says why).
    Reply(String),
    /// Threads or event loops cannot be created.
    Io(io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Root(path, e) => write!(f, "cannot open root {}: {e}", path.display()),
            Error::Bind(addr, e) if e.kind() == io::ErrorKind::AddrInUse => {
                write!(f, "cannot listen on {addr}: address already in use")
            }
            Error::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            Error::BindUnix(path, e) => write!(f, "cannot listen on unix:{}: {e}", path.display()),
            Error::Dump(dir, e) => write!(f, "cannot create dump directory {}: {e}", dir.display()),
            Error::Reply(e) => write!(f, "--reply {e}"),
            Error::Log(path, e) => write!(f, "cannot open access log {}: {e}", path.display()),
            Error::Tls(message) | Error::Privileges(message) => f.write_str(message),
            Error::PidFile(path, e) => write!(f, "cannot write pid file {}: {e}", path.display()),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// A server with its sockets bound, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    config: Config,
    sites: Sites,
    /// The response of `--reply`, read again when its file changes.
    reply: Option<Arc<ReplySource>>,
    /// The site's listeners (HTTPS when `tls` is set).
    listeners: Vec<std::net::TcpListener>,
    /// The configured address each listener was bound for (none for
    /// inherited sockets), so that a reload can tell them apart.
    listener_keys: Vec<Option<SocketAddr>>,
    /// The site's Unix sockets, by path.
    unix: Vec<(PathBuf, std::os::unix::net::UnixListener)>,
    /// Plain listeners that redirect to HTTPS.
    redirects: Vec<std::net::TcpListener>,
    /// Certificates from an ACME CA.
    acme: Option<Arc<Manager>>,
    /// The HTTP-01 challenges the plain listeners answer.
    challenges: Option<Arc<Challenges>>,
    /// Live reload and the inspector.
    dev: Dev,
    /// The admin listener and what it answers from.
    admin: Option<(std::net::TcpListener, Arc<Admin>)>,
    /// Reads the configuration again, for SIGHUP.
    reloader: Option<Reloader>,
    /// Requests from the signal handlers to the running server.
    control: Option<Control>,
    tls: Option<Tls>,
    dump: Option<Arc<Dump>>,
    log: AccessLog,
    log_thread: Option<std::thread::JoinHandle<()>>,
}

/// Listens on the Unix socket at `path`, with permissions `mode`. A
/// socket file an earlier run left behind (nothing accepts on it) is
/// replaced; one a live server listens on, or a file that is not a
/// socket, is refused.
fn listen_unix(path: &std::path::Path, mode: u32) -> io::Result<std::os::unix::net::UnixListener> {
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

fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
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
fn raise_fd_limit() -> Option<u64> {
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

impl Server {
    /// Opens the root and binds every address of `config`. Raises the
    /// process's descriptor limit to its hard limit, and lowers
    /// `max_connections` if the descriptors could not serve that many.
    pub fn bind(mut config: Config) -> Result<Server, Error> {
        if let Some(fds) = raise_fd_limit() {
            let cached = (config.limits.cache_entries * config.threads) as u64;
            let room = fds.saturating_sub(cached + RESERVED_FDS).max(1);
            if config.limits.max_connections as u64 > room {
                tracing::warn!(
                    max_connections = config.limits.max_connections,
                    fd_limit = fds,
                    lowered_to = room,
                    "too few file descriptors for --max-connections; lowering it"
                );
                config.limits.max_connections = room as usize;
            }
        }
        let dev = start_dev(&config);
        let reply = match &config.mode {
            Mode::Reply(path) => Some(Arc::new(ReplySource::load(path).map_err(Error::Reply)?)),
            Mode::Files | Mode::Echo => None,
        };
        let sites = open_sites(&config, &dev.live).map_err(|(path, e)| Error::Root(path, e))?;
        // systemd socket activation: listening sockets handed over in
        // LISTEN_FDS are used instead of binding.
        let mut inherited = listenfd::ListenFd::from_env();
        // LISTEN_FDNAMES tells the kinds apart when an upgrade hands over
        // redirect and admin listeners too; unnamed sockets serve the site.
        let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
            .map(|v| v.split(':').map(str::to_string).collect())
            .unwrap_or_default();
        let mut listeners = Vec::new();
        let mut unix = Vec::new();
        let mut inherited_redirects = Vec::new();
        let mut inherited_admin = None;
        for i in 0..inherited.len() {
            if let Ok(Some(listener)) = inherited.take_unix_listener(i) {
                listener.set_nonblocking(true).map_err(Error::Io)?;
                let path = listener
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(PathBuf::from))
                    .unwrap_or_default();
                unix.push((path, listener));
                continue;
            }
            match inherited.take_tcp_listener(i) {
                Ok(Some(listener)) => {
                    listener.set_nonblocking(true).map_err(Error::Io)?;
                    match names.get(i).map(String::as_str) {
                        Some(REDIRECT_NAME) => inherited_redirects.push(listener),
                        Some(ADMIN_NAME) => inherited_admin = Some(listener),
                        _ => listeners.push(listener),
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(fd = i + 3, error = %e, "ignoring an inherited socket that is not a TCP listener")
                }
            }
        }
        let inheriting = !listeners.is_empty() || !unix.is_empty();
        let addresses = if inheriting {
            Vec::new()
        } else {
            config.listen.clone()
        };
        if !inheriting {
            for path in &config.listen_unix {
                let listener = listen_unix(path, config.socket_mode)
                    .map_err(|e| Error::BindUnix(path.clone(), e))?;
                unix.push((path.clone(), listener));
            }
        }
        let mut listener_keys = vec![None; listeners.len()];
        let mut port = None;
        for &configured in &addresses {
            // Several addresses of one host name with port 0 share the port
            // the first one got.
            let addr = match (configured.port(), port) {
                (0, Some(p)) => SocketAddr::new(configured.ip(), p),
                _ => configured,
            };
            let listener = listen(addr).map_err(|e| Error::Bind(addr, e))?;
            let local = listener.local_addr().map_err(Error::Io)?;
            port.get_or_insert(local.port());
            listeners.push(listener);
            listener_keys.push(Some(configured));
        }
        let mut redirects = inherited_redirects;
        if redirects.is_empty() {
            for &addr in &config.redirect_http {
                redirects.push(listen(addr).map_err(|e| Error::Bind(addr, e))?);
            }
        }
        let tls = match &config.tls {
            Some(settings) => Some(Tls::new(settings, config.http2).map_err(Error::Tls)?),
            None => None,
        };
        let admin_listener = match (config.admin, inherited_admin) {
            (Some(_), Some(listener)) => Some(listener),
            (Some(addr), None) => Some(listen(addr).map_err(|e| Error::Bind(addr, e))?),
            (None, _) => None,
        };
        // Everything that needs the privileges it started with is done.
        if let Some(who) = &config.user {
            crate::privileges::drop_to(who).map_err(Error::Privileges)?;
        }
        let challenges = config
            .acme
            .as_ref()
            .map(|_| Arc::new(Challenges::default()));
        let acme = match (&config.acme, &tls, &challenges) {
            (Some(settings), Some(tls), Some(challenges)) => Some(Arc::new(
                Manager::new(
                    settings.clone(),
                    tls.certs.clone(),
                    challenges.clone(),
                    !redirects.is_empty(),
                )
                .map_err(Error::Tls)?,
            )),
            _ => None,
        };
        let dump = match &config.dump {
            Some(d) => Some(
                Dump::start(&d.dir, d.max, d.secrets).map_err(|e| Error::Dump(d.dir.clone(), e))?,
            ),
            None => None,
        };
        let (log, log_thread) = if config.access_log {
            let target = match &config.access_log_file {
                Some(path) => Target::File(path.clone()),
                None => Target::Stdout,
            };
            let shown = config
                .access_log_file
                .clone()
                .unwrap_or_else(|| "stdout".into());
            let (log, handle) =
                AccessLog::spawn(target, config.log_format).map_err(|e| Error::Log(shown, e))?;
            (log, Some(handle))
        } else {
            (AccessLog::disabled(), None)
        };
        let admin = match admin_listener {
            Some(listener) => {
                let sources = Sources {
                    log_dropped: Some(log.dropped()),
                    dump: dump.clone(),
                    acme: acme.as_ref().map(|m| m.status.clone()),
                };
                Some((listener, Arc::new(Admin::new(sources))))
            }
            None => None,
        };
        Ok(Server {
            config,
            sites,
            reply,
            listeners,
            listener_keys,
            unix,
            redirects,
            admin,
            acme,
            challenges,
            dev,
            reloader: None,
            control: None,
            tls,
            dump,
            log,
            log_thread,
        })
    }

    /// The addresses listened on, with the real ports.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The Unix sockets listened on.
    pub fn unix_paths(&self) -> Vec<PathBuf> {
        self.unix.iter().map(|(p, _)| p.clone()).collect()
    }

    /// The addresses of the plain listeners that redirect to HTTPS.
    pub fn redirect_addrs(&self) -> Vec<SocketAddr> {
        self.redirects
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Has SIGHUP (under [`Server::run_until_signal_then`]) also read the
    /// configuration again with `reloader` and apply what can change
    /// without binding anew to new requests.
    pub fn reload_with(&mut self, reloader: Reloader) {
        self.reloader = Some(reloader);
    }

    /// The admin listener's address, with `--admin`.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Whether the listeners speak HTTPS.
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether the kernel encrypts TLS sessions after their handshake.
    pub fn kernel_tls(&self) -> bool {
        self.tls.as_ref().is_some_and(Tls::kernel)
    }

    /// The SHA-256 fingerprint of the default certificate, over HTTPS.
    pub fn fingerprint(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.certs.fingerprint.as_str())
    }

    /// The status of the `--reply` response, with `--reply`.
    pub fn reply_status(&self) -> Option<u16> {
        self.reply.as_ref().map(|r| r.current().status)
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves until `shutdown` completes, then stops as the module docs say.
    /// Blocks the calling thread.
    pub fn run<F: Future<Output = ()>>(self, shutdown: F) -> Result<(), Error> {
        let Server {
            config,
            sites,
            reply,
            listeners,
            listener_keys,
            unix,
            redirects,
            admin,
            acme,
            challenges,
            dev,
            reloader,
            control,
            tls,
            dump,
            log,
            log_thread,
        } = self;
        // Every listening socket, named, for a new binary to take over.
        let mut handover = Vec::new();
        for (key, listener, name) in listeners
            .iter()
            .zip(listener_keys.iter().copied())
            .map(|(l, k)| (k, l, SITE_NAME))
            .chain(redirects.iter().map(|l| (None, l, REDIRECT_NAME)))
            .chain(admin.iter().map(|(l, _)| (None, l, ADMIN_NAME)))
        {
            let fd = std::os::fd::OwnedFd::from(listener.try_clone().map_err(Error::Io)?);
            handover.push(Handed { key, fd, name });
        }
        for (_, listener) in &unix {
            let fd = std::os::fd::OwnedFd::from(listener.try_clone().map_err(Error::Io)?);
            handover.push(Handed {
                key: None,
                fd,
                name: SITE_NAME,
            });
        }
        // Closed as soon as shutdown begins, so that no connection waits
        // in a backlog nobody accepts from.
        let handover: Handover = Arc::new(std::sync::Mutex::new(handover));
        let admin = match admin {
            Some((listener, admin)) => {
                let responder = Responder::Admin(admin.clone());
                let shared = Shared::new(&config, responder, Observers::none(), None, false);
                Some((AdminThread::start(listener, Arc::new(shared))?, admin))
            }
            None => None,
        };
        if let Some(path) = &config.pid_file {
            std::fs::write(path, format!("{}\n", std::process::id()))
                .map_err(|e| Error::PidFile(path.clone(), e))?;
        }
        let https_port = listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .map_or(443, |a| a.port());
        let observe = Observers::new(log, dump, dev.inspect.clone(), true);
        let responder = site_responder(&config, sites, &dev, &challenges, &reply);
        let shared = Arc::new(Shared::new(
            &config,
            responder,
            observe.clone(),
            tls.clone(),
            config.http2,
        ));
        let redirect = Responder::Redirect(Redirect {
            port: https_port,
            challenges: challenges.clone(),
        });
        let redirect_shared = Arc::new(Shared::new(&config, redirect, observe, None, false));
        let roles: Vec<(Option<SocketAddr>, Listening, Arc<Shared>)> = listeners
            .into_iter()
            .zip(listener_keys)
            .map(|(l, k)| (k, Listening::Tcp(l), shared.clone()))
            .chain(
                unix.into_iter()
                    .map(|(_, l)| (None, Listening::Unix(l), shared.clone())),
            )
            .chain(
                redirects
                    .into_iter()
                    .map(|l| (None, Listening::Tcp(l), redirect_shared.clone())),
            )
            .collect();
        let mut commands = Vec::with_capacity(config.threads);
        let (stop_tx, stop_rx) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(config.limits.max_connections));
        let mut workers = Vec::with_capacity(config.threads);
        for n in 0..config.threads {
            let mine = roles
                .iter()
                .map(|(k, l, shared)| Ok((*k, l.try_clone()?, shared.clone())))
                .collect::<io::Result<Vec<_>>>()
                .map_err(Error::Io)?;
            let (command, received) = tokio::sync::mpsc::unbounded_channel();
            commands.push(command);
            let worker = Worker {
                commands: received,
                shared: shared.clone(),
                stop: stop_rx.clone(),
                permits: permits.clone(),
                max_connections: config.limits.max_connections,
                grace: config.limits.shutdown_grace,
            };
            let handle = std::thread::Builder::new()
                .name(format!("henaserver-{n}"))
                .spawn(move || worker.run(mine))
                .map_err(Error::Io)?;
            workers.push(handle);
        }
        drop(roles);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Io)?;
        if let Some((_, admin)) = &admin {
            admin.set_ready(true);
        }
        notify_ready();
        let running = Running {
            config: config.clone(),
            shared: shared.clone(),
            workers: commands,
            handover: handover.clone(),
            challenges,
            dev: dev.clone(),
            reply,
        };
        runtime.block_on(async {
            if let Some(acme) = &acme {
                acme.spawn();
            }
            let watcher = tls.map(|tls| tokio::spawn(watch_certificates(tls)));
            let (reloading, upgrading) = match control {
                Some(control) => (
                    reloader.map(|r| tokio::spawn(reload_on_request(running, r, control.reloads))),
                    Some(tokio::spawn(upgrade_on_request(
                        handover.clone(),
                        control.upgrades,
                        control.upgraded,
                    ))),
                ),
                None => (None, None),
            };
            shutdown.await;
            for task in [watcher, reloading, upgrading].into_iter().flatten() {
                task.abort();
            }
            if let Ok(mut sockets) = handover.lock() {
                sockets.clear();
            }
        });
        // Not ready from the moment shutdown begins: load balancers stop
        // sending while the connections in flight drain.
        if let Some((_, admin)) = &admin {
            admin.set_ready(false);
        }
        let _ = stop_tx.send(true);
        for worker in workers {
            if let Ok(Err(e)) = worker.join() {
                tracing::error!(error = %e, "worker failed");
            }
        }
        drop(stop_tx);
        if let Some((thread, _)) = admin {
            thread.stop();
        }
        if let Some(path) = &config.pid_file {
            // After an upgrade the file names the new process: it stays.
            let mine = std::fs::read_to_string(path)
                .is_ok_and(|pid| pid.trim() == std::process::id().to_string());
            if mine {
                let _ = std::fs::remove_file(path);
            }
        }
        // The log's writer ends once every handle to it is gone: the
        // control tasks (with the runtime that holds them) and the
        // listeners' shared state hold some.
        drop(runtime);
        drop(shared);
        drop(redirect_shared);
        if let Some(handle) = log_thread {
            let _ = handle.join();
        }
        Ok(())
    }

    /// Serves until SIGINT or SIGTERM.
    pub fn run_until_signal(self) -> Result<(), Error> {
        self.run_until_signal_then(|| {})
    }

    /// Serves until SIGINT or SIGTERM, calling `ready` once the signals are
    /// handled: a start message printed from it can be acted on at once.
    /// SIGHUP reopens the access log file and reloads the certificates.
    pub fn run_until_signal_then(mut self, ready: impl FnOnce()) -> Result<(), Error> {
        let log = self.log.clone();
        let tls = self.tls.clone();
        let (reload, reloads) = tokio::sync::mpsc::unbounded_channel();
        let (upgrade, upgrades) = tokio::sync::mpsc::unbounded_channel();
        let upgraded = Arc::new(tokio::sync::Notify::new());
        self.control = Some(Control {
            reloads,
            upgrades,
            upgraded: upgraded.clone(),
        });
        self.run(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
                signal(SignalKind::user_defined2()),
            );
            ready();
            match signals {
                (Ok(mut int), Ok(mut term), Ok(mut hup), Ok(mut usr2)) => loop {
                    tokio::select! {
                        _ = int.recv() => break,
                        _ = term.recv() => break,
                        () = upgraded.notified() => break,
                        _ = usr2.recv() => {
                            tracing::info!("SIGUSR2: starting the new binary");
                            let _ = upgrade.send(());
                        }
                        _ = hup.recv() => {
                            tracing::info!("SIGHUP: reopening the access log");
                            log.reopen();
                            if let Some(tls) = &tls {
                                reload_certificates(tls, "SIGHUP");
                            }
                            let _ = reload.send(());
                        }
                    }
                },
                _ => std::future::pending().await,
            }
            tracing::info!("stopping: finishing responses in flight");
        })
    }
}

/// Reads the configuration anew: the file, the environment and the flags
/// the server started with.
pub struct Reloader(Box<dyn Fn() -> Result<Config, String> + Send>);

impl Reloader {
    /// A reloader that calls `read`.
    pub fn new(read: impl Fn() -> Result<Config, String> + Send + 'static) -> Reloader {
        Reloader(Box::new(read))
    }
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reloader")
    }
}

/// The names of handed-over listening sockets in LISTEN_FDNAMES.
const SITE_NAME: &str = "site";
const REDIRECT_NAME: &str = "redirect";
const ADMIN_NAME: &str = "admin";
/// The variable that names the descriptor a new binary writes `ready` to
/// (not HENASERVER_*: those are options).
const NOTIFY_VARIABLE: &str = "HENA_UPGRADE_READY_FD";
/// How long a new binary has to say it is ready before it is given up on.
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests from the signal handlers to the running server.
#[derive(Debug)]
struct Control {
    reloads: tokio::sync::mpsc::UnboundedReceiver<()>,
    upgrades: tokio::sync::mpsc::UnboundedReceiver<()>,
    /// Told once a new binary serves: this process then drains and exits.
    upgraded: Arc<tokio::sync::Notify>,
}

/// Starts the new binary on each request; once one reports ready, this
/// process stops accepting and drains.
async fn upgrade_on_request(
    handover: Handover,
    mut requests: tokio::sync::mpsc::UnboundedReceiver<()>,
    upgraded: Arc<tokio::sync::Notify>,
) {
    while requests.recv().await.is_some() {
        let sockets = handover.clone();
        let started = tokio::task::spawn_blocking(move || {
            // Copies, so that shutdown can close the originals meanwhile.
            let copies: Vec<(std::os::fd::OwnedFd, &'static str)> = match sockets.lock() {
                Ok(sockets) if !sockets.is_empty() => sockets
                    .iter()
                    .filter_map(|h| h.fd.try_clone().ok().map(|fd| (fd, h.name)))
                    .collect(),
                _ => return Err("the server is stopping".to_string()),
            };
            start_new_binary(&copies)
        })
        .await;
        match started {
            Ok(Ok(pid)) => {
                tracing::info!(pid, "the new binary is ready; draining and stopping");
                upgraded.notify_one();
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "upgrade failed; this process goes on serving")
            }
            Err(e) => tracing::warn!(error = %e, "upgrade failed; this process goes on serving"),
        }
    }
}

/// Runs this executable again with the same arguments and the listening
/// sockets in LISTEN_FDS, and waits until it writes `ready`. Returns its
/// process id; a binary that fails or is not ready in time is stopped.
fn start_new_binary(handover: &[(std::os::fd::OwnedFd, &'static str)]) -> Result<u32, String> {
    use command_fds::{CommandFdExt, FdMapping};
    use std::io::BufRead;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let (ready, notify) = rustix::pipe::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let mut mappings = Vec::with_capacity(handover.len() + 1);
    for (i, (fd, _)) in handover.iter().enumerate() {
        let parent_fd = fd.try_clone().map_err(|e| e.to_string())?;
        mappings.push(FdMapping {
            parent_fd,
            child_fd: 3 + i as i32,
        });
    }
    let notify_fd = 3 + handover.len() as i32;
    mappings.push(FdMapping {
        parent_fd: notify,
        child_fd: notify_fd,
    });
    let names: Vec<&str> = handover.iter().map(|(_, n)| *n).collect();
    let mut command = std::process::Command::new(&exe);
    command
        .args(std::env::args_os().skip(1))
        .env("LISTEN_FDS", handover.len().to_string())
        .env("LISTEN_FDNAMES", names.join(":"))
        .env_remove("LISTEN_PID")
        .env(NOTIFY_VARIABLE, notify_fd.to_string())
        .fd_mappings(mappings)
        .map_err(|e| e.to_string())?;
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    // Only the child holds the pipe's writing end now: its end of file
    // says the child is gone.
    drop(command);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // One line, or the end of file when the child is gone.
        let mut said = String::new();
        let _ = std::io::BufReader::new(std::fs::File::from(ready)).read_line(&mut said);
        let _ = tx.send(said);
    });
    match rx.recv_timeout(UPGRADE_TIMEOUT) {
        Ok(said) if said.starts_with("ready") => Ok(child.id()),
        Ok(_) => {
            let status = child.wait().map_err(|e| e.to_string())?;
            Err(format!(
                "the new binary exited ({status}) before it was ready"
            ))
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err("the new binary was not ready in time".to_string())
        }
    }
}

/// Tells the process that started this one, in an upgrade, that it
/// serves now (see [`NOTIFY_VARIABLE`]).
fn notify_ready() {
    let Ok(fd) = std::env::var(NOTIFY_VARIABLE) else {
        return;
    };
    let path = format!("/proc/self/fd/{fd}");
    match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(mut pipe) => {
            use std::io::Write;
            let _ = pipe.write_all(b"ready\n");
        }
        Err(e) => tracing::warn!(error = %e, "cannot tell the old process that this one is ready"),
    }
}

/// A listening socket kept for a new binary to take over.
#[derive(Debug)]
struct Handed {
    /// The configured address it serves, for a site listener.
    key: Option<SocketAddr>,
    fd: std::os::fd::OwnedFd,
    /// Its kind, in LISTEN_FDNAMES.
    name: &'static str,
}

/// The sockets a new binary would take over, emptied when shutdown begins.
type Handover = Arc<std::sync::Mutex<Vec<Handed>>>;

/// What a reload replaces.
struct Running {
    config: Config,
    shared: Arc<Shared>,
    /// The HTTP-01 challenges the plain listeners answer.
    challenges: Option<Arc<Challenges>>,
    /// Live reload and the inspector, kept across reloads.
    dev: Dev,
    /// The response of `--reply`, kept across reloads.
    reply: Option<Arc<ReplySource>>,
    /// Each worker's command channel.
    workers: Vec<tokio::sync::mpsc::UnboundedSender<WorkerCommand>>,
    handover: Handover,
}

/// Applies a new configuration on each request: the sites' settings
/// (files, rules, fields, CORS, authentication, error pages...) for new
/// requests; requests in flight keep the ones they began with.
async fn reload_on_request(
    mut running: Running,
    reloader: Reloader,
    mut reloads: tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    while reloads.recv().await.is_some() {
        match (reloader.0)().and_then(|config| apply(&running, config)) {
            Ok(config) => {
                running.config = config;
                tracing::info!("configuration reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "configuration not reloaded; keeping the one in use")
            }
        }
    }
}

/// What the site's listeners answer, as `config`'s mode says: the
/// `sites`' files (with ACME's HTTP-01 `challenges` and development mode's
/// paths in front), echoes, or the `reply`.
fn site_responder(
    config: &Config,
    sites: Sites,
    dev: &Dev,
    challenges: &Option<Arc<Challenges>>,
    reply: &Option<Arc<ReplySource>>,
) -> Responder {
    match (&config.mode, reply) {
        (Mode::Echo, _) => Responder::Echo,
        (Mode::Reply(_), Some(reply)) => Responder::Reply(reply.clone()),
        _ => Responder::Files(Files {
            sites,
            challenges: challenges.clone(),
            dev: dev.clone(),
        }),
    }
}

/// Development mode as `config` asks: the watcher of every root for
/// `--live`, and the inspector.
fn start_dev(config: &Config) -> Dev {
    let settings = &config.dev;
    let live = settings.live.then(|| {
        let mut roots = vec![config.root.clone()];
        for site in &config.sites {
            if !roots.contains(&site.config.root) {
                roots.push(site.config.root.clone());
            }
        }
        Arc::new(crate::dev::live::Live::start(&roots))
    });
    let inspect = settings.inspect.then(|| {
        Arc::new(crate::dev::inspect::Inspector::new(
            settings.secrets,
            settings.inspect_public,
        ))
    });
    Dev { live, inspect }
}

/// The sites `config` describes, with their roots open; the error names
/// the root that cannot be opened.
fn open_sites(
    config: &Config,
    live: &Option<Arc<Live>>,
) -> Result<Sites, (std::path::PathBuf, io::Error)> {
    let open = |c: &Config| Root::open(&c.root).map_err(|e| (c.root.clone(), e));
    let pipeline = |c: &Config| Ok(Pipeline::new(open(c)?, Site::new(c), live.clone()));
    if config.sites.is_empty() {
        return Ok(Sites::single(pipeline(config)?));
    }
    let mut named = Vec::new();
    for host in &config.sites {
        named.push(Named {
            pipeline: pipeline(&host.config)?,
            hosts: host.hosts.clone(),
            default: host.default,
            name: host.name.clone(),
        });
    }
    Ok(Sites::new(named))
}

/// Puts `config`'s sites in place, or says why it cannot be used.
fn apply(running: &Running, config: Config) -> Result<Config, String> {
    let old = &running.config;
    let fixed = [
        ("--redirect-http", old.redirect_http != config.redirect_http),
        ("--admin", old.admin != config.admin),
        ("--threads", old.threads != config.threads),
        (
            "--bind unix: and --socket-mode",
            old.listen_unix != config.listen_unix || old.socket_mode != config.socket_mode,
        ),
        ("HTTPS", old.tls != config.tls),
        ("--no-http2", old.http2 != config.http2),
        ("limits and timeouts", old.limits != config.limits),
        ("--dump", old.dump != config.dump),
        (
            "--access-log and --quiet",
            old.access_log_file != config.access_log_file || old.access_log != config.access_log,
        ),
    ];
    for (what, changed) in fixed {
        if changed {
            tracing::warn!(
                option = what,
                "changed in the configuration; it takes a restart"
            );
        }
    }
    let sites = open_sites(&config, &running.dev.live)
        .map_err(|(path, e)| format!("root {}: {e}", path.display()))?;
    let responder = site_responder(
        &config,
        sites,
        &running.dev,
        &running.challenges,
        &running.reply,
    );
    running.shared.observe.log().set_format(config.log_format);
    running.shared.responder.store(Arc::new(responder));
    change_listeners(running, &config);
    Ok(config)
}

/// Binds the site's listeners `config` adds and stops accepting on those
/// it removes; connections on a removed listener finish as they would.
fn change_listeners(running: &Running, config: &Config) {
    let (old, new) = (&running.config.listen, &config.listen);
    for &addr in new.iter().filter(|a| !old.contains(a)) {
        let listener = match listen(addr) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "cannot listen on an address the configuration adds");
                continue;
            }
        };
        let local = listener.local_addr().map_or(addr, |a| a);
        for worker in &running.workers {
            match listener.try_clone() {
                Ok(copy) => {
                    let _ = worker.send(WorkerCommand::Add(addr, copy, running.shared.clone()));
                }
                Err(e) => tracing::warn!(%addr, error = %e, "cannot share a new listener"),
            }
        }
        if let Ok(mut handed) = running.handover.lock() {
            handed.push(Handed {
                key: Some(addr),
                fd: listener.into(),
                name: SITE_NAME,
            });
        }
        tracing::info!(address = %local, "listening on an address the configuration adds");
    }
    for &addr in old.iter().filter(|a| !new.contains(a)) {
        for worker in &running.workers {
            let _ = worker.send(WorkerCommand::Remove(addr));
        }
        if let Ok(mut handed) = running.handover.lock() {
            handed.retain(|h| h.key != Some(addr));
        }
        tracing::info!(%addr, "no longer listening on an address the configuration removes");
    }
}

/// Connections the admin listener serves at once.
const ADMIN_MAX_CONNECTIONS: usize = 64;

/// The admin listener's thread: it keeps answering (readiness 503) while
/// the site's connections drain, and stops after them.
struct AdminThread {
    stop: watch::Sender<bool>,
    handle: std::thread::JoinHandle<()>,
}

impl AdminThread {
    fn start(listener: std::net::TcpListener, shared: Arc<Shared>) -> Result<AdminThread, Error> {
        let (stop, mut stopped) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Io)?;
        let handle = std::thread::Builder::new()
            .name("henaserver-admin".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    let permits = Arc::new(Semaphore::new(ADMIN_MAX_CONNECTIONS));
                    let listener = Accepting::Tcp(listener);
                    let accepting = tokio::spawn(accept_loop(listener, shared, permits));
                    let _ = stopped.wait_for(|&s| s).await;
                    stop::stop_worker();
                    let _ = accepting.await;
                });
            })
            .map_err(Error::Io)?;
        Ok(AdminThread { stop, handle })
    }

    fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.join();
    }
}

/// Reloads the certificates; a failure keeps the old ones and is logged.
fn reload_certificates(tls: &Tls, why: &str) {
    match tls.certs.reload() {
        Ok(()) => tracing::info!(cause = why, "certificates reloaded"),
        Err(e) => {
            tracing::warn!(cause = why, error = %e, "certificates not reloaded; keeping the ones in use")
        }
    }
}

/// Reloads the certificates when their files change on disk (renewed by
/// certbot, replaced by cert-manager), checking every [`CERT_POLL`].
async fn watch_certificates(tls: Tls) {
    let mut tick = tokio::time::interval(CERT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The versions of the files a reload failed on: a broken file is
    // reported once, and tried again when it changes.
    let mut failed = None;
    loop {
        tick.tick().await;
        match tls.certs.changed() {
            Some(now) if failed.as_ref() != Some(&now) => {
                reload_certificates(&tls, "files changed");
                failed = tls.certs.changed().map(|_| now);
            }
            Some(_) => {}
            None => failed = None,
        }
    }
}

/// What a reload asks of each worker.
#[derive(Debug)]
enum WorkerCommand {
    /// Accept from another listening socket, for the site.
    Add(SocketAddr, std::net::TcpListener, Arc<Shared>),
    /// Stop accepting from the sockets of this configured address; their
    /// connections finish as they would.
    Remove(SocketAddr),
}

struct Worker {
    shared: Arc<Shared>,
    commands: tokio::sync::mpsc::UnboundedReceiver<WorkerCommand>,
    stop: watch::Receiver<bool>,
    permits: Arc<Semaphore>,
    max_connections: usize,
    grace: Duration,
}

impl Worker {
    fn run(
        mut self,
        listeners: Vec<(Option<SocketAddr>, Listening, Arc<Shared>)>,
    ) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            // Accept loops by the configured address they serve (None: not
            // changed by a reload).
            let mut accepting: Vec<(Option<SocketAddr>, tokio::task::JoinHandle<()>)> = Vec::new();
            for (key, listener, shared) in listeners {
                let listener = match listener {
                    Listening::Tcp(l) => Accepting::Tcp(TcpListener::from_std(l)?),
                    Listening::Unix(l) => Accepting::Unix(tokio::net::UnixListener::from_std(l)?),
                };
                let task = tokio::spawn(accept_loop(listener, shared, self.permits.clone()));
                accepting.push((key, task));
            }
            // The log ticker runs until the server stops; then this
            // worker's accept loops and idle connections are told.
            let log = self.shared.observe.log().clone();
            let mut global = self.stop.clone();
            let ticker = tokio::spawn(async move {
                let mut tick = tokio::time::interval(FLUSH_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    if *global.borrow_and_update() {
                        break;
                    }
                    tokio::select! {
                        _ = tick.tick() => log.flush(),
                        changed = global.changed() => if changed.is_err() { break },
                    }
                }
                stop::stop_worker();
            });
            let mut stopped = Stopped::default();
            let mut commanded = true;
            loop {
                tokio::select! {
                    () = &mut stopped => break,
                    command = self.commands.recv(), if commanded => match command {
                        Some(WorkerCommand::Add(key, listener, shared)) => match TcpListener::from_std(listener) {
                            Ok(listener) => {
                                let listener = Accepting::Tcp(listener);
                                let task = tokio::spawn(accept_loop(listener, shared, self.permits.clone()));
                                accepting.push((Some(key), task));
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot accept from a new listener"),
                        },
                        Some(WorkerCommand::Remove(key)) => {
                            for (_, task) in accepting.iter().filter(|(k, _)| *k == Some(key)) {
                                task.abort();
                            }
                            accepting.retain(|(k, _)| *k != Some(key));
                        }
                        // No reloads will come.
                        None => commanded = false,
                    },
                }
            }
            for (_, task) in accepting {
                let _ = task.await;
            }
            // Stopping: wait for the connections in flight, within the grace.
            let deadline = tokio::time::Instant::now() + self.grace;
            while self.permits.available_permits() < self.max_connections
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
                self.shared.observe.log().flush();
            }
            let _ = ticker.await;
            self.shared.observe.log().flush();
            Ok(())
        })
    }
}

/// A listening socket, handed to each worker.
#[derive(Debug)]
enum Listening {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Listening {
    fn try_clone(&self) -> io::Result<Listening> {
        Ok(match self {
            Listening::Tcp(l) => Listening::Tcp(l.try_clone()?),
            Listening::Unix(l) => Listening::Unix(l.try_clone()?),
        })
    }
}

/// A listening socket a worker accepts from.
enum Accepting {
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
    async fn accept(&self) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
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

async fn accept_loop(listener: Accepting, shared: Arc<Shared>, permits: Arc<Semaphore>) {
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
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                tracing::debug!(%peer, "connection accepted");
                let shared = shared.clone();
                match shared.tls.clone() {
                    None => tokio::spawn(async move {
                        let handover = connection::serve_tcp(stream, peer, shared.clone()).await;
                        if let Some(h) = handover {
                            // The connection opened with the HTTP/2 preface.
                            let io = Rewind::new(h.read, h.stream);
                            Box::pin(http2::serve(io, peer, shared, None)).await;
                        }
                        drop(permit);
                    }),
                    // The handshake's state is large: it lives on the heap.
                    Some(tls) => tokio::spawn(Box::pin(async move {
                        serve_tls(tls, stream, peer, shared).await;
                        drop(permit);
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

/// A finished TLS session, in user space or in the kernel: what the
/// connection is served over once the handshake is done.
trait Session: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {
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
async fn serve_session(mut session: impl Session, peer: SocketAddr, shared: Arc<Shared>) {
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
            let deadline = std::time::Instant::now() + shared.limits.header_timeout;
            let io = session.transport(&shared, deadline);
            connection::serve(io, peer, shared).await;
        }
    }
}

/// Runs the TLS handshake within the handshake timeout, then serves the
/// connection over it.
async fn serve_tls(tls: Tls, stream: tokio::net::TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let timeout = shared.limits.tls_handshake_timeout;
    let accepted = tokio::time::timeout(timeout, tls.accept(stream)).await;
    crate::stats::handshake(matches!(
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
