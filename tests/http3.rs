//! HTTP/3 over QUIC with a real client (`h3` over `quinn`, trusting a
//! test CA): the pipeline's semantics, many streams, a large body, Alt-Svc
//! over HTTP/1.1 and HTTP/2 only with `--http3`, the access log, a stream
//! reset mid-body, and a graceful stop mid-download.

mod common;
use common::h3::*;
use common::tls::Ca;
use common::*;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Buf;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

struct H3Server {
    tree: Tree,
    ca: Ca,
    server: TestServer,
    quic: SocketAddr,
}

fn start(options: &[&str]) -> H3Server {
    let tree = Tree::new();
    tree.dir("www");
    tree.file("www/index.html", "<h1>over QUIC</h1>\n")
        .file("www/data.txt", "0123456789abcdefghij")
        .file("www/app.js", "let x = 1;\n".repeat(300))
        .file("www/app.js.gz", gzip(&"let x = 1;\n".repeat(300)));
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let mut args = vec!["--http3", "--tls-cert", &cert, "--tls-key", &key];
    args.extend_from_slice(options);
    let server = TestServer::start(&tree.path().join("www"), &args);
    let line = server.stdout.lock().unwrap()[0].clone();
    let quic = quic_addr(&line).unwrap_or_else(|| panic!("no HTTP/3 address in {line:?}"));
    assert_eq!(quic.port(), server.addr.port(), "UDP on the HTTPS port");
    H3Server {
        tree,
        ca,
        server,
        quic,
    }
}

fn gzip(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
    out
}

#[test]
fn semantics_over_http3() {
    let s = start(&["--quiet"]);
    runtime().block_on(async {
        let (_endpoint, client) = connect(s.quic, &s.ca.client_config(&[])).await;
        let r = send(&client, "GET", "/data.txt", &[]).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"0123456789abcdefghij"[..]));
        assert_eq!(r.header("content-length"), Some("20"));
        assert!(
            r.header("alt-svc").is_none(),
            "no Alt-Svc over HTTP/3 itself"
        );
        let etag = r.header("etag").expect("an ETag").to_string();

        let r = send(&client, "HEAD", "/data.txt", &[]).await;
        assert_eq!((r.status, r.body.len()), (200, 0));
        assert_eq!(r.header("content-length"), Some("20"));

        let r = send(&client, "GET", "/missing", &[]).await;
        assert_eq!(r.status, 404);

        let r = send(&client, "GET", "/data.txt", &[("range", "bytes=2-5")]).await;
        assert_eq!((r.status, &r.body[..]), (206, &b"2345"[..]));
        assert_eq!(r.header("content-range"), Some("bytes 2-5/20"));

        let r = send(&client, "GET", "/data.txt", &[("if-none-match", &etag)]).await;
        assert_eq!((r.status, r.body.len()), (304, 0));

        let r = send(&client, "GET", "/app.js", &[("accept-encoding", "gzip")]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.body, gzip(&"let x = 1;\n".repeat(300)));

        let r = send(&client, "GET", "/", &[]).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"<h1>over QUIC</h1>\n"[..]));
    });
}

#[test]
fn fifty_concurrent_streams_and_a_large_body_arrive_intact() {
    many_streams_and_a_large_body(&["--quiet"]);
}

#[test]
fn serving_works_without_segmentation_offload() {
    // UDP one datagram at a time, as where the kernel has no GSO or GRO.
    many_streams_and_a_large_body(&["--quiet", "--quic-no-offload"]);
}

fn many_streams_and_a_large_body(options: &[&str]) {
    let s = start(options);
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    s.tree.file("www/big.bin", &big);
    runtime().block_on(async {
        let (_endpoint, client) = connect(s.quic, &s.ca.client_config(&[])).await;
        let mut tasks = Vec::new();
        for i in 0..50 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let path = if i % 2 == 0 { "/data.txt" } else { "/app.js" };
                (i, send(&client, "GET", path, &[]).await)
            }));
        }
        for task in tasks {
            let (i, r) = task.await.unwrap();
            assert_eq!(r.status, 200, "stream {i}");
            let want = if i % 2 == 0 {
                b"0123456789abcdefghij".to_vec()
            } else {
                "let x = 1;\n".repeat(300).into_bytes()
            };
            assert!(r.body == want, "stream {i} intact");
        }
        let r = send(&client, "GET", "/big.bin", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), big.len());
        assert!(r.body == big, "5 MiB intact");
    });
}

/// Reads the head of an HTTPS/1.1 response to `path`.
fn https1_head(addr: SocketAddr, ca: &Ca, path: &str) -> String {
    let mut client = common::tls::connect(addr, "localhost", ca.client_config(&[b"http/1.1"]));
    client.send(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    client.raw_head()
}

#[test]
fn alt_svc_is_offered_over_http1_and_http2_only_with_http3() {
    let s = start(&["--quiet"]);
    let want = format!("h3=\":{}\"; ma=86400", s.quic.port());
    let head = https1_head(s.server.addr, &s.ca, "/data.txt");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("alt-svc: {want}").to_ascii_lowercase()),
        "{head}"
    );
    runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(s.ca.client_config(&[b"h2"]));
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        let (client, connection) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut client = client.ready().await.unwrap();
        let request = http::Request::builder()
            .uri("https://localhost/data.txt")
            .body(())
            .unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("alt-svc")
                .and_then(|v| v.to_str().ok()),
            Some(want.as_str())
        );
    });
    // Without --http3: no UDP socket and no Alt-Svc.
    let tree = Tree::new();
    tree.file("data.txt", "x");
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let plain = TestServer::start(
        tree.path(),
        &[
            "--quiet",
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    let line = plain.stdout.lock().unwrap()[0].clone();
    assert!(quic_addr(&line).is_none(), "{line}");
    let head = https1_head(plain.addr, &ca, "/data.txt");
    assert!(!head.to_ascii_lowercase().contains("alt-svc"), "{head}");
}

#[test]
fn http3_needs_https() {
    let tree = Tree::new();
    let (code, _, err) = run_bin(&[&tree.path().display().to_string(), "--http3"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--http3 needs HTTPS"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for flag in ["--http3-0rtt", "--quic-no-offload"] {
        let (code, _, err) = run_bin(
            &[
                &tree.path().display().to_string(),
                "--tls-self-signed",
                flag,
            ],
            &[],
        );
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(&format!("{flag} needs --http3")), "{err}");
    }
}

#[test]
fn the_access_log_names_http3() {
    let s = start(&[]);
    runtime().block_on(async {
        let (_endpoint, client) = connect(s.quic, &s.ca.client_config(&[])).await;
        let r = send(
            &client,
            "GET",
            "/data.txt?q=1",
            &[("user-agent", "h3-test")],
        )
        .await;
        assert_eq!(r.status, 200);
    });
    let line = s
        .server
        .wait_stdout(|l| l.contains("/data.txt?q=1"))
        .expect("an access log line");
    assert!(
        line.contains("\"GET /data.txt?q=1 HTTP/3.0\" 200 20"),
        "{line}"
    );
    assert!(line.contains("h3-test"), "{line}");
}

#[test]
fn a_stream_reset_mid_body_leaves_the_connection_serving() {
    let s = start(&["--quiet"]);
    s.tree.file("www/big.bin", vec![b'q'; 4 * 1024 * 1024]);
    runtime().block_on(async {
        let (_endpoint, client) = connect(s.quic, &s.ca.client_config(&[])).await;
        let mut stream = get_stream(&client, "/big.bin").await;
        let first = stream.recv_data().await.unwrap().expect("some body");
        assert!(first.remaining() > 0);
        stream.stop_sending(::h3::error::Code::H3_REQUEST_CANCELLED);
        drop(stream);
        for _ in 0..3 {
            let r = send(&client, "GET", "/data.txt", &[]).await;
            assert_eq!((r.status, &r.body[..]), (200, &b"0123456789abcdefghij"[..]));
        }
    });
}

#[test]
fn a_download_in_flight_finishes_through_a_graceful_stop() {
    let mut s = start(&["--quiet", "--shutdown-grace", "60s"]);
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    s.tree.file("www/big.bin", &big);
    let got = runtime().block_on(async {
        let (endpoint, client) = connect(s.quic, &s.ca.client_config(&[])).await;
        let mut stream = get_stream(&client, "/big.bin").await;
        let mut got = Vec::new();
        let mut told = false;
        while let Some(chunk) = stream.recv_data().await.expect("the body") {
            take(chunk, &mut got);
            if !told {
                s.server.signal("TERM");
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The client closes, as one told GOAWAY does once done.
        drop(stream);
        endpoint.close(0u32.into(), b"");
        endpoint.wait_idle().await;
        got
    });
    assert_eq!(got.len(), big.len(), "bytes received");
    assert!(got == big, "the download arrived whole");
    assert_eq!(s.server.wait_exit(PATIENCE), Some(0));
}

/// With one worker, on the main thread, a stop drains HTTPS over TCP
/// there while HTTP/3 drains on its own thread: an HTTP/1.1 download
/// finishes while an HTTP/3 one waits, unread, for the client.
#[test]
fn one_worker_drains_tcp_while_quic_drains() {
    let mut s = start(&["--quiet", "--shutdown-grace", "60s", "--threads", "1"]);
    let big: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 239) as u8).collect();
    // More than loopback's socket buffers hold.
    let bigger: Vec<u8> = (0..48 * 1024 * 1024u32).map(|i| (i % 233) as u8).collect();
    s.tree
        .file("www/big.bin", &big)
        .file("www/bigger.bin", &bigger);
    let (h1, h3) = runtime().block_on(async {
        let (endpoint, client) = connect(s.quic, &s.ca.client_config(&[])).await;
        let mut stream = get_stream(&client, "/big.bin").await;
        let mut h3 = Vec::new();
        take(
            stream.recv_data().await.unwrap().expect("some body"),
            &mut h3,
        );
        let config = s.ca.client_config(&[b"http/1.1"]);
        let mut tcp = common::tls::connect(s.server.addr, "localhost", config);
        tcp.send(b"GET /bigger.bin HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert!(tcp.raw_head().starts_with("HTTP/1.1 200"));
        s.server.signal("TERM");
        let mut h1 = tcp.pending().to_vec();
        let mut chunk = vec![0u8; 1 << 16];
        while h1.len() < bigger.len() {
            use std::io::Read;
            let n = tcp.stream.read(&mut chunk).expect("HTTP/1.1 body");
            assert!(n > 0, "HTTP/1.1 body cut at {}", h1.len());
            h1.extend_from_slice(&chunk[..n]);
        }
        while let Some(chunk) = stream.recv_data().await.expect("HTTP/3 body") {
            take(chunk, &mut h3);
        }
        drop(stream);
        endpoint.close(0u32.into(), b"");
        endpoint.wait_idle().await;
        (h1, h3)
    });
    assert!(h1 == bigger, "the HTTP/1.1 download arrived whole");
    assert!(h3 == big, "the HTTP/3 download arrived whole");
    assert_eq!(s.server.wait_exit(PATIENCE), Some(0));
}

// ---- Requests built by hand ------------------------------------------------

/// A QUIC variable-length integer (RFC 9000 §16).
fn varint(n: u64, out: &mut Vec<u8>) {
    match n {
        0..=63 => out.push(n as u8),
        64..=16383 => out.extend_from_slice(&(0x4000 | n as u16).to_be_bytes()),
        _ => out.extend_from_slice(&(0x8000_0000 | n as u32).to_be_bytes()),
    }
}

/// An HTTP/3 frame.
fn h3_frame(kind: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(kind, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// A QPACK field line with a literal name and value (RFC 9204 §4.5.6):
/// the name's length in a 3-bit prefix, the value's in a 7-bit one.
fn qpack_literal(name: &str, value: &str) -> Vec<u8> {
    assert!(name.len() < 7 + 128 && value.len() < 127);
    let mut out = if name.len() < 7 {
        vec![0x20 | name.len() as u8]
    } else {
        vec![0x20 | 0x07, (name.len() - 7) as u8]
    };
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
    out
}

const GET: u8 = 0xc0 | 17;
const HTTPS: u8 = 0xc0 | 23;
const PATH_ROOT: u8 = 0xc0 | 1;

/// A field section: the QPACK prefix (no dynamic table), then `lines`.
fn section(lines: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![0x00, 0x00];
    for line in lines {
        out.extend_from_slice(line);
    }
    out
}

/// :authority localhost, by reference to the static table's name.
fn authority() -> Vec<u8> {
    let mut out = vec![0x50, 9];
    out.extend_from_slice(b"localhost");
    out
}

/// Opens a control stream of the client's (stream type 0) carrying
/// `frames`, and ends it when `finish`.
async fn control_stream(
    conn: &quinn::Connection,
    frames: &[u8],
    finish: bool,
) -> quinn::SendStream {
    let mut control = conn.open_uni().await.unwrap();
    let mut bytes = vec![0x00];
    bytes.extend_from_slice(frames);
    control.write_all(&bytes).await.unwrap();
    if finish {
        control.finish().unwrap();
    }
    control
}

/// A raw QUIC connection speaking HTTP/3 with a control stream of its own.
async fn raw_connection(
    addr: SocketAddr,
    ca: &Ca,
) -> (quinn::Endpoint, quinn::Connection, quinn::SendStream) {
    let (endpoint, conn) = quic(addr, &ca.client_config(&[])).await;
    let control = control_stream(&conn, &h3_frame(0x04, &[]), false).await;
    (endpoint, conn, control)
}

/// Sends `bytes` on a new request stream and reads the answer: the bytes,
/// or the code the stream was reset with.
async fn raw_exchange(conn: &quinn::Connection, bytes: &[u8]) -> Result<Vec<u8>, u64> {
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let _ = send.write_all(bytes).await;
    let _ = send.finish();
    match recv.read_to_end(1 << 20).await {
        Ok(answer) => Ok(answer),
        Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(code))) => Err(code.into_inner()),
        Err(e) => panic!("the stream failed otherwise: {e}"),
    }
}

#[test]
fn malformed_requests_get_h3_message_error_and_the_connection_serves_on() {
    const H3_MESSAGE_ERROR: u64 = 0x10e;
    let s = start(&["--quiet"]);
    let auth = authority();
    let good = h3_frame(0x01, &section(&[&[GET], &[HTTPS], &auth, &[PATH_ROOT]]));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "upper-case field name",
            h3_frame(
                0x01,
                &section(&[
                    &[GET],
                    &[HTTPS],
                    &auth,
                    &[PATH_ROOT],
                    &qpack_literal("X-Up", "1"),
                ]),
            ),
        ),
        (
            "connection-specific field",
            h3_frame(
                0x01,
                &section(&[
                    &[GET],
                    &[HTTPS],
                    &auth,
                    &[PATH_ROOT],
                    &qpack_literal("connection", "close")[..],
                ]),
            ),
        ),
        (
            "TE other than trailers",
            h3_frame(
                0x01,
                &section(&[
                    &[GET],
                    &[HTTPS],
                    &auth,
                    &[PATH_ROOT],
                    &qpack_literal("te", "gzip"),
                ]),
            ),
        ),
        (
            "missing :path",
            h3_frame(0x01, &section(&[&[GET], &[HTTPS], &auth])),
        ),
        (
            "repeated :method",
            h3_frame(
                0x01,
                &section(&[&[GET], &[GET], &[HTTPS], &auth, &[PATH_ROOT]]),
            ),
        ),
        (
            "pseudo-header after a field",
            h3_frame(
                0x01,
                &section(&[
                    &[GET],
                    &[HTTPS],
                    &auth,
                    &qpack_literal("x-a", "1"),
                    &[PATH_ROOT],
                ]),
            ),
        ),
        (
            "unknown pseudo-header",
            h3_frame(
                0x01,
                &section(&[
                    &[GET],
                    &[HTTPS],
                    &auth,
                    &[PATH_ROOT],
                    &qpack_literal(":bogus", "1"),
                ]),
            ),
        ),
        ("content-length the DATA contradicts", {
            let mut b = h3_frame(
                0x01,
                &section(&[
                    &[0xc0 | 20],
                    &[HTTPS],
                    &auth,
                    &[PATH_ROOT],
                    &qpack_literal("content-length", "10")[..],
                ]),
            );
            b.extend(h3_frame(0x00, b"abc"));
            b
        }),
    ];
    runtime().block_on(async {
        let (_endpoint, conn, _control) = raw_connection(s.quic, &s.ca).await;
        let answer = raw_exchange(&conn, &good)
            .await
            .expect("a good request is answered");
        assert_eq!(answer.first(), Some(&0x01), "a HEADERS frame first");
        for (what, bytes) in cases {
            let got = raw_exchange(&conn, &bytes).await;
            assert_eq!(got.err(), Some(H3_MESSAGE_ERROR), "{what}");
            let answer = raw_exchange(&conn, &good)
                .await
                .unwrap_or_else(|code| panic!("{what}: the next request was reset ({code:#x})"));
            assert_eq!(answer.first(), Some(&0x01), "{what}: served on");
        }
    });
}

/// A control stream's frames, and whether it ends.
type Control = (Vec<u8>, bool);

/// Opens a raw connection with a control stream for each of `controls`
/// (its frames, and whether it ends), kept open until the end, and returns
/// the code the server closes the connection with.
async fn closed_with(addr: SocketAddr, ca: &Ca, controls: &[Control]) -> Option<u64> {
    let (_endpoint, conn) = quic(addr, &ca.client_config(&[])).await;
    let mut open = Vec::new();
    for (frames, finish) in controls {
        open.push(control_stream(&conn, frames, *finish).await);
    }
    match tokio::time::timeout(PATIENCE, conn.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(close)) => Some(close.error_code.into_inner()),
        _ => None,
    }
}

#[test]
fn control_stream_errors_close_the_connection_with_their_code() {
    let s = start(&["--quiet"]);
    let settings = h3_frame(0x04, &[]);
    let mut data_after = settings.clone();
    data_after.extend(h3_frame(0x00, b"x"));
    let cases: Vec<(&str, Vec<Control>, u64)> = vec![
        // The client's control stream ends.
        (
            "H3_CLOSED_CRITICAL_STREAM",
            vec![(settings.clone(), true)],
            0x104,
        ),
        // A control stream that does not begin with SETTINGS.
        (
            "H3_MISSING_SETTINGS",
            vec![(h3_frame(0x07, &[0x00]), false)],
            0x10a,
        ),
        // DATA on the control stream.
        ("H3_FRAME_UNEXPECTED", vec![(data_after, false)], 0x105),
        // A second control stream.
        (
            "H3_STREAM_CREATION_ERROR",
            vec![(settings.clone(), false), (settings.clone(), false)],
            0x103,
        ),
    ];
    runtime().block_on(async {
        for (what, controls, code) in cases {
            assert_eq!(
                closed_with(s.quic, &s.ca, &controls).await,
                Some(code),
                "{what}"
            );
        }
    });
    // And the server serves a fresh connection.
    runtime().block_on(async {
        let (_endpoint, client) = connect(s.quic, &s.ca.client_config(&[])).await;
        let r = send(&client, "GET", "/data.txt", &[]).await;
        assert_eq!(r.status, 200);
    });
}

/// The certificate a fresh QUIC connection is shown.
async fn quic_peer_cert(addr: SocketAddr, ca: &Ca) -> Vec<u8> {
    let (endpoint, conn, _control) = raw_connection(addr, ca).await;
    let certs = conn
        .peer_identity()
        .unwrap()
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .unwrap();
    let der = certs[0].to_vec();
    conn.close(0u32.into(), b"");
    endpoint.wait_idle().await;
    der
}

#[test]
fn sighup_reloads_certificates_for_new_quic_handshakes() {
    let s = start(&["--quiet"]);
    runtime().block_on(async {
        let (_endpoint, kept) = connect(s.quic, &s.ca.client_config(&[])).await;
        let before = quic_peer_cert(s.quic, &s.ca).await;
        let fresh = s.ca.leaf(&["localhost"]);
        let dir = s.tree.path();
        std::fs::write(dir.join("new.crt"), &fresh.cert_pem).unwrap();
        std::fs::write(dir.join("new.key"), &fresh.key_pem).unwrap();
        std::fs::rename(dir.join("new.key"), dir.join("localhost.key")).unwrap();
        std::fs::rename(dir.join("new.crt"), dir.join("localhost.crt")).unwrap();
        s.server.signal("HUP");
        let until = std::time::Instant::now() + PATIENCE;
        let mut now = before.clone();
        while now != fresh.der && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
            now = quic_peer_cert(s.quic, &s.ca).await;
        }
        assert!(now == fresh.der, "the new certificate is shown over QUIC");
        assert!(before != fresh.der);
        // A connection open before the reload carries on.
        let r = send(&kept, "GET", "/data.txt", &[]).await;
        assert_eq!(r.status, 200);
    });
}

#[test]
fn echo_and_retry_work_over_http3() {
    // Every handshake above none in progress: each client is made to
    // prove its address with a Retry first, which quinn's client follows.
    let tree = Tree::new();
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let server = TestServer::start(
        std::path::Path::new(""),
        &[
            "--quiet",
            "--echo",
            "--quic-retry-above",
            "0",
            "--http3",
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    runtime().block_on(async {
        let (_endpoint, client) = connect(server.addr, &ca.client_config(&[])).await;
        let request = http::Request::builder()
            .method("POST")
            .uri("https://localhost/form?x=1")
            .header("content-type", "text/plain")
            .body(())
            .unwrap();
        let mut sender = client.clone();
        let mut stream = sender.send_request(request).await.unwrap();
        stream
            .send_data(bytes::Bytes::from_static(b"the body"))
            .await
            .unwrap();
        stream.finish().await.unwrap();
        let response = stream.recv_response().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = Vec::new();
        while let Some(chunk) = stream.recv_data().await.unwrap() {
            take(chunk, &mut body);
        }
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(":method: POST"), "{text}");
        assert!(text.contains(":path: /form?x=1"), "{text}");
        assert!(text.contains("content-type: text/plain"), "{text}");
        assert!(text.ends_with("the body"), "{text}");
    });
}

#[test]
fn zero_rtt_takes_get_and_head_only_and_only_when_asked() {
    for enabled in [true, false] {
        let options: &[&str] = if enabled {
            &["--quiet", "--http3-0rtt"]
        } else {
            &["--quiet"]
        };
        let s = start(options);
        runtime().block_on(async {
            let mut tls = (*s.ca.client_config(&[])).clone();
            tls.alpn_protocols = vec![b"h3".to_vec()];
            tls.enable_early_data = true;
            let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
            let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
            endpoint
                .set_default_client_config(quinn::ClientConfig::new(std::sync::Arc::new(crypto)));
            // A first connection leaves a session ticket behind.
            let conn = endpoint
                .connect(s.quic, "localhost")
                .unwrap()
                .await
                .unwrap();
            let (mut driver, client) = ::h3::client::new(h3_quinn::Connection::new(conn.clone()))
                .await
                .unwrap();
            let running = tokio::spawn(async move {
                let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
            });
            assert_eq!(send(&client, "GET", "/data.txt", &[]).await.status, 200);
            // The tickets come after the handshake; give them a moment.
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(client);
            conn.close(0u32.into(), b"");
            running.abort();
            // The second sends its requests before the handshake is done.
            let connecting = endpoint.connect(s.quic, "localhost").unwrap();
            let (conn, accepted) = match connecting.into_0rtt() {
                Ok(early) => early,
                Err(_) if !enabled => {
                    // The server's tickets allow no early data.
                    endpoint.close(0u32.into(), b"");
                    return;
                }
                Err(_) => panic!("the client resumes with 0-RTT"),
            };
            let (mut driver, client) = ::h3::client::new(h3_quinn::Connection::new(conn))
                .await
                .unwrap();
            tokio::spawn(async move {
                let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
            });
            let get = send(&client, "GET", "/data.txt", &[]);
            let post = send(&client, "POST", "/data.txt", &[]);
            let (get, post) = tokio::join!(get, post);
            let took_early = accepted.await;
            assert_eq!(took_early, enabled, "0-RTT accepted only with --http3-0rtt");
            assert_eq!(get.status, 200);
            if enabled {
                assert!(
                    post.status == 425 || post.status == 405,
                    "a POST in early data is not acted on: {}",
                    post.status
                );
            } else {
                assert_eq!(post.status, 405, "after the handshake, as any POST");
            }
            endpoint.close(0u32.into(), b"");
        });
    }
}

#[test]
fn live_reload_events_stream_over_http3() {
    let s = start(&["--quiet", "--live"]);
    runtime().block_on(async {
        let (_endpoint, client) = connect(s.quic, &s.ca.client_config(&[])).await;
        let request = http::Request::builder()
            .uri("https://localhost/.henaserver/live")
            .header("accept", "text/event-stream")
            .body(())
            .unwrap();
        let mut sender = client.clone();
        let mut stream = sender.send_request(request).await.unwrap();
        stream.finish().await.unwrap();
        let response = stream.recv_response().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/event-stream"
        );
        // A change to a page arrives as an event on the open stream.
        let mut seen = Vec::new();
        let change = async {
            // Edits until the watcher reports one: it may start watching
            // just after the stream opens.
            loop {
                std::fs::write(s.tree.path().join("www/data.txt"), "changed").unwrap();
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        };
        let read = async {
            while let Some(chunk) = stream.recv_data().await.unwrap() {
                take(chunk, &mut seen);
                if String::from_utf8_lossy(&seen).contains("data: /data.txt") {
                    return;
                }
            }
            panic!("the event stream ended");
        };
        tokio::select! {
            () = read => {}
            () = change => unreachable!(),
            () = tokio::time::sleep(PATIENCE) => panic!("no event: {}", String::from_utf8_lossy(&seen)),
        }
    });
}
