//! The access log: one line per answered request, written off the request
//! path.
//!
//! Worker threads append lines to a buffer of their own, which they hand to
//! a writer thread over a bounded channel when it is full or
//! [`FLUSH_INTERVAL`] after its first line (a task waits that long; an idle
//! server wakes for nothing). On a runtime of several threads, whose tasks
//! move between them, each line is handed over at once. A slow or blocked
//! stdout therefore never stalls a request: when the writer falls behind,
//! lines are dropped and counted, and the count is reported.
//!
//! Three formats (`--log-format`):
//! - `combined` (the default):
//!   `127.0.0.1:50624 - - [21/Nov/2026:20:16:36 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.0" 0.084ms`
//! - `common`: the same without referer and user agent;
//! - `json`: one object per line with the same fields, plus the duration,
//!   the ranges and the content coding served.
//!
//! The client is given with its port; the time taken runs from the
//! complete request head to the last byte of the response. Lines go to
//! stdout or to a file (`--access-log`), which is reopened on SIGHUP so
//! that logs can be rotated.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// How long a worker keeps a line before handing it to the writer, with
/// the lines that followed it.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Buffered bytes after which a worker hands its lines over at once.
const BATCH_BYTES: usize = 32 * 1024;
/// Batches waiting for the writer before new lines are dropped.
const QUEUED_BATCHES: usize = 256;
/// Longest part of a request line that is logged.
const MAX_LOGGED_LINE: usize = 1024;

pub use crate::config::Format;

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output.
    Stdout,
    /// A file, appended to, reopened on SIGHUP.
    File(PathBuf),
}

/// One answered request, as the log sees it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The client.
    pub peer: SocketAddr,
    /// The request line, as received.
    pub line: &'a [u8],
    /// The status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Time from the complete head to the last byte.
    pub elapsed: Duration,
    /// Referer, if sent.
    pub referer: &'a [u8],
    /// User-Agent, if sent.
    pub user_agent: &'a [u8],
    /// The ranges served (`bytes=0-99`), if a part was.
    pub range: &'a str,
    /// The content coding served, if any.
    pub encoding: &'a str,
    /// The site that answered, when the server has several.
    pub site: Option<&'a str>,
    /// How the response was reached, with `--explain`.
    pub explain: Option<&'a str>,
    /// The TLS version and ALPN protocol, over HTTPS.
    pub tls: Option<(&'static str, &'static str)>,
    /// The protocol: `HTTP/1.1`, `HTTP/1.0` or `HTTP/2.0`.
    pub protocol: &'static str,
    /// The client a trusted proxy named, logged instead of the peer.
    pub client: Option<std::net::IpAddr>,
}

/// How the log shows a peer: its address and port, or `unix`.
struct Peer(SocketAddr);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == crate::exchange::UNIX_PEER {
            f.write_str("unix")
        } else {
            self.0.fmt(f)
        }
    }
}

/// A handle to the access log, cloned into every worker.
#[derive(Clone, Debug)]
pub struct AccessLog {
    tx: Option<SyncSender<Vec<u8>>>,
    dropped: Arc<AtomicU64>,
    reopen: Arc<AtomicBool>,
    /// The format, as a number (see [`Format::code`]): a reload changes it
    /// for every worker at once.
    format: Arc<AtomicU8>,
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static CLF_TIME: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    /// Whether a task waits to hand this thread's buffer over.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

/// Disarms this thread's flush when its task ends, run or dropped with
/// its runtime.
struct Disarm;

impl Drop for Disarm {
    fn drop(&mut self) {
        ARMED.with(|a| a.set(false));
    }
}

impl AccessLog {
    /// The format lines are written in.
    pub fn format(&self) -> Format {
        Format::from_code(self.format.load(Ordering::Relaxed))
    }

    /// Writes the lines that follow in `format`.
    pub fn set_format(&self, format: Format) {
        self.format.store(format.code(), Ordering::Relaxed);
    }

    /// The count of lines dropped because the writer fell behind.
    pub fn dropped(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    /// A log that writes nothing.
    pub fn disabled() -> AccessLog {
        AccessLog {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
            reopen: Arc::new(AtomicBool::new(false)),
            format: Arc::new(AtomicU8::new(Format::default().code())),
        }
    }

    /// A log written to `target` by a thread of its own; the thread ends
    /// when every handle is dropped. Fails if the file cannot be opened.
    pub fn spawn(
        target: Target,
        format: Format,
    ) -> std::io::Result<(AccessLog, std::thread::JoinHandle<()>)> {
        let out = open(&target)?;
        let (tx, rx) = sync_channel(QUEUED_BATCHES);
        let dropped = Arc::new(AtomicU64::new(0));
        let reopen = Arc::new(AtomicBool::new(false));
        let (seen, again) = (dropped.clone(), reopen.clone());
        let handle = std::thread::Builder::new()
            .name("henaserver-log".into())
            .spawn(move || writer(rx, out, target, seen, again))?;
        Ok((
            AccessLog {
                tx: Some(tx),
                dropped,
                reopen,
                format: Arc::new(AtomicU8::new(format.code())),
            },
            handle,
        ))
    }

    /// Asks the writer to reopen its file before the next line (SIGHUP).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Whether lines need the referer and user agent.
    pub fn wants_agents(&self) -> bool {
        self.format() != Format::Common
    }

    /// True when lines are written somewhere.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Records one answered request.
    pub fn record(&self, e: &Entry) {
        if self.tx.is_none() {
            return;
        }
        let format = self.format();
        let full = BUFFER.with(|b| {
            let mut buf = b.borrow_mut();
            let ms = e.elapsed.as_secs_f64() * 1000.0;
            if format == Format::Json {
                let mut line = serde_json::json!({
                    "time": clf_time(),
                    "client": e.client.map_or_else(|| Peer(e.peer).to_string(), |c| c.to_string()),
                    "request": String::from_utf8_lossy(e.line),
                    "status": e.status,
                    "bytes": e.bytes,
                    "duration_ms": (ms * 1000.0).round() / 1000.0,
                    "referer": String::from_utf8_lossy(e.referer),
                    "user_agent": String::from_utf8_lossy(e.user_agent),
                    "range": e.range,
                    "encoding": e.encoding,
                    "protocol": e.protocol,
                });
                if let Some(site) = e.site {
                    line["host"] = site.into();
                }
                if let Some(trace) = e.explain {
                    line["explain"] = trace.into();
                }
                if let Some((version, alpn)) = e.tls {
                    line["tls"] = version.into();
                    line["alpn"] = alpn.into();
                }
                let _ = serde_json::to_writer(&mut *buf, &line);
                buf.push(b'\n');
            } else {
                // As Apache's vhost_combined: the site first.
                if let Some(site) = e.site {
                    buf.extend_from_slice(site.as_bytes());
                    buf.push(b' ');
                }
                match e.client {
                    Some(client) => {
                        let _ = write!(buf, "{client} - - [");
                    }
                    None => {
                        let _ = write!(buf, "{} - - [", Peer(e.peer));
                    }
                }
                push_clf_time(&mut buf);
                buf.extend_from_slice(b"] \"");
                push_escaped(&mut buf, e.line);
                let _ = write!(buf, "\" {} {}", e.status, e.bytes);
                if format == Format::Combined {
                    for value in [e.referer, e.user_agent] {
                        buf.extend_from_slice(b" \"");
                        if value.is_empty() {
                            buf.push(b'-');
                        } else {
                            push_escaped(&mut buf, value);
                        }
                        buf.push(b'"');
                    }
                }
                let _ = writeln!(buf, " {ms:.3}ms");
            }
            buf.len() >= BATCH_BYTES
        });
        if full {
            self.flush();
        } else {
            self.arm();
        }
    }

    /// Sees that this thread's buffer is handed over within
    /// [`FLUSH_INTERVAL`]: by a task on this thread's event loop, or at once
    /// where tasks may move to other threads.
    fn arm(&self) {
        if ARMED.with(|a| a.replace(true)) {
            return;
        }
        let one_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
        if !one_thread {
            ARMED.with(|a| a.set(false));
            self.flush();
            return;
        }
        let log = self.clone();
        tokio::spawn(async move {
            let disarm = Disarm;
            tokio::time::sleep(FLUSH_INTERVAL).await;
            drop(disarm);
            log.flush();
        });
    }

    /// Hands this thread's buffered lines to the writer.
    pub fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let batch = BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
        if batch.is_empty() {
            return;
        }
        let lines = batch.iter().filter(|&&b| b == b'\n').count() as u64;
        match tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(lines, Ordering::Relaxed);
            }
        }
    }
}

fn open(target: &Target) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match target {
        Target::Stdout => Box::new(std::io::stdout()),
        Target::File(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
    })
}

fn writer(
    rx: Receiver<Vec<u8>>,
    mut out: Box<dyn Write + Send>,
    target: Target,
    dropped: Arc<AtomicU64>,
    reopen: Arc<AtomicBool>,
) {
    let mut reported = 0;
    while let Ok(batch) = rx.recv() {
        if reopen.swap(false, Ordering::Relaxed) {
            match open(&target) {
                Ok(fresh) => out = fresh,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reopen the access log; keeping the old one")
                }
            }
        }
        if out.write_all(&batch).and_then(|()| out.flush()).is_err() {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
        let now = dropped.load(Ordering::Relaxed);
        if now != reported {
            tracing::warn!(
                lines = now - reported,
                "access log fell behind; lines dropped"
            );
            reported = now;
        }
    }
}

/// The time as Common Log Format has it.
fn clf_time() -> String {
    let mut buf = Vec::with_capacity(26);
    push_clf_time(&mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// Appends the time as Common Log Format has it: `21/Nov/2026:20:16:36 +0000`.
fn push_clf_time(buf: &mut Vec<u8>) {
    let second = crate::platform::clock::wall_seconds();
    CLF_TIME.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.0 != second {
            // "Sat, 21 Nov 2026 20:16:36 GMT" -> "21/Nov/2026:20:16:36 +0000"
            let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
            let parts: Vec<&str> = http.split(' ').collect();
            cache.1 = match parts.as_slice() {
                [_, day, month, year, time, _] => format!("{day}/{month}/{year}:{time} +0000"),
                _ => http.clone(),
            };
            cache.0 = second;
        }
        buf.extend_from_slice(cache.1.as_bytes());
    });
}

/// Appends bytes from the wire with quotes, backslashes and anything not
/// printable escaped, so a log line is always one line.
fn push_escaped(buf: &mut Vec<u8>, bytes: &[u8]) {
    let cut = bytes.len() > MAX_LOGGED_LINE;
    for &b in &bytes[..bytes.len().min(MAX_LOGGED_LINE)] {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0x20..=0x7e => buf.push(b),
            _ => {
                let _ = write!(buf, "\\x{b:02x}");
            }
        }
    }
    if cut {
        buf.extend_from_slice(b"...");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_one_line() {
        let mut buf = Vec::new();
        push_escaped(&mut buf, b"GET /\"a\\b\n\x01 HTTP/1.1");
        assert_eq!(buf, b"GET /\\\"a\\\\b\\x0a\\x01 HTTP/1.1");
    }

    #[test]
    fn clf_time_shape() {
        let mut buf = Vec::new();
        push_clf_time(&mut buf);
        let s = String::from_utf8(buf).unwrap();
        assert_eq!(s.len(), 26, "{s}");
        assert!(s.ends_with(" +0000"));
        assert_eq!(&s[2..3], "/");
    }
}
