//! The binary upgrade (SIGUSR2): every listening socket is handed to a new
//! process of the binary, which says on a descriptor when it is ready;
//! this one then stops as on SIGTERM.

use super::*;

/// The names of handed-over listening sockets in LISTEN_FDNAMES.
pub(super) const SITE_NAME: &str = "site";

pub(super) const REDIRECT_NAME: &str = "redirect";

pub(super) const ADMIN_NAME: &str = "admin";

/// A UDP socket HTTP/3 is served on.
pub(super) const QUIC_NAME: &str = "quic";

/// The variable that names the descriptor a new binary writes `ready` to
/// (not HENASERVER_*: those are options).
pub(super) const NOTIFY_VARIABLE: &str = "HENA_UPGRADE_READY_FD";

/// How long a new binary has to say it is ready before it is given up on.
#[cfg_attr(windows, allow(dead_code))]
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests from the signal handlers to the running server.
#[derive(Debug)]
pub(super) struct Control {
    pub(super) reloads: tokio::sync::mpsc::UnboundedReceiver<()>,
    pub(super) upgrades: tokio::sync::mpsc::UnboundedReceiver<()>,
    /// Told once a new binary serves: this process then drains and exits.
    pub(super) upgraded: Arc<tokio::sync::Notify>,
}

/// Starts the new binary on each request; once one reports ready, this
/// process stops accepting and drains.
pub(super) async fn upgrade_on_request(
    handover: Handover,
    mut requests: tokio::sync::mpsc::UnboundedReceiver<()>,
    upgraded: Arc<tokio::sync::Notify>,
) {
    while requests.recv().await.is_some() {
        let sockets = handover.clone();
        let started = tokio::task::spawn_blocking(move || {
            // Copies, so that shutdown can close the originals meanwhile.
            let copies: Vec<(platform::net::Handle, &'static str)> = match sockets.lock() {
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

/// The binary upgrade is Unix's: Windows has no SIGUSR2 to ask for it,
/// nor a way to hand a new process its listening sockets by number.
#[cfg(windows)]
pub(super) fn start_new_binary(_: &[(platform::net::Handle, &'static str)]) -> Result<u32, String> {
    Err("the binary upgrade is Unix-only".to_string())
}

/// Runs this executable again with the same arguments and the listening
/// sockets in LISTEN_FDS, and waits until it writes `ready`. Returns its
/// process id; a binary that fails or is not ready in time is stopped.
#[cfg(unix)]
pub(super) fn start_new_binary(
    handover: &[(platform::net::Handle, &'static str)],
) -> Result<u32, String> {
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
pub(super) fn notify_ready() {
    let Ok(fd) = std::env::var(NOTIFY_VARIABLE) else {
        return;
    };
    let path = platform::process::inherited_fd_path(&fd);
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
pub(super) struct Handed {
    /// The configured address it serves, for a site listener.
    pub(super) key: Option<SocketAddr>,
    pub(super) fd: platform::net::Handle,
    /// Its kind, in LISTEN_FDNAMES.
    pub(super) name: &'static str,
}

/// The sockets a new binary would take over, emptied when shutdown begins.
pub(super) type Handover = Arc<std::sync::Mutex<Vec<Handed>>>;
