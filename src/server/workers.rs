//! Workers, each a single-threaded event loop accepting from every
//! listener and told of listeners a reload adds or removes (the first on
//! the main thread's loop, the others on threads of their own); and the admin
//! listener's own thread, which answers while the site drains.

use super::*;

/// Connections the admin listener serves at once.
pub(super) const ADMIN_MAX_CONNECTIONS: usize = 64;

/// The admin listener's thread: it keeps answering (readiness 503) while
/// the site's connections drain, and stops after them.
pub(super) struct AdminThread {
    pub(super) stop: watch::Sender<bool>,
    pub(super) handle: std::thread::JoinHandle<()>,
}

impl AdminThread {
    pub(super) fn start(
        listener: std::net::TcpListener,
        shared: Arc<Shared>,
    ) -> Result<AdminThread, Error> {
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

    pub(super) fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.join();
    }
}

/// What a reload asks of each worker.
#[derive(Debug)]
pub(super) enum WorkerCommand {
    /// Accept from another listening socket, for the site.
    Add(SocketAddr, std::net::TcpListener, Arc<Shared>),
    /// Stop accepting from the sockets of this configured address; their
    /// connections finish as they would.
    Remove(SocketAddr),
}

pub(super) struct Worker {
    pub(super) shared: Arc<Shared>,
    pub(super) commands: tokio::sync::mpsc::UnboundedReceiver<WorkerCommand>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) max_connections: usize,
    pub(super) grace: Duration,
}

impl Worker {
    /// Serves on a thread of its own, with its own event loop.
    pub(super) fn run(
        self,
        listeners: Vec<(Option<SocketAddr>, Listening, Arc<Shared>)>,
    ) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(self.serve(listeners))
    }

    /// Serves on the event loop it is polled from, until the server stops
    /// and the connections in flight finish (within the grace).
    pub(super) async fn serve(
        mut self,
        listeners: Vec<(Option<SocketAddr>, Listening, Arc<Shared>)>,
    ) -> io::Result<()> {
        // Accept loops by the configured address they serve (None: not
        // changed by a reload).
        let mut accepting: Vec<(Option<SocketAddr>, tokio::task::JoinHandle<()>)> = Vec::new();
        for (key, listener, shared) in listeners {
            let listener = match listener {
                Listening::Tcp(l) => Accepting::Tcp(TcpListener::from_std(l)?),
                Listening::Unix(l) => {
                    Accepting::Unix(platform::net::AsyncUnixListener::from_std(l)?)
                }
            };
            let task = tokio::spawn(accept_loop(listener, shared, self.permits.clone()));
            accepting.push((key, task));
        }
        let mut global = self.stop.clone();
        let mut stopped = Stopped::default();
        let mut commanded = true;
        loop {
            tokio::select! {
                biased;
                () = &mut stopped => break,
                // The server stops: this worker's accept loops and idle
                // connections are told, and `stopped` completes.
                _ = global.wait_for(|&s| s) => stop::stop_worker(),
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
        self.shared.observe.log().flush();
        Ok(())
    }
}
