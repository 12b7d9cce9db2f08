//! Validators, conditional requests and ranges (RFC 9110 §8.8, §13, §14).

mod common;

use std::time::{Duration, SystemTime};

use common::*;

fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn site(args: &[&str]) -> (Tree, TestServer) {
    let tree = Tree::new();
    tree.file("small.txt", content(1000))
        .file("big.bin", content(300_000))
        .file("empty.txt", "");
    let mut all = vec!["--quiet"];
    all.extend_from_slice(args);
    let server = TestServer::start(tree.path(), &all);
    (tree, server)
}

fn get(s: &TestServer, path: &str, fields: &str) -> Response {
    s.request(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n{fields}\r\n"))
}

fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

#[test]
fn file_responses_carry_validators() {
    let (_t, s) = site(&[]);
    let r = get(&s, "/small.txt", "");
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let etag = r.header("ETag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert!(httpdate::parse_http_date(r.header("Last-Modified").unwrap()).is_ok());
    assert_eq!(r.header("Cache-Control"), None);
}

#[test]
fn if_none_match_gives_304_without_a_body() {
    let (_t, s) = site(&[]);
    let first = get(&s, "/small.txt", "");
    let etag = first.header("ETag").unwrap().to_string();
    let mut c = s.connect();
    for value in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"nope\", {etag}"),
        "*".to_string(),
    ] {
        c.send(
            format!("GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {value}\r\n\r\n")
                .as_bytes(),
        );
        let r = c.response();
        assert_eq!(r.status, 304, "{value}");
        assert_eq!(r.header("ETag"), Some(etag.as_str()));
        assert_eq!(r.header("Last-Modified"), first.header("Last-Modified"));
        assert!(r.header("Date").is_some());
        assert_eq!(r.header("Content-Type"), None);
        assert!(r.body.is_empty());
    }
    // The connection is still in step: the next response is whole.
    c.send(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, content(1000));
    // HEAD too.
    c.send(
        format!("HEAD /small.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n").as_bytes(),
    );
    assert_eq!(c.head_response().status, 304);
}

#[test]
fn if_modified_since() {
    let (_t, s) = site(&[]);
    let first = get(&s, "/small.txt", "");
    let lm = first.header("Last-Modified").unwrap().to_string();
    let lm_time = httpdate::parse_http_date(&lm).unwrap();
    let later = http_date(lm_time + Duration::from_secs(60));
    let earlier = http_date(lm_time - Duration::from_secs(60));
    assert_eq!(
        get(&s, "/small.txt", &format!("If-Modified-Since: {lm}\r\n")).status,
        304
    );
    assert_eq!(
        get(&s, "/small.txt", &format!("If-Modified-Since: {later}\r\n")).status,
        304
    );
    assert_eq!(
        get(
            &s,
            "/small.txt",
            &format!("If-Modified-Since: {earlier}\r\n")
        )
        .status,
        200
    );
    assert_eq!(
        get(&s, "/small.txt", "If-Modified-Since: not a date\r\n").status,
        200
    );
    // If-None-Match wins: a failing one makes a matching date irrelevant.
    let r = get(
        &s,
        "/small.txt",
        &format!("If-None-Match: \"stale\"\r\nIf-Modified-Since: {later}\r\n"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, content(1000));
}

#[test]
fn if_match_and_if_unmodified_since() {
    let (_t, s) = site(&[]);
    let first = get(&s, "/small.txt", "");
    let etag = first.header("ETag").unwrap().to_string();
    let lm = httpdate::parse_http_date(first.header("Last-Modified").unwrap()).unwrap();
    assert_eq!(
        get(&s, "/small.txt", &format!("If-Match: {etag}\r\n")).status,
        200
    );
    assert_eq!(get(&s, "/small.txt", "If-Match: *\r\n").status, 200);
    let r = get(&s, "/small.txt", "If-Match: \"other\"\r\n");
    assert_eq!(r.status, 412);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    // Weak tags never match strongly.
    assert_eq!(
        get(&s, "/small.txt", &format!("If-Match: W/{etag}\r\n")).status,
        412
    );
    let before = http_date(lm - Duration::from_secs(60));
    let after = http_date(lm + Duration::from_secs(60));
    assert_eq!(
        get(
            &s,
            "/small.txt",
            &format!("If-Unmodified-Since: {before}\r\n")
        )
        .status,
        412
    );
    assert_eq!(
        get(
            &s,
            "/small.txt",
            &format!("If-Unmodified-Since: {after}\r\n")
        )
        .status,
        200
    );
    assert_eq!(
        get(&s, "/small.txt", "If-Unmodified-Since: bogus\r\n").status,
        200
    );
    // If-Match makes If-Unmodified-Since ignored.
    let r = get(
        &s,
        "/small.txt",
        &format!("If-Match: {etag}\r\nIf-Unmodified-Since: {before}\r\n"),
    );
    assert_eq!(r.status, 200);
    // If-Match is evaluated before If-None-Match.
    let r = get(
        &s,
        "/small.txt",
        &format!("If-Match: \"x\"\r\nIf-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 412);
}

#[test]
fn a_modified_file_gets_a_new_etag() {
    let (t, s) = site(&[]);
    let first = get(&s, "/small.txt", "");
    let etag = first.header("ETag").unwrap().to_string();
    std::thread::sleep(Duration::from_millis(20));
    t.file("small.txt", "changed");
    let r = get(&s, "/small.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"changed");
    assert_ne!(r.header("ETag"), Some(etag.as_str()));
}

#[test]
fn cache_control_is_configurable() {
    let (_t, s) = site(&["--cache-control", "public, max-age=3600"]);
    let r = get(&s, "/small.txt", "");
    assert_eq!(r.header("Cache-Control"), Some("public, max-age=3600"));
    let etag = r.header("ETag").unwrap().to_string();
    let r = get(&s, "/small.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(r.status, 304);
    assert_eq!(r.header("Cache-Control"), Some("public, max-age=3600"));
    assert_eq!(get(&s, "/missing", "").header("Cache-Control"), None);
}

#[test]
fn single_ranges() {
    let (_t, s) = site(&[]);
    for path in ["/small.txt", "/big.bin"] {
        let data = if path == "/small.txt" {
            content(1000)
        } else {
            content(300_000)
        };
        let len = data.len();
        let cases = [
            ("bytes=0-99", 0, 100),
            ("bytes=100-", 100, len),
            ("bytes=-50", len - 50, len),
            ("bytes=990-5000000", 990, len),
            ("bytes=0-0", 0, 1),
            ("bytes=-99999999", 0, len),
        ];
        for (range, start, end) in cases {
            let r = get(&s, path, &format!("Range: {range}\r\n"));
            assert_eq!(r.status, 206, "{path} {range}");
            assert_eq!(
                r.header("Content-Range").unwrap(),
                format!("bytes {start}-{}/{len}", end - 1),
                "{path} {range}"
            );
            assert_eq!(r.body, &data[start..end], "{path} {range}");
            assert!(r.header("ETag").is_some());
        }
    }
}

#[test]
fn head_with_a_range_answers_as_get_without_a_body() {
    let (_t, s) = site(&[]);
    let mut c = s.connect();
    c.send(b"HEAD /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n");
    let r = c.head_response();
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.header("Content-Range"), Some("bytes 10-19/300000"));
    c.send(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n");
    let r = c.response();
    assert_eq!(r.body, &content(1000)[0..2]);
}

#[test]
fn unsatisfiable_ranges_get_416() {
    let (_t, s) = site(&[]);
    for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
        let r = get(&s, "/small.txt", &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("Content-Range"), Some("bytes */1000"));
    }
    let r = get(&s, "/empty.txt", "Range: bytes=0-\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */0"));
}

#[test]
fn invalid_ranges_are_ignored() {
    let (_t, s) = site(&[]);
    for range in [
        "bytes=10-5",
        "bytes=abc",
        "lines=0-5",
        "bytes 0-5",
        "bytes=0-5,x",
    ] {
        let r = get(&s, "/small.txt", &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.body, content(1000));
    }
}

/// Splits a multipart/byteranges body into (Content-Range, bytes) parts.
fn parts(r: &Response) -> Vec<(String, String, Vec<u8>)> {
    let ctype = r.header("Content-Type").unwrap();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ctype}"));
    let delimiter = format!("\r\n--{boundary}");
    let body = &r.body;
    let mut out = Vec::new();
    let mut at = find(body, delimiter.as_bytes()).expect("first delimiter");
    assert_eq!(at, 0, "body starts with the delimiter");
    loop {
        at += delimiter.len();
        if body[at..].starts_with(b"--\r\n") {
            assert_eq!(at + 4, body.len(), "nothing after the closing delimiter");
            return out;
        }
        assert!(body[at..].starts_with(b"\r\n"));
        let head_end = at + find(&body[at..], b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&body[at + 2..head_end]).unwrap();
        let mut ctype = String::new();
        let mut crange = String::new();
        for line in head.split("\r\n") {
            let (n, v) = line.split_once(": ").unwrap();
            match n {
                "Content-Type" => ctype = v.to_string(),
                "Content-Range" => crange = v.to_string(),
                other => panic!("unexpected part field {other}"),
            }
        }
        let data_start = head_end + 4;
        let next = data_start + find(&body[data_start..], delimiter.as_bytes()).unwrap();
        out.push((ctype, crange, body[data_start..next].to_vec()));
        at = next;
    }
}

#[test]
fn several_ranges_make_a_multipart_body() {
    let (_t, s) = site(&[]);
    for (path, len) in [("/small.txt", 1000usize), ("/big.bin", 300_000)] {
        let data = content(len);
        let r = get(&s, path, "Range: bytes=0-9, 100-199, -5\r\n");
        assert_eq!(r.status, 206, "{path}");
        assert_eq!(r.header("Content-Range"), None);
        assert_eq!(
            r.header("Content-Length").unwrap(),
            r.body.len().to_string()
        );
        let got = parts(&r);
        let want = [(0, 10), (100, 200), (len - 5, len)];
        assert_eq!(got.len(), want.len());
        let ctype = if path == "/small.txt" {
            "text/plain; charset=utf-8"
        } else {
            "application/octet-stream"
        };
        for ((t, cr, bytes), (a, b)) in got.iter().zip(want) {
            assert_eq!(t, ctype);
            assert_eq!(cr, &format!("bytes {a}-{}/{len}", b - 1));
            assert_eq!(bytes, &data[a..b], "{path} {cr}");
        }
    }
    // Boundaries differ between responses.
    let a = get(&s, "/small.txt", "Range: bytes=0-1,5-6\r\n");
    let b = get(&s, "/small.txt", "Range: bytes=0-1,5-6\r\n");
    assert_ne!(a.header("Content-Type"), b.header("Content-Type"));
}

#[test]
fn overlapping_ranges_are_merged_and_greedy_ones_get_200() {
    let (_t, s) = site(&[]);
    let r = get(&s, "/small.txt", "Range: bytes=0-9,5-19\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 0-19/1000"));
    assert_eq!(r.body, &content(1000)[0..20]);
    // Ranges that together ask for more than the file: the file, once.
    for range in [
        "bytes=0-600,400-999,0-1",
        "bytes=0-,0-",
        "bytes=0-999,0-999",
    ] {
        let r = get(&s, "/small.txt", &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.body, content(1000));
    }
}

#[test]
fn too_many_ranges_get_the_whole_file() {
    let (_t, s) = site(&["--max-ranges", "2"]);
    let r = get(&s, "/small.txt", "Range: bytes=0-1,10-11,20-21\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, content(1000));
    let r = get(&s, "/small.txt", "Range: bytes=0-1,10-11\r\n");
    assert_eq!(r.status, 206);
}

#[test]
fn if_range() {
    let (_t, s) = site(&[]);
    let first = get(&s, "/big.bin", "");
    let etag = first.header("ETag").unwrap().to_string();
    let lm = first.header("Last-Modified").unwrap().to_string();
    let lm_time = httpdate::parse_http_date(&lm).unwrap();
    let r = get(
        &s,
        "/big.bin",
        &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body.len(), 10);
    let r = get(
        &s,
        "/big.bin",
        &format!("Range: bytes=0-9\r\nIf-Range: {lm}\r\n"),
    );
    assert_eq!(r.status, 206);
    for stale in [
        "\"stale\"".to_string(),
        format!("W/{etag}"),
        http_date(lm_time - Duration::from_secs(5)),
        "garbage".to_string(),
    ] {
        let r = get(
            &s,
            "/big.bin",
            &format!("Range: bytes=0-9\r\nIf-Range: {stale}\r\n"),
        );
        assert_eq!(r.status, 200, "{stale}");
        assert_eq!(r.body.len(), 300_000);
    }
}

#[test]
fn preconditions_come_before_ranges() {
    let (_t, s) = site(&[]);
    let etag = get(&s, "/small.txt", "")
        .header("ETag")
        .unwrap()
        .to_string();
    let r = get(
        &s,
        "/small.txt",
        &format!("Range: bytes=0-9\r\nIf-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304);
    let r = get(
        &s,
        "/small.txt",
        "Range: bytes=0-9\r\nIf-Match: \"nope\"\r\n",
    );
    assert_eq!(r.status, 412);
}
