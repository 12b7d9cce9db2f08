//! What a server counts, kept off the request path's locks: each worker
//! thread counts into atomics of its own (no other thread writes them, so
//! they never contend), and `admin::metrics` adds the workers up at each
//! scrape. The file pipeline counts its caches here; the protocols count
//! through `observe`. Each server has its own [`Stats`].

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
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

/// The counters of one server (or one library `Files`): each thread that
/// counts for it has a set of its own, which no other thread writes, and
/// the scrape adds them up. Two servers in one process count apart.
#[derive(Debug)]
pub struct Stats {
    id: usize,
    /// Whether anything reads the counters (an admin listener is on):
    /// when not, nothing is counted and requests pay nothing.
    enabled: AtomicBool,
    /// Every thread's counters.
    workers: Mutex<Vec<Arc<Counters>>>,
    /// Counters outside any thread's (the compressed copies, shared by all).
    pub(crate) global: Counters,
}

/// Numbers that tell one `Stats` from another in the threads' lists.
static STATS_MADE: AtomicUsize = AtomicUsize::new(1);

/// A thread's counters for one `Stats`: its number, the stats (while they
/// live), the counters.
type Mine = (usize, Weak<Stats>, Arc<Counters>);

thread_local! {
    /// This thread's counters, by the `Stats` they count for.
    static MINE: RefCell<Vec<Mine>> = const { RefCell::new(Vec::new()) };
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

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            id: STATS_MADE.fetch_add(1, Ordering::Relaxed),
            enabled: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
            global: Counters::new(),
        }
    }
}

impl Stats {
    /// Turns counting on (done once an admin listener is bound).
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// Whether counting is on.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Every thread's counters, taken for a scrape.
    pub fn workers(&self) -> Vec<Arc<Counters>> {
        self.workers.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Runs `f` on this thread's counters for these stats, made and
    /// registered on first use.
    fn with(self: &Arc<Self>, f: impl FnOnce(&Counters)) {
        if !self.enabled() {
            return;
        }
        MINE.with(|cell| {
            let mut mine = cell.borrow_mut();
            if let Some((_, _, counters)) = mine.iter().find(|(id, ..)| *id == self.id) {
                return f(counters);
            }
            // Counters of stats that are gone go with them.
            mine.retain(|(_, stats, _)| stats.strong_count() > 0);
            let counters = Arc::new(Counters::new());
            if let Ok(mut all) = self.workers.lock() {
                all.push(counters.clone());
            }
            f(&counters);
            mine.push((self.id, Arc::downgrade(self), counters));
        });
    }

    /// Counts one answered request.
    pub fn request(
        self: &Arc<Self>,
        protocol: usize,
        method: Method,
        status: u16,
        body_bytes: u64,
        took: Duration,
    ) {
        self.with(|c| {
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

    /// Counts a TLS handshake and whether it failed.
    pub fn handshake(self: &Arc<Self>, ok: bool) {
        self.with(|c| {
            add(&c.handshakes, 1);
            if !ok {
                add(&c.handshake_failures, 1);
            }
        });
    }

    /// Counts an open-file cache lookup.
    pub fn file_cache(self: &Arc<Self>, hit: bool) {
        self.with(|c| add(if hit { &c.cache_hits } else { &c.cache_misses }, 1));
    }

    /// Sets this thread's count of cached open files.
    pub fn file_cache_entries(self: &Arc<Self>, n: usize) {
        self.with(|c| {
            c.cache_entries
                .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed)
        });
    }

    /// Counts a compressed copy served from the cache, or bytes compressed.
    pub fn compression(&self, hit: bool, bytes: usize) {
        if !self.enabled() {
            return;
        }
        if hit {
            add(&self.global.compression_hits, 1);
        } else {
            add(&self.global.compression_bytes, bytes as u64);
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// An open connection, counted while it lives.
#[derive(Debug)]
pub struct Open {
    protocol: usize,
    transport: usize,
    /// The stats it was counted in, if it was.
    counted: Option<Arc<Stats>>,
}

impl Open {
    /// Counts a connection of `protocol` over `transport` as open in
    /// `stats`.
    pub fn new(protocol: usize, transport: usize, stats: Option<&Arc<Stats>>) -> Open {
        let mut counted = None;
        if let Some(stats) = stats.filter(|s| s.enabled()) {
            stats.with(|c| {
                c.open[protocol][transport].fetch_add(1, Ordering::Relaxed);
            });
            counted = Some(stats.clone());
        }
        Open {
            protocol,
            transport,
            counted,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(stats) = &self.counted {
            stats.with(|c| {
                c.open[self.protocol][self.transport].fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
}
