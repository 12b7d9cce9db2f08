//! An HTTP/3 load generator for the benchmarks, in the manner of h2load
//! (Debian's h2load is built without QUIC): one thread, `-c` connections
//! with `-m` streams each, for `-D` seconds or `-n` requests, and h2load's
//! summary lines, so `bench/compare.py` reads both alike.
//!
//! ```sh
//! h3load -D 5 -c 10 -m 50 https://127.0.0.1:8443/1k.bin
//! ```
//!
//! The server's certificate is not checked: this talks to loopback
//! servers with throwaway certificates.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
#[path = "accept_all.rs"]
mod accept_all;
use accept_all::AcceptAll;

/// What the command line asks.
struct Options {
    connections: usize,
    streams: usize,
    duration: Option<Duration>,
    requests: Option<u64>,
    url: http::Uri,
}

fn usage() -> ! {
    eprintln!("usage: h3load [-c CONNECTIONS] [-m STREAMS] (-D SECONDS | -n REQUESTS) https://HOST:PORT/PATH");
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        connections: 1,
        streams: 1,
        duration: None,
        requests: None,
        url: http::Uri::default(),
    };
    let mut url = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "-c" => o.connections = value().parse().unwrap_or_else(|_| usage()),
            "-m" => o.streams = value().parse().unwrap_or_else(|_| usage()),
            "-D" => {
                let secs: f64 = value().parse().unwrap_or_else(|_| usage());
                o.duration = Some(Duration::from_secs_f64(secs));
            }
            "-n" => o.requests = Some(value().parse().unwrap_or_else(|_| usage())),
            "-t1" => {}
            "-t" => {
                let _ = value();
            }
            s if s.starts_with("-c") => o.connections = s[2..].parse().unwrap_or_else(|_| usage()),
            s if s.starts_with("-m") => o.streams = s[2..].parse().unwrap_or_else(|_| usage()),
            s if s.starts_with("https://") => url = Some(s.parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    o.url = url.unwrap_or_else(|| usage());
    if o.duration.is_none() && o.requests.is_none() {
        usage();
    }
    o
}

#[derive(Default)]
struct Counts {
    started: AtomicU64,
    done: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    errored: AtomicU64,
    status: [AtomicU64; 6],
    bytes: AtomicU64,
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(o));
}

async fn run(o: Options) {
    let host = o.url.host().unwrap_or("localhost").to_string();
    let port = o.url.port_u16().unwrap_or(443);
    let addr: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| usage());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAll))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let mut endpoint = quinn::Endpoint::client(bind).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut protocol = "h3";
    for _ in 0..o.connections {
        let conn = match endpoint.connect(addr, &host).unwrap().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("h3load: connection failed: {e}");
                protocol = "none";
                continue;
            }
        };
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn))
            .await
            .expect("HTTP/3 connection");
        tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        for _ in 0..o.streams {
            let send = send.clone();
            let counts = counts.clone();
            let stop = stop.clone();
            let url = o.url.clone();
            let budget = o.requests;
            tasks.push(tokio::spawn(async move {
                worker(send, url, counts, stop, budget).await;
            }));
        }
    }
    if let Some(d) = o.duration {
        tokio::time::sleep(d.saturating_sub(started.elapsed())).await;
        stop.store(true, Ordering::Relaxed);
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    endpoint.close(0u32.into(), b"");
    summary(&counts, elapsed, protocol);
}

async fn worker(
    mut send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    url: http::Uri,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    budget: Option<u64>,
) {
    while !stop.load(Ordering::Relaxed) {
        let n = counts.started.fetch_add(1, Ordering::Relaxed);
        if budget.is_some_and(|b| n >= b) {
            counts.started.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let request = http::Request::get(url.clone()).body(()).unwrap();
        let result = async {
            let mut stream = send.send_request(request).await?;
            stream.finish().await?;
            let response = stream.recv_response().await?;
            let mut bytes = 0u64;
            while let Some(chunk) = stream.recv_data().await? {
                bytes += chunk.remaining() as u64;
            }
            Ok::<_, h3::error::StreamError>((response.status().as_u16(), bytes))
        }
        .await;
        counts.done.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok((status, bytes)) => {
                counts.bytes.fetch_add(bytes, Ordering::Relaxed);
                let class = usize::from(status / 100).min(5);
                counts.status[class].fetch_add(1, Ordering::Relaxed);
                if (200..400).contains(&status) {
                    counts.succeeded.fetch_add(1, Ordering::Relaxed);
                } else {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {
                counts.errored.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

fn summary(c: &Counts, elapsed: f64, protocol: &str) {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let done = get(&c.done);
    let bytes = get(&c.bytes);
    println!(
        "finished in {elapsed:.2}s, {:.2} req/s, {:.2}MB/s",
        done as f64 / elapsed,
        bytes as f64 / elapsed / 1e6
    );
    println!(
        "requests: {done} total, {} started, {done} done, {} succeeded, {} failed, {} errored, 0 timeout",
        get(&c.started),
        get(&c.succeeded),
        get(&c.failed),
        get(&c.errored)
    );
    println!(
        "status codes: {} 2xx, {} 3xx, {} 4xx, {} 5xx",
        get(&c.status[2]),
        get(&c.status[3]),
        get(&c.status[4]),
        get(&c.status[5])
    );
    println!("traffic: {:.2}MB ({bytes}) total", bytes as f64 / 1e6);
    println!("Application protocol: {protocol}");
}
