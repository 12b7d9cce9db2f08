//! Content negotiation: precompressed siblings, compression on the fly,
//! q-values, and how codings meet validators and ranges.

mod common;

use std::io::{Read, Write};

use common::*;

fn css() -> String {
    (0..200)
        .map(|i| format!(".rule-{i} {{ color: red; margin: {i}px; }}\n"))
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn get(s: &TestServer, path: &str, fields: &str) -> Response {
    s.request(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n{fields}\r\n"))
}

fn precompressed_site(args: &[&str]) -> (Tree, TestServer) {
    let tree = Tree::new();
    let js = "console.log('hello');\n".repeat(100);
    tree.file("app.js", &js)
        .file("app.js.gz", gzip(js.as_bytes()))
        .file("app.js.br", b"BROTLI-BYTES-OF-APP-JS")
        .file("app.js.zst", b"ZSTD-BYTES-OF-APP-JS")
        .file("style.css", css())
        .file("tiny.css", "a{}")
        .file("logo.png", vec![7u8; 5000]);
    let mut all = vec!["--quiet"];
    all.extend_from_slice(args);
    let server = TestServer::start(tree.path(), &all);
    (tree, server)
}

#[test]
fn precompressed_siblings_are_served_by_preference() {
    let (_t, s) = precompressed_site(&[]);
    let plain = get(&s, "/app.js", "");
    assert_eq!(plain.header("Content-Encoding"), None);
    assert_eq!(plain.header("Vary"), Some("Accept-Encoding"));

    let br = get(
        &s,
        "/app.js",
        "Accept-Encoding: gzip, deflate, br, zstd\r\n",
    );
    assert_eq!(br.header("Content-Encoding"), Some("br"));
    assert_eq!(
        br.header("Content-Type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(br.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(br.body, b"BROTLI-BYTES-OF-APP-JS");
    assert_ne!(br.header("ETag"), plain.header("ETag"));

    let gz = get(&s, "/app.js", "Accept-Encoding: gzip\r\n");
    assert_eq!(gz.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gunzip(&gz.body), plain.body);
    assert_ne!(gz.header("ETag"), br.header("ETag"));

    let zstd = get(&s, "/app.js", "Accept-Encoding: zstd\r\n");
    assert_eq!(zstd.header("Content-Encoding"), Some("zstd"));
    assert_eq!(zstd.body, b"ZSTD-BYTES-OF-APP-JS");

    // q-values: refused and preferred codings.
    let r = get(&s, "/app.js", "Accept-Encoding: br;q=0, zstd;q=0, gzip\r\n");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    let r = get(&s, "/app.js", "Accept-Encoding: br;q=0.2, gzip;q=0.9\r\n");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    let r = get(&s, "/app.js", "Accept-Encoding: *;q=0.5, br;q=0\r\n");
    assert_eq!(r.header("Content-Encoding"), Some("zstd"));
    let r = get(&s, "/app.js", "Accept-Encoding: identity\r\n");
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.body, plain.body);
    let r = get(&s, "/app.js", "Accept-Encoding: gzip;q=0\r\n");
    assert_eq!(r.header("Content-Encoding"), None);
}

#[test]
fn the_preference_order_is_configurable() {
    let (_t, s) = precompressed_site(&["--encodings", "gzip,br"]);
    let r = get(&s, "/app.js", "Accept-Encoding: br, gzip, zstd\r\n");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
}

#[test]
fn sibling_validators_and_ranges() {
    let (_t, s) = precompressed_site(&[]);
    let br = get(&s, "/app.js", "Accept-Encoding: br\r\n");
    let etag = br.header("ETag").unwrap().to_string();
    let r = get(
        &s,
        "/app.js",
        &format!("Accept-Encoding: br\r\nIf-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304);
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("ETag"), Some(etag.as_str()));
    // The identity's tag does not match the coded representation.
    let r = get(&s, "/app.js", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(r.status, 200);
    // Ranges apply to the encoded bytes.
    let r = get(&s, "/app.js", "Accept-Encoding: br\r\nRange: bytes=0-5\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Encoding"), Some("br"));
    assert_eq!(r.body, b"BROTLI");
    assert_eq!(r.header("Content-Range"), Some("bytes 0-5/22"));
}

#[test]
fn compressible_files_are_compressed_on_the_fly() {
    let (_t, s) = precompressed_site(&[]);
    let original = css().into_bytes();
    let plain = get(&s, "/style.css", "");
    assert_eq!(plain.body, original);
    assert_eq!(plain.header("Vary"), Some("Accept-Encoding"));

    let gz = get(&s, "/style.css", "Accept-Encoding: gzip\r\n");
    assert_eq!(gz.header("Content-Encoding"), Some("gzip"));
    assert!(gz.body.len() < original.len() / 2);
    assert_eq!(gunzip(&gz.body), original);
    assert_eq!(
        gz.header("Content-Length").unwrap(),
        gz.body.len().to_string()
    );

    let br = get(&s, "/style.css", "Accept-Encoding: gzip, br\r\n");
    assert_eq!(br.header("Content-Encoding"), Some("br"));
    assert_eq!(unbrotli(&br.body), original);
    let tags = [plain.header("ETag"), gz.header("ETag"), br.header("ETag")];
    assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2]);

    // The same compressed bytes again (from the cache), and for HEAD.
    assert_eq!(
        get(&s, "/style.css", "Accept-Encoding: gzip\r\n").body,
        gz.body
    );
    let mut c = s.connect();
    c.send(b"HEAD /style.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    let head = c.head_response();
    assert_eq!(head.header("Content-Encoding"), Some("gzip"));
    assert_eq!(head.header("Content-Length"), gz.header("Content-Length"));

    // Validators and ranges of the compressed representation.
    let etag = gz.header("ETag").unwrap();
    let r = get(
        &s,
        "/style.css",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304);
    let r = get(
        &s,
        "/style.css",
        "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &gz.body[..10]);
}

#[test]
fn what_is_not_compressed() {
    let (_t, s) = precompressed_site(&[]);
    let png = get(&s, "/logo.png", "Accept-Encoding: gzip, br\r\n");
    assert_eq!(png.header("Content-Encoding"), None);
    assert_eq!(png.header("Vary"), None);
    let tiny = get(&s, "/tiny.css", "Accept-Encoding: gzip, br\r\n");
    assert_eq!(tiny.header("Content-Encoding"), None);
    assert_eq!(tiny.body, b"a{}");
}

#[test]
fn compression_can_be_turned_off_or_bounded() {
    let (_t, s) = precompressed_site(&["--no-compress"]);
    let r = get(&s, "/style.css", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.header("Vary"), None);
    // Precompressed siblings are still served.
    let r = get(&s, "/app.js", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));

    let (_t, s) = precompressed_site(&["--compress-max", "1000"]);
    let r = get(&s, "/style.css", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.header("Content-Encoding"), None);
}

#[test]
fn a_changed_file_is_compressed_afresh() {
    let (t, s) = precompressed_site(&[]);
    let first = get(&s, "/style.css", "Accept-Encoding: gzip\r\n");
    assert_eq!(gunzip(&first.body), css().into_bytes());
    let changed = css().replace("red", "blue");
    t.file("style.css", &changed);
    let second = get(&s, "/style.css", "Accept-Encoding: gzip\r\n");
    assert_eq!(gunzip(&second.body), changed.into_bytes());
    assert_ne!(first.header("ETag"), second.header("ETag"));
}

#[test]
fn large_files_are_compressed_off_the_event_loop() {
    let tree = Tree::new();
    let big: String = (0..20_000)
        .map(|i| format!(".c{i} {{ margin: {i}px }}\n"))
        .collect();
    tree.file("big.css", &big).file("a.txt", "alpha");
    let s = TestServer::start(tree.path(), &["--quiet", "--threads", "1"]);
    for coding in ["gzip", "br"] {
        let r = get(&s, "/big.css", &format!("Accept-Encoding: {coding}\r\n"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Encoding"), Some(coding));
        let plain = if coding == "gzip" {
            gunzip(&r.body)
        } else {
            unbrotli(&r.body)
        };
        assert_eq!(plain, big.as_bytes());
        // Again, from the cache, and with a range of the coded bytes.
        let again = get(
            &s,
            "/big.css",
            &format!("Accept-Encoding: {coding}\r\nRange: bytes=0-99\r\n"),
        );
        assert_eq!(again.status, 206);
        assert_eq!(again.body, &r.body[..100]);
    }
    assert_eq!(get(&s, "/a.txt", "").body, b"alpha");
}
