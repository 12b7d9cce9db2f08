//! Both ways a file body leaves: sendfile(2) (the default) and the copy
//! through a reused buffer (`--no-sendfile`, the path TLS takes). Each is
//! checked byte for byte on whole files, single ranges and multipart
//! ranges larger than the copy buffer.

mod common;
use common::*;

/// 300 KB of a pattern that tells every offset apart.
fn pattern() -> Vec<u8> {
    (0u32..300 * 1024 / 4)
        .flat_map(|i| i.to_le_bytes())
        .collect()
}

fn check_bodies(extra: &[&str]) {
    let data = pattern();
    let tree = Tree::new();
    tree.file("big.bin", &data);
    let mut args = vec!["--quiet"];
    args.extend_from_slice(extra);
    let server = TestServer::start(tree.path(), &args);

    let whole = server.get("/big.bin");
    assert_eq!(whole.status, 200);
    assert!(whole.body == data, "whole body differs");

    let mut c = server.connect();
    // Keep-alive across file bodies: the next response starts right after.
    for (from, to) in [(1, 200_000), (70_000, 70_000), (250_000, 307_199)] {
        c.send(
            format!("GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes={from}-{to}\r\n\r\n")
                .as_bytes(),
        );
        let r = c.response();
        assert_eq!(r.status, 206);
        assert!(r.body == data[from..=to], "range {from}-{to} differs");
    }

    c.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-99999,150000-299999\r\n\r\n");
    let multi = c.response();
    assert_eq!(multi.status, 206);
    let body = &multi.body;
    let first = find(body, &data[..100_000]).expect("first part");
    let second = find(body, &data[150_000..300_000]).expect("second part");
    assert!(first < second);
    c.send(b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.head_response();
    assert_eq!(head.header("Content-Length"), Some("307200"));
}

#[test]
fn sendfile_sends_exact_bytes() {
    check_bodies(&[]);
}

#[test]
fn the_copy_path_sends_exact_bytes() {
    check_bodies(&["--no-sendfile"]);
}
