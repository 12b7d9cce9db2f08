//! SIGHUP reads the configuration again: new requests follow it, requests
//! in flight finish as they began, and a configuration that does not load
//! changes nothing.

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
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("configuration reloaded")),
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
    let until = Instant::now() + PATIENCE;
    let mut line = None;
    while Instant::now() < until && line.is_none() {
        line = server
            .stderr
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("not reloaded"))
            .cloned();
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = line.expect("a line saying the configuration was not reloaded");
    assert!(line.contains("henaserver.toml:3"), "file and line: {line}");
    assert!(line.contains("max-body"), "key: {line}");
    assert_eq!(version_header(&server).as_deref(), Some("1"));
}
