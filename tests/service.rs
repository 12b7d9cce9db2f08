//! The library's file service, mounted in axum as applications mount it
//! (as the fallback, and under a prefix), spoken to over TCP: the file
//! behaviour that matters, as the binary has it.
#![cfg(feature = "tower")]

mod common;
use common::*;

use std::net::SocketAddr;

use henaserver::{DotFiles, Files};

fn site() -> Tree {
    let tree = Tree::new();
    tree.file("www/index.html", "<p>home</p>\n");
    tree.file("www/hello.txt", "hello, world\n");
    tree.file("www/about.html", "<p>about</p>\n");
    tree.file("www/app.css", "body { color: red; }\n".repeat(100));
    tree.file("www/docs/guide.txt", "the guide\n");
    tree.file("www/list/a.txt", "a\n");
    tree.file("www/404.html", "<p>no such page</p>\n");
    tree.file("www/scene.gltf", "{}\n");
    tree.file("www/.env", "SECRET=1\n");
    tree.file("outside.txt", "outside\n");
    symlink(
        tree.path().join("outside.txt"),
        tree.path().join("www/leak.txt"),
    )
    .unwrap();
    tree
}

/// An axum app on an ephemeral port: one API route, `files` under
/// `/assets`, and `fallback` for everything else.
fn app(files: Files, fallback: Files) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let router = axum::Router::new()
                .route(
                    "/api/hello",
                    axum::routing::get(|| async { "hi from the API" }),
                )
                .nest_service("/assets", files)
                .fallback_service(fallback);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> Response {
    let mut c = Client::connect(addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes());
    c.response()
}

fn served(tree: &Tree) -> SocketAddr {
    let www = tree.path().join("www");
    let fallback = Files::new(&www)
        .listing(true)
        .clean_urls(true)
        .error_page(404, "404.html")
        .mime_type("gltf", "model/gltf+json");
    app(Files::new(&www).listing(true).clean_urls(true), fallback)
}

#[test]
fn files_and_the_api_side_by_side() {
    let tree = site();
    let addr = served(&tree);
    assert_eq!(get(addr, "/api/hello", "").text(), "hi from the API");
    let r = get(addr, "/hello.txt", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello, world\n");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(get(addr, "/", "").text(), "<p>home</p>\n");
    // Extra content types.
    assert_eq!(
        get(addr, "/scene.gltf", "").header("Content-Type"),
        Some("model/gltf+json")
    );
    // HEAD: the length, no body.
    let mut c = Client::connect(addr);
    c.send(b"HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.head_response();
    assert_eq!(head.header("Content-Length"), Some("13"));
}

#[test]
fn conditional_requests_with_every_validator() {
    let tree = site();
    let addr = served(&tree);
    let first = get(addr, "/hello.txt", "");
    let etag = first.header("ETag").unwrap().to_string();
    let modified = first.header("Last-Modified").unwrap().to_string();
    assert_eq!(
        get(addr, "/hello.txt", &format!("If-None-Match: {etag}\r\n")).status,
        304
    );
    assert_eq!(get(addr, "/hello.txt", "If-None-Match: *\r\n").status, 304);
    assert_eq!(
        get(
            addr,
            "/hello.txt",
            &format!("If-Modified-Since: {modified}\r\n")
        )
        .status,
        304
    );
    assert_eq!(
        get(addr, "/hello.txt", "If-Match: \"other\"\r\n").status,
        412
    );
    assert_eq!(
        get(addr, "/hello.txt", &format!("If-Match: {etag}\r\n")).status,
        200
    );
    assert_eq!(
        get(
            addr,
            "/hello.txt",
            "If-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n"
        )
        .status,
        412
    );
}

#[test]
fn ranges_multiple_ranges_and_if_range() {
    let tree = site();
    let addr = served(&tree);
    let r = get(addr, "/hello.txt", "Range: bytes=0-4\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "hello"));
    assert_eq!(r.header("Content-Range"), Some("bytes 0-4/13"));
    let r = get(addr, "/hello.txt", "Range: bytes=0-1,7-11\r\n");
    assert_eq!(r.status, 206);
    let ct = r.header("Content-Type").unwrap();
    assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
    assert!(r.text().contains("he") && r.text().contains("world"));
    assert_eq!(
        get(addr, "/hello.txt", "Range: bytes=50-60\r\n").status,
        416
    );
    let etag = get(addr, "/hello.txt", "")
        .header("ETag")
        .unwrap()
        .to_string();
    let r = get(
        addr,
        "/hello.txt",
        &format!("Range: bytes=0-4\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(r.status, 206);
    let r = get(
        addr,
        "/hello.txt",
        "Range: bytes=0-4\r\nIf-Range: \"stale\"\r\n",
    );
    assert_eq!((r.status, r.text().len()), (200, 13));
}

#[test]
fn representations_vary_with_accept_encoding() {
    let tree = site();
    let addr = served(&tree);
    let r = get(addr, "/app.css", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert!(r.header("Vary").unwrap().contains("Accept-Encoding"));
    let plain = get(addr, "/app.css", "");
    assert_eq!(plain.header("Content-Encoding"), None);
    assert_eq!(plain.text().len(), 2100);
}

#[test]
fn listing_fallback_error_pages_and_clean_urls() {
    let tree = site();
    let addr = served(&tree);
    let listing = get(addr, "/list/", "");
    assert_eq!(listing.status, 200);
    assert!(listing.text().contains("a.txt"));
    let json = get(addr, "/list/", "Accept: application/json\r\n");
    assert!(json
        .header("Content-Type")
        .unwrap()
        .starts_with("application/json"));
    let missing = get(addr, "/nothing-here", "");
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (404, "<p>no such page</p>\n")
    );
    assert_eq!(get(addr, "/about", "").text(), "<p>about</p>\n");
    let r = get(addr, "/about.html", "");
    assert_eq!(r.status, 301);

    let spa = app(
        Files::new(tree.path().join("www")),
        Files::new(tree.path().join("www")).fallback("index.html"),
    );
    let r = get(spa, "/some/client/route", "Accept: text/html\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>home</p>\n"));
}

#[test]
fn nothing_outside_the_root_nor_dot_files() {
    let tree = site();
    let addr = served(&tree);
    assert_eq!(get(addr, "/.env", "").status, 404);
    assert_eq!(get(addr, "/%2eenv", "").status, 404);
    assert_eq!(
        get(addr, "/leak.txt", "").status,
        404,
        "a link out of the root"
    );
    for path in [
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E%2Foutside.txt",
        "/docs/..%2f..%2foutside.txt",
        "/%c0%ae%c0%ae/outside.txt",
        "/..%5coutside.txt",
    ] {
        let r = get(addr, path, "");
        assert!(!r.text().contains("outside"), "{path}: {}", r.status);
        assert!(r.status == 400 || r.status == 404, "{path}: {}", r.status);
    }
    let forbidding = app(
        Files::new(tree.path().join("www")).dot_files(DotFiles::Forbidden),
        Files::new(tree.path().join("www")),
    );
    assert_eq!(get(forbidding, "/assets/.env", "").status, 403);
}

#[test]
fn under_a_prefix_redirects_keep_it() {
    let tree = site();
    let addr = served(&tree);
    assert_eq!(get(addr, "/assets/hello.txt", "").text(), "hello, world\n");
    let r = get(addr, "/assets/docs", "");
    assert_eq!(r.status, 301);
    let location = r.header("Location").unwrap();
    assert_eq!(resolve("/assets/docs", location), "/assets/docs/");
    let r = get(addr, "/assets/about.html?x=1", "");
    assert_eq!(r.status, 301);
    assert_eq!(
        resolve("/assets/about.html", r.header("Location").unwrap()),
        "/assets/about?x=1"
    );
    let r = get(addr, "/assets/docs/", "");
    assert_eq!(r.status, 200, "listing under the prefix");
    assert!(r.text().contains("guide.txt"));
}

/// `reference` resolved against the path `base` (RFC 3986 §5.2).
fn resolve(base: &str, reference: &str) -> String {
    if reference.starts_with('/') {
        return reference.to_string();
    }
    let mut segments: Vec<&str> = base.split('/').collect();
    segments.pop();
    for part in reference.split('/') {
        match part {
            "." => {}
            ".." => {
                if segments.len() > 1 {
                    segments.pop();
                }
            }
            other => segments.push(other),
        }
    }
    let joined = segments.join("/");
    if reference.ends_with('/') && !joined.ends_with('/') {
        format!("{joined}/")
    } else {
        joined
    }
}

#[test]
fn two_services_in_one_process_keep_their_own_settings_and_caches() {
    let tree = site();
    let www = tree.path().join("www");
    let a = Files::new(&www)
        .cache_control("max-age=1")
        .header("X-Site", "a");
    let b = Files::new(&www)
        .cache_control("max-age=2")
        .header("X-Site", "b")
        .mime_type("txt", "text/x-b");
    let addr = app(a, b);
    for _ in 0..3 {
        let from_a = get(addr, "/assets/hello.txt", "");
        let from_b = get(addr, "/hello.txt", "");
        assert_eq!(from_a.header("X-Site"), Some("a"));
        assert_eq!(from_a.header("Cache-Control"), Some("max-age=1"));
        assert_eq!(
            from_a.header("Content-Type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(from_b.header("X-Site"), Some("b"));
        assert_eq!(from_b.header("Cache-Control"), Some("max-age=2"));
        assert_eq!(from_b.header("Content-Type"), Some("text/x-b"));
    }
}

#[test]
fn a_large_file_streams_whole() {
    let tree = site();
    let big: Vec<u8> = (0..5u32 << 20).map(|i| (i % 251) as u8).collect();
    tree.file("www/big.bin", &big);
    let addr = served(&tree);
    let mut c = Client::connect(addr);
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big, "the body is the file");
}

/// `examples/axum.rs`, as cargo built it beside the tests.
fn example(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

#[test]
fn the_axum_example_serves_its_root_and_its_api() {
    let Some(bin) = example("axum") else {
        // `cargo test --all-features` builds the examples; a run of this
        // file alone does not.
        eprintln!("skipped: examples/axum is not built (cargo test --all-features builds it)");
        return;
    };
    let tree = site();
    let mut child = std::process::Command::new(bin)
        .arg(tree.path().join("www"))
        .arg("0")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.trim().trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let r = get(addr, "/hello.txt", "");
    let api = get(addr, "/api/hello", "");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((r.status, r.text().as_str()), (200, "hello, world\n"));
    assert_eq!(r.header("Cache-Control"), Some("public, max-age=60"));
    assert_eq!(api.text(), "hello from the API\n");
}
