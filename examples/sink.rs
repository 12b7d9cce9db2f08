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
//! With `--h2` (which implies `--tls`), it speaks HTTP/2 over that TLS,
//! one stream at a time on each connection (h2load's `-m1`): the request
//! is a fixed header block, the windows are opened as wide as the protocol
//! allows, and DATA payloads are only counted. h2load decrypts with
//! OpenSSL, reads 16 KiB at a time and hands every frame to nghttp2; on a
//! 64 MiB body it costs about as much CPU as the server it measures.
//!
//! `cargo run --release --example sink -- [--tls | --h2] ADDR PATH CONNECTIONS SECONDS`
//! prints `responses=N bytes=N seconds=S errors=N`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../bench/accept_all.rs"]
mod accept_all;

fn usage() -> ! {
    eprintln!("usage: sink [--tls | --h2] ADDR PATH CONNECTIONS SECONDS");
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

/// TLS 1.3, AES-128-GCM first, any certificate; ALPN `h2` with `h2`.
fn tls_config(h2: bool) -> Arc<rustls::ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 with ring")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(accept_all::AcceptAll))
        .with_no_client_auth();
    if h2 {
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
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

/// The largest flow-control window HTTP/2 allows.
const MAX_WINDOW: u32 = (1 << 31) - 1;
/// The window every connection starts with.
const FIRST_WINDOW: u32 = 65_535;

/// An HTTP/2 frame head.
fn frame(kind: u8, flags: u8, stream: u32, len: usize) -> [u8; 9] {
    let len = (len as u32).to_be_bytes();
    let id = stream.to_be_bytes();
    [
        len[1], len[2], len[3], kind, flags, id[0], id[1], id[2], id[3],
    ]
}

/// The connection preface, SETTINGS (INITIAL_WINDOW_SIZE at its largest)
/// and a WINDOW_UPDATE that opens the connection's window as wide.
fn h2_preface() -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&frame(0x4, 0, 0, 6));
    out.extend_from_slice(&[0, 4]);
    out.extend_from_slice(&MAX_WINDOW.to_be_bytes());
    out.extend_from_slice(&frame(0x8, 0, 0, 4));
    out.extend_from_slice(&(MAX_WINDOW - FIRST_WINDOW).to_be_bytes());
    out
}

/// A GET of `path` on `stream`: HEADERS with END_STREAM and END_HEADERS,
/// its fields from HPACK's static table or literal, never indexed.
fn h2_request(stream: u32, path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x87];
    for (index, value) in [(4u8, path), (1, "bench")] {
        block.push(index);
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    let mut out = frame(0x1, 0x5, stream, block.len()).to_vec();
    out.extend_from_slice(&block);
    out
}

/// HTTP/2 over TLS, one stream at a time, until `until`.
fn h2_connection(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    path: &str,
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut buf = vec![0u8; 1 << 20];
    'connect: while Instant::now() < until {
        let Some(mut conn) = Conn::open(addr, Some(tls)) else {
            tally.errors += 1;
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if conn.write_all(&h2_preface()).is_err() {
            tally.errors += 1;
            continue;
        }
        // Bytes of `buf` read and not yet parsed, from `start` to `end`.
        let (mut start, mut end) = (0, 0);
        // DATA payload bytes still to skip before the next frame head.
        let mut skipping = 0usize;
        let mut window = MAX_WINDOW as u64;
        let mut stream = 1u32;
        while Instant::now() < until {
            if conn.write_all(&h2_request(stream, path)).is_err() {
                tally.errors += 1;
                continue 'connect;
            }
            let mut body = 0u64;
            let mut ok = false;
            'response: loop {
                let n = skipping.min(end - start);
                skipping -= n;
                start += n;
                let mut whole = None;
                if skipping == 0 && end - start >= 9 {
                    let head = &buf[start..start + 9];
                    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                    if head[3] == 0x0 || end - start >= 9 + len {
                        whole = Some(len);
                    }
                }
                let Some(len) = whole else {
                    // More bytes are needed: the rest of a body, or of a frame.
                    if start == end {
                        (start, end) = (0, 0);
                    } else if start > 0 {
                        buf.copy_within(start..end, 0);
                        (start, end) = (0, end - start);
                    }
                    let read = match &mut buf[end..] {
                        [] => Ok(0),
                        room => conn.read(room),
                    };
                    match read {
                        Ok(0) | Err(_) => {
                            tally.errors += 1;
                            continue 'connect;
                        }
                        Ok(n) => end += n,
                    }
                    continue;
                };
                let head = &buf[start..start + 9];
                let (kind, flags) = (head[3], head[4]);
                let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & MAX_WINDOW;
                if kind == 0x0 {
                    start += 9;
                    skipping = len;
                    body += len as u64;
                    window -= len as u64;
                    if window < (MAX_WINDOW / 2) as u64 {
                        let grow = MAX_WINDOW as u64 - window;
                        let mut update = frame(0x8, 0, 0, 4).to_vec();
                        update.extend_from_slice(&(grow as u32).to_be_bytes());
                        if conn.write_all(&update).is_err() {
                            tally.errors += 1;
                            continue 'connect;
                        }
                        window += grow;
                    }
                    if id == stream && flags & 0x1 != 0 {
                        // The last payload is skipped before the next
                        // response's frames are read.
                        let n = skipping.min(end - start);
                        skipping -= n;
                        start += n;
                        while skipping > 0 {
                            match conn.read(&mut buf[..skipping.min(1 << 20)]) {
                                Ok(0) | Err(_) => {
                                    tally.errors += 1;
                                    continue 'connect;
                                }
                                Ok(n) => skipping -= n,
                            }
                        }
                        break 'response;
                    }
                    continue;
                }
                let payload = &buf[start + 9..start + 9 + len];
                let mut reply = None;
                match kind {
                    // HEADERS: `:status 200` is index 8 of the static table.
                    0x1 if id == stream => {
                        let pad = usize::from(flags & 0x8 != 0);
                        let skip = pad + if flags & 0x20 != 0 { 5 } else { 0 };
                        ok = payload.get(skip) == Some(&0x88);
                        if flags & 0x1 != 0 {
                            start += 9 + len;
                            break 'response;
                        }
                    }
                    // SETTINGS without ACK, and PING without ACK, are acked.
                    0x4 if flags & 0x1 == 0 => reply = Some(frame(0x4, 0x1, 0, 0).to_vec()),
                    0x6 if flags & 0x1 == 0 => {
                        let mut pong = frame(0x6, 0x1, 0, 8).to_vec();
                        pong.extend_from_slice(payload);
                        reply = Some(pong);
                    }
                    // RST_STREAM and GOAWAY end the connection.
                    0x3 | 0x7 => {
                        tally.errors += 1;
                        continue 'connect;
                    }
                    _ => {}
                }
                start += 9 + len;
                if let Some(reply) = reply {
                    if conn.write_all(&reply).is_err() {
                        tally.errors += 1;
                        continue 'connect;
                    }
                }
            }
            if ok {
                tally.responses += 1;
                tally.bytes += body;
            } else {
                tally.errors += 1;
            }
            stream += 2;
        }
    }
    tally
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut h2 = false;
    let tls = match args.first().map(String::as_str) {
        Some("--tls") => {
            args.remove(0);
            Some(tls_config(false))
        }
        Some("--h2") => {
            args.remove(0);
            h2 = true;
            Some(tls_config(true))
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
            let path = args[1].clone();
            std::thread::spawn(move || match tls {
                Some(tls) if h2 => h2_connection(addr, &tls, &path, until),
                tls => one_connection(addr, tls.as_ref(), &request, until),
            })
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
