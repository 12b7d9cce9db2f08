//! `--inspect`: a page in the browser listing each exchange as it
//! happens, with the request exactly as received and the response head as
//! sent, and a timeline of the connections.
//!
//! The last [`RING`] exchanges are kept in memory; each new one is also
//! broadcast as a Server-Sent Event. The page itself
//! ([`PAGE`], embedded in the binary: no network) lives under
//! `/.henaserver/`, whose requests are never listed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::exchange::Events;

/// Exchanges kept.
pub const RING: usize = 500;
/// The page.
pub const PAGE_PATH: &[u8] = b"/.henaserver/inspect";
/// Its event stream.
pub const EVENTS_PATH: &[u8] = b"/.henaserver/inspect/events";
/// The exchanges kept, as JSON.
pub const LIST_PATH: &[u8] = b"/.henaserver/inspect/exchanges";

/// The inspector page: HTML, CSS and script in one.
pub const PAGE: &str = include_str!("inspect.html");

/// One exchange, as a protocol saw it.
#[derive(Debug)]
pub struct Record<'a> {
    /// The connection's number.
    pub connection: u64,
    /// `HTTP/1.1`, `HTTP/1.0` or `HTTP/2.0`.
    pub protocol: &'a str,
    /// The request line (HTTP/1) or its equivalent (HTTP/2).
    pub line: &'a [u8],
    /// The status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// From the complete request head to the last byte.
    pub elapsed: Duration,
    /// The content coding served.
    pub encoding: &'a str,
    /// The ranges served.
    pub range: &'a str,
    /// The request as received.
    pub request: &'a [u8],
    /// The response head as sent.
    pub response: &'a [u8],
}

/// The exchanges kept and the pages watching.
#[derive(Debug)]
pub struct Inspector {
    ring: Mutex<VecDeque<Bytes>>,
    events: broadcast::Sender<Bytes>,
    next: AtomicU64,
    connections: AtomicU64,
    /// Whether Authorization, Cookie and the like are shown as they are.
    secrets: bool,
    /// Whether clients other than this machine may open the page.
    pub public: bool,
}

impl Inspector {
    /// An inspector; `secrets` shows secret fields' values.
    pub fn new(secrets: bool, public: bool) -> Inspector {
        Inspector {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            events: broadcast::channel(64).0,
            next: AtomicU64::new(1),
            connections: AtomicU64::new(1),
            secrets,
            public,
        }
    }

    /// A number for a new connection.
    pub fn connection(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed)
    }

    /// Keeps `record` and tells the pages watching, unless it is one of
    /// the inspector's own.
    pub fn record(&self, record: &Record) {
        let target = record.line.split(|&b| b == b' ').nth(1).unwrap_or_default();
        if target.starts_with(b"/.henaserver/") {
            return;
        }
        let method = record.line.split(|&b| b == b' ').next().unwrap_or_default();
        let ended = SystemTime::now();
        let end_ms = millis(ended);
        let request = if self.secrets {
            record.request.to_vec()
        } else {
            crate::window::dump::redact(record.request)
        };
        let json = serde_json::json!({
            "id": self.next.fetch_add(1, Ordering::Relaxed),
            "time": humantime::format_rfc3339_millis(ended).to_string(),
            "start_ms": end_ms - record.elapsed.as_secs_f64() * 1000.0,
            "end_ms": end_ms,
            "connection": record.connection,
            "protocol": record.protocol,
            "method": String::from_utf8_lossy(method),
            "target": String::from_utf8_lossy(target),
            "status": record.status,
            "bytes": record.bytes,
            "duration_ms": (record.elapsed.as_secs_f64() * 1e6).round() / 1000.0,
            "encoding": record.encoding,
            "range": record.range,
            "request": String::from_utf8_lossy(&request),
            "response": String::from_utf8_lossy(record.response),
        });
        let json = Bytes::from(json.to_string());
        {
            let mut ring = self
                .ring
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(json.clone());
        }
        let mut event = Vec::with_capacity(json.len() + 24);
        event.extend_from_slice(b"event: exchange\ndata: ");
        event.extend_from_slice(&json);
        event.extend_from_slice(b"\n\n");
        let _ = self.events.send(Bytes::from(event));
    }

    /// The exchanges kept, oldest first, as a JSON array.
    pub fn list(&self) -> Bytes {
        let ring = self
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Vec::with_capacity(ring.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
        out.push(b'[');
        for (i, record) in ring.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(record);
        }
        out.push(b']');
        Bytes::from(out)
    }

    /// A page's event stream of new exchanges.
    pub fn subscribe(&self) -> Events {
        Events::new(
            Bytes::from_static(b"retry: 1000\n\n"),
            self.events.subscribe(),
        )
    }
}

fn millis(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &'static [u8]) -> Record<'static> {
        Record {
            connection: 1,
            protocol: "HTTP/1.1",
            line,
            status: 200,
            bytes: 5,
            elapsed: Duration::from_millis(2),
            encoding: "",
            range: "",
            request: b"GET / HTTP/1.1\r\nCookie: id=secret\r\n\r\n",
            response: b"HTTP/1.1 200 OK\r\n\r\n",
        }
    }

    #[test]
    fn keeps_the_last_exchanges_redacted_and_not_its_own() {
        let inspector = Inspector::new(false, false);
        for _ in 0..RING + 3 {
            inspector.record(&record(b"GET / HTTP/1.1"));
        }
        inspector.record(&record(b"GET /.henaserver/inspect HTTP/1.1"));
        let list: serde_json::Value = serde_json::from_slice(&inspector.list()).unwrap();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), RING);
        assert_eq!(list[0]["id"], 4);
        let request = list[0]["request"].as_str().unwrap();
        assert!(!request.contains("secret"), "{request}");
    }
}
