//! The access log: one line per answered request, written off the request
//! path.
//!
//! Worker threads append lines to a buffer of their own; a ticker on each
//! worker hands full buffers to a writer thread over a bounded channel. A
//! slow or blocked stdout therefore never stalls a request: when the writer
//! falls behind, lines are dropped and counted, and the count is reported.
//!
//! A line reads
//! `127.0.0.1:50624 - - [21/Nov/2026:20:16:36 +0000] "GET / HTTP/1.1" 200 612 0.084ms`:
//! client address, time, request line, status, body bytes sent, and the
//! time from the complete request head to the last byte of the response.

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a worker hands its buffered lines to the writer.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Buffered bytes after which a worker hands its lines over at once.
const BATCH_BYTES: usize = 32 * 1024;
/// Batches waiting for the writer before new lines are dropped.
const QUEUED_BATCHES: usize = 256;
/// Longest part of a request line that is logged.
const MAX_LOGGED_LINE: usize = 1024;

/// A handle to the access log, cloned into every worker.
#[derive(Clone, Debug)]
pub struct AccessLog {
    tx: Option<SyncSender<Vec<u8>>>,
    dropped: Arc<AtomicU64>,
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static CLF_TIME: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl AccessLog {
    /// A log that writes nothing.
    pub fn disabled() -> AccessLog {
        AccessLog {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A log written to `out` by a thread of its own; the thread ends when
    /// every handle is dropped.
    pub fn spawn(out: Box<dyn Write + Send>) -> (AccessLog, std::thread::JoinHandle<()>) {
        let (tx, rx) = sync_channel(QUEUED_BATCHES);
        let dropped = Arc::new(AtomicU64::new(0));
        let seen = dropped.clone();
        let handle = std::thread::Builder::new()
            .name("henaserver-log".into())
            .spawn(move || writer(rx, out, seen))
            .expect("spawning the log thread");
        (
            AccessLog {
                tx: Some(tx),
                dropped,
            },
            handle,
        )
    }

    /// True when lines are written somewhere.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Records one answered request.
    pub fn record(
        &self,
        peer: SocketAddr,
        request_line: &[u8],
        status: u16,
        bytes: u64,
        elapsed: Duration,
    ) {
        if self.tx.is_none() {
            return;
        }
        let full = BUFFER.with(|b| {
            let mut buf = b.borrow_mut();
            let _ = write!(buf, "{peer} - - [");
            push_clf_time(&mut buf);
            buf.extend_from_slice(b"] \"");
            push_escaped(&mut buf, request_line);
            let _ = writeln!(
                buf,
                "\" {status} {bytes} {:.3}ms",
                elapsed.as_secs_f64() * 1000.0
            );
            buf.len() >= BATCH_BYTES
        });
        if full {
            self.flush();
        }
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

fn writer(rx: Receiver<Vec<u8>>, mut out: Box<dyn Write + Send>, dropped: Arc<AtomicU64>) {
    let mut reported = 0;
    while let Ok(batch) = rx.recv() {
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

/// Appends the time as Common Log Format has it: `21/Nov/2026:20:16:36 +0000`.
fn push_clf_time(buf: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CLF_TIME.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.0 != second {
            // "Sat, 21 Nov 2026 20:16:36 GMT" -> "21/Nov/2026:20:16:36 +0000"
            let http = httpdate::fmt_http_date(now);
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
