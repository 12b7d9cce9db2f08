//! `--access`: allow and deny by client address for the whole listener,
//! first match deciding; a denied client is closed before any byte or TLS
//! handshake, over TCP and over QUIC.

mod common;
use common::tls::Ca;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;

fn site() -> Tree {
    let tree = Tree::new();
    tree.file("www/index.html", "hello\n");
    tree
}

/// What a client that sends a request reads before the connection ends.
fn bytes_back(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = stream.write_all(b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    got
}

#[test]
fn a_denied_client_is_closed_before_any_byte() {
    let tree = site();
    let denied = TestServer::start(
        &tree.path().join("www"),
        &["--quiet", "--access", "deny 127.0.0.0/8"],
    );
    assert!(
        bytes_back(denied.addr).is_empty(),
        "a denied client reads nothing"
    );
    // First match wins: this address is allowed before "deny all".
    let allowed = TestServer::start(
        &tree.path().join("www"),
        &[
            "--quiet",
            "--access",
            "allow 127.0.0.1",
            "--access",
            "deny all",
        ],
    );
    assert!(bytes_back(allowed.addr).starts_with(b"HTTP/1.1 200 OK\r\n"));
    // A rule for other addresses leaves this one in.
    let other = TestServer::start(
        &tree.path().join("www"),
        &["--quiet", "--access", "deny 192.0.2.0/24"],
    );
    assert!(bytes_back(other.addr).starts_with(b"HTTP/1.1 200 OK\r\n"));
}

#[test]
fn a_denied_client_gets_no_tls_handshake_nor_quic_one() {
    let tree = site();
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let server = TestServer::start(
        &tree.path().join("www"),
        &[
            "--quiet",
            "--http3",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--access",
            "deny all",
        ],
    );
    let tls = common::tls::try_connect(server.addr, "localhost", ca.client_config(&[]));
    assert!(tls.is_err(), "no TLS handshake for a denied client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tls = (*ca.client_config(&[])).clone();
        tls.alpn_protocols = vec![b"h3".to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(quinn::ClientConfig::new(std::sync::Arc::new(crypto)));
        let connecting = endpoint.connect(server.addr, "localhost").unwrap();
        let refused = tokio::time::timeout(PATIENCE, connecting).await;
        assert!(
            matches!(
                refused,
                Ok(Err(quinn::ConnectionError::ConnectionClosed(_)))
            ),
            "a denied QUIC client is refused: {refused:?}"
        );
    });
}

#[test]
fn a_bad_rule_is_one_line_and_exit_status_2() {
    let tree = site();
    let root = tree.path().join("www").display().to_string();
    for bad in ["permit 10.0.0.0/8", "deny 10.0.0.0/33"] {
        let (code, _, err) = run_bin(&[&root, "--access", bad], &[]);
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert!(err.contains("--access"), "{bad}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{bad}: {err}");
    }
}

#[test]
fn rules_come_from_the_file_and_the_environment_too() {
    let tree = site();
    let file = tree.path().join("henaserver.toml");
    std::fs::write(&file, "access = [\"deny 127.0.0.0/8\"]\n").unwrap();
    let server = TestServer::start(
        &tree.path().join("www"),
        &["--quiet", "--config", &file.display().to_string()],
    );
    assert!(bytes_back(server.addr).is_empty(), "denied by the file");
    let server = TestServer::start_with_env(
        &tree.path().join("www"),
        &["--quiet"],
        &[("HENASERVER_ACCESS", "deny all")],
    );
    assert!(
        bytes_back(server.addr).is_empty(),
        "denied by the environment"
    );
}

#[test]
fn sighup_applies_new_rules_to_new_connections() {
    let tree = site();
    let file = tree.path().join("henaserver.toml");
    std::fs::write(&file, "quiet = true\n").unwrap();
    let server = TestServer::start(
        &tree.path().join("www"),
        &["--config", &file.display().to_string()],
    );
    assert!(bytes_back(server.addr).starts_with(b"HTTP/1.1 200 OK\r\n"));
    std::fs::write(&file, "quiet = true\naccess = [\"deny all\"]\n").unwrap();
    server.signal("HUP");
    let until = std::time::Instant::now() + PATIENCE;
    while !bytes_back(server.addr).is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "the new rules never applied"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(&file, "quiet = true\n").unwrap();
    server.signal("HUP");
    while bytes_back(server.addr).is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "the rules were never lifted"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
