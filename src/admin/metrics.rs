//! `/metrics`: the server's counters (`stats`) added up over the workers
//! at each scrape, with what the scrape reads besides them. The exposition
//! is the `prometheus-client` crate's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::stats::{Counters, CLASSES, DURATION_BUCKETS, METHODS, PROTOCOLS, TRANSPORTS};
use crate::window::dump::Dump;

/// What the scrape reads besides the workers' counters.
#[derive(Debug)]
pub struct Sources {
    /// Access log lines dropped.
    pub log_dropped: Option<Arc<AtomicU64>>,
    /// The dump, whose files are counted.
    pub dump: Option<Arc<Dump>>,
    /// The certificates from an ACME CA.
    pub acme: Option<Arc<crate::acme::status::Status>>,
    /// The per-client limits and their table.
    pub limiter: Option<Arc<crate::limit::Limiter>>,
    /// The server's counters.
    pub stats: Arc<crate::stats::Stats>,
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
struct Snapshot<'a>(Vec<Arc<Counters>>, &'a Counters);

impl Snapshot<'_> {
    fn take(stats: &crate::stats::Stats) -> Snapshot<'_> {
        Snapshot(stats.workers(), &stats.global)
    }

    /// The sum of one counter over every worker (and the global set).
    fn sum(&self, read: impl Fn(&Counters) -> u64) -> u64 {
        self.0.iter().map(|c| read(c)).sum::<u64>() + read(self.1)
    }

    fn sum_i(&self, read: impl Fn(&Counters) -> i64) -> i64 {
        self.0.iter().map(|c| read(c)).sum::<i64>() + read(self.1)
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
        let all = Snapshot::take(&self.sources.stats);
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
            load(&all.1.compression_hits),
        )?;
        counter(
            &mut encoder,
            "henaserver_compressed_bytes",
            "Bytes of compressed copies made on the fly",
            load(&all.1.compression_bytes),
        )?;
        if let Some(limiter) = &self.sources.limiter {
            let mut family = encoder.encode_descriptor(
                "henaserver_limited",
                "Requests and connections limited, by limit and action (refused, delayed, denied, dry-run)",
                None,
                MetricType::Counter,
            )?;
            for (limit, action, n) in limiter.limited() {
                family
                    .encode_family(&[("limit", &*limit), ("action", action)])?
                    .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
            let (used, capacity, bytes) = limiter.usage().unwrap_or((0, 0, 0));
            gauge(
                &mut encoder,
                "henaserver_limit_table_entries",
                "Clients the per-client table holds counts for",
                used as i64,
            )?;
            gauge(
                &mut encoder,
                "henaserver_limit_table_capacity",
                "Entries the per-client table can hold (0 until a limit is first used)",
                capacity as i64,
            )?;
            gauge(
                &mut encoder,
                "henaserver_limit_table_bytes",
                "Bytes the per-client table takes",
                bytes as i64,
            )?;
        }
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
