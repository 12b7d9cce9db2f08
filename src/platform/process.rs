//! The process: the signals it answers, and the user it runs as.
//!
//! | | stop | reload (`SIGHUP`) | upgrade (`SIGUSR2`) | `--user` |
//! |---|---|---|---|---|
//! | Linux | `SIGINT`, `SIGTERM` | yes | yes | every thread switched (`setresuid`, `setresgid`, no groups) |
//! | FreeBSD | `SIGINT`, `SIGTERM` | yes | yes | the process switched, the same calls |
//! | macOS | `SIGINT`, `SIGTERM` | yes | yes | refused: nothing safe clears the supplementary groups there; launchd's `UserName` does it |
//! | Windows | Ctrl-C, Ctrl-Break, the console closing, shutdown | no | no | refused: Windows services run as their account |

use std::io;

/// What a signal asks of the server (on Windows, only to stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(windows, allow(dead_code))]
pub enum Signal {
    /// Stop gracefully.
    Stop,
    /// Reopen the log and reload the certificates.
    Reload,
    /// Hand the sockets to a new binary.
    Upgrade,
}

/// Whether `--user` can switch users on this platform; why not, if not.
pub const SWITCH_USER: Result<(), &str> = sys::SWITCH_USER;

/// The signals the server answers, listened to from the start.
pub struct Signals(sys::Signals);

impl Signals {
    /// Starts listening (inside the runtime).
    pub fn new() -> io::Result<Signals> {
        sys::Signals::new().map(Signals)
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Signal {
        self.0.recv().await
    }
}

/// Switches to user `uid` and group `gid` with no supplementary groups;
/// the error names the step that failed.
pub fn switch_user(uid: u32, gid: u32) -> Result<(), (&'static str, io::Error)> {
    sys::switch_user(uid, gid)
}

/// The user and group ids in force, real and effective:
/// `(uid, euid, gid, egid)`.
pub fn ids() -> (u32, u32, u32, u32) {
    sys::ids()
}

/// The path by which this process opens its inherited descriptor `fd`.
pub fn inherited_fd_path(fd: &str) -> String {
    if cfg!(target_os = "linux") {
        format!("/proc/self/fd/{fd}")
    } else {
        // FreeBSD: with fdescfs mounted on /dev/fd, as the handbook has it.
        format!("/dev/fd/{fd}")
    }
}

#[cfg(unix)]
mod sys {
    use super::*;
    use tokio::signal::unix::{signal, SignalKind};

    pub(super) struct Signals {
        int: tokio::signal::unix::Signal,
        term: tokio::signal::unix::Signal,
        hup: tokio::signal::unix::Signal,
        usr2: tokio::signal::unix::Signal,
    }

    impl Signals {
        pub(super) fn new() -> io::Result<Signals> {
            Ok(Signals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
                hup: signal(SignalKind::hangup())?,
                usr2: signal(SignalKind::user_defined2())?,
            })
        }

        pub(super) async fn recv(&mut self) -> Signal {
            tokio::select! {
                _ = self.int.recv() => Signal::Stop,
                _ = self.term.recv() => Signal::Stop,
                _ = self.hup.recv() => Signal::Reload,
                _ = self.usr2.recv() => Signal::Upgrade,
            }
        }
    }

    pub(super) fn ids() -> (u32, u32, u32, u32) {
        use rustix::process::{getegid, geteuid, getgid, getuid};
        (
            getuid().as_raw(),
            geteuid().as_raw(),
            getgid().as_raw(),
            getegid().as_raw(),
        )
    }

    #[cfg(not(target_vendor = "apple"))]
    pub(super) const SWITCH_USER: Result<(), &str> = Ok(());

    #[cfg(target_vendor = "apple")]
    pub(super) const SWITCH_USER: Result<(), &str> = Err(
        "not on macOS, where nothing safe clears the supplementary groups; launchd's UserName and GroupName keys switch users",
    );

    /// Linux keeps credentials per thread: rustix's calls switch this one,
    /// and every thread started after inherits it.
    #[cfg(target_os = "linux")]
    pub(super) fn switch_user(uid: u32, gid: u32) -> Result<(), (&'static str, io::Error)> {
        use rustix::process::{Gid, Uid};
        let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
        rustix::thread::set_thread_groups(&[])
            .map_err(|e| ("clear supplementary groups", e.into()))?;
        rustix::thread::set_thread_res_gid(gid, gid, gid)
            .map_err(|e| ("set the group", e.into()))?;
        rustix::thread::set_thread_res_uid(uid, uid, uid)
            .map_err(|e| ("set the user", e.into()))?;
        Ok(())
    }

    #[cfg(all(unix, not(target_os = "linux"), not(target_vendor = "apple")))]
    pub(super) fn switch_user(uid: u32, gid: u32) -> Result<(), (&'static str, io::Error)> {
        use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
        let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
        let fail = |what, e: nix::Error| (what, io::Error::from_raw_os_error(e as i32));
        setgroups(&[]).map_err(|e| fail("clear supplementary groups", e))?;
        setresgid(gid, gid, gid).map_err(|e| fail("set the group", e))?;
        setresuid(uid, uid, uid).map_err(|e| fail("set the user", e))?;
        Ok(())
    }

    #[cfg(target_vendor = "apple")]
    pub(super) fn switch_user(_: u32, _: u32) -> Result<(), (&'static str, io::Error)> {
        Err(("switch users", io::ErrorKind::Unsupported.into()))
    }
}

#[cfg(windows)]
mod sys {
    use super::*;
    use tokio::signal::windows;

    pub(super) struct Signals {
        c: windows::CtrlC,
        brk: windows::CtrlBreak,
        close: windows::CtrlClose,
        shutdown: windows::CtrlShutdown,
    }

    impl Signals {
        pub(super) fn new() -> io::Result<Signals> {
            Ok(Signals {
                c: windows::ctrl_c()?,
                brk: windows::ctrl_break()?,
                close: windows::ctrl_close()?,
                shutdown: windows::ctrl_shutdown()?,
            })
        }

        pub(super) async fn recv(&mut self) -> Signal {
            tokio::select! {
                _ = self.c.recv() => Signal::Stop,
                _ = self.brk.recv() => Signal::Stop,
                _ = self.close.recv() => Signal::Stop,
                _ = self.shutdown.recv() => Signal::Stop,
            }
        }
    }

    pub(super) fn ids() -> (u32, u32, u32, u32) {
        (u32::MAX, u32::MAX, u32::MAX, u32::MAX)
    }

    pub(super) const SWITCH_USER: Result<(), &str> =
        Err("not on Windows, where a service runs as the account it is installed with");

    pub(super) fn switch_user(_: u32, _: u32) -> Result<(), (&'static str, io::Error)> {
        Err(("switch users", io::ErrorKind::Unsupported.into()))
    }
}
