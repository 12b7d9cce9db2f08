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
//!
//! [`Server::bind`] builds every runtime object the configuration asks for
//! (the sites and their responders, ACME, the admin registry, the watcher
//! and the inspector, the log and the dump) and one [`Shared`] per kind of
//! listener through one constructor. One idea a file:
//! - `listen`: binding, inherited sockets, the descriptor limit, accept;
//! - `workers`: the worker threads and the admin listener's thread;
//! - `dispatch`: by transport and ALPN, TLS in user space or the kernel;
//! - `reload`: the responders from a configuration, and SIGHUP;
//! - `upgrade`: the binary upgrade of SIGUSR2.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
use crate::http3::endpoint::QuicThread;
use crate::limit::Limiter;
use crate::log::{AccessLog, Target};
use crate::observe::Observers;
use crate::platform;
use crate::platform::net::UnixListener;
use crate::respond::{Files, Redirect, Responder};
use crate::site::encoding::Compressed;
use crate::site::files::Root;
use crate::site::{Named, Pipeline, Sites};
use crate::stats::Stats;
use crate::stop::{self, Stopped};
use crate::tls::{certs::CERT_POLL, Accepted, Tls};
use crate::transport::Transport;
use crate::window::dump::Dump;

mod dispatch;
mod embed;
mod listen;
mod reload;
mod upgrade;
mod workers;

use dispatch::*;
use listen::*;
use reload::*;
use upgrade::*;
use workers::*;

use crate::window::reply::ReplySource;
pub use reload::Reloader;

/// How long a client may remember that HTTP/3 is offered (`Alt-Svc`'s
/// `ma`, in seconds): a day, as Caddy and nginx's examples advertise.
pub const ALT_SVC_MAX_AGE: u32 = 86_400;

/// Why a server could not start.
///
/// ```no_run
/// let config = henaserver::Config::new("static", 80)?;
/// match henaserver::Server::bind(config) {
///     Err(henaserver::Error::Bind(addr, e)) => eprintln!("cannot listen on {addr}: {e}"),
///     Err(e) => eprintln!("{e}"),
///     Ok(server) => server.run_until_signal()?,
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
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
    unix: Vec<(PathBuf, UnixListener)>,
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
    /// UDP sockets for HTTP/3, beside the HTTPS listeners (`--http3`).
    quic: Vec<std::net::UdpSocket>,
    dump: Option<Arc<Dump>>,
    /// The per-client counts, kept across reloads.
    limiter: Arc<Limiter>,
    /// Compressed copies, shared by the sites and kept across reloads.
    compressed: Arc<Compressed>,
    /// What the server counts, for its admin listener's metrics.
    stats: Arc<Stats>,
    log: AccessLog,
    log_thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Opens the root and binds every address of `config`. Raises the
    /// process's descriptor limit to its hard limit, and lowers
    /// `max_connections` if the descriptors could not serve that many.
    ///
    /// ```no_run
    /// let server = henaserver::Server::bind(henaserver::Config::new("static", 0)?)?;
    /// let port = server.local_addrs()[0].port();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind(mut config: Config) -> Result<Server, Error> {
        if let Some(fds) = platform::net::raise_fd_limit() {
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
        let reply = open_reply(&config)?;
        let limiter = Arc::new(Limiter::new(&config.client_limits));
        let stats = Arc::new(Stats::default());
        let compressed = Arc::new(Compressed::counted_in(&stats));
        let sites = open_sites(&config, &dev.live, &limiter, &compressed, &stats)
            .map_err(|(path, e)| Error::Root(path, e))?;
        let Inherited {
            mut listeners,
            mut unix,
            redirects: inherited_redirects,
            admin: inherited_admin,
            quic: inherited_quic,
        } = Inherited::from_env().map_err(Error::Io)?;
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
        let defer = config.limits.defer_accept;
        let bind_tcp = |addr| listen(addr, defer).map_err(|e| Error::Bind(addr, e));
        let mut listener_keys = vec![None; listeners.len()];
        let mut port = None;
        for &configured in &addresses {
            // Several addresses of one host name with port 0 share the port
            // the first one got.
            let addr = match (configured.port(), port) {
                (0, Some(p)) => SocketAddr::new(configured.ip(), p),
                _ => configured,
            };
            let listener = bind_tcp(addr)?;
            let local = listener.local_addr().map_err(Error::Io)?;
            port.get_or_insert(local.port());
            listeners.push(listener);
            listener_keys.push(Some(configured));
        }
        let mut redirects = inherited_redirects;
        if redirects.is_empty() {
            for &addr in &config.redirect_http {
                redirects.push(bind_tcp(addr)?);
            }
        }
        let tls = match &config.tls {
            Some(settings) => Some(Tls::new(settings, config.http2).map_err(Error::Tls)?),
            None => None,
        };
        // HTTP/3 on UDP at the address and port each HTTPS listener
        // really has (an ephemeral port and inherited sockets included).
        let quic = if config.http3 && tls.is_some() && !inherited_quic.is_empty() {
            inherited_quic
        } else if config.http3 && tls.is_some() {
            let addrs = listeners
                .iter()
                .map(|l| l.local_addr())
                .collect::<io::Result<Vec<_>>>()
                .map_err(Error::Io)?;
            crate::http3::endpoint::bind(&addrs).map_err(|e| match addrs.first() {
                Some(&addr) => Error::Bind(addr, e),
                None => Error::Io(e),
            })?
        } else {
            Vec::new()
        };
        let admin_listener = match (config.admin, inherited_admin) {
            (Some(_), Some(listener)) => Some(listener),
            (Some(addr), None) => Some(bind_tcp(addr)?),
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
        let dump = open_dump(&config)?;
        let (log, log_thread) = open_log(&config)?;
        let admin = match admin_listener {
            Some(listener) => {
                let sources = Sources {
                    log_dropped: Some(log.dropped()),
                    dump: dump.clone(),
                    acme: acme.as_ref().map(|m| m.status.clone()),
                    limiter: Some(limiter.clone()),
                    stats: stats.clone(),
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
            quic,
            dump,
            limiter,
            compressed,
            stats,
            log,
            log_thread,
        })
    }

    /// The UDP addresses HTTP/3 is served on.
    pub fn quic_addrs(&self) -> Vec<SocketAddr> {
        self.quic
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
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
    ///
    /// ```no_run
    /// let server = henaserver::Server::bind(henaserver::Config::new("static", 0)?)?;
    /// println!("on {:?}", server.local_addrs());
    /// let (stop, stopped) = std::sync::mpsc::channel::<()>();
    /// let running = std::thread::spawn(move || {
    ///     server.run(async move {
    ///         let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
    ///     })
    /// });
    /// stop.send(())?;
    /// running.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
            quic,
            dump,
            limiter,
            compressed,
            stats,
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
            let fd = platform::net::Handle::from(listener.try_clone().map_err(Error::Io)?);
            handover.push(Handed { key, fd, name });
        }
        for socket in &quic {
            let fd = platform::net::Handle::from(socket.try_clone().map_err(Error::Io)?);
            handover.push(Handed {
                key: None,
                fd,
                name: QUIC_NAME,
            });
        }
        for (_, listener) in &unix {
            let fd = platform::net::Handle::from(listener.try_clone().map_err(Error::Io)?);
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
                // --access is the site's: the admin listener has its own
                // address (loopback unless --admin-public).
                shared.access.store(Arc::new(Vec::new()));
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
        let observe = Observers::new(log, dump, dev.inspect.clone(), Some(stats.clone()));
        let responder = site_responder(&config, sites, &dev, &challenges, &reply);
        let mut shared = Shared::new(
            &config,
            responder,
            observe.clone(),
            tls.clone(),
            config.http2,
        )
        .limited_by(limiter.clone());
        if let Some(port) = quic
            .first()
            .and_then(|s| s.local_addr().ok())
            .map(|a| a.port())
        {
            shared.alt_svc = Some(format!("h3=\":{port}\"; ma={ALT_SVC_MAX_AGE}").into());
        }
        let shared = Arc::new(shared);
        let redirect = Responder::Redirect(Redirect {
            port: https_port,
            challenges: challenges.clone(),
        });
        let redirect_shared =
            Arc::new(Shared::new(&config, redirect, observe, None, false).limited_by(limiter));
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
        let mut inline = None;
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
            if n == 0 {
                // The first worker serves on this thread's event loop,
                // beside the signals and reloads: one thread fewer, and with
                // one worker a process of one thread, whose system calls
                // and allocator do less bookkeeping.
                inline = Some((worker, mine));
                continue;
            }
            let handle = std::thread::Builder::new()
                .name(format!("henaserver-{n}"))
                .spawn(move || worker.run(mine))
                .map_err(Error::Io)?;
            workers.push(handle);
        }
        drop(roles);
        let quic = if quic.is_empty() {
            None
        } else {
            let started = QuicThread::start(
                quic,
                shared.clone(),
                permits.clone(),
                stop_rx.clone(),
                crate::http3::endpoint::Options {
                    early_data: config.http3_0rtt,
                    offload: !config.quic_no_offload,
                },
            );
            Some(started.map_err(|e| Error::Io(io::Error::other(e)))?)
        };
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
            compressed,
            stats,
        };
        let inline = runtime.block_on(async {
            let inline = inline.map(|(worker, mine)| tokio::spawn(worker.serve(mine)));
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
            inline
        });
        // Not ready from the moment shutdown begins: load balancers stop
        // sending while the connections in flight drain.
        if let Some((_, admin)) = &admin {
            admin.set_ready(false);
        }
        let _ = stop_tx.send(true);
        // The worker on this thread drains while the others (and HTTP/3's)
        // drain on theirs.
        let inline = inline.map(|task| runtime.block_on(task));
        if let Some(quic) = quic {
            quic.join();
        }
        for result in workers
            .into_iter()
            .filter_map(|worker| worker.join().ok())
            .chain(inline.into_iter().filter_map(Result::ok))
        {
            if let Err(e) = result {
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
            let signals = platform::process::Signals::new();
            ready();
            match signals {
                Ok(mut signals) => loop {
                    tokio::select! {
                        () = upgraded.notified() => break,
                        signal = signals.recv() => match signal {
                            platform::process::Signal::Stop => break,
                            platform::process::Signal::Upgrade => {
                                tracing::info!("SIGUSR2: starting the new binary");
                                let _ = upgrade.send(());
                            }
                            platform::process::Signal::Reload => {
                                tracing::info!("SIGHUP: reopening the access log");
                                log.reopen();
                                if let Some(tls) = &tls {
                                    reload_certificates(tls, "SIGHUP");
                                }
                                let _ = reload.send(());
                            }
                        },
                    }
                },
                Err(_) => std::future::pending().await,
            }
            tracing::info!("stopping: finishing responses in flight");
        })
    }
}

/// The access log `config` asks for, and the thread that writes it.
fn open_log(config: &Config) -> Result<(AccessLog, Option<std::thread::JoinHandle<()>>), Error> {
    if !config.access_log {
        return Ok((AccessLog::disabled(), None));
    }
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
    Ok((log, Some(handle)))
}

/// The dump `config` asks for (`--dump`), its directory created.
fn open_dump(config: &Config) -> Result<Option<Arc<Dump>>, Error> {
    match &config.dump {
        Some(d) => Dump::start(&d.dir, d.max, d.secrets)
            .map(Some)
            .map_err(|e| Error::Dump(d.dir.clone(), e)),
        None => Ok(None),
    }
}

/// The response of `--reply`, read and checked, when the mode asks for it.
fn open_reply(config: &Config) -> Result<Option<Arc<ReplySource>>, Error> {
    match &config.mode {
        Mode::Reply(path) => Ok(Some(Arc::new(
            ReplySource::load(path).map_err(Error::Reply)?,
        ))),
        Mode::Files | Mode::Echo => Ok(None),
    }
}
