//! `[[redirects]]` and `[[rewrites]]` from the configuration file.

mod common;
use common::*;

const ROUTES: &str = r#"
quiet = true

[[redirects]]
from = "/old"
to = "/new.html"
status = 301

[[redirects]]
from = "/blog/*"
to = "https://blog.example/$1"

[[redirects]]
from = "/moved/*"
to = "/t/$1"
status = 307

[[redirects]]
from = "/found"
to = "/x?from=$query"
status = 302

[[rewrites]]
from = "/app/*"
to = "/app/index.html"

[[rewrites]]
from = "/escape/*"
to = "/../$1"
"#;

fn start(tree: &Tree) -> TestServer {
    start_with(tree, ROUTES)
}

/// Serves `www` below `tree` with the configuration file `config`.
fn start_with(tree: &Tree, config: &str) -> TestServer {
    let path = tree.path().join("henaserver.toml");
    std::fs::write(&path, config).unwrap();
    TestServer::start(
        &tree.path().join("www"),
        &["--config", &path.display().to_string()],
    )
}

fn site() -> Tree {
    let tree = Tree::new();
    tree.file("www/new.html", "new\n")
        .file("www/app/index.html", "<div id=app></div>\n")
        .file("www/app/main.js", "run()\n")
        .file("secret.txt", "outside the root\n");
    tree
}

#[test]
fn redirects_with_each_status_captures_and_query() {
    let tree = site();
    let server = start(&tree);
    let r = server.get("/old");
    assert_eq!((r.status, r.header("Location")), (301, Some("/new.html")));
    let r = server.get("/blog/2024/a%20post?x=1&y=2");
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("Location"),
        Some("https://blog.example/2024/a%20post?x=1&y=2")
    );
    let r = server.get("/moved/deep/file.txt");
    assert_eq!(
        (r.status, r.header("Location")),
        (307, Some("/t/deep/file.txt"))
    );
    let r = server.get("/found?q=3");
    assert_eq!((r.status, r.header("Location")), (302, Some("/x?from=q=3")));
    // Paths no route names are served as usual.
    assert_eq!(server.get("/new.html").status, 200);
    assert_eq!(server.get("/older").status, 404);
    // HEAD is redirected the same way.
    let mut c = server.connect();
    c.send(b"HEAD /old HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.head_response().status, 301);
}

#[test]
fn rewrites_serve_a_single_page_app_and_never_leave_the_root() {
    let tree = site();
    let server = start(&tree);
    for path in ["/app/settings", "/app/users/7/profile"] {
        let r = server.get(path);
        assert_eq!(
            (r.status, &r.body[..]),
            (200, &b"<div id=app></div>\n"[..]),
            "{path}"
        );
    }
    let r = server.get("/escape/secret.txt");
    assert_eq!(r.status, 400, "a rewrite above the root is refused");
    assert!(!r.text().contains("outside the root"));
}

#[test]
fn a_pattern_that_does_not_compile_is_one_line_and_exit_2() {
    let tree = site();
    let config = tree.path().join("bad.toml");
    std::fs::write(
        &config,
        "quiet = true\n\n[[redirects]]\nfrom = \"blog/*\"\nto = \"/x\"\n",
    )
    .unwrap();
    let www = tree.path().join("www").display().to_string();
    let (code, _, err) = run_bin(&[&www, "--config", &config.display().to_string()], &[]);
    assert_eq!(code, Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("bad.toml:3") && lines[0].contains("blog/*"),
        "{err}"
    );
    std::fs::write(
        &config,
        "[[redirects]]\nfrom = \"/a\"\nto = \"/b\"\nstatus = 303\n",
    )
    .unwrap();
    let (code, _, err) = run_bin(&[&www, "--config", &config.display().to_string()], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("status"), "{err}");
    // --print-config shows the routes.
    let good = tree.path().join("henaserver.toml");
    std::fs::write(&good, ROUTES).unwrap();
    let (code, out, _) = run_bin(
        &[
            &www,
            "--config",
            &good.display().to_string(),
            "--print-config",
        ],
        &[],
    );
    assert_eq!(code, Some(0));
    assert!(out.contains("[[redirects]]\nfrom = \"/blog/*\""), "{out}");
    assert!(out.contains("[[rewrites]]\nfrom = \"/app/*\""), "{out}");
}

/// Redirects and rewrites match the path as the pipeline resolves it:
/// percent-decoded, with dot segments resolved, as `[[rules]]` do.
const NORMALIZED: &str = r#"
quiet = true

[[redirects]]
from = "/old/*"
to = "/new/$1"
status = 301

[[rewrites]]
from = "/app/*"
to = "/app/index.html"

[[sites]]
hosts = ["own.test"]
root = "own"
default = true

[[sites.redirects]]
from = "/was/*"
to = "/is/$1"
status = 308

[[sites.rewrites]]
from = "/spa/*"
to = "/spa/index.html"
"#;

fn normalized_tree() -> Tree {
    let tree = Tree::new();
    tree.file("www/app/index.html", "app\n")
        .file("www/files/x", "a file\n")
        .file("www/admin/x", "admin\n")
        .file("own/spa/index.html", "spa\n")
        .file("own/files/y", "own file\n");
    tree
}

#[test]
fn redirects_and_rewrites_match_the_decoded_normalized_path() {
    let tree = normalized_tree();
    let top = NORMALIZED.split("[[sites]]").next().unwrap();
    let server = start_with(&tree, top);
    // Dot segments are resolved before matching.
    let r = server.get("/files/../old/x");
    assert_eq!((r.status, r.header("Location")), (301, Some("/new/x")));
    let r = server.get("/old/../files/x");
    assert_eq!((r.status, r.text().as_str()), (200, "a file\n"));
    // Percent-encoding is decoded before matching, and a capture is
    // encoded again in the target.
    let r = server.get("/%6Fld/a%20b");
    assert_eq!((r.status, r.header("Location")), (301, Some("/new/a%20b")));
    // Rewrites alike: what leaves /app/ is not rewritten, and /%61pp is
    // /app.
    let r = server.get("/app/../admin/x");
    assert_eq!((r.status, r.text().as_str()), (200, "admin\n"));
    let r = server.get("/%61pp/x");
    assert_eq!((r.status, r.text().as_str()), (200, "app\n"));
    let r = server.get("/app/deep/link");
    assert_eq!((r.status, r.text().as_str()), (200, "app\n"));
}

#[test]
fn a_sites_own_redirects_and_rewrites_match_the_normalized_path() {
    let tree = normalized_tree();
    let server = start_with(&tree, NORMALIZED);
    let get = |path: &str| {
        server.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: own.test\r\nConnection: close\r\n\r\n"
        ))
    };
    let r = get("/files/../was/z");
    assert_eq!((r.status, r.header("Location")), (308, Some("/is/z")));
    let r = get("/was/../files/y");
    assert_eq!((r.status, r.text().as_str()), (200, "own file\n"));
    let r = get("/%77as/z");
    assert_eq!((r.status, r.header("Location")), (308, Some("/is/z")));
    let r = get("/%73pa/route");
    assert_eq!((r.status, r.text().as_str()), (200, "spa\n"));
    let r = get("/spa/../files/y");
    assert_eq!((r.status, r.text().as_str()), (200, "own file\n"));
}
