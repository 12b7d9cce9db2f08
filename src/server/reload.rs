//! The runtime objects a configuration asks for (the sites, the
//! responders, development mode), and SIGHUP: the configuration read again
//! and put in place for new requests, listeners added and removed, the
//! certificates reloaded.

use super::*;

/// Reads the configuration anew: the file, the environment and the flags
/// the server started with.
///
/// ```no_run
/// let config = henaserver::Config::new("static", 8080)?;
/// let mut server = henaserver::Server::bind(config)?;
/// server.reload_with(henaserver::Reloader::new(|| {
///     let mut config = henaserver::Config::new("static", 8080).map_err(|e| e.to_string())?;
///     config.listing = true;
///     Ok(config)
/// }));
/// server.run_until_signal()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reloader(Box<dyn Fn() -> Result<Config, String> + Send>);

impl Reloader {
    /// A reloader that calls `read` on each SIGHUP.
    pub fn new(read: impl Fn() -> Result<Config, String> + Send + 'static) -> Reloader {
        Reloader(Box::new(read))
    }
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reloader")
    }
}

/// What a reload replaces.
pub(super) struct Running {
    pub(super) config: Config,
    pub(super) shared: Arc<Shared>,
    /// The HTTP-01 challenges the plain listeners answer.
    pub(super) challenges: Option<Arc<Challenges>>,
    /// Live reload and the inspector, kept across reloads.
    pub(super) dev: Dev,
    /// The response of `--reply`, kept across reloads.
    pub(super) reply: Option<Arc<ReplySource>>,
    /// Each worker's command channel.
    pub(super) workers: Vec<tokio::sync::mpsc::UnboundedSender<WorkerCommand>>,
    pub(super) handover: Handover,
    /// Compressed copies, kept across reloads.
    pub(super) compressed: Arc<Compressed>,
    /// The server's counters.
    pub(super) stats: Arc<Stats>,
}

/// Applies a new configuration on each request: the sites' settings
/// (files, rules, fields, CORS, authentication, error pages...) for new
/// requests; requests in flight keep the ones they began with.
pub(super) async fn reload_on_request(
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
pub(super) fn site_responder(
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
pub(super) fn start_dev(config: &Config) -> Dev {
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
pub(super) fn open_sites(
    config: &Config,
    live: &Option<Arc<Live>>,
    limiter: &Arc<Limiter>,
    store: &Arc<Compressed>,
    stats: &Arc<Stats>,
) -> Result<Sites, (std::path::PathBuf, io::Error)> {
    let open = |c: &Config| Root::open(&c.root).map_err(|e| (c.root.clone(), e));
    let pipeline = |c: &Config, name: &str| {
        Ok(Pipeline::new(open(c)?, Site::new(c), live.clone())
            .limited(limiter, name)
            .shared_with(store, stats))
    };
    if config.sites.is_empty() {
        return Ok(Sites::single(pipeline(config, "")?));
    }
    let mut named = Vec::new();
    for host in &config.sites {
        named.push(Named {
            pipeline: pipeline(&host.config, &host.name)?,
            hosts: host.hosts.clone(),
            default: host.default,
            name: host.name.clone(),
        });
    }
    Ok(Sites::new(named))
}

/// Puts `config`'s sites in place, or says why it cannot be used.
pub(super) fn apply(running: &Running, config: Config) -> Result<Config, String> {
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
        (
            "--http3, --http3-0rtt and --quic-no-offload",
            old.http3 != config.http3
                || old.http3_0rtt != config.http3_0rtt
                || old.quic_no_offload != config.quic_no_offload,
        ),
        ("limits and timeouts", old.limits != config.limits),
        (
            "--limit-table",
            old.client_limits.table_bytes != config.client_limits.table_bytes,
        ),
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
    running.shared.limiter.set(&config.client_limits);
    let sites = open_sites(
        &config,
        &running.dev.live,
        &running.shared.limiter,
        &running.compressed,
        &running.stats,
    )
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
    running
        .shared
        .access
        .store(Arc::new(crate::shared::listener_access(&config)));
    change_listeners(running, &config);
    Ok(config)
}

/// Binds the site's listeners `config` adds and stops accepting on those
/// it removes; connections on a removed listener finish as they would.
pub(super) fn change_listeners(running: &Running, config: &Config) {
    let (old, new) = (&running.config.listen, &config.listen);
    for &addr in new.iter().filter(|a| !old.contains(a)) {
        // Limits take a restart: the deferral in force is the old one's.
        let listener = match listen(addr, running.config.limits.defer_accept) {
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

/// Reloads the certificates; a failure keeps the old ones and is logged.
pub(super) fn reload_certificates(tls: &Tls, why: &str) {
    match tls.certs.reload() {
        Ok(()) => tracing::info!(cause = why, "certificates reloaded"),
        Err(e) => {
            tracing::warn!(cause = why, error = %e, "certificates not reloaded; keeping the ones in use")
        }
    }
}

/// Reloads the certificates when their files change on disk (renewed by
/// certbot, replaced by cert-manager), checking every [`CERT_POLL`].
pub(super) async fn watch_certificates(tls: Tls) {
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
