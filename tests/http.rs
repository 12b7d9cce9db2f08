//! HTTP/1.1 behaviour over raw TCP: framing, persistence, methods, hosts,
//! versions, limits and request smuggling.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

fn site() -> (Tree, TestServer) {
    let tree = Tree::new();
    tree.file("index.html", "<h1>home</h1>")
        .file("a.txt", "alpha")
        .file("b.txt", "bravo")
        .file("c.txt", "charlie");
    let server = TestServer::start(tree.path(), &["--quiet"]);
    (tree, server)
}

fn req(method: &str, target: &str, extra: &str) -> String {
    format!("{method} {target} HTTP/1.1\r\nHost: test\r\n{extra}\r\n")
}

/// Asserts the status of the first response and that the server closed.
fn assert_status_and_close(server: &TestServer, raw: &str, status: u16) {
    let mut c = server.connect();
    c.send(raw.as_bytes());
    let r = c.response();
    assert_eq!(r.status, status, "for {raw:?}: {}", r.status_line);
    assert_eq!(r.header("Connection"), Some("close"), "for {raw:?}");
    assert!(c.closed(), "connection left open after {raw:?}");
}

#[test]
fn every_response_has_the_common_fields() {
    let (_t, s) = site();
    for (raw, status) in [
        (req("GET", "/a.txt", ""), 200),
        (req("GET", "/missing", ""), 404),
        (req("DELETE", "/a.txt", ""), 405),
        (req("BREW", "/a.txt", ""), 501),
        ("GET / HTTP/1.1\r\n\r\n".to_string(), 400),
    ] {
        let r = s.request(&raw);
        assert_eq!(r.status, status, "{raw:?}");
        assert!(r.status_line.starts_with("HTTP/1.1 "));
        let date = r.header("Date").expect("Date");
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
        assert_eq!(r.header("Server"), Some("henaserver"));
        assert_eq!(
            r.header("Content-Length").unwrap(),
            r.body.len().to_string()
        );
        assert!(r.header("Content-Type").is_some());
        assert!(r.header("Connection").is_some());
    }
}

#[test]
fn error_pages_are_html() {
    let (_t, s) = site();
    let r = s.get("/nothing-here");
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(r.text().contains("Not Found"));
    assert!(r.text().contains("<html>"));
}

#[test]
fn head_sends_the_headers_of_get_without_a_body() {
    let (_t, s) = site();
    let get = s.get("/a.txt");
    let mut c = s.connect();
    c.send(req("HEAD", "/a.txt", "").as_bytes());
    let head = c.head_response();
    assert_eq!(head.status, 200);
    for name in ["Content-Length", "Content-Type", "ETag", "Last-Modified"] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
    // Were a body sent, it would be read as the start of the next response.
    c.send(req("GET", "/b.txt", "").as_bytes());
    let next = c.response();
    assert_eq!(next.status, 200);
    assert_eq!(next.body, b"bravo");
    // HEAD of a missing file: 404 head, no body.
    c.send(req("HEAD", "/missing", "").as_bytes());
    assert_eq!(c.head_response().status, 404);
    c.send(req("GET", "/c.txt", "").as_bytes());
    assert_eq!(c.response().body, b"charlie");
}

#[test]
fn http11_keeps_the_connection_open() {
    let (_t, s) = site();
    let mut c = s.connect();
    for _ in 0..5 {
        c.send(req("GET", "/a.txt", "").as_bytes());
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Connection"), Some("keep-alive"));
    }
}

#[test]
fn connection_close_is_honoured_and_echoed() {
    let (_t, s) = site();
    let mut c = s.connect();
    c.send(req("GET", "/a.txt", "Connection: close\r\n").as_bytes());
    let r = c.response();
    assert_eq!(r.body, b"alpha");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed());
}

#[test]
fn http10_closes_unless_it_asks_for_keep_alive() {
    let (_t, s) = site();
    let mut c = s.connect();
    c.send(b"GET /a.txt HTTP/1.0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed());

    let mut c = s.connect();
    c.send(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    c.send(b"GET /b.txt HTTP/1.0\r\n\r\n");
    assert_eq!(c.response().body, b"bravo");
    assert!(c.closed());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_t, s) = site();
    let mut c = s.connect();
    let batch = [
        req("GET", "/a.txt", ""),
        req("HEAD", "/b.txt", ""),
        req("GET", "/missing", ""),
        req("GET", "/c.txt", ""),
        req("GET", "/b.txt", ""),
    ]
    .concat();
    c.send(batch.as_bytes());
    assert_eq!(c.response().body, b"alpha");
    let head = c.head_response();
    assert_eq!(head.header("Content-Length"), Some("5"));
    assert_eq!(c.response().status, 404);
    assert_eq!(c.response().body, b"charlie");
    assert_eq!(c.response().body, b"bravo");
}

#[test]
fn many_pipelined_requests_in_one_write() {
    let (_t, s) = site();
    let mut c = s.connect();
    let n = 200;
    let batch = req("GET", "/a.txt", "").repeat(n);
    c.send(batch.as_bytes());
    for _ in 0..n {
        assert_eq!(c.response().body, b"alpha");
    }
}

#[test]
fn a_head_split_over_many_reads_works() {
    let (_t, s) = site();
    let mut c = s.connect();
    let raw = req("GET", "/a.txt", "User-Agent: slow\r\n");
    for chunk in raw.as_bytes().chunks(3) {
        c.stream.write_all(chunk).unwrap();
        c.stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(c.response().body, b"alpha");
}

#[test]
fn empty_lines_before_a_request_are_ignored() {
    let (_t, s) = site();
    let r = s.request(&format!("\r\n\r\n\n{}", req("GET", "/a.txt", "")));
    assert_eq!(r.body, b"alpha");
    // Between pipelined requests too.
    let mut c = s.connect();
    c.send(
        format!(
            "{}\r\n{}",
            req("GET", "/a.txt", ""),
            req("GET", "/b.txt", "")
        )
        .as_bytes(),
    );
    assert_eq!(c.response().body, b"alpha");
    assert_eq!(c.response().body, b"bravo");
}

#[test]
fn options_lists_the_allowed_methods() {
    let (_t, s) = site();
    for target in ["/", "/a.txt", "*"] {
        let mut c = s.connect();
        c.send(req("OPTIONS", target, "").as_bytes());
        let r = c.response();
        assert_eq!(r.status, 204, "{target}");
        assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(r.header("Content-Length"), None);
        // The connection goes on.
        c.send(req("GET", "/a.txt", "").as_bytes());
        assert_eq!(c.response().body, b"alpha");
    }
}

#[test]
fn other_known_methods_get_405_with_allow() {
    let (_t, s) = site();
    for method in ["POST", "PUT", "DELETE", "PATCH", "TRACE"] {
        let r = s.request(&req(method, "/a.txt", ""));
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    }
}

#[test]
fn unknown_and_malformed_methods() {
    let (_t, s) = site();
    assert_eq!(s.request(&req("BREW", "/", "")).status, 501);
    assert_eq!(s.request(&req("PROPFIND", "/", "")).status, 501);
    assert_status_and_close(&s, &req("get", "/", ""), 400);
    assert_status_and_close(&s, &req("Get", "/", ""), 400);
    assert_status_and_close(&s, &req("GE(T", "/", ""), 400);
    assert_status_and_close(&s, "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

#[test]
fn host_rules() {
    let (_t, s) = site();
    assert_status_and_close(&s, "GET /a.txt HTTP/1.1\r\n\r\n", 400);
    assert_status_and_close(&s, "GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_status_and_close(&s, "GET /a.txt HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    assert_status_and_close(&s, "GET /a.txt HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    assert_status_and_close(&s, "GET /a.txt HTTP/1.1\r\nHost: a:b\r\n\r\n", 400);
    assert_eq!(s.request("GET /a.txt HTTP/1.0\r\n\r\n").status, 200);
    assert_eq!(
        s.request("GET /a.txt HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")
            .status,
        200
    );
    assert_eq!(
        s.request("GET /a.txt HTTP/1.1\r\nHost: \r\n\r\n").status,
        200
    );
}

#[test]
fn request_target_forms() {
    let (_t, s) = site();
    let r = s.request("GET http://example.com:8080/a.txt?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(r.body, b"alpha");
    let r = s.request("GET http://example.com HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(r.body, b"<h1>home</h1>");
    assert_status_and_close(&s, &req("GET", "*", ""), 400);
    assert_status_and_close(&s, &req("GET", "a.txt", ""), 400);
    assert_status_and_close(&s, &req("GET", "ftp://x/a.txt", ""), 400);
    assert_status_and_close(&s, &req("GET", "http://user@x/a.txt", ""), 400);
    assert_eq!(s.get("/a.txt?x=1&y=%zz").body, b"alpha");
}

#[test]
fn versions() {
    let (_t, s) = site();
    let r = s.request("GET /a.txt HTTP/1.2\r\nHost: x\r\n\r\n");
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.body, b"alpha");
    let r = s.request("GET /a.txt HTTP/1.9\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_status_and_close(&s, "GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    assert_status_and_close(&s, "GET /a.txt HTTP/3.0\r\nHost: x\r\n\r\n", 505);
    assert_status_and_close(&s, "GET /a.txt HTTP/1.1x\r\nHost: x\r\n\r\n", 400);
    assert_status_and_close(&s, "GET /a.txt HTTX/1.1\r\nHost: x\r\n\r\n", 400);
    assert_status_and_close(&s, "GET /a.txt HTTP/11\r\nHost: x\r\n\r\n", 400);
    assert_status_and_close(&s, "GET /a.txt\r\n\r\n", 400);
}

#[test]
fn request_line_and_header_limits() {
    let (_t, s) = site();
    let long = format!("/{}", "a".repeat(9 * 1024));
    assert_status_and_close(&s, &req("GET", &long, ""), 414);
    let many: String = (0..101).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    assert_status_and_close(&s, &req("GET", "/a.txt", &many), 431);
    let hundred: String = (0..99).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    assert_eq!(s.request(&req("GET", "/a.txt", &hundred)).status, 200);
    let big = format!("X-Big: {}\r\n", "v".repeat(65 * 1024));
    assert_status_and_close(&s, &req("GET", "/a.txt", &big), 431);
}

#[test]
fn limits_are_configurable() {
    let tree = Tree::new();
    tree.file("a.txt", "alpha");
    let s = TestServer::start(
        tree.path(),
        &[
            "--quiet",
            "--max-request-line",
            "64",
            "--max-headers",
            "3",
            "--max-header-bytes",
            "200",
        ],
    );
    assert_eq!(s.get("/a.txt").status, 200);
    assert_status_and_close(&s, &req("GET", &format!("/{}", "b".repeat(80)), ""), 414);
    assert_status_and_close(&s, &req("GET", "/a.txt", "A: 1\r\nB: 2\r\nC: 3\r\n"), 431);
    assert_status_and_close(
        &s,
        &req("GET", "/a.txt", &format!("A: {}\r\n", "x".repeat(300))),
        431,
    );
}

#[test]
fn malformed_fields_get_400_and_close() {
    let (_t, s) = site();
    for field in [
        "Host : test\r\n",
        "X-A : b\r\n",
        "X-A\tb: c\r\n",
        "NoColonHere\r\n",
        "X-A: b\r\n folded\r\n",
        "X-A: b\r\n\tfolded\r\n",
        "X-A: b\x01c\r\n",
        "X-A: b\x7fc\r\n",
        "X-A: b\0c\r\n",
        "X-A: b\rc\r\n",
        ": empty-name\r\n",
        "X\0A: b\r\n",
    ] {
        let raw = format!("GET /a.txt HTTP/1.1\r\nHost: test\r\n{field}\r\n");
        assert_status_and_close(&s, &raw, 400);
    }
}

#[test]
fn request_bodies_are_drained() {
    let (_t, s) = site();
    let mut c = s.connect();
    let raw = [
        req("POST", "/a.txt", "Content-Length: 11\r\n"),
        "GET /b.txt ".to_string(), // a body that looks like a request
        req("GET", "/c.txt", ""),
    ]
    .concat();
    c.send(raw.as_bytes());
    assert_eq!(c.response().status, 405);
    assert_eq!(c.response().body, b"charlie");

    // A chunked body with an extension and a trailer.
    let raw = [
        req("GET", "/a.txt", "Transfer-Encoding: chunked\r\n"),
        "5;name=value\r\nhello\r\nB\r\nGET /b.txt \r\n0\r\nX-Trailer: 1\r\n\r\n".to_string(),
        req("GET", "/c.txt", ""),
    ]
    .concat();
    c.send(raw.as_bytes());
    assert_eq!(c.response().body, b"alpha");
    assert_eq!(c.response().body, b"charlie");

    // A body that arrives later, in pieces.
    c.send(req("PUT", "/a.txt", "Content-Length: 10\r\n").as_bytes());
    std::thread::sleep(Duration::from_millis(50));
    c.send(b"01234");
    std::thread::sleep(Duration::from_millis(50));
    c.send(b"56789");
    c.send(req("GET", "/b.txt", "").as_bytes());
    assert_eq!(c.response().status, 405);
    assert_eq!(c.response().body, b"bravo");
}

#[test]
fn smuggling_attempts_are_refused() {
    let (_t, s) = site();
    let cases: &[(&str, u16)] = &[
        ("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", 400),
        ("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", 400),
        ("Content-Length: 4\r\nContent-Length: 5\r\n", 400),
        ("Content-Length: 4, 5\r\n", 400),
        ("Content-Length: -4\r\n", 400),
        ("Content-Length: +4\r\n", 400),
        ("Content-Length: 4x\r\n", 400),
        ("Content-Length: 0x4\r\n", 400),
        ("Content-Length: 4 4\r\n", 400),
        ("Content-Length: 99999999999999999999999\r\n", 400),
        ("Content-Length:\r\n", 400),
        ("Transfer-Encoding: chunked, identity\r\n", 400),
        ("Transfer-Encoding: gzip\r\n", 400),
        ("Transfer-Encoding: \"chunked\"\r\n", 400),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            400,
        ),
        ("Transfer-Encoding: chunked;q=1\r\n", 400),
        ("Transfer-Encoding: xchunked\r\n", 400),
        ("Transfer-Encoding: chunked\r\n x\r\n", 400),
        ("Transfer-Encoding : chunked\r\n", 400),
        ("Transfer-Encoding: foo, chunked\r\n", 501),
    ];
    for (fields, status) in cases {
        let raw = format!(
            "POST /a.txt HTTP/1.1\r\nHost: x\r\n{fields}\r\n0\r\n\r\nGET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let mut c = s.connect();
        c.send(raw.as_bytes());
        let r = c.response();
        assert_eq!(r.status, *status, "{fields:?}");
        assert_eq!(r.header("Connection"), Some("close"), "{fields:?}");
        let rest = c.read_to_close();
        assert!(
            find(&rest, b"bravo").is_none(),
            "smuggled request answered for {fields:?}"
        );
    }
    // HTTP/1.0 with Transfer-Encoding.
    assert_status_and_close(
        &s,
        "POST /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn case_of_transfer_encoding_is_one_reading() {
    let (_t, s) = site();
    let mut c = s.connect();
    let raw = [
        req("POST", "/a.txt", "transfer-encoding: CHUNKED\r\n"),
        "0\r\n\r\n".to_string(),
        req("GET", "/b.txt", ""),
    ]
    .concat();
    c.send(raw.as_bytes());
    assert_eq!(c.response().status, 405);
    assert_eq!(c.response().body, b"bravo");
}

#[test]
fn bad_chunked_bodies_are_refused() {
    let (_t, s) = site();
    for body in [
        "z\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "11111111111111111\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",
    ] {
        let raw = format!(
            "{}{body}",
            req("POST", "/a.txt", "Transfer-Encoding: chunked\r\n")
        );
        assert_status_and_close(&s, &raw, 400);
    }
}

#[test]
fn bodies_over_the_limit_get_413() {
    let tree = Tree::new();
    tree.file("a.txt", "alpha");
    let s = TestServer::start(tree.path(), &["--quiet", "--max-body", "10"]);
    let raw = format!(
        "{}{}",
        req("POST", "/a.txt", "Content-Length: 11\r\n"),
        "x".repeat(11)
    );
    assert_status_and_close(&s, &raw, 413);
    let raw = format!(
        "{}{}",
        req("POST", "/a.txt", "Transfer-Encoding: chunked\r\n"),
        "6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"
    );
    assert_status_and_close(&s, &raw, 413);
    let raw = format!(
        "{}{}",
        req("POST", "/a.txt", "Content-Length: 10\r\n"),
        "x".repeat(10)
    );
    assert_eq!(s.request(&raw).status, 405);
}

#[test]
fn expect_100_continue() {
    let (_t, s) = site();
    let mut c = s.connect();
    c.send(
        req(
            "PUT",
            "/a.txt",
            "Expect: 100-continue\r\nContent-Length: 5\r\n",
        )
        .as_bytes(),
    );
    let interim = c.raw_head();
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"hello");
    let r = c.response();
    assert_eq!(r.status, 405);
    c.send(req("GET", "/a.txt", "").as_bytes());
    assert_eq!(c.response().body, b"alpha");

    // Chunked, too.
    c.send(
        req(
            "POST",
            "/a.txt",
            "Expect: 100-Continue\r\nTransfer-Encoding: chunked\r\n",
        )
        .as_bytes(),
    );
    assert_eq!(c.raw_head(), "HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(c.response().status, 405);

    // A request without a body just gets its response.
    c.send(req("GET", "/b.txt", "Expect: 100-continue\r\n").as_bytes());
    assert_eq!(c.response().body, b"bravo");

    assert_status_and_close(&s, &req("GET", "/a.txt", "Expect: the-unexpected\r\n"), 417);
}

#[test]
fn two_hundred_sequential_connections() {
    let (_t, s) = site();
    for i in 0..200 {
        let mut c = s.connect();
        let close = if i % 2 == 0 {
            "Connection: close\r\n"
        } else {
            ""
        };
        c.send(req("GET", "/a.txt", close).as_bytes());
        let r = c.response();
        assert_eq!(r.status, 200, "connection {i}");
        assert_eq!(r.body, b"alpha");
    }
}

#[test]
fn half_closed_clients_get_their_response() {
    let (_t, s) = site();
    let mut c = s.connect();
    c.send(req("GET", "/a.txt", "").as_bytes());
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.response().body, b"alpha");
    assert!(c.closed());
}

#[test]
fn incomplete_heads_time_out_with_408() {
    let tree = Tree::new();
    tree.file("a.txt", "alpha");
    let s = TestServer::start(
        tree.path(),
        &[
            "--quiet",
            "--header-timeout",
            "500ms",
            "--keepalive-timeout",
            "500ms",
        ],
    );
    let started = Instant::now();
    let mut c = s.connect();
    c.send(b"GET /a.txt HTTP/1.1\r\nHo");
    let r = c.response();
    assert_eq!(r.status, 408);
    assert!(c.closed());
    assert!(started.elapsed() < PATIENCE);

    // An idle keep-alive connection is closed silently.
    let mut c = s.connect();
    c.send(req("GET", "/a.txt", "").as_bytes());
    assert_eq!(c.response().status, 200);
    assert!(c.closed());

    // A connection that never sends anything is closed too.
    let mut c = s.connect();
    assert!(c.closed());
}

#[test]
fn a_bad_request_does_not_disturb_others() {
    let (_t, s) = site();
    let mut good = s.connect();
    good.send(req("GET", "/a.txt", "").as_bytes());
    assert_eq!(good.response().status, 200);
    for _ in 0..50 {
        let mut bad = s.connect();
        bad.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n");
        let _ = bad.read_to_close();
    }
    good.send(req("GET", "/b.txt", "").as_bytes());
    assert_eq!(good.response().body, b"bravo");
}
