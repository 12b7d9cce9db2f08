//! Counters for `/metrics`, kept off the request path's locks: each
//! worker thread counts into atomics of its own (no other thread writes
//! them, so they never contend), and a scrape adds the workers up. The
//! exposition is the `prometheus-client` crate's.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::exchange::Method;
use crate::window::dump::Dump;

/// The protocols requests are counted by.
pub const PROTOCOLS: [&str; 3] = ["http/1.1", "h2", "h3"];
/// The transports connections are counted by.
pub const TRANSPORTS: [&str; 2] = ["tcp", "tls"];
/// The methods requests are counted by; any other is `other`.
const METHODS: [&str; 4] = ["GET", "HEAD", "OPTIONS", "other"];
/// Status classes.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
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
static WORKERS: Mutex<Vec<Arc<Counters>>> = Mutex::new(Vec::new());

/// Counters outside any worker (the compression cache, shared by all).
static GLOBAL: Counters = Counters::new();

thread_local! {
    static MINE: OnceCell<Arc<Counters>> = const { OnceCell::new() };
}

/// One worker's counters.
#[derive(Debug)]
pub struct Counters {
    requests: [[[AtomicU64; 5]; 4]; 3],
    body_bytes: [AtomicU64; 3],
    duration_buckets: [AtomicU64; 15],
    duration_count: AtomicU64,
    duration_nanos: AtomicU64,
    open: [[AtomicI64; 2]; 3],
    handshakes: AtomicU64,
    handshake_failures: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    cache_entries: AtomicI64,
    compression_hits: AtomicU64,
    compression_bytes: AtomicU64,
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

/// What the scrape reads besides the workers' counters.
#[derive(Debug, Default)]
pub struct Sources {
    /// Access log lines dropped.
    pub log_dropped: Option<Arc<AtomicU64>>,
    /// The dump, whose files are counted.
    pub dump: Option<Arc<Dump>>,
    /// The certificates from an ACME CA.
    pub acme: Option<Arc<crate::acme::status::Status>>,
}

/// The collector a registry asks at each scrape.
#[derive(Debug)]
pub struct Scrape {
    sources: Sources,
}

impl Scrape {
    /// A collector that also reads `sources`.
    pub fn new(sources: Sources) -> Scrape {
        Scrape { sources }
    }
}

/// Every worker's counters, taken once per scrape.
struct Snapshot(Vec<Arc<Counters>>);

impl Snapshot {
    fn take() -> Snapshot {
        Snapshot(WORKERS.lock().map(|w| w.clone()).unwrap_or_default())
    }

    /// The sum of one counter over every worker (and the global set).
    fn sum(&self, read: impl Fn(&Counters) -> u64) -> u64 {
        self.0.iter().map(|c| read(c)).sum::<u64>() + read(&GLOBAL)
    }

    fn sum_i(&self, read: impl Fn(&Counters) -> i64) -> i64 {
        self.0.iter().map(|c| read(c)).sum::<i64>() + read(&GLOBAL)
    }
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    encoder
        .encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    encoder
        .encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let all = Snapshot::take();
        let mut family = encoder.encode_descriptor(
            "henaserver_requests",
            "Requests answered, by protocol, method and status class",
            None,
            MetricType::Counter,
        )?;
        for (p, protocol) in PROTOCOLS.iter().enumerate() {
            for (m, method) in METHODS.iter().enumerate() {
                for (k, class) in CLASSES.iter().enumerate() {
                    let n = all.sum(|c| load(&c.requests[p][m][k]));
                    if n == 0 {
                        continue;
                    }
                    let labels = [
                        ("protocol", *protocol),
                        ("method", *method),
                        ("status", *class),
                    ];
                    family
                        .encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "henaserver_response_body_bytes",
            "Response body bytes sent, by protocol",
            None,
            MetricType::Counter,
        )?;
        for (p, protocol) in PROTOCOLS.iter().enumerate() {
            let n = all.sum(|c| load(&c.body_bytes[p]));
            family
                .encode_family(&[("protocol", *protocol)])?
                .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        // Each bucket's own count: the encoder makes them cumulative.
        let count = all.sum(|c| load(&c.duration_count));
        let mut buckets: Vec<(f64, u64)> = DURATION_BUCKETS
            .iter()
            .enumerate()
            .map(|(i, &le)| (le, all.sum(|c| load(&c.duration_buckets[i]))))
            .collect();
        let bounded: u64 = buckets.iter().map(|(_, n)| n).sum();
        buckets.push((f64::INFINITY, count.saturating_sub(bounded)));
        let seconds = all.sum(|c| load(&c.duration_nanos)) as f64 / 1e9;
        encoder
            .encode_descriptor(
                "henaserver_request_duration_seconds",
                "Time from a complete request head to the last byte of the response",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(seconds, count, &buckets, None)?;
        let mut family = encoder.encode_descriptor(
            "henaserver_open_connections",
            "Connections open now, by protocol and transport",
            None,
            MetricType::Gauge,
        )?;
        for (p, protocol) in PROTOCOLS.iter().enumerate() {
            for (t, transport) in TRANSPORTS.iter().enumerate() {
                let n = all.sum_i(|c| c.open[p][t].load(Ordering::Relaxed));
                family
                    .encode_family(&[("protocol", *protocol), ("transport", *transport)])?
                    .encode_gauge(&n)?;
            }
        }
        counter(
            &mut encoder,
            "henaserver_tls_handshakes",
            "TLS handshakes begun",
            all.sum(|c| load(&c.handshakes)),
        )?;
        counter(
            &mut encoder,
            "henaserver_tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            all.sum(|c| load(&c.handshake_failures)),
        )?;
        counter(
            &mut encoder,
            "henaserver_file_cache_hits",
            "Requests answered from the open-file cache",
            all.sum(|c| load(&c.cache_hits)),
        )?;
        counter(
            &mut encoder,
            "henaserver_file_cache_misses",
            "Requests that opened their file",
            all.sum(|c| load(&c.cache_misses)),
        )?;
        gauge(
            &mut encoder,
            "henaserver_file_cache_entries",
            "Open files cached, all workers together",
            all.sum_i(|c| c.cache_entries.load(Ordering::Relaxed)),
        )?;
        counter(
            &mut encoder,
            "henaserver_compression_cache_hits",
            "Compressed copies served from the cache",
            load(&GLOBAL.compression_hits),
        )?;
        counter(
            &mut encoder,
            "henaserver_compressed_bytes",
            "Bytes of compressed copies made on the fly",
            load(&GLOBAL.compression_bytes),
        )?;
        let dropped = self.sources.log_dropped.as_ref().map_or(0, |d| load(d));
        counter(
            &mut encoder,
            "henaserver_access_log_dropped_lines",
            "Access log lines dropped because the writer fell behind",
            dropped,
        )?;
        let dumped = self.sources.dump.as_ref().map_or(0, |d| d.files());
        counter(
            &mut encoder,
            "henaserver_dump_files",
            "Files --dump has written",
            dumped,
        )?;
        if let Some(acme) = &self.sources.acme {
            let all = acme.all();
            let seconds = crate::acme::status::unix_seconds;
            for (name, help, value) in [
                (
                    "henaserver_acme_certificate_not_after_seconds",
                    "When each ACME certificate expires, in seconds since the epoch (0: none yet)",
                    &(|s: &crate::acme::status::CertState| s.not_after.map_or(0, seconds))
                        as &dyn Fn(&crate::acme::status::CertState) -> i64,
                ),
                (
                    "henaserver_acme_next_renewal_seconds",
                    "When each ACME certificate is next ordered, in seconds since the epoch",
                    &|s| s.next_renewal.map_or(0, seconds),
                ),
                (
                    "henaserver_acme_failures",
                    "ACME orders failed in a row, by domain",
                    &|s| i64::from(s.failures),
                ),
                (
                    "henaserver_acme_temporary_certificate",
                    "1 while a domain is served a temporary self-signed certificate",
                    &|s| i64::from(s.temporary),
                ),
            ] {
                let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                for (domain, state) in &all {
                    family
                        .encode_family(&[("domain", domain.as_str())])?
                        .encode_gauge(&value(state))?;
                }
            }
        }
        encoder
            .encode_descriptor(
                "henaserver_build",
                "The henaserver version",
                None,
                MetricType::Info,
            )?
            .encode_info(&[("version", env!("CARGO_PKG_VERSION"))])?;
        Ok(())
    }
}
