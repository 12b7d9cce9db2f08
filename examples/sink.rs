//! A load client for large bodies that copies nothing: response bodies are
//! discarded in the kernel with `recv(MSG_TRUNC)`, so the client costs far
//! less than the server it measures.
//!
//! With `--tls`, it speaks TLS 1.3 with AES-128-GCM offered first (the
//! cipher `openssl speed -evp aes-128-gcm` measures) and reads bodies in
//! pieces of up to 1 MiB: a client whose only work is to decrypt, unlike
//! wrk, which reads 8 KiB at a time. The server's certificate is not
//! checked (loopback, throwaway certificates).
//!
//! `cargo run --release --example sink -- [--tls] ADDR PATH CONNECTIONS SECONDS`
//! prints `responses=N bytes=N seconds=S errors=N`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../bench/accept_all.rs"]
mod accept_all;

fn usage() -> ! {
    eprintln!("usage: sink [--tls] ADDR PATH CONNECTIONS SECONDS");
    std::process::exit(2)
}

/// A connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn open(addr: SocketAddr, tls: Option<&Arc<rustls::ClientConfig>>) -> Option<Conn> {
        let stream = TcpStream::connect(addr).ok()?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        Some(match tls {
            None => Conn::Plain(stream),
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
                let session = rustls::ClientConnection::new(config.clone(), name).ok()?;
                Conn::Tls(Box::new(rustls::StreamOwned::new(session, stream)))
            }
        })
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(buf),
            Conn::Tls(s) => s.write_all(buf),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }

    /// Reads past up to `buf.len()` bytes of body.
    fn skip(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => skip(s, buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

/// TLS 1.3, AES-128-GCM first, any certificate.
fn tls_config() -> Arc<rustls::ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 with ring")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(accept_all::AcceptAll))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Default)]
struct Tally {
    responses: u64,
    bytes: u64,
    errors: u64,
}

fn content_length(head: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(head).ok()?;
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

fn one_connection(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    request: &[u8],
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut discard = vec![0u8; 1 << 20];
    'connect: while Instant::now() < until {
        let Some(mut stream) = Conn::open(addr, tls) else {
            tally.errors += 1;
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        while Instant::now() < until {
            if stream.write_all(request).is_err() {
                tally.errors += 1;
                continue 'connect;
            }
            let mut head = Vec::with_capacity(512);
            let mut chunk = [0u8; 512];
            let end = loop {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => {
                        tally.errors += 1;
                        continue 'connect;
                    }
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                }
                if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            if !head.starts_with(b"HTTP/1.1 200") {
                tally.errors += 1;
            }
            let Some(len) = content_length(&head[..end]) else {
                tally.errors += 1;
                continue 'connect;
            };
            let mut left = len - (head.len() - end) as u64;
            while left > 0 {
                let want = left.min(discard.len() as u64) as usize;
                match stream.skip(&mut discard[..want]) {
                    Ok(0) | Err(_) => {
                        tally.errors += 1;
                        continue 'connect;
                    }
                    Ok(n) => left -= n as u64,
                }
            }
            tally.responses += 1;
            tally.bytes += len;
        }
    }
    tally
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tls = match args.first().map(String::as_str) {
        Some("--tls") => {
            args.remove(0);
            Some(tls_config())
        }
        _ => None,
    };
    if args.len() != 4 {
        usage();
    }
    let addr: SocketAddr = args[0].parse().unwrap_or_else(|_| usage());
    let request = format!("GET {} HTTP/1.1\r\nHost: bench\r\n\r\n", args[1]).into_bytes();
    let connections: usize = args[2].parse().unwrap_or_else(|_| usage());
    let seconds: f64 = args[3].parse().unwrap_or_else(|_| usage());
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(seconds);
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let request = request.clone();
            let tls = tls.clone();
            std::thread::spawn(move || one_connection(addr, tls.as_ref(), &request, until))
        })
        .collect();
    let mut total = Tally::default();
    for t in threads {
        let t = t.join().unwrap_or_default();
        total.responses += t.responses;
        total.bytes += t.bytes;
        total.errors += t.errors;
    }
    println!(
        "responses={} bytes={} seconds={:.3} errors={}",
        total.responses,
        total.bytes,
        start.elapsed().as_secs_f64(),
        total.errors
    );
}

/// Reads past up to `buf.len()` bytes of `stream`: on Linux, discarded in
/// the kernel (MSG_TRUNC), without a copy.
#[cfg(target_os = "linux")]
fn skip(stream: &std::net::TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let (_, n) = rustix::net::recv(stream, buf, rustix::net::RecvFlags::TRUNC)?;
    Ok(n)
}

/// Reads past up to `buf.len()` bytes of `stream`.
#[cfg(not(target_os = "linux"))]
fn skip(mut stream: &std::net::TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    std::io::Read::read(&mut stream, buf)
}
