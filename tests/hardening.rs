//! Slow, silent, abusive and broken clients: each timeout and limit, with
//! short configured values so the suite stays fast.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;

fn tree() -> Tree {
    let t = Tree::new();
    t.file("a.txt", "alpha")
        .file("big.bin", vec![b'z'; 16 << 20]);
    t
}

/// A client on another connection is served while `during` runs.
fn others_are_served(s: &TestServer) {
    let started = Instant::now();
    let r = s.get("/a.txt");
    assert_eq!(r.body, b"alpha");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a good client waited"
    );
}

#[test]
fn slowloris_is_dropped_on_time_while_others_are_served() {
    let t = tree();
    let s = TestServer::start(t.path(), &["--quiet", "--header-timeout", "1s"]);
    let mut slow = s.connect();
    let started = Instant::now();
    let head = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed_at = None;
    for &b in head.iter() {
        if slow.stream.write_all(&[b]).is_err() {
            closed_at = Some(started.elapsed());
            break;
        }
        others_are_served(&s);
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    // Each byte came well within any per-read timeout, yet the whole head
    // did not come within the header timeout: 408, then close.
    let rest = slow.read_to_close();
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.starts_with("HTTP/1.1 408 ") || closed_at.is_some(),
        "slow client not answered: {text:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_second_request_that_trickles_in_gets_408_after_the_header_timeout() {
    let t = tree();
    let s = TestServer::start(
        t.path(),
        &[
            "--quiet",
            "--header-timeout",
            "1s",
            "--keepalive-timeout",
            "60s",
        ],
    );
    let mut c = s.connect();
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().body, b"alpha");
    // The next head's clock starts with its first byte: each byte comes
    // well within the keep-alive timeout, the whole head never does.
    let started = Instant::now();
    let head = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for &b in head.iter() {
        if c.stream.write_all(&[b]).is_err() || started.elapsed() > Duration::from_secs(8) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let rest = c.read_to_close();
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_silent_connection_is_closed_after_the_header_timeout() {
    let t = tree();
    let s = TestServer::start(
        t.path(),
        &[
            "--quiet",
            "--header-timeout",
            "700ms",
            "--defer-accept",
            "0",
        ],
    );
    let started = Instant::now();
    let mut c = s.connect();
    assert!(c.closed());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(600),
        "closed after {waited:?}"
    );
    assert!(waited < PATIENCE);
}

/// Linux's deferred accept: the kernel holds a connection that sends
/// nothing until the deferral ends (its SYN-ACK retransmissions, at 1 s
/// and 3 s), and only then does the server see it and start the header
/// timeout; a client that speaks at once is served meanwhile.
#[cfg(target_os = "linux")]
#[test]
fn a_silent_connection_reaches_the_server_only_after_the_deferral() {
    let t = tree();
    let s = TestServer::start(
        t.path(),
        &[
            "--quiet",
            "--header-timeout",
            "300ms",
            "--defer-accept",
            "3s",
        ],
    );
    let started = Instant::now();
    let mut silent = s.connect();
    let mut speaking = s.connect();
    speaking.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(speaking.response().body, b"alpha");
    assert!(silent.closed());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2900),
        "a silent connection reached the server after {waited:?}"
    );
    assert!(waited < PATIENCE);
}

#[test]
fn idle_keep_alive_connections_are_closed_after_the_keepalive_timeout() {
    let t = tree();
    let s = TestServer::start(t.path(), &["--quiet", "--keepalive-timeout", "700ms"]);
    let mut c = s.connect();
    c.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().status, 200);
    let started = Instant::now();
    assert!(c.closed());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(600),
        "closed after {waited:?}"
    );
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let t = tree();
    let s = TestServer::start(t.path(), &["--quiet", "--send-timeout", "1s"]);
    let mut stalled = s.connect();
    stalled.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let _ = stalled.raw_head();
    // The stalled client never reads; others are served meanwhile.
    for _ in 0..5 {
        others_are_served(&s);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // By now the server has given up: draining what was buffered ends in
    // a close well short of the 16 MiB body.
    let mut got = stalled.pending().len();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match stalled.stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < 16 << 20, "the whole body arrived after a stall");
}

#[test]
fn a_stalled_request_body_is_dropped_after_the_body_timeout() {
    let t = tree();
    let s = TestServer::start(t.path(), &["--quiet", "--body-timeout", "700ms"]);
    let mut c = s.connect();
    c.send(b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    let started = Instant::now();
    let rest = c.read_to_close();
    assert!(rest.is_empty() || rest.starts_with(b"HTTP/1.1 "));
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert!(started.elapsed() < PATIENCE);
}

#[test]
fn beyond_max_connections_clients_wait_and_are_then_served() {
    let t = tree();
    let s = TestServer::start(
        t.path(),
        &["--quiet", "--max-connections", "2", "--threads", "1"],
    );
    let mut a = s.connect();
    let mut b = s.connect();
    a.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    b.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(a.response().status, 200);
    assert_eq!(b.response().status, 200);
    // A third connection waits in the backlog: no answer while both stay.
    let mut waiting = s.connect();
    waiting
        .stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    waiting.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut probe = [0u8; 1];
    let early = waiting.stream.read(&mut probe);
    assert!(early.is_err(), "answered beyond the limit");
    // The held connections stay responsive.
    a.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(a.response().body, b"alpha");
    drop(a);
    waiting.stream.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_eq!(waiting.response().body, b"alpha");
}

#[test]
fn thousands_of_malformed_requests_then_a_good_one() {
    let t = tree();
    let s = TestServer::start(t.path(), &["--quiet"]);
    let garbage: &[&[u8]] = &[
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    ];
    for i in 0..2000 {
        let mut c = s.connect();
        c.send(garbage[i % garbage.len()]);
        if i % 3 == 0 {
            // Some wait for the answer; others hang up at once.
            let _ = c.read_to_close();
        }
    }
    let r = s.get("/a.txt");
    assert_eq!(r.body, b"alpha");
}

#[test]
fn a_pipelined_flood_on_one_connection_stays_bounded() {
    let t = tree();
    let s = TestServer::start(t.path(), &["--quiet", "--threads", "1"]);
    let mut c = s.connect();
    let one = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let writer_stream = c.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut w = writer_stream;
        let batch = one.repeat(1000);
        for _ in 0..20 {
            if w.write_all(&batch).is_err() {
                break;
            }
        }
    });
    for _ in 0..20_000 {
        assert_eq!(c.response().body, b"alpha");
    }
    writer.join().unwrap();
    let peak = peak_rss_kib(s.child.id());
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn many_idle_connections_cost_little_memory() {
    let t = tree();
    let s = TestServer::start(t.path(), &["--quiet", "--threads", "1"]);
    let rss = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    // A first exchange brings in the code every request runs, so that
    // what follows counts the connections alone.
    let mut warm = s.connect();
    warm.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(warm.response().status, 200);
    let before = rss();
    let mut held = Vec::new();
    for _ in 0..500 {
        let mut c = s.connect();
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(c.response().status, 200);
        held.push(c);
    }
    let per_connection = (rss().saturating_sub(before)) * 1024 / 500;
    assert!(
        per_connection < 8 * 1024,
        "{per_connection} bytes per idle connection"
    );
}

/// Each obfuscation gets one reading: either refused (400/501 and close),
/// or read as exactly one framing, the next request answered after it.
#[test]
fn transfer_encoding_and_content_length_obfuscations_have_one_reading() {
    let t = tree();
    let s = TestServer::start(t.path(), &["--quiet"]);
    let chunked_body = "0\r\n\r\n";
    let next = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    // (fields, expected first status, whether the next request is answered)
    let cases: &[(&str, u16, bool)] = &[
        ("Transfer-Encoding: CHUNKED\r\n", 405, true),
        ("Transfer-Encoding:\tchunked\r\n", 405, true),
        ("Transfer-Encoding: chunked\t\r\n", 405, true),
        ("Transfer-Encoding: , chunked\r\n", 405, true),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            400,
            false,
        ),
        ("Transfer-Encoding: chunked, identity\r\n", 400, false),
        ("Transfer-Encoding: \"chunked\"\r\n", 400, false),
        ("Transfer-Encoding: chunked\r\n \r\n", 400, false),
        ("Transfer-Encoding: x\0chunked\r\n", 400, false),
        ("Transfer\0Encoding: chunked\r\n", 400, false),
        ("Content-Length: 5\r\nContent-Length: 5\r\n", 405, true),
        ("Content-Length: 005\r\n", 405, true),
        ("Content-Length: 5, 5\r\n", 405, true),
        ("Content-Length: 18446744073709551616\r\n", 400, false),
    ];
    for (fields, status, continues) in cases {
        let body = if fields.contains("Content-Length") {
            "0\r\n\r\n"
        } else {
            chunked_body
        };
        let raw = format!("POST /a.txt HTTP/1.1\r\nHost: x\r\n{fields}\r\n{body}{next}");
        let mut c = s.connect();
        c.send(raw.as_bytes());
        let r = c.response();
        assert_eq!(r.status, *status, "{fields:?}");
        if *continues {
            assert_eq!(c.response().body, b"alpha", "{fields:?}");
        } else {
            assert_eq!(r.header("Connection"), Some("close"), "{fields:?}");
            assert!(find(&c.read_to_close(), b"alpha").is_none(), "{fields:?}");
        }
    }
    // A field name with an underscore is another field: the body is not
    // chunked, and what follows is read as the next request (here: junk).
    let mut c = s.connect();
    c.send(
        format!(
            "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\n\r\n{chunked_body}"
        )
        .as_bytes(),
    );
    assert_eq!(c.response().status, 405);
    assert_eq!(c.response().status, 400);
    // Bare LF line endings are one reading too: the same request.
    let mut c = s.connect();
    c.send(
        format!(
            "POST /a.txt HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n{chunked_body}{next}"
        )
        .as_bytes(),
    );
    assert_eq!(c.response().status, 405);
    assert_eq!(c.response().body, b"alpha");
}
