//! The server inside a caller's tokio runtime: [`Server::serve_on`]
//! serves on listeners the caller bound, until a future the caller gives
//! completes. Its tasks run in a [`Scope`], so stopping reaches them on
//! whatever thread of the caller's runtime they run.

use super::*;
use crate::stop::Scope;

impl Server {
    /// Serves `config` on `listeners`, bound by the caller, inside the
    /// caller's tokio runtime (any flavour; it must have I/O and time
    /// enabled), until `shutdown` completes. Then it stops as a server
    /// does on SIGTERM: the listeners are closed, idle connections close,
    /// and responses in flight finish within `limits.shutdown_grace`.
    ///
    /// `config.listen`, `threads`, `admin`, `redirect_http`, `user`,
    /// `pid_file` and ACME are the caller's business here and are not
    /// used; HTTPS is, when `config.tls` asks for it.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = henaserver::Config::new("static", 0)?;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// henaserver::Server::serve_on(config, vec![listener], async {
    ///     let _ = tokio::signal::ctrl_c().await;
    /// })
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve_on(
        config: Config,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let reply = open_reply(&config)?;
        let dev = start_dev(&config);
        let limiter = Arc::new(Limiter::new(&config.client_limits));
        let stats = Arc::new(Stats::default());
        let compressed = Arc::new(Compressed::counted_in(&stats));
        let sites = open_sites(&config, &dev.live, &limiter, &compressed, &stats)
            .map_err(|(path, e)| Error::Root(path, e))?;
        let tls = match &config.tls {
            Some(settings) => Some(Tls::new(settings, config.http2).map_err(Error::Tls)?),
            None => None,
        };
        let dump = open_dump(&config)?;
        let (log, log_thread) = open_log(&config)?;
        let observe = Observers::new(log, dump, dev.inspect.clone(), Some(stats));
        let responder = site_responder(&config, sites, &dev, &None, &reply);
        let shared = Shared::new(&config, responder, observe, tls, config.http2);
        let shared = Arc::new(shared.limited_by(limiter));
        let max = config.limits.max_connections;
        let permits = Arc::new(Semaphore::new(max));
        let scope = Arc::new(Scope::default());
        let accepting: Vec<_> = listeners
            .into_iter()
            .map(|listener| {
                let task = accept_loop(Accepting::Tcp(listener), shared.clone(), permits.clone());
                Scope::spawn(scope.clone(), task)
            })
            .collect();
        shutdown.await;
        scope.stop();
        for task in accepting {
            let _ = task.await;
        }
        let deadline = tokio::time::Instant::now() + config.limits.shutdown_grace;
        while permits.available_permits() < max && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shared.observe.log().flush();
        // The log's writer ends once every handle to it is gone: now, when
        // every connection has ended; else when the last one left over
        // past the grace does.
        let drained = permits.available_permits() == max;
        drop(shared);
        if let (Some(handle), true) = (log_thread, drained) {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        Ok(())
    }
}
