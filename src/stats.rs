//! What the server counts, kept off the request path's locks: each worker
//! thread counts into atomics of its own (no other thread writes them, so
//! they never contend), and `admin::metrics` adds the workers up at each
//! scrape. The file pipeline counts its caches here; the protocols count
//! through `observe`.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::exchange::Method;

/// The protocols requests are counted by.
pub const PROTOCOLS: [&str; 3] = ["http/1.1", "h2", "h3"];
/// The transports connections are counted by.
pub const TRANSPORTS: [&str; 2] = ["tcp", "tls"];
/// The methods requests are counted by; any other is `other`.
pub const METHODS: [&str; 4] = ["GET", "HEAD", "OPTIONS", "other"];
/// Status classes.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Upper bounds of the request duration histogram, in seconds: from
/// 50 µs (a cached file on loopback) to 10 s.
pub const DURATION_BUCKETS: [f64; 15] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    10.0,
];

/// Whether anything reads the counters (an admin listener is on): when
/// not, nothing is counted and requests pay nothing.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Every worker's counters.
pub(crate) static WORKERS: Mutex<Vec<Arc<Counters>>> = Mutex::new(Vec::new());

/// Counters outside any worker (the compression cache, shared by all).
pub(crate) static GLOBAL: Counters = Counters::new();

thread_local! {
    static MINE: OnceCell<Arc<Counters>> = const { OnceCell::new() };
}

/// One worker's counters.
#[derive(Debug)]
pub struct Counters {
    pub(crate) requests: [[[AtomicU64; 5]; 4]; 3],
    pub(crate) body_bytes: [AtomicU64; 3],
    pub(crate) duration_buckets: [AtomicU64; 15],
    pub(crate) duration_count: AtomicU64,
    pub(crate) duration_nanos: AtomicU64,
    pub(crate) open: [[AtomicI64; 2]; 3],
    pub(crate) handshakes: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    pub(crate) cache_entries: AtomicI64,
    pub(crate) compression_hits: AtomicU64,
    pub(crate) compression_bytes: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_I: AtomicI64 = AtomicI64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_5: [AtomicU64; 5] = [ZERO; 5];
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_4X5: [[AtomicU64; 5]; 4] = [ZERO_5; 4];
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_I2: [AtomicI64; 2] = [ZERO_I; 2];

impl Counters {
    const fn new() -> Counters {
        Counters {
            requests: [ZERO_4X5; 3],
            body_bytes: [ZERO; 3],
            duration_buckets: [ZERO; 15],
            duration_count: ZERO,
            duration_nanos: ZERO,
            open: [ZERO_I2; 3],
            handshakes: ZERO,
            handshake_failures: ZERO,
            cache_hits: ZERO,
            cache_misses: ZERO,
            cache_entries: ZERO_I,
            compression_hits: ZERO,
            compression_bytes: ZERO,
        }
    }
}

/// Turns counting on (done once an admin listener is bound).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether counting is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Runs `f` on this thread's counters, made and registered on first use.
fn with(f: impl FnOnce(&Counters)) {
    if !enabled() {
        return;
    }
    MINE.with(|cell| {
        let mine = cell.get_or_init(|| {
            let counters = Arc::new(Counters::new());
            if let Ok(mut all) = WORKERS.lock() {
                all.push(counters.clone());
            }
            counters
        });
        f(mine)
    });
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Counts one answered request.
pub fn request(protocol: usize, method: Method, status: u16, body_bytes: u64, took: Duration) {
    with(|c| {
        let m = match method {
            Method::Get => 0,
            Method::Head => 1,
            Method::Options => 2,
            Method::NotAllowed | Method::Unknown => 3,
        };
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        add(&c.requests[protocol][m][class], 1);
        add(&c.body_bytes[protocol], body_bytes);
        let secs = took.as_secs_f64();
        if let Some(b) = DURATION_BUCKETS.iter().position(|&le| secs <= le) {
            add(&c.duration_buckets[b], 1);
        }
        add(&c.duration_count, 1);
        add(
            &c.duration_nanos,
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
        );
    });
}

/// An open connection, counted while it lives.
#[derive(Debug)]
pub struct Open {
    protocol: usize,
    transport: usize,
    counted: bool,
}

impl Open {
    /// Counts a connection of `protocol` over `transport` as open (when
    /// `count` says it is one the metrics count).
    pub fn new(protocol: usize, transport: usize, count: bool) -> Open {
        let mut counted = false;
        if !count {
            return Open {
                protocol,
                transport,
                counted,
            };
        }
        with(|c| {
            c.open[protocol][transport].fetch_add(1, Ordering::Relaxed);
            counted = true;
        });
        Open {
            protocol,
            transport,
            counted,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.counted {
            with(|c| {
                c.open[self.protocol][self.transport].fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
}

/// Counts a TLS handshake and whether it failed.
pub fn handshake(ok: bool) {
    with(|c| {
        add(&c.handshakes, 1);
        if !ok {
            add(&c.handshake_failures, 1);
        }
    });
}

/// Counts an open-file cache lookup.
pub fn file_cache(hit: bool) {
    with(|c| add(if hit { &c.cache_hits } else { &c.cache_misses }, 1));
}

/// Sets this worker's count of cached open files.
pub fn file_cache_entries(n: usize) {
    with(|c| {
        c.cache_entries
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed)
    });
}

/// Counts a compressed copy served from the cache, or bytes compressed.
pub fn compression(hit: bool, bytes: usize) {
    if !enabled() {
        return;
    }
    if hit {
        add(&GLOBAL.compression_hits, 1);
    } else {
        add(&GLOBAL.compression_bytes, bytes as u64);
    }
}
