//! The admin listener: health, readiness, metrics; `henaserver health`;
//! `--pid-file`.

mod common;
use common::*;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Starts a server with an admin listener; returns it and the admin
/// address.
fn start(tree: &Tree, extra: &[&str]) -> (TestServer, SocketAddr) {
    let mut args = vec!["--quiet", "--admin", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let server = TestServer::start(tree.path(), &args);
    let line = server.stdout.lock().unwrap()[0].clone();
    let addrs = start_line_addrs(&line);
    assert!(line.contains("admin at"), "{line}");
    let admin = *addrs.last().unwrap();
    (server, admin)
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> Response {
    let mut c = Client::connect(addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: admin\r\n{extra}\r\n").as_bytes());
    c.response()
}

/// Parses the Prometheus text format by its grammar: comments are
/// `# HELP name text` or `# TYPE name type`, samples are
/// `name{label="value",...} number`. Returns each sample's value by its
/// name and labels.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let kind = parts.next().unwrap();
            assert!(kind == "HELP" || kind == "TYPE", "bad comment {line:?}");
            let name = parts.next().unwrap();
            assert!(valid_name(name), "bad name in {line:?}");
            if kind == "TYPE" {
                let t = parts.next().unwrap();
                assert!(
                    [
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "untyped",
                        "info"
                    ]
                    .contains(&t),
                    "bad type {line:?}"
                );
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let name = series.split('{').next().unwrap();
        assert!(valid_name(name), "bad name in {line:?}");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .unwrap_or_else(|| panic!("bad labels in {line:?}"));
                for pair in inner.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(valid_name(k), "bad label {line:?}");
                    assert!(
                        v.starts_with('"') && v.ends_with('"'),
                        "bad label value {line:?}"
                    );
                }
            }
        }
        samples.insert(series.to_string(), value);
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn metrics(admin: SocketAddr) -> HashMap<String, f64> {
    let r = get(admin, "/metrics", "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse_prometheus(&r.text())
}

const H1_GET_2XX: &str =
    "henaserver_requests_total{protocol=\"http/1.1\",method=\"GET\",status=\"2xx\"}";
const H2_GET_2XX: &str = "henaserver_requests_total{protocol=\"h2\",method=\"GET\",status=\"2xx\"}";

#[test]
fn health_readiness_and_metrics() {
    let tree = Tree::new();
    tree.file("index.html", "hello\n");
    let (server, admin) = start(&tree, &[]);
    let health = get(admin, "/healthz", "");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    assert_eq!(get(admin, "/readyz", "").status, 200);

    let before = metrics(admin);
    for _ in 0..3 {
        assert_eq!(server.get("/index.html").status, 200);
    }
    assert_eq!(server.get("/missing").status, 404);
    // One request over HTTP/2 (prior knowledge).
    let mut raw = std::net::TcpStream::connect(server.addr).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    raw.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let block = [
        0x82, 0x86, 0x01, 4, b't', b'e', b's', b't', 0x04, 11, b'/', b'i', b'n', b'd', b'e', b'x',
        b'.', b'h', b't', b'm', b'l',
    ];
    let mut headers = vec![0, 0, block.len() as u8, 0x1, 0x5, 0, 0, 0, 1];
    headers.extend_from_slice(&block);
    raw.write_all(&headers).unwrap();
    let until = Instant::now() + PATIENCE;
    let mut after = metrics(admin);
    while after.get(H2_GET_2XX).copied().unwrap_or(0.0) < 1.0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        let mut sink = [0u8; 4096];
        let _ = raw.set_read_timeout(Some(Duration::from_millis(10)));
        let _ = raw.read(&mut sink);
        after = metrics(admin);
    }
    let moved = |series: &str| {
        after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
    };
    assert_eq!(moved(H1_GET_2XX), 3.0, "{after:?}");
    assert_eq!(
        moved("henaserver_requests_total{protocol=\"http/1.1\",method=\"GET\",status=\"4xx\"}"),
        1.0
    );
    assert_eq!(moved(H2_GET_2XX), 1.0, "{after:?}");
    assert!(moved("henaserver_response_body_bytes_total{protocol=\"http/1.1\"}") >= 18.0);
    assert!(after["henaserver_request_duration_seconds_count"] >= 5.0);
    assert!(after["henaserver_request_duration_seconds_bucket{le=\"+Inf\"}"] >= 5.0);
    assert!(after.contains_key("henaserver_open_connections{protocol=\"h2\",transport=\"tcp\"}"));
    assert!(after.contains_key("henaserver_file_cache_hits_total"));
    assert!(after.contains_key("henaserver_access_log_dropped_lines_total"));
    assert!(after
        .keys()
        .any(|k| k.starts_with("henaserver_build_info{version=")));

    // OpenMetrics on request.
    let open = get(
        admin,
        "/metrics",
        "Accept: application/openmetrics-text;version=1.0.0\r\n",
    );
    assert!(open
        .header("Content-Type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(open.text().trim_end().ends_with("# EOF"));
}

#[test]
fn the_admin_listener_and_the_site_stay_apart() {
    let tree = Tree::new();
    tree.file("index.html", "hello\n").file("healthz", "a file");
    let (server, admin) = start(&tree, &[]);
    assert_eq!(get(admin, "/index.html", "").status, 404);
    assert_eq!(get(admin, "/", "").status, 404);
    let site = server.get("/healthz");
    assert_eq!(
        site.body, b"a file",
        "the site serves its own file, not health"
    );
    assert_eq!(server.get("/metrics").status, 404);
    let mut c = Client::connect(admin);
    c.send(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(c.response().status, 405);
}

#[test]
fn readiness_turns_503_when_shutdown_begins() {
    let tree = Tree::new();
    tree.file("big.bin", vec![b'x'; 64 * 1024 * 1024]);
    let (server, admin) = start(&tree, &["--shutdown-grace", "20s"]);
    assert_eq!(get(admin, "/readyz", "").status, 200);
    // A download that does not read keeps the drain going.
    let mut slow = server.connect();
    slow.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    let until = Instant::now() + PATIENCE;
    let mut status = 200;
    while Instant::now() < until {
        let mut c = Client::connect(admin);
        c.send(b"GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n");
        status = c.response().status;
        if status == 503 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(status, 503);
    assert_eq!(
        get(admin, "/healthz", "").status,
        200,
        "alive while draining"
    );
    // The download still completes.
    let r = slow.response();
    assert_eq!(r.body.len(), 64 * 1024 * 1024);
}

#[test]
fn a_public_admin_address_needs_admin_public() {
    let tree = Tree::new();
    let root = tree.path().display().to_string();
    let (code, _, err) = run_bin(&[&root, "--admin", "0.0.0.0:0"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--admin-public"), "{err}");
}

#[test]
fn the_health_command_asks_the_endpoint() {
    let tree = Tree::new();
    let (_server, admin) = start(&tree, &[]);
    let (code, out, _) = run_bin(&["health", &format!("http://{admin}/healthz")], &[]);
    assert_eq!(code, Some(0), "{out}");
    let (code, _, _) = run_bin(&["health", &format!("http://{admin}/nothing")], &[]);
    assert_eq!(code, Some(1));
    // Nothing listens on port 1.
    let (code, _, err) = run_bin(&["health", "http://127.0.0.1:1/healthz"], &[]);
    assert_eq!(code, Some(1), "{err}");
}

#[test]
fn the_pid_file_is_written_and_removed() {
    let tree = Tree::new();
    let pid_file = tree.path().join("henaserver.pid");
    let mut server = TestServer::start(
        tree.path(),
        &["--quiet", "--pid-file", &pid_file.display().to_string()],
    );
    let written = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(written.trim(), server.child.id().to_string());
    server.signal("TERM");
    assert_eq!(server.wait_exit(PATIENCE), Some(0));
    assert!(!pid_file.exists());
}

#[cfg(unix)]
#[test]
fn user_drops_privileges_after_binding() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED: not running as root, so --user cannot be tested");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let tree = Tree::new();
    tree.file("index.html", "hello\n");
    std::fs::set_permissions(tree.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        tree.path().join("index.html"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let server = TestServer::start(tree.path(), &["--quiet", "--user", "65534:65534"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .unwrap()
    };
    assert_eq!(field("Uid:"), "65534 65534 65534 65534");
    assert_eq!(field("Gid:"), "65534 65534 65534 65534");
    assert_eq!(field("Groups:"), "");
    let r = server.get("/index.html");
    assert_eq!((r.status, &r.body[..]), (200, &b"hello\n"[..]));
    // Every thread runs as the new user.
    for task in std::fs::read_dir(format!("/proc/{}/task", server.child.id())).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert!(
            status.contains("Uid:\t65534\t65534\t65534\t65534"),
            "{status}"
        );
    }
    let (code, _, err) = run_bin(
        &[
            &tree.path().display().to_string(),
            "--user",
            "no-such-user-here",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no such user"), "{err}");
}
