//! SIGHUP reads the configuration again: new requests follow it, requests
//! in flight finish as they began, and a configuration that does not load
//! changes nothing.
#![cfg(unix)]

mod common;
use common::*;

use std::time::{Duration, Instant};

fn version_header(server: &TestServer) -> Option<String> {
    server
        .get("/index.html")
        .header("X-Version")
        .map(str::to_string)
}

/// Waits until new requests carry `X-Version: want`.
fn wait_for_version(server: &TestServer, want: &str) -> bool {
    let until = Instant::now() + PATIENCE;
    while Instant::now() < until {
        if version_header(server).as_deref() == Some(want) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn sighup_applies_a_new_configuration_to_new_requests() {
    let tree = Tree::new();
    let big: Vec<u8> = (0..24 * 1024 * 1024u32).map(|i| (i % 247) as u8).collect();
    tree.file("www/index.html", "hello\n")
        .file("www/big.bin", &big);
    let config = tree.path().join("henaserver.toml");
    std::fs::write(&config, "quiet = true\nheader = [\"X-Version: 1\"]\n").unwrap();
    let server = TestServer::start(
        &tree.path().join("www"),
        &["--config", &config.display().to_string()],
    );
    assert_eq!(version_header(&server).as_deref(), Some("1"));

    // A slow download begins under the old configuration.
    let mut slow = server.connect();
    slow.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = slow.raw_head();
    assert!(head.contains("X-Version: 1"), "{head}");

    std::fs::write(
        &config,
        "quiet = true\nheader = [\"X-Version: 2\"]\ncache-control = \"max-age=60\"\n",
    )
    .unwrap();
    server.signal("HUP");
    assert!(
        wait_for_version(&server, "2"),
        "new requests follow the new file"
    );
    let fresh = server.get("/index.html");
    assert_eq!(fresh.header("Cache-Control"), Some("max-age=60"));

    // The download in flight completes byte for byte.
    let mut got = Vec::with_capacity(big.len());
    use std::io::Read;
    got.extend_from_slice(slow.pending());
    let mut chunk = vec![0u8; 1 << 16];
    while got.len() < big.len() {
        let n = slow.stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the download was cut at {}", got.len());
        got.extend_from_slice(&chunk[..n]);
    }
    assert!(got == big, "the download in flight differs");
    assert!(
        server
            .wait_stderr(|l| l.contains("configuration reloaded"))
            .is_some(),
        "{:?}",
        server.stderr.lock().unwrap()
    );
}

#[test]
fn a_configuration_that_does_not_load_keeps_the_old_one() {
    let tree = Tree::new();
    tree.file("www/index.html", "hello\n");
    let config = tree.path().join("henaserver.toml");
    std::fs::write(&config, "quiet = true\nheader = [\"X-Version: 1\"]\n").unwrap();
    let server = TestServer::start(
        &tree.path().join("www"),
        &["--config", &config.display().to_string()],
    );
    std::fs::write(
        &config,
        "quiet = true\nheader = [\"X-Version: 2\"]\nmax-body = \"lots\"\n",
    )
    .unwrap();
    server.signal("HUP");
    let line = server
        .wait_stderr(|l| l.contains("not reloaded"))
        .expect("a line saying the configuration was not reloaded");
    assert!(line.contains("henaserver.toml:3"), "file and line: {line}");
    assert!(line.contains("max-body"), "key: {line}");
    assert_eq!(version_header(&server).as_deref(), Some("1"));
}

#[test]
fn sighup_binds_added_listeners_and_drains_removed_ones() {
    // One worker runs on the main thread, beside the reload; two on
    // threads of their own, told by it.
    for threads in [1, 2] {
        binds_added_and_drains_removed(threads);
    }
}

fn binds_added_and_drains_removed(threads: u8) {
    let tree = Tree::new();
    let big: Vec<u8> = (0..16 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    tree.file("www/index.html", "hello\n")
        .file("www/big.bin", &big);
    let config = tree.path().join("henaserver.toml");
    let settings = |bind: &str| format!("quiet = true\nthreads = {threads}\nbind = [\"{bind}\"]\n");
    std::fs::write(&config, settings("127.0.0.1")).unwrap();
    let server = TestServer::start(
        &tree.path().join("www"),
        &["--config", &config.display().to_string()],
    );
    let old = server.addr;
    let mut slow = server.connect();
    slow.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(slow.raw_head().starts_with("HTTP/1.1 200"));

    std::fs::write(&config, settings("127.0.0.2")).unwrap();
    server.signal("HUP");
    let added: std::net::SocketAddr = server
        .wait_stderr(|l| l.contains("the configuration adds"))
        .as_deref()
        .and_then(|l| l.split("address=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("a line naming the added listener");
    assert_eq!(added.ip().to_string(), "127.0.0.2");
    let mut c = Client::connect(added);
    c.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().status, 200);

    // The removed address stops accepting.
    let until = Instant::now() + PATIENCE;
    let mut refused = false;
    while Instant::now() < until && !refused {
        refused = std::net::TcpStream::connect(old).is_err();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused, "the removed listener still accepts");

    // Its connection in flight finishes.
    use std::io::Read;
    let mut got = slow.pending().len();
    let mut chunk = vec![0u8; 1 << 16];
    while got < big.len() {
        let n = slow.stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the download was cut at {got}");
        got += n;
    }
}

#[test]
fn sighup_changes_the_access_log_format() {
    let tree = Tree::new();
    tree.file("www/index.html", "hello\n");
    let config = tree.path().join("henaserver.toml");
    std::fs::write(&config, "log-format = \"common\"\n").unwrap();
    let server = TestServer::start(
        &tree.path().join("www"),
        &["--config", &config.display().to_string()],
    );
    assert_eq!(server.get("/index.html?before").status, 200);
    let line = server
        .wait_stdout(|l| l.contains("?before"))
        .expect("a common line");
    assert!(!line.starts_with('{'), "{line}");
    std::fs::write(&config, "log-format = \"json\"\n").unwrap();
    server.signal("HUP");
    server
        .wait_stderr(|l| l.contains("configuration reloaded"))
        .expect("the reload logged");
    assert_eq!(server.get("/index.html?after").status, 200);
    let line = server
        .wait_stdout(|l| l.starts_with('{') && l.contains("?after"))
        .expect("a JSON line after the reload");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["status"], 200);
}
