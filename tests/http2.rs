//! HTTP/2: the pipeline's semantics over h2c (prior knowledge) and over
//! TLS with ALPN, with the h2 crate's client; protocol errors and floods
//! with frames built by hand.

mod common;
use common::frames::*;
use common::tls::Ca;
use common::*;

use std::io::Read;
use std::net::SocketAddr;

use bytes::Bytes;
use h2::client::SendRequest;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A response read whole.
struct H2Response {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl H2Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An h2c client on a new connection (prior knowledge).
async fn h2c(addr: SocketAddr) -> SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Sends `method path` with `headers` and reads the whole response.
async fn send(
    client: &SendRequest<Bytes>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> H2Response {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let mut client = client.clone().ready().await.unwrap();
    let (response, _) = client.send_request(req.body(()).unwrap(), true).unwrap();
    let response = response.await.unwrap();
    let (parts, mut body) = response.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    H2Response {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: data,
    }
}

fn site() -> Tree {
    let tree = Tree::new();
    tree.file("index.html", "<h1>hello</h1>\n")
        .file("data.txt", "0123456789abcdefghij")
        .file("app.js", "let x = 1;\n".repeat(200))
        .file(".secret", "hidden");
    tree
}

#[test]
fn semantics_over_h2c() {
    let tree = site();
    let server = TestServer::start(tree.path(), &["--quiet"]);
    runtime().block_on(async {
        let c = h2c(server.addr).await;
        let r = send(&c, "GET", "/data.txt", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"0123456789abcdefghij");
        assert_eq!(r.header("content-length"), Some("20"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        for name in ["connection", "keep-alive", "transfer-encoding", "upgrade"] {
            assert!(r.headers.get(name).is_none(), "{name} sent over HTTP/2");
        }
        let etag = r.header("etag").unwrap().to_string();

        let head = send(&c, "HEAD", "/data.txt", &[]).await;
        assert_eq!((head.status, head.body.len()), (200, 0));
        assert_eq!(head.header("content-length"), Some("20"));

        let range = send(&c, "GET", "/data.txt", &[("range", "bytes=2-5")]).await;
        assert_eq!((range.status, &range.body[..]), (206, &b"2345"[..]));
        assert_eq!(range.header("content-range"), Some("bytes 2-5/20"));

        let multi = send(&c, "GET", "/data.txt", &[("range", "bytes=0-1,4-5")]).await;
        assert_eq!(multi.status, 206);
        assert!(multi
            .header("content-type")
            .unwrap()
            .starts_with("multipart/byteranges; boundary="));
        let text = String::from_utf8(multi.body).unwrap();
        assert!(
            text.contains("\r\n\r\n01\r\n") && text.contains("\r\n\r\n45\r\n"),
            "{text}"
        );

        let unsatisfiable = send(&c, "GET", "/data.txt", &[("range", "bytes=100-")]).await;
        assert_eq!(unsatisfiable.status, 416);
        assert_eq!(
            send(&c, "GET", "/data.txt", &[("if-none-match", &etag)])
                .await
                .status,
            304
        );
        assert_eq!(
            send(&c, "GET", "/data.txt", &[("if-match", "\"no\"")])
                .await
                .status,
            412
        );
        assert_eq!(send(&c, "GET", "/missing", &[]).await.status, 404);
        assert_eq!(send(&c, "GET", "/.secret", &[]).await.status, 404);
        assert_eq!(send(&c, "GET", "/%2e%2e/x", &[]).await.status, 400);
        let post = send(&c, "POST", "/data.txt", &[]).await;
        assert_eq!(
            (post.status, post.header("allow")),
            (405, Some("GET, HEAD, OPTIONS"))
        );
        assert_eq!(send(&c, "BREW", "/data.txt", &[]).await.status, 501);
        assert_eq!(send(&c, "OPTIONS", "/data.txt", &[]).await.status, 204);
        let dir = send(&c, "GET", "/", &[]).await;
        assert_eq!((dir.status, &dir.body[..]), (200, &b"<h1>hello</h1>\n"[..]));

        let coded = send(&c, "GET", "/app.js", &[("accept-encoding", "gzip")]).await;
        assert_eq!(coded.header("content-encoding"), Some("gzip"));
        assert_eq!(coded.header("vary"), Some("Accept-Encoding"));
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&coded.body[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, "let x = 1;\n".repeat(200).as_bytes());
    });
}

#[test]
fn a_hundred_concurrent_streams_on_one_connection() {
    let tree = site();
    for i in 0..100 {
        tree.file(&format!("f{i}.txt"), format!("file {i} ").repeat(100 + i));
    }
    let server = TestServer::start(tree.path(), &["--quiet"]);
    runtime().block_on(async {
        let c = h2c(server.addr).await;
        let mut tasks = Vec::new();
        for i in 0..100 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let r = send(&c, "GET", &format!("/f{i}.txt"), &[]).await;
                (i, r)
            }));
        }
        for task in tasks {
            let (i, r) = task.await.unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(
                r.body,
                format!("file {i} ").repeat(100 + i).as_bytes(),
                "stream {i}"
            );
        }
    });
}

#[test]
fn a_large_file_through_a_small_window() {
    let tree = site();
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    tree.file("big.bin", &big);
    let server = TestServer::start(tree.path(), &["--quiet"]);
    runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (client, connection) = h2::client::Builder::new()
            .initial_window_size(16 * 1024)
            .initial_connection_window_size(16 * 1024)
            .handshake::<_, Bytes>(tcp)
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let r = send(&client, "GET", "/big.bin", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), big.len());
        assert!(r.body == big, "body differs");
    });
}

/// A server over HTTPS on `tree`, with a certificate from `ca` for
/// localhost, and `extra` options.
fn tls_server(tree: &Tree, ca: &Ca, extra: &[&str]) -> TestServer {
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let mut args = vec!["--quiet", "--tls-cert", &cert, "--tls-key", &key];
    args.extend_from_slice(extra);
    TestServer::start(tree.path(), &args)
}

#[test]
fn a_large_body_goes_in_frames_that_each_fill_a_tls_record() {
    let tree = site();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    tree.file("big.bin", &big);
    let ca = Ca::new();
    let plain = TestServer::start(tree.path(), &["--quiet"]);
    let tls = tls_server(&tree, &ca, &[]);
    let targets = [
        Target::H2c(plain.addr),
        Target::Tls(tls.addr, ca.client_config(&[b"h2"])),
    ];
    for target in targets {
        let what = target.name();
        let mut raw = Raw::bare(target);
        // Windows as wide as the protocol allows: only the server's own
        // framing decides the frames' sizes.
        let mut settings = vec![0, 4];
        settings.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
        raw.send(PREFACE);
        raw.send(&frame(SETTINGS, 0, 0, &settings));
        raw.send(&frame(
            WINDOW_UPDATE,
            0,
            0,
            &(0x7fff_ffffu32 - 65_535).to_be_bytes(),
        ));
        raw.send(&get(1, "/big.bin"));
        let mut body = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let (kind, flags, stream, payload) = raw.next().expect(what);
            if kind != DATA || stream != 1 {
                continue;
            }
            sizes.push(payload.len());
            body.extend_from_slice(&payload);
            if flags & END_STREAM != 0 {
                break;
            }
        }
        assert!(body == big, "{what}: body differs");
        // A frame with its 9-byte head is the 16 KiB of one TLS record.
        let last = sizes.pop().unwrap();
        assert!(sizes.iter().all(|&n| n == 16_384 - 9), "{what}: {sizes:?}");
        assert_eq!(last, big.len() % (16_384 - 9), "{what}");
    }
}

#[test]
fn h2_over_tls_by_alpn() {
    let tree = site();
    let ca = Ca::new();
    let server = tls_server(&tree, &ca, &["--hsts", "60"]);
    let config = ca.client_config(&[b"h2", b"http/1.1"]);
    runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (client, connection) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let r = send(&client, "GET", "/data.txt", &[]).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"0123456789abcdefghij"[..]));
        assert_eq!(r.header("strict-transport-security"), Some("max-age=60"));
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
        std::fs::write(tree.path().join("big.bin"), &big).unwrap();
        let r = send(&client, "GET", "/big.bin", &[]).await;
        assert!(r.body == big);
    });
}

#[test]
fn no_http2_turns_both_off() {
    let tree = site();
    let server = TestServer::start(tree.path(), &["--quiet", "--no-http2"]);
    let mut c = server.connect();
    c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(c.response().status, 505);
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let server = TestServer::start(
        tree.path(),
        &[
            "--quiet",
            "--no-http2",
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    let c = common::tls::connect(
        server.addr,
        "localhost",
        ca.client_config(&[b"h2", b"http/1.1"]),
    );
    assert_eq!(c.stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn the_access_log_and_the_dump_name_http2() {
    let tree = site();
    let dump = tree.path().join("dump");
    let server = TestServer::start(
        tree.path(),
        &[
            "--log-format",
            "json",
            "--dump",
            &dump.display().to_string(),
        ],
    );
    runtime().block_on(async {
        let c = h2c(server.addr).await;
        assert_eq!(send(&c, "GET", "/data.txt?x=1", &[]).await.status, 200);
    });
    let line = server
        .wait_stdout(|l| l.contains("data.txt"))
        .expect("an access log line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["request"], "GET /data.txt?x=1 HTTP/2.0");
    assert_eq!(v["protocol"], "HTTP/2.0");
    let until = std::time::Instant::now() + PATIENCE;
    let (mut request, mut response) = (String::new(), String::new());
    while std::time::Instant::now() < until && (request.is_empty() || response.is_empty()) {
        for e in std::fs::read_dir(&dump).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".request.http") {
                request = std::fs::read_to_string(e.path()).unwrap();
            } else if name.ends_with(".response.http") {
                response = std::fs::read_to_string(e.path()).unwrap();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        request.starts_with(":method: GET\r\n:scheme: http\r\n"),
        "{request:?}"
    );
    assert!(request.contains(":path: /data.txt?x=1\r\n"), "{request:?}");
    assert!(response.starts_with(":status: 200\r\n"), "{response:?}");
}

#[test]
fn malformed_requests_get_a_stream_error_and_the_connection_goes_on() {
    let tree = site();
    let server = TestServer::start(tree.path(), &["--quiet"]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "connection-specific field",
            get_block("/data.txt", &literal("connection", "close")),
        ),
        (
            "TE other than trailers",
            get_block("/data.txt", &literal("te", "gzip")),
        ),
        (
            "missing :path",
            vec![
                0x82, 0x86, 0x01, 9, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't',
            ],
        ),
        ("repeated :method", {
            let mut b = vec![0x82];
            b.extend(get_block("/data.txt", &[]));
            b
        }),
        (
            "upper-case field name",
            get_block("/data.txt", &literal("X-Upper", "1")),
        ),
        (
            "unknown pseudo-header",
            get_block("/data.txt", &literal(":bogus", "1")),
        ),
        ("upper-case field name, indexed for later", {
            // Literal with incremental indexing: the name enters the
            // dynamic table, which the connection shares.
            let mut field = vec![0x40, 7];
            field.extend_from_slice(b"X-Index");
            field.extend_from_slice(&[1, b'1']);
            get_block("/data.txt", &field)
        }),
        ("pseudo-header after a field", {
            let mut b = vec![0x82, 0x86, 0x01, 9];
            b.extend_from_slice(b"localhost");
            b.extend(literal("x-a", "1"));
            b.extend_from_slice(&[0x04, 1, b'/']);
            b
        }),
    ];
    let mut raw = Raw::open(server.addr);
    let mut id = 1;
    for (what, block) in cases {
        raw.send(&frame(HEADERS, END_STREAM | END_HEADERS, id, &block));
        let (_, _, payload) = raw
            .until(RST_STREAM, id)
            .unwrap_or_else(|| panic!("{what}: no RST_STREAM"));
        assert_eq!(error_code(&payload, 0), 0x1, "{what}: PROTOCOL_ERROR");
        id += 2;
        // The same connection serves the next stream.
        raw.send(&frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get_block("/data.txt", &[]),
        ));
        raw.until(DATA, id)
            .unwrap_or_else(|| panic!("{what}: no answer after it"));
        id += 2;
    }
    // The dynamic table stayed in step with the client's: its entry 62
    // (the name indexed above) still decodes, and the request is served.
    raw.send(&frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        id,
        &get_block("/data.txt", &[0x80 | 62]),
    ));
    raw.until(DATA, id)
        .expect("a request naming the dynamic table's entry is served");
    id += 2;
    // A content-length the DATA does not match.
    let block = get_block("/data.txt", &literal("content-length", "10"));
    raw.send(&frame(HEADERS, END_HEADERS, id, &block));
    raw.send(&frame(DATA, END_STREAM, id, b"abc"));
    let (_, _, payload) = raw
        .until(RST_STREAM, id)
        .expect("RST_STREAM for content-length");
    assert_eq!(error_code(&payload, 0), 0x1);
}

/// Sends `flood` on a fresh connection and checks that the server ends it
/// with GOAWAY(`codes`) or closes it, within bounds, and serves others.
fn flood_is_contained(addr: SocketAddr, flood: Vec<u8>, codes: &[u32], what: &str) {
    let mut raw = Raw::open(addr);
    for chunk in flood.chunks(64 * 1024) {
        if !raw.send(chunk) {
            break;
        }
    }
    // A connection closed without GOAWAY is contained as well.
    if let Some((_, _, payload)) = raw.until(GOAWAY, 0) {
        let code = error_code(&payload, 4);
        assert!(codes.contains(&code), "{what}: GOAWAY code {code}");
    }
    still_serves(addr);
}

#[test]
fn floods_end_the_offending_connection() {
    let tree = site();
    // A short header timeout: a flood that is answered in bounded memory
    // but never turns into a request ends with GOAWAY(NO_ERROR) then.
    let server = TestServer::start(tree.path(), &["--quiet", "--header-timeout", "2s"]);
    let calm_or_protocol = [0xb, 0x1];
    let bounded = [0xb, 0x1, 0x0];

    // Rapid reset (CVE-2023-44487): HEADERS then RST_STREAM, many times.
    let mut flood = Vec::new();
    for i in 0..5000u32 {
        let id = 2 * i + 1;
        flood.extend(frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get_block("/data.txt", &[]),
        ));
        flood.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
    }
    flood_is_contained(server.addr, flood, &calm_or_protocol, "rapid reset");

    // CONTINUATION without END_HEADERS, forever.
    let mut flood = frame(HEADERS, 0, 1, &get_block("/data.txt", &[]));
    for _ in 0..20_000 {
        flood.extend(frame(
            CONTINUATION,
            0,
            1,
            &literal("x-pad", "aaaaaaaaaaaaaaaa"),
        ));
    }
    flood_is_contained(server.addr, flood, &calm_or_protocol, "CONTINUATION flood");

    // An HPACK bomb: one large value, then many references to it.
    let big = "b".repeat(4000);
    let mut block = get_block("/data.txt", &[]);
    block.extend_from_slice(&[0x40, 5]); // literal with incremental indexing, new name
    block.extend_from_slice(b"x-big");
    block.extend_from_slice(&[0x7f, (4000 - 127) as u8 | 0x80, ((4000 - 127) >> 7) as u8]);
    block.extend_from_slice(big.as_bytes());
    // Indexed: the entry just added (62), many times.
    block.extend(std::iter::repeat_n(0xbe, 4000));
    let flood = frame(HEADERS, END_HEADERS, 1, &block[..block.len().min(16000)]);
    flood_is_contained(server.addr, flood, &[0xb, 0x1, 0x6, 0x9], "HPACK bomb");

    // SETTINGS and PING floods the client never reads the answers to.
    let mut flood = Vec::new();
    for _ in 0..100_000 {
        flood.extend(frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0xff, 0xff]));
    }
    flood_is_contained(server.addr, flood, &bounded, "SETTINGS flood");
    let mut flood = Vec::new();
    for _ in 0..100_000 {
        flood.extend(frame(PING, 0, 0, &[1; 8]));
    }
    flood_is_contained(server.addr, flood, &bounded, "PING flood");

    // Many tiny and empty DATA frames on one stream.
    let mut flood = frame(HEADERS, END_HEADERS, 1, &get_block("/data.txt", &[]));
    for i in 0..100_000 {
        flood.extend(frame(DATA, 0, 1, if i % 2 == 0 { b"" } else { b"x" }));
    }
    flood_is_contained(server.addr, flood, &calm_or_protocol, "DATA flood");

    // WINDOW_UPDATE flood on the connection.
    let mut flood = Vec::new();
    for _ in 0..100_000 {
        flood.extend(frame(WINDOW_UPDATE, 0, 0, &1u32.to_be_bytes()));
    }
    flood_is_contained(
        server.addr,
        flood,
        &[0xb, 0x1, 0x3, 0x0],
        "WINDOW_UPDATE flood",
    );
}

#[test]
fn streams_beyond_the_limit_are_refused() {
    let tree = site();
    let big = vec![b'x'; 2 * 1024 * 1024];
    tree.file("big.bin", &big);
    let server = TestServer::start(tree.path(), &["--quiet", "--max-concurrent-streams", "4"]);
    let mut raw = Raw::open(server.addr);
    // A tiny window keeps the first streams open.
    raw.send(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 1]));
    for i in 0..6u32 {
        let id = 2 * i + 1;
        raw.send(&frame(
            HEADERS,
            END_STREAM | END_HEADERS,
            id,
            &get_block("/big.bin", &[]),
        ));
    }
    let mut refused = false;
    while let Some((kind, _, stream, payload)) = raw.next() {
        if kind == RST_STREAM && stream >= 9 {
            let code = error_code(&payload, 0);
            assert!(code == 0x7 || code == 0x1, "code {code}");
            refused = true;
            break;
        }
        if kind == GOAWAY {
            refused = true;
            break;
        }
    }
    assert!(refused, "streams over the limit were not refused");
    still_serves(server.addr);
}

#[test]
fn an_idle_connection_gets_goaway_after_the_timeouts() {
    let tree = site();
    let server = TestServer::start(
        tree.path(),
        &[
            "--quiet",
            "--header-timeout",
            "1s",
            "--keepalive-timeout",
            "1s",
        ],
    );
    // The preface and nothing more: GOAWAY after the header timeout.
    let mut raw = Raw::open(server.addr);
    let started = std::time::Instant::now();
    let (_, _, payload) = raw
        .until(GOAWAY, 0)
        .expect("GOAWAY for a silent connection");
    assert_eq!(error_code(&payload, 4), 0x0, "NO_ERROR");
    assert!(started.elapsed() < PATIENCE);
    // After a request, GOAWAY after the keep-alive timeout, naming it.
    let mut raw = Raw::open(server.addr);
    raw.send(&frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &get_block("/data.txt", &[]),
    ));
    raw.until(DATA, 1).expect("the response");
    // The first GOAWAY may announce the shutdown with the largest stream
    // id (RFC 9113 §6.8); the last one names the last stream processed.
    let mut last = None;
    while let Some((_, _, payload)) = raw.until(GOAWAY, 0) {
        assert_eq!(error_code(&payload, 4), 0x0, "NO_ERROR");
        let id = error_code(&payload, 0) & 0x7fff_ffff;
        last = Some(id);
        if id != 0x7fff_ffff {
            break;
        }
    }
    assert_eq!(last, Some(1), "last stream id");
    assert!(raw.next().is_none(), "the connection closes after GOAWAY");
    // A peer that never answers the shutdown's PING is closed all the same.
    let mut deaf = Raw::open(server.addr);
    let started = std::time::Instant::now();
    while deaf.next().is_some() {}
    assert!(
        started.elapsed() < PATIENCE,
        "a deaf peer held the connection"
    );
}

#[test]
fn a_stream_without_window_is_ended_by_the_send_timeout_and_others_go_on() {
    let tree = site();
    tree.file("big.bin", vec![b'z'; 1024 * 1024]);
    let server = TestServer::start(tree.path(), &["--quiet", "--send-timeout", "1s"]);
    let mut raw = Raw::open(server.addr);
    // A zero initial stream window: no stream may receive DATA until its
    // window is opened.
    raw.send(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 0]));
    raw.send(&frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &get_block("/big.bin", &[]),
    ));
    let (_, _, payload) = raw
        .until(RST_STREAM, 1)
        .expect("the stalled stream is reset");
    assert_eq!(error_code(&payload, 0), 0x8, "CANCEL");
    // Another stream, its window opened, is answered whole.
    raw.send(&frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        3,
        &get_block("/data.txt", &[]),
    ));
    raw.send(&frame(WINDOW_UPDATE, 0, 3, &1000u32.to_be_bytes()));
    let (_, _, data) = raw.until(DATA, 3).expect("DATA on the other stream");
    assert_eq!(data, b"0123456789abcdefghij");
}

#[test]
fn shutdown_sends_goaway_and_lets_streams_finish() {
    let tree = site();
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 249) as u8).collect();
    tree.file("big.bin", &big);
    let server = TestServer::start(tree.path(), &["--quiet"]);
    runtime().block_on(async {
        let c = h2c(server.addr).await;
        let mut ready = c.clone().ready().await.unwrap();
        let req = http::Request::builder()
            .uri("http://localhost/big.bin")
            .body(())
            .unwrap();
        let (response, _) = ready.send_request(req, true).unwrap();
        let response = response.await.unwrap();
        let mut body = response.into_body();
        // The first bytes have come; now the server is told to stop.
        let first = body.data().await.unwrap().unwrap();
        let _ = body.flow_control().release_capacity(first.len());
        server.signal("TERM");
        let mut got = first.to_vec();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert!(got == big, "the stream in flight finished whole");
    });
    let mut server = server;
    assert_eq!(server.wait_exit(PATIENCE), Some(0));
}
