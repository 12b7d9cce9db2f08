//! Per-client limits: request rates with a burst, delay or refusal, an
//! honest Retry-After, IPv6 prefixes and trusted proxies' clients,
//! connections and HTTP/2 streams per client, bandwidth per response on
//! plain TCP, TLS and HTTP/2, allow and deny per site and path, the bounded
//! table under a flood, dry runs, metrics, and reloads that keep counts.

mod common;
use common::frames::{self, frame, Raw, HEADERS, RST_STREAM, SETTINGS};
use common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// RST_STREAM's REFUSED_STREAM (RFC 9113 §7).
const REFUSED_STREAM: u32 = 0x7;

fn site() -> Tree {
    let tree = Tree::new();
    tree.file("www/index.html", "hello\n");
    tree.file("www/private/secret.txt", "secret\n");
    tree.file("www/busy.html", "<p>slow down</p>\n");
    tree.file("www/big.bin", vec![7u8; 1 << 20]);
    tree
}

fn start(tree: &Tree, args: &[&str]) -> TestServer {
    let mut all = vec!["--quiet"];
    all.extend_from_slice(args);
    TestServer::start(&tree.path().join("www"), &all)
}

/// A GET on a fresh connection, with `extra` header lines.
fn get_as(addr: SocketAddr, path: &str, extra: &str) -> Response {
    let mut c = Client::connect(addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes());
    c.response()
}

/// A GET from the client a trusted proxy names.
fn get_for(addr: SocketAddr, client: &str) -> u16 {
    get_as(
        addr,
        "/index.html",
        &format!("X-Forwarded-For: {client}\r\n"),
    )
    .status
}

/// Sends requests as fast as `connections` keep-alive connections (one
/// thread each) can for `span`; returns the 200s, the 429s and the time
/// from the first request to the last.
fn hammer(addr: SocketAddr, connections: usize, span: Duration) -> (u64, u64, Duration) {
    let ok = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (ok, refused) = (ok.clone(), refused.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                while start.elapsed() < span {
                    c.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
                    match c.response().status {
                        200 => ok.fetch_add(1, Ordering::Relaxed),
                        429 => refused.fetch_add(1, Ordering::Relaxed),
                        other => panic!("status {other}"),
                    };
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let took = start.elapsed();
    (
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        took,
    )
}

#[test]
fn the_rate_holds_within_ten_percent_over_1_4_and_16_connections() {
    let tree = site();
    // Four workers: the count is the client's, not each worker's.
    let server = start(&tree, &["--threads", "4", "--rate-limit", "20/s"]);
    for (round, connections) in [1usize, 4, 16].into_iter().enumerate() {
        if round > 0 {
            // The previous round's debt is paid before this one starts.
            std::thread::sleep(Duration::from_millis(200));
        }
        let (ok, refused, took) = hammer(server.addr, connections, Duration::from_secs(3));
        let expected = 1.0 + 20.0 * took.as_secs_f64();
        let ratio = ok as f64 / expected;
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{connections} connections: {ok} served in {took:?}, {expected:.0} expected"
        );
        assert!(refused > ok, "{connections} connections: {refused} refused");
    }
}

#[test]
fn a_burst_is_served_at_once_then_429_with_an_honest_retry_after() {
    let tree = site();
    let server = start(
        &tree,
        &[
            "--rate-limit",
            "1/m",
            "--rate-burst",
            "4",
            "--explain",
            "--error-page",
            "429=busy.html",
        ],
    );
    for i in 0..5 {
        assert_eq!(
            server.get("/index.html").status,
            200,
            "request {i} of the burst"
        );
    }
    let refused = server.get("/index.html");
    assert_eq!(refused.status, 429);
    let wait: u64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!((50..=60).contains(&wait), "Retry-After {wait}");
    // The site's error page for 429, and the limit named.
    assert_eq!(refused.text(), "<p>slow down</p>\n");
    let why = refused.header("Henaserver-Explain").unwrap_or_default();
    assert!(why.contains("rate-limit"), "{why}");

    // A client that waits as long as Retry-After says is served.
    let quick = start(&tree, &["--rate-limit", "1/s"]);
    assert_eq!(quick.get("/index.html").status, 200);
    let refused = quick.get("/index.html");
    assert_eq!(refused.status, 429);
    let wait: u64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert_eq!(wait, 1);
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(quick.get("/index.html").status, 200);
}

#[test]
fn one_client_has_one_count_over_http1_and_http2() {
    let Some(curl) = curl() else {
        eprintln!("skipped: curl with HTTP/2 is not installed");
        return;
    };
    let tree = site();
    let server = start(&tree, &["--rate-limit", "1/m", "--threads", "2"]);
    assert_eq!(server.get("/index.html").status, 200);
    assert_eq!(h2c_status(curl, server.addr), "2 429");
}

#[test]
fn rate_delay_makes_the_burst_wait_its_turn() {
    let tree = site();
    let server = start(
        &tree,
        &["--rate-limit", "1/s", "--rate-burst", "2", "--rate-delay"],
    );
    let start_at = Instant::now();
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let status = get_as(addr, "/index.html", "").status;
                (status, start_at.elapsed())
            })
        })
        .collect();
    let mut answers: Vec<(u16, Duration)> =
        requests.into_iter().map(|t| t.join().unwrap()).collect();
    answers.sort();
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 200, 429], "{answers:?}");
    // One at once, one a second later, one two seconds later.
    let last_served = answers[2].1;
    assert!(last_served >= Duration::from_millis(1900), "{answers:?}");
    // The refusal is not kept waiting.
    assert!(answers[3].1 < last_served, "{answers:?}");
}

#[test]
fn clients_are_keyed_by_trusted_proxies_and_ipv6_prefixes() {
    let tree = site();
    let server = start(
        &tree,
        &["--trusted-proxy", "127.0.0.1", "--rate-limit", "1/m"],
    );
    let addr = server.addr;
    assert_eq!(get_for(addr, "192.0.2.1"), 200);
    assert_eq!(get_for(addr, "192.0.2.1"), 429);
    // Another client is served while the first is limited.
    assert_eq!(get_for(addr, "192.0.2.2"), 200);
    // One /64 is one client; the next /64 another.
    assert_eq!(get_for(addr, "2001:db8::1"), 200);
    assert_eq!(get_for(addr, "2001:db8::ffff:2"), 429);
    assert_eq!(get_for(addr, "2001:db8:0:1::1"), 200);
    // The first proxy hop that is not trusted is the client.
    assert_eq!(get_for(addr, "198.51.100.7, 127.0.0.1"), 200);
    assert_eq!(get_for(addr, "198.51.100.7"), 429);

    let exact = start(
        &tree,
        &[
            "--trusted-proxy",
            "127.0.0.1",
            "--rate-limit",
            "1/m",
            "--limit-ipv6-prefix",
            "128",
        ],
    );
    assert_eq!(get_for(exact.addr, "2001:db8::1"), 200);
    assert_eq!(get_for(exact.addr, "2001:db8::2"), 200);
    assert_eq!(get_for(exact.addr, "2001:db8::2"), 429);
}

#[test]
fn connections_per_client_past_the_limit_get_429_and_close() {
    let tree = site();
    let server = start(&tree, &["--conn-limit", "2"]);
    let mut held: Vec<Client> = (0..2)
        .map(|_| {
            let mut c = server.connect();
            c.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(c.response().status, 200);
            c
        })
        .collect();
    let mut third = server.connect();
    third.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    let refused = third.response();
    assert_eq!(refused.status, 429);
    assert!(refused.header("Retry-After").is_some());
    assert_eq!(refused.header("Connection"), Some("close"));
    assert!(third.closed(), "the connection over the limit is closed");
    // The two held connections go on being served.
    for c in &mut held {
        c.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }
    // Once one closes, a new connection is served.
    drop(held.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = get_as(server.addr, "/index.html", "").status;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still refused after a close");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_http2_connection_over_the_limit_gets_429() {
    let Some(curl) = curl() else {
        eprintln!("skipped: curl with HTTP/2 is not installed");
        return;
    };
    let tree = site();
    let server = start(&tree, &["--conn-limit", "1"]);
    let mut held = server.connect();
    held.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(held.response().status, 200);
    assert_eq!(h2c_status(curl, server.addr), "2 429");
    // The held connection is still served.
    held.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(held.response().status, 200);
}

/// An h2c connection whose streams get no window: their responses stay in
/// flight until it closes.
fn stalled(addr: SocketAddr) -> Raw {
    let mut raw = Raw::bare(addr);
    raw.send(frames::PREFACE);
    // SETTINGS_INITIAL_WINDOW_SIZE = 0.
    raw.send(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 0]));
    raw
}

/// Whether `stream` of `raw` is answered with HEADERS (else the reset's
/// code).
fn answered(raw: &mut Raw, stream: u32) -> Result<(), u32> {
    loop {
        let (kind, _, id, payload) = raw.next().expect("the connection stays open");
        if id != stream {
            continue;
        }
        match kind {
            HEADERS => return Ok(()),
            RST_STREAM => return Err(frames::error_code(&payload, 0)),
            _ => {}
        }
    }
}

#[test]
fn http2_streams_per_client_are_counted_across_connections() {
    let tree = site();
    let server = start(&tree, &["--stream-limit", "2"]);
    let mut first = stalled(server.addr);
    first.send(&frames::get(1, "/big.bin"));
    first.send(&frames::get(3, "/big.bin"));
    assert_eq!(answered(&mut first, 1), Ok(()));
    assert_eq!(answered(&mut first, 3), Ok(()));
    first.send(&frames::get(5, "/big.bin"));
    assert_eq!(answered(&mut first, 5), Err(REFUSED_STREAM));
    // The same client on another connection is over the limit too.
    let mut second = stalled(server.addr);
    second.send(&frames::get(1, "/index.html"));
    assert_eq!(answered(&mut second, 1), Err(REFUSED_STREAM));
    // The stalled streams end with their connection; then the client is
    // served again.
    drop(first);
    let deadline = Instant::now() + PATIENCE;
    let mut stream = 3;
    loop {
        second.send(&frames::get(stream, "/index.html"));
        if answered(&mut second, stream).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "streams still refused");
        std::thread::sleep(Duration::from_millis(20));
        stream += 2;
    }
}

/// The HTTP version and status curl gets for `/index.html` over h2c.
fn h2c_status(curl: &str, addr: SocketAddr) -> String {
    let out = std::process::Command::new(curl)
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .arg("--http2-prior-knowledge")
        .arg(format!("http://{addr}/index.html"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn curl() -> Option<&'static str> {
    let out = std::process::Command::new("curl").arg("-V").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .contains("HTTP2")
        .then_some("curl")
}

/// Seconds curl takes to download `url` whole, with `extra` options.
fn download_seconds(url: &str, extra: &[&str]) -> f64 {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{time_total}",
        ])
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (size, time) = text.split_once(' ').unwrap();
    assert_eq!(size, (1u64 << 20).to_string(), "{url}: {text}");
    time.parse().unwrap()
}

#[test]
fn bandwidth_holds_within_ten_percent_on_tcp_tls_and_http2() {
    let Some(_) = curl() else {
        eprintln!("skipped: curl with HTTP/2 is not installed");
        return;
    };
    let tree = site();
    let ca = common::tls::Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let plain = start(&tree, &["--limit-rate", "400k"]);
    let after = start(
        &tree,
        &["--limit-rate", "400k", "--limit-rate-after", "512k"],
    );
    let tls = start(
        &tree,
        &[
            "--limit-rate",
            "400k",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
    );
    let tls_url = format!("https://localhost:{}/big.bin", tls.addr.port());
    let plain_url = format!("http://{}/big.bin", plain.addr);
    let cases: Vec<(&str, String, Vec<&'static str>, f64)> = vec![
        ("tcp", plain_url.clone(), vec![], 2.56),
        ("h2c", plain_url, vec!["--http2-prior-knowledge"], 2.56),
        (
            "tls http/1.1",
            tls_url.clone(),
            vec!["--http1.1", "-k"],
            2.56,
        ),
        ("tls h2", tls_url, vec!["--http2", "-k"], 2.56),
        (
            "after",
            format!("http://{}/big.bin", after.addr),
            vec![],
            1.28,
        ),
    ];
    let runs: Vec<_> = cases
        .into_iter()
        .map(|(name, url, extra, expected)| {
            std::thread::spawn(move || (name, download_seconds(&url, &extra), expected))
        })
        .collect();
    for run in runs {
        let (name, took, expected) = run.join().unwrap();
        let ratio = took / expected;
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{name}: {took:.2} s, {expected:.2} s expected"
        );
    }
}

#[test]
fn allow_and_deny_per_site_and_per_path_answer_403() {
    let tree = site();
    let config = tree.path().join("henaserver.toml");
    let www = tree.path().join("www").display().to_string();
    std::fs::write(
        &config,
        format!(
            r#"quiet = true
root = "{www}"

[[limits]]
name = "private"
glob = "/private/**"
allow = ["10.0.0.0/8"]

[[sites]]
hosts = ["open.test"]
default = true

[[sites]]
hosts = ["closed.test"]
deny = ["127.0.0.0/8"]
allow = ["127.0.0.1"]
"#
        ),
    )
    .unwrap();
    let server = TestServer::start(
        &tree.path().join("www"),
        &["--config", &config.display().to_string()],
    );
    let status = |host: &str, path: &str| {
        let mut c = server.connect();
        c.send(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        c.response().status
    };
    assert_eq!(status("open.test", "/index.html"), 200);
    // The glob's allow list names only 10/8.
    assert_eq!(status("open.test", "/private/secret.txt"), 403);
    assert_eq!(status("open.test", "/private/../private/secret.txt"), 403);
    assert_eq!(status("open.test", "/%70rivate/secret.txt"), 403);
    // First match wins: the deny of 127/8 comes before the allow.
    assert_eq!(status("closed.test", "/index.html"), 403);

    // --print-config shows the limits.
    let (code, out, _) = run_bin(
        &["--config", &config.display().to_string(), "--print-config"],
        &[],
    );
    assert_eq!(code, Some(0));
    assert!(
        out.contains("[[limits]]\nname = \"private\"\nglob = \"/private/**\"\naccess = [\"allow 10.0.0.0/8\"]"),
        "{out}"
    );
    assert!(
        out.contains("access = [\"deny 127.0.0.0/8\", \"allow 127.0.0.1/32\"]"),
        "{out}"
    );
}

#[test]
fn allow_and_deny_flags_keep_their_order() {
    let tree = site();
    let first_deny = start(&tree, &["--deny", "127.0.0.1", "--allow", "127.0.0.0/8"]);
    let back = |addr| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let _ = s.write_all(b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    };
    assert!(back(first_deny.addr).is_empty(), "closed before any byte");
    let first_allow = start(&tree, &["--allow", "127.0.0.1", "--deny", "127.0.0.0/8"]);
    assert!(back(first_allow.addr).starts_with(b"HTTP/1.1 200 OK\r\n"));
    // Only allows: a client no rule names is refused.
    let only = start(&tree, &["--allow", "192.0.2.0/24"]);
    assert!(back(only.addr).is_empty());
}

fn metrics(admin: SocketAddr) -> String {
    get_as(admin, "/metrics", "").text()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn admin_of(server: &TestServer) -> SocketAddr {
    let line = server.stdout.lock().unwrap()[0].clone();
    *start_line_addrs(&line).last().unwrap()
}

#[test]
fn a_flood_of_distinct_clients_stays_within_the_table() {
    let tree = site();
    let server = start(
        &tree,
        &[
            "--trusted-proxy",
            "127.0.0.1",
            "--rate-limit",
            "1/m",
            "--limit-table",
            "64k",
            "--admin",
            "127.0.0.1:0",
        ],
    );
    let admin = admin_of(&server);
    let addr = server.addr;
    let before = peak_rss_kib(server.child.id());
    // 100,000 clients, 4 connections, 100 requests pipelined at a time.
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for batch in 0..250u32 {
                    let mut bytes = Vec::new();
                    for i in 0..100u32 {
                        let n = t * 25_000 + batch * 100 + i;
                        let client = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
                        bytes.extend_from_slice(
                            format!("GET /index.html HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {client}\r\n\r\n")
                                .as_bytes(),
                        );
                    }
                    c.send(&bytes);
                    for _ in 0..100 {
                        assert_eq!(c.response().status, 200, "each client's first request");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = metrics(admin);
    let capacity = sample(&text, "henaserver_limit_table_capacity").unwrap();
    let entries = sample(&text, "henaserver_limit_table_entries").unwrap();
    let bytes = sample(&text, "henaserver_limit_table_bytes").unwrap();
    assert!(bytes <= 65536.0, "{bytes} bytes");
    assert!(capacity >= 1500.0, "{capacity} entries");
    assert!(entries <= capacity, "{entries} of {capacity}");
    let after = peak_rss_kib(server.child.id());
    assert!(
        after < before + 16 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    // After the flood, the table still counts: a new client is served
    // once, then limited.
    assert_eq!(get_for(addr, "192.0.2.77"), 200);
    assert_eq!(get_for(addr, "192.0.2.77"), 429);
}

#[test]
fn dry_run_serves_and_counts_what_it_would_limit() {
    let tree = site();
    let server = TestServer::start(
        &tree.path().join("www"),
        &[
            "--rate-limit",
            "1/m",
            "--limit-dry-run",
            "--admin",
            "127.0.0.1:0",
            "--quiet",
        ],
    );
    let admin = admin_of(&server);
    for _ in 0..3 {
        assert_eq!(server.get("/index.html").status, 200);
    }
    let text = metrics(admin);
    let series = "henaserver_limited_total{limit=\"rate-limit\",action=\"dry-run\"}";
    assert_eq!(sample(&text, series), Some(2.0), "{text}");
    assert!(server
        .wait_stderr(|l| l.contains("would be limited"))
        .is_some());

    let live = start(&tree, &["--rate-limit", "1/m", "--admin", "127.0.0.1:0"]);
    let admin = admin_of(&live);
    assert_eq!(live.get("/index.html").status, 200);
    assert_eq!(live.get("/index.html").status, 429);
    let text = metrics(admin);
    let series = "henaserver_limited_total{limit=\"rate-limit\",action=\"refused\"}";
    assert_eq!(sample(&text, series), Some(1.0), "{text}");
}

#[test]
fn a_reload_keeps_the_counts_of_unchanged_limits() {
    let tree = site();
    let config = tree.path().join("henaserver.toml");
    std::fs::write(&config, "quiet = true\nrate-limit = \"1/m\"\n").unwrap();
    let server = TestServer::start(
        &tree.path().join("www"),
        &["--config", &config.display().to_string()],
    );
    assert_eq!(server.get("/index.html").status, 200);
    assert_eq!(server.get("/index.html").status, 429);
    // Another change: the limit keeps its count.
    std::fs::write(
        &config,
        "quiet = true\nrate-limit = \"1/m\"\nheader = [\"X-Version: 2\"]\n",
    )
    .unwrap();
    server.signal("HUP");
    let deadline = Instant::now() + PATIENCE;
    loop {
        // Refused before the reload and after it.
        let r = server.get("/index.html");
        assert_eq!(r.status, 429, "the count survives the reload");
        if r.header("X-Version") == Some("2") {
            break;
        }
        assert!(Instant::now() < deadline, "the reload did not take");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A changed limit starts afresh.
    std::fs::write(
        &config,
        "quiet = true\nrate-limit = \"2/m\"\nheader = [\"X-Version: 3\"]\n",
    )
    .unwrap();
    server.signal("HUP");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = server.get("/index.html");
        if r.header("X-Version") == Some("3") {
            assert_eq!(r.status, 200, "a new limit, new counts");
            break;
        }
        assert!(Instant::now() < deadline, "the reload did not take");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn wrong_limits_are_one_line_and_status_2() {
    for (args, needle) in [
        (&["--rate-limit", "10"][..], "--rate-limit"),
        (&["--rate-limit", "0/s"][..], "--rate-limit"),
        (
            &["--rate-burst", "3"][..],
            "--rate-burst needs --rate-limit",
        ),
        (
            &["--limit-rate-after", "1k"][..],
            "--limit-rate-after needs --limit-rate",
        ),
        (&["--conn-limit", "0"][..], "--conn-limit"),
        (&["--deny", "10.0.0.0/33"][..], "--deny"),
        (&["--limit-ipv6-prefix", "129"][..], "--limit-ipv6-prefix"),
        (&["--limit-table", "10"][..], "--limit-table"),
    ] {
        let (code, _, err) = run_bin(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
