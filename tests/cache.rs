//! The open-file cache never serves a stale, torn or escaped file: every
//! change on disk is seen by the next request.

mod common;

use std::time::Duration;

use common::*;

/// Files older than the racy window, so the server caches them.
fn settled_tree() -> Tree {
    let tree = Tree::new();
    tree.file("small.txt", "0123456789")
        .file("big.bin", vec![b'a'; 300_000])
        .file("inside.txt", "inside")
        .file("sub/index.html", "index one");
    let outside = tree.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "SECRET").unwrap();
    std::fs::create_dir(tree.path().join("root")).unwrap();
    for name in ["small.txt", "big.bin", "inside.txt"] {
        std::fs::rename(tree.path().join(name), tree.path().join("root").join(name)).unwrap();
    }
    std::fs::rename(tree.path().join("sub"), tree.path().join("root/sub")).unwrap();
    symlink("inside.txt", tree.path().join("root/link.txt")).unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    tree
}

/// A server on a settled tree's root, one worker, quiet, with `args`.
fn serve_settled(args: &[&str]) -> (Tree, TestServer) {
    let tree = settled_tree();
    let root = tree.path().join("root");
    let s = TestServer::start(&root, &[&["--quiet", "--threads", "1"], args].concat());
    (tree, s)
}

fn warm(s: &TestServer, path: &str) -> Response {
    let first = s.get(path);
    let second = s.get(path);
    assert_eq!(first.body, second.body);
    assert_eq!(first.header("ETag"), second.header("ETag"));
    second
}

#[test]
fn in_place_rewrites_of_the_same_size_are_seen() {
    let (tree, s) = serve_settled(&[]);
    let root = tree.path().join("root");
    let before = warm(&s, "/small.txt");
    assert_eq!(before.body, b"0123456789");
    std::fs::write(root.join("small.txt"), "abcdefghij").unwrap();
    let after = s.get("/small.txt");
    assert_eq!(after.body, b"abcdefghij");
    // Changed again at once, within the same timestamp tick.
    std::fs::write(root.join("small.txt"), "ABCDEFGHIJ").unwrap();
    assert_eq!(s.get("/small.txt").body, b"ABCDEFGHIJ");
    std::fs::write(root.join("small.txt"), "short").unwrap();
    assert_eq!(s.get("/small.txt").body, b"short");
}

#[test]
fn replaced_truncated_and_deleted_files_are_seen() {
    let (tree, s) = serve_settled(&[]);
    let root = tree.path().join("root");
    assert_eq!(warm(&s, "/big.bin").body.len(), 300_000);
    // Replaced by a rename.
    let fresh = tree.path().join("fresh.bin");
    std::fs::write(&fresh, vec![b'b'; 250_000]).unwrap();
    std::fs::rename(&fresh, root.join("big.bin")).unwrap();
    let r = s.get("/big.bin");
    assert_eq!(r.body, vec![b'b'; 250_000]);
    // Truncated in place.
    std::fs::write(root.join("big.bin"), vec![b'c'; 100_000]).unwrap();
    assert_eq!(s.get("/big.bin").body, vec![b'c'; 100_000]);
    // Deleted.
    warm(&s, "/small.txt");
    std::fs::remove_file(root.join("small.txt")).unwrap();
    assert_eq!(s.get("/small.txt").status, 404);
    // Index files too.
    assert_eq!(warm(&s, "/sub/").body, b"index one");
    std::fs::write(root.join("sub/index.html"), "index two").unwrap();
    assert_eq!(s.get("/sub/").body, b"index two");
    std::fs::remove_file(root.join("sub/index.html")).unwrap();
    assert_eq!(s.get("/sub/").status, 403);
}

/// Serves /link.txt (a link to a file inside) with `args`, then points the
/// link at a secret outside the root and asks again.
fn link_swapped_outside(args: &[&str]) -> Response {
    let (tree, s) = serve_settled(args);
    let root = tree.path().join("root");
    assert_eq!(warm(&s, "/link.txt").body, b"inside");
    std::fs::remove_file(root.join("link.txt")).unwrap();
    symlink(
        tree.path().join("outside/secret.txt"),
        root.join("link.txt"),
    )
    .unwrap();
    let r = s.get("/link.txt");
    assert!(!r.text().contains("SECRET"));
    r
}

#[test]
fn a_symlink_swapped_to_point_outside_is_refused() {
    assert_eq!(link_swapped_outside(&[]).status, 404);
}

#[test]
fn a_small_cache_still_serves_everything() {
    let tree = Tree::new();
    for i in 0..40 {
        tree.file(&format!("f{i}.txt"), format!("file {i}"));
    }
    std::thread::sleep(Duration::from_millis(1300));
    let s = TestServer::start(
        tree.path(),
        &[
            "--quiet",
            "--threads",
            "1",
            "--cache-entries",
            "4",
            "--cache-bytes",
            "20",
        ],
    );
    for round in 0..3 {
        for i in 0..40 {
            let r = s.get(&format!("/f{i}.txt"));
            assert_eq!(r.text(), format!("file {i}"), "round {round}");
        }
    }
    let s = TestServer::start(tree.path(), &["--quiet", "--cache-entries", "0"]);
    assert_eq!(s.get("/f1.txt").text(), "file 1");
}

/// A server that trusts its cache for `valid`, once it has served
/// /small.txt and found /new.txt missing, and both have then changed on
/// disk: the first rewritten shorter, the second created.
fn cached_then_changed(valid: &str) -> (Tree, TestServer) {
    let (tree, s) = serve_settled(&["--file-cache-valid", valid]);
    let root = tree.path().join("root");
    assert_eq!(warm(&s, "/small.txt").body, b"0123456789");
    assert_eq!(s.get("/new.txt").status, 404);
    std::fs::write(root.join("small.txt"), "short").unwrap();
    std::fs::write(root.join("new.txt"), "new").unwrap();
    (tree, s)
}

#[test]
fn within_file_cache_valid_a_file_and_a_missing_path_are_trusted() {
    // The window is an hour, so the answers stay what they were, whole
    // and consistent.
    let (tree, s) = cached_then_changed("1h");
    let root = tree.path().join("root");
    let r = s.get("/small.txt");
    assert_eq!(r.body, b"0123456789");
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(s.get("/new.txt").status, 404);
    std::fs::remove_file(root.join("small.txt")).unwrap();
    assert_eq!(s.get("/small.txt").body, b"0123456789");
    // A path never asked for is looked up as usual.
    assert_eq!(s.get("/inside.txt").body, b"inside");
}

#[test]
fn after_file_cache_valid_a_change_is_seen() {
    let (tree, s) = cached_then_changed("200ms");
    let root = tree.path().join("root");
    // Well past the window, however slowly this machine runs.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.get("/small.txt").body, b"short");
    assert_eq!(s.get("/new.txt").body, b"new");
    std::fs::remove_file(root.join("new.txt")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.get("/new.txt").status, 404);
}

#[test]
fn within_file_cache_valid_a_swapped_symlink_serves_nothing_from_outside() {
    // The descriptor opened beneath the root is what is served.
    let r = link_swapped_outside(&["--file-cache-valid", "1h"]);
    assert_eq!(r.body, b"inside");
}

#[test]
fn live_mode_checks_every_request_whatever_file_cache_valid_says() {
    let (tree, s) = serve_settled(&["--live", "--file-cache-valid", "1h"]);
    let root = tree.path().join("root");
    assert_eq!(warm(&s, "/small.txt").body, b"0123456789");
    std::fs::write(root.join("small.txt"), "abcdefghij").unwrap();
    assert_eq!(s.get("/small.txt").body, b"abcdefghij");
    assert_eq!(s.get("/new.txt").status, 404);
    std::fs::write(root.join("new.txt"), "new").unwrap();
    assert_eq!(s.get("/new.txt").body, b"new");
}

#[test]
fn error_pages_and_the_fallback_are_cached_and_stay_fresh() {
    let tree = Tree::new();
    tree.file("404.html", "<h1>custom one</h1>")
        .file("app.html", "<h1>app one</h1>");
    std::thread::sleep(Duration::from_millis(1300));
    let s = TestServer::start(
        tree.path(),
        &["--quiet", "--threads", "1", "--error-page", "404=404.html"],
    );
    for _ in 0..2 {
        let r = s.get("/nope.txt");
        assert_eq!(r.status, 404);
        assert_eq!(r.text(), "<h1>custom one</h1>");
    }
    std::fs::write(tree.path().join("404.html"), "<h1>custom two</h1>").unwrap();
    assert_eq!(s.get("/nope.txt").text(), "<h1>custom two</h1>");
    std::fs::remove_file(tree.path().join("404.html")).unwrap();
    let r = s.get("/nope.txt");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("404 Not Found"), "{}", r.text());

    let s = TestServer::start(
        tree.path(),
        &["--quiet", "--threads", "1", "--fallback", "app.html"],
    );
    let page = "GET /route HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n";
    for _ in 0..2 {
        assert_eq!(s.request(page).text(), "<h1>app one</h1>");
    }
    std::fs::write(tree.path().join("app.html"), "<h1>app two</h1>").unwrap();
    assert_eq!(s.request(page).text(), "<h1>app two</h1>");
}

/// With `--error-page 404=404.html` and `--file-cache-valid valid`: asks
/// for a missing path while 404.html is missing too, then creates it.
fn error_page_created_after_a_404(valid: &str) -> (Tree, TestServer) {
    let (tree, s) = serve_settled(&["--error-page", "404=404.html", "--file-cache-valid", valid]);
    let root = tree.path().join("root");
    let r = s.get("/nope.txt");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("404 Not Found"), "{}", r.text());
    std::fs::write(root.join("404.html"), "<h1>custom</h1>").unwrap();
    (tree, s)
}

#[test]
fn within_file_cache_valid_a_missing_error_page_is_remembered() {
    // The window is an hour: the page is still known missing, and the
    // built-in page answers.
    let (_tree, s) = error_page_created_after_a_404("1h");
    let r = s.get("/nope.txt");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("404 Not Found"), "{}", r.text());
}

#[test]
fn after_file_cache_valid_a_created_error_page_is_served() {
    let (_tree, s) = error_page_created_after_a_404("200ms");
    // Well past the window, however slowly this machine runs.
    std::thread::sleep(Duration::from_millis(1500));
    let r = s.get("/nope.txt");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "<h1>custom</h1>");
}
