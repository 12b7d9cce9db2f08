//! Serving files: types, directories, redirects, large bodies, and
//! everything that must never be served.

mod common;

use common::*;

const SECRET: &str = "TOP-SECRET-a8f3e1";

/// A root inside a directory that also holds a secret file outside it.
struct Jail {
    outer: Tree,
    server: TestServer,
}

impl Jail {
    fn new(args: &[&str]) -> Jail {
        let outer = Tree::new();
        outer
            .file("secret.txt", SECRET)
            .file("outside/also-secret.txt", SECRET)
            .file("root/index.html", "<h1>home</h1>")
            .file("root/a.txt", "alpha")
            .file("root/sub/index.html", "sub index")
            .file("root/sub/b.txt", "bravo")
            .dir("root/empty")
            .file("root/.env", SECRET)
            .file("root/.git/config", SECRET)
            .file("root/.hidden/file.txt", SECRET)
            .file("root/a b.txt", "spaced")
            .file("root/日本.txt", "nihon")
            .file("root/photo.jpg", "jpg")
            .file("root/app.js", "js")
            .file("root/m.wasm", "wasm")
            .file("root/f.woff2", "woff2")
            .file("root/noext", "none")
            .file("root/x.unknownext", "unknown");
        let root = outer.path().join("root");
        let abs_inside = root.join("a.txt");
        symlink(outer.path().join("secret.txt"), root.join("link-out.txt")).unwrap();
        symlink("../secret.txt", root.join("rel-link-out.txt")).unwrap();
        symlink(outer.path().join("outside"), root.join("dir-out")).unwrap();
        symlink("a.txt", root.join("link-in.txt")).unwrap();
        symlink(&abs_inside, root.join("abs-link-in.txt")).unwrap();
        symlink("sub", root.join("dir-in")).unwrap();
        let mut all = vec!["--quiet"];
        all.extend_from_slice(args);
        let server = TestServer::start(&root, &all);
        Jail { outer, server }
    }
}

#[test]
fn files_and_their_types() {
    let j = Jail::new(&[]);
    let s = &j.server;
    let cases = [
        ("/a.txt", "text/plain; charset=utf-8", "alpha"),
        ("/photo.jpg", "image/jpeg", "jpg"),
        ("/app.js", "text/javascript; charset=utf-8", "js"),
        ("/m.wasm", "application/wasm", "wasm"),
        ("/f.woff2", "font/woff2", "woff2"),
        ("/noext", "application/octet-stream", "none"),
        ("/x.unknownext", "application/octet-stream", "unknown"),
        ("/index.html", "text/html; charset=utf-8", "<h1>home</h1>"),
    ];
    for (path, ctype, body) in cases {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("Content-Type"), Some(ctype), "{path}");
        assert_eq!(r.text(), body, "{path}");
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
        let lm = r.header("Last-Modified").expect("Last-Modified");
        assert!(httpdate::parse_http_date(lm).is_ok());
        let etag = r.header("ETag").expect("ETag");
        assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
    }
}

#[test]
fn percent_decoding_and_queries() {
    let j = Jail::new(&[]);
    let s = &j.server;
    assert_eq!(s.get("/a%20b.txt").text(), "spaced");
    assert_eq!(s.get("/%E6%97%A5%E6%9C%AC.txt").text(), "nihon");
    assert_eq!(s.get("/%61.txt").text(), "alpha");
    assert_eq!(s.get("/a.txt?download=1").text(), "alpha");
    assert_eq!(s.get("/sub/./b.txt").text(), "bravo");
    assert_eq!(s.get("/sub/../a.txt").text(), "alpha");
    assert_eq!(s.get("//sub///b.txt").text(), "bravo");
    assert_eq!(s.get("/a%zz.txt").status, 400);
}

#[test]
fn directories() {
    let j = Jail::new(&[]);
    let s = &j.server;
    let r = s.get("/");
    assert_eq!(r.text(), "<h1>home</h1>");
    let r = s.get("/sub");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/sub/"));
    let r = s.get("/sub?x=1&y=2");
    assert_eq!(r.header("Location"), Some("/sub/?x=1&y=2"));
    assert_eq!(s.get("/sub/").text(), "sub index");
    assert_eq!(s.get("/empty/").status, 403);
    assert_eq!(s.get("/a.txt/").status, 404);
    // A path that starts with two slashes never redirects off-site.
    let r = s.get("//sub");
    assert_eq!(r.header("Location"), Some("/sub/"));
    // Symlinked directory inside the root.
    assert_eq!(s.get("/dir-in/b.txt").text(), "bravo");
}

#[test]
fn missing_files_get_404_with_html() {
    let j = Jail::new(&[]);
    let r = j.server.get("/nope.html");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(r.text().contains("Not Found"));
}

#[test]
fn nothing_outside_the_root_is_ever_served() {
    let j = Jail::new(&[]);
    let s = &j.server;
    let attempts = [
        "/../secret.txt",
        "/../../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "/%5c..%5csecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%c0%ae%c0%ae%c0%afsecret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt",
        "/%252e%252e/secret.txt",
        "/..%00/secret.txt",
        "/a.txt%00../../secret.txt",
        "/link-out.txt",
        "/rel-link-out.txt",
        "/dir-out/also-secret.txt",
        "/dir-out/",
        "/.env",
        "/.git/config",
        "/%2egit/config",
        "/.hidden/file.txt",
        "/sub/../.env",
        "/./.env",
    ];
    for path in attempts {
        let r = s.get(path);
        assert!(
            [400, 403, 404].contains(&r.status),
            "{path} answered {}",
            r.status_line
        );
        assert!(!r.text().contains(SECRET), "{path} leaked the secret");
    }
    // absolute-form targets go through the same resolver.
    for target in [
        "http://x/../secret.txt",
        "http://x/%2e%2e/secret.txt",
        "http://x/.env",
    ] {
        let r = s.request(&format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!([400, 404].contains(&r.status), "{target}");
        assert!(!r.text().contains(SECRET));
    }
    assert!(j.outer.path().join("secret.txt").exists());
}

#[test]
fn symlinks_inside_the_root_are_followed() {
    let j = Jail::new(&[]);
    assert_eq!(j.server.get("/link-in.txt").text(), "alpha");
    assert_eq!(j.server.get("/abs-link-in.txt").text(), "alpha");
}

#[test]
fn special_files_are_not_served() {
    let tree = Tree::new();
    tree.file("a.txt", "alpha");
    let fifo = tree.path().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !matches!(made, Ok(s) if s.success()) {
        return;
    }
    let s = TestServer::start(tree.path(), &["--quiet"]);
    assert_eq!(s.get("/pipe").status, 404);
    assert_eq!(s.get("/a.txt").text(), "alpha");
}

#[test]
fn large_files_stream_in_bounded_memory() {
    let tree = Tree::new();
    let big: Vec<u8> = (0..(24 << 20) as u32).map(|i| (i % 251) as u8).collect();
    tree.file("big.bin", &big);
    let s = TestServer::start(tree.path(), &["--quiet"]);
    let mut c = s.connect();
    c.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    c.response();
    // What the running server holds before the large file, its code
    // included.
    let before = peak_rss_kib(s.child.id());
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big, "body differs");
    // The connection goes on after a sendfile body.
    c.send(b"HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let h = c.head_response();
    assert_eq!(
        h.header("Content-Length"),
        Some(big.len().to_string().as_str())
    );
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().body.len(), big.len());
    assert!(c.closed());
    // Resident memory grows by far less than the file's size.
    let rss_kib = peak_rss_kib(s.child.id());
    assert!(
        rss_kib - before < 8 * 1024,
        "peak RSS {rss_kib} KiB, {before} KiB before the large file"
    );
}

#[test]
fn a_changed_file_is_served_fresh() {
    let tree = Tree::new();
    tree.file("v.txt", "version one");
    let s = TestServer::start(tree.path(), &["--quiet"]);
    let first = s.get("/v.txt");
    assert_eq!(first.text(), "version one");
    tree.file("v.txt", "version two, longer");
    let second = s.get("/v.txt");
    assert_eq!(second.text(), "version two, longer");
    assert_ne!(first.header("ETag"), second.header("ETag"));
    std::fs::remove_file(tree.path().join("v.txt")).unwrap();
    assert_eq!(s.get("/v.txt").status, 404);
}

#[test]
fn a_custom_index_name() {
    let tree = Tree::new();
    tree.file("home.htm", "custom")
        .file("index.html", "default");
    let s = TestServer::start(tree.path(), &["--quiet", "--index", "home.htm"]);
    assert_eq!(s.get("/").text(), "custom");
}

#[test]
fn the_demo_site() {
    let s = TestServer::start(&demo_root(), &["--quiet"]);
    let page = s.get("/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Welcome to HenaServer!"));
    assert!(page.text().contains("index.css") && page.text().contains("logo.png"));
    let css = s.get("/index.css");
    assert_eq!(css.header("Content-Type"), Some("text/css; charset=utf-8"));
    assert!(css.text().contains("color: red"));
    let logo = s.get("/logo.png");
    assert_eq!(logo.header("Content-Type"), Some("image/png"));
    assert!(logo.body.starts_with(b"\x89PNG\r\n\x1a\n"));
}
