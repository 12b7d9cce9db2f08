//! Several sites in one server: `[[sites]]` chosen by host, wildcards, the
//! default site and 421, SNI against Host over TLS, options a site sets
//! over the top level's, the access log and `--print-config`.

mod common;
use common::tls::{self, Ca};
use common::*;

/// Three sites and what each serves.
fn tree() -> Tree {
    let tree = Tree::new();
    tree.file("a/index.html", "site a\n")
        .file("a/docs/guide.txt", "a guide\n")
        .file("b/index.html", "site b\n")
        .file("b/docs/guide.txt", "b guide\n")
        .file("deep/index.html", "site deep\n")
        .file("exact/index.html", "site exact\n")
        .file("c/index.html", "site c\n")
        .file("c/missing.html", "<p>c has no such page</p>\n")
        .file("c/docs/guide.txt", "c guide\n");
    tree
}

/// Starts the server on `tree` with `config` as its file and `args`.
fn start(tree: &Tree, config: &str, args: &[&str]) -> TestServer {
    let path = tree.path().join("henaserver.toml");
    std::fs::write(&path, config).unwrap();
    let path = path.display().to_string();
    let mut all = vec!["--config", &path];
    all.extend_from_slice(args);
    TestServer::start(&tree.path().join("a"), &all)
}

const SITES: &str = r#"
quiet = true
listing = true
header = ["X-Everywhere: yes"]

[[sites]]
hosts = ["a.test", "www.a.test"]
root = "a"
default = true

[[sites]]
hosts = ["*.b.test"]
root = "b"

[[sites]]
hosts = ["*.deep.b.test"]
root = "deep"

[[sites]]
hosts = ["exact.deep.b.test"]
root = "exact"

[[sites]]
name = "site-c"
hosts = ["c.test"]
root = "c"
listing = false
index = "missing.html"
header = ["X-Site: c"]
cache-control = "max-age=60"
error-pages = { 404 = "missing.html" }
"#;

fn body_for(server: &TestServer, host: &str, path: &str) -> (u16, String) {
    let r = server.request(&format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    (r.status, r.text())
}

#[test]
fn sites_by_name_and_a_default() {
    let tree = tree();
    let server = start(&tree, SITES, &[]);
    assert_eq!(body_for(&server, "a.test", "/"), (200, "site a\n".into()));
    assert_eq!(body_for(&server, "WWW.A.Test.", "/").1, "site a\n");
    assert_eq!(
        body_for(&server, "c.test:8080", "/docs/guide.txt").1,
        "c guide\n"
    );
    assert_eq!(body_for(&server, "x.b.test", "/").1, "site b\n");
    // Unknown hosts, and a bare domain a wildcard does not cover, go to
    // the default site.
    assert_eq!(body_for(&server, "unknown.test", "/").1, "site a\n");
    assert_eq!(body_for(&server, "b.test", "/").1, "site a\n");
    assert_eq!(body_for(&server, "127.0.0.1", "/").1, "site a\n");
    // The absolute form's authority names the site, not the Host field.
    let r = server.request("GET http://c.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(r.text(), "<p>c has no such page</p>\n");
    // HTTP/1.0 without Host: the default site.
    let r = server.request("GET / HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "site a\n".into()));
    let started = server.stdout.lock().unwrap()[0].clone();
    assert!(
        started.contains("5 sites (a.test, *.b.test, *.deep.b.test, exact.deep.b.test, site-c)"),
        "{started}"
    );
}

#[test]
fn exact_names_before_wildcards_and_the_longest_wildcard_first() {
    let tree = tree();
    let server = start(&tree, SITES, &[]);
    assert_eq!(
        body_for(&server, "exact.deep.b.test", "/").1,
        "site exact\n"
    );
    assert_eq!(body_for(&server, "other.deep.b.test", "/").1, "site deep\n");
    assert_eq!(
        body_for(&server, "a.b.other.deep.b.test", "/").1,
        "site deep\n"
    );
    assert_eq!(body_for(&server, "deep.b.test", "/").1, "site b\n");
    assert_eq!(body_for(&server, "x.y.b.test", "/").1, "site b\n");
}

#[test]
fn no_default_site_gives_421() {
    let tree = tree();
    let config = SITES.replace("default = true\n", "");
    let server = start(&tree, &config, &[]);
    assert_eq!(body_for(&server, "a.test", "/").0, 200);
    let r = server.request("GET / HTTP/1.1\r\nHost: nobody.test\r\n\r\n");
    assert_eq!(r.status, 421);
    assert!(r.text().contains("Misdirected"));
    let r = server.request("GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 421);
    // The connection goes on after a 421.
    let mut c = server.connect();
    c.send(b"HEAD / HTTP/1.1\r\nHost: nobody.test\r\n\r\n");
    assert_eq!(c.head_response().status, 421);
    c.send(b"GET / HTTP/1.1\r\nHost: www.a.test\r\n\r\n");
    assert_eq!(c.response().text(), "site a\n");
}

#[test]
fn each_site_option_overrides_the_top_level() {
    let tree = tree();
    let server = start(&tree, SITES, &[]);
    // Site a inherits the top level: listing on, the header, no
    // Cache-Control.
    let r = server.request("GET /docs/ HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("guide.txt"), "a listing");
    assert_eq!(r.header("X-Everywhere"), Some("yes"));
    let r = server.request("GET /docs/guide.txt HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(r.header("Cache-Control"), None);
    assert_eq!(r.header("X-Site"), None);
    // Site c sets its own: no listing, its header list (which replaces the
    // top level's), Cache-Control, index file and error page.
    let r = server.request("GET /docs/ HTTP/1.1\r\nHost: c.test\r\n\r\n");
    assert_eq!(r.status, 403, "no listing in site c");
    let r = server.request("GET /docs/guide.txt HTTP/1.1\r\nHost: c.test\r\n\r\n");
    assert_eq!(r.header("Cache-Control"), Some("max-age=60"));
    assert_eq!(r.header("X-Site"), Some("c"));
    assert_eq!(r.header("X-Everywhere"), None);
    assert_eq!(
        body_for(&server, "c.test", "/").1,
        "<p>c has no such page</p>\n"
    );
    let r = server.request("GET /nothing HTTP/1.1\r\nHost: c.test\r\n\r\n");
    assert_eq!(
        (r.status, r.text()),
        (404, "<p>c has no such page</p>\n".into())
    );
    let r = server.request("GET /nothing HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("404 Not Found"),
        "the built-in page in site a"
    );
}

#[test]
fn rewrites_and_redirects_per_site() {
    let tree = tree();
    let config = r#"
quiet = true

[[redirects]]
from = "/old"
to = "/"

[[sites]]
hosts = ["a.test"]
root = "a"

[[sites]]
hosts = ["b.test"]
root = "b"

[[sites.rewrites]]
from = "/app/*"
to = "/index.html"

[[sites.redirects]]
from = "/old/*"
to = "/new/$1"
status = 301
"#;
    let server = start(&tree, config, &[]);
    // Site a inherits the top level's redirect; site b has routes of its
    // own, which replace the top level's.
    let r = server.request("GET /old HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!((r.status, r.header("Location")), (308, Some("/")));
    assert_eq!(body_for(&server, "b.test", "/old").0, 404);
    let r = server.request("GET /old/x HTTP/1.1\r\nHost: b.test\r\n\r\n");
    assert_eq!((r.status, r.header("Location")), (301, Some("/new/x")));
    assert_eq!(body_for(&server, "a.test", "/old/x").0, 404);
    assert_eq!(body_for(&server, "b.test", "/app/x/y").1, "site b\n");
    assert_eq!(body_for(&server, "a.test", "/app/x/y").0, 404);
}

#[test]
fn the_access_log_names_the_site() {
    let tree = tree();
    let config = SITES.replace("quiet = true\n", "");
    let server = start(&tree, &config, &["--log-format", "json"]);
    body_for(&server, "c.test", "/docs/guide.txt");
    let line = server
        .wait_stdout(|l| l.contains("/docs/guide.txt"))
        .expect("a log line");
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["host"], "site-c");
    drop(server);
    let server = start(&tree, &config, &["--log-format", "combined"]);
    body_for(&server, "x.b.test", "/index.html");
    let line = server
        .wait_stdout(|l| l.contains("/index.html"))
        .expect("a log line");
    assert!(line.starts_with("*.b.test 127.0.0.1"), "{line}");
}

#[test]
fn sni_chooses_among_the_sites_certificates_and_a_mismatched_host_gets_421() {
    let tree = tree();
    let ca = Ca::new();
    let a = ca.leaf(&["a.test", "c.test"]);
    let b = ca.leaf(&["*.b.test"]);
    let (a_cert, a_key) = a.write(tree.path(), "a");
    let (b_cert, b_key) = b.write(tree.path(), "b");
    let config = format!(
        r#"
quiet = true

[[sites]]
hosts = ["a.test"]
root = "a"
default = true
tls-cert = ["{}"]
tls-key = ["{}"]

[[sites]]
hosts = ["*.b.test"]
root = "b"
tls-cert = ["{}"]
tls-key = ["{}"]

[[sites]]
hosts = ["c.test"]
root = "c"
"#,
        a_cert.display(),
        a_key.display(),
        b_cert.display(),
        b_key.display()
    );
    let server = start(&tree, &config, &[]);
    assert!(server.stdout.lock().unwrap()[0].contains("https://"));
    let cert_for =
        |name: &str| tls::peer_cert(&tls::connect(server.addr, name, tls::trusting_config()));
    assert_eq!(cert_for("a.test"), a.der);
    assert_eq!(cert_for("x.b.test"), b.der);
    assert_eq!(cert_for("unknown.test"), a.der, "the default site's");

    let get = |sni: &str, host: &str| {
        let mut c = tls::connect(server.addr, sni, ca.client_config(&[b"http/1.1"]));
        c.send(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        let r = c.response();
        (r.status, r.text())
    };
    assert_eq!(get("x.b.test", "x.b.test"), (200, "site b\n".into()));
    assert_eq!(get("x.b.test", "y.b.test").1, "site b\n", "the same site");
    // Host names a site other than the one the connection was made for.
    assert_eq!(get("x.b.test", "a.test").0, 421);
    assert_eq!(get("a.test", "x.b.test").0, 421);
    // c.test has a site of its own: a connection for a.test is not its.
    assert_eq!(get("a.test", "c.test").0, 421);
    assert_eq!(get("c.test", "c.test"), (200, "site c\n".into()));
    // A host no site names goes to the default site, whose connection
    // it is.
    assert_eq!(get("a.test", "other.test"), (200, "site a\n".into()));
}

#[test]
fn sites_over_http2() {
    let tree = tree();
    let server = start(&tree, SITES, &[]);
    let Some(curl) = curl_with_http2() else {
        eprintln!("SKIPPED: curl with HTTP/2 is not installed");
        return;
    };
    for (host, want) in [
        ("c.test", "site c has"),
        ("x.b.test", "site b"),
        ("zz", "site a"),
    ] {
        let out = std::process::Command::new(&curl)
            .args(["-s", "--http2-prior-knowledge", "-H"])
            .arg(format!("Host: {host}"))
            .arg(format!("http://{}/", server.addr))
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&out.stdout).replace("<p>c has no such page</p>", "site c has");
        assert!(text.starts_with(want), "{host}: {text}");
    }
}

fn curl_with_http2() -> Option<String> {
    let out = std::process::Command::new("curl").arg("-V").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .contains("HTTP2")
        .then(|| "curl".to_string())
}

#[test]
fn print_config_shows_the_sites() {
    let tree = tree();
    let path = tree.path().join("henaserver.toml");
    std::fs::write(&path, SITES).unwrap();
    let (status, out, _) = run_bin(
        &["--config", &path.display().to_string(), "--print-config"],
        &[],
    );
    assert_eq!(status, Some(0));
    assert!(
        out.contains("[[sites]]\nhosts = [\"a.test\", \"www.a.test\"]\ndefault = true\nroot = "),
        "{out}"
    );
    assert!(
        out.contains("name = \"site-c\"\nhosts = [\"c.test\"]"),
        "{out}"
    );
    assert!(out.contains("cache-control = \"max-age=60\""), "{out}");
    // What it prints reads back to the same sites.
    let again = tree.path().join("again.toml");
    std::fs::write(&again, &out).unwrap();
    let (status, out2, err) = run_bin(
        &["--config", &again.display().to_string(), "--print-config"],
        &[],
    );
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(out, out2);
}

#[test]
fn wrong_sites_are_one_line_and_exit_2() {
    let tree = tree();
    let path = tree.path().join("henaserver.toml");
    let cases = [
        (
            "[[sites]]\nroot = \"a\"\n",
            "henaserver.toml:1",
            "give hosts",
        ),
        (
            "[[sites]]\nhosts = [\"a b\"]\n",
            "henaserver.toml:2",
            "not a host name",
        ),
        (
            "[[sites]]\nhosts = [\"a.test\"]\nport = 80\n",
            "henaserver.toml:3",
            "not a site option",
        ),
        (
            "[[sites]]\nhosts = [\"a.test\"]\n[[sites]]\nhosts = [\"A.test\"]\n",
            "henaserver.toml:3",
            "already a host",
        ),
        (
            "[[sites]]\ndefault = true\n[[sites]]\ndefault = true\n",
            "henaserver.toml:3",
            "only one site is the default",
        ),
        (
            "[[sites]]\nhosts = [\"a.test\"]\nroot = \"nowhere\"\n",
            "[[sites]]",
            "nowhere",
        ),
        (
            "[[sites]]\nhosts = [\"a.test\"]\nlisting = 3\n",
            "henaserver.toml:3",
            "listing",
        ),
    ];
    for (config, place, what) in cases {
        std::fs::write(&path, config).unwrap();
        let (status, _, err) = run_bin(&["--config", &path.display().to_string()], &[]);
        assert_eq!(status, Some(2), "{config}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(place) && err.contains(what), "{config}: {err}");
    }
}

#[test]
fn a_reload_adds_a_site() {
    let tree = tree();
    let server = start(&tree, SITES, &[]);
    assert_eq!(body_for(&server, "new.test", "/").1, "site a\n");
    let path = tree.path().join("henaserver.toml");
    let more = format!("{SITES}\n[[sites]]\nhosts = [\"new.test\"]\nroot = \"c\"\n");
    std::fs::write(&path, more).unwrap();
    server.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while body_for(&server, "new.test", "/").1 != "site c\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the new site never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(body_for(&server, "x.b.test", "/").1, "site b\n");
}

#[test]
fn auth_and_cors_per_site() {
    let tree = tree();
    let hash = password_hash("site b only");
    let config = format!(
        r#"
quiet = true
cors = ["https://app.example"]

[[sites]]
hosts = ["a.test"]
root = "a"

[[sites]]
hosts = ["b.test"]
root = "b"
cors = []
auth = {{ ann = "{hash}" }}
"#
    );
    let server = start(&tree, &config, &[]);
    let ask = |host: &str, extra: &str| {
        server.request(&format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nOrigin: https://app.example\r\n{extra}\r\n"
        ))
    };
    let r = ask("a.test", "");
    assert_eq!(r.status, 200, "no authentication in site a");
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    let r = ask("b.test", "");
    assert_eq!(r.status, 401);
    assert!(r.header("WWW-Authenticate").is_some());
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode("ann:site b only");
    let r = ask("b.test", &format!("Authorization: Basic {token}\r\n"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        None,
        "site b allows no origin"
    );
}

#[test]
fn credentials_one_site_verified_are_not_taken_by_another() {
    let tree = tree();
    let ann = password_hash("ann's password");
    let bob = password_hash("bob's password");
    let config = format!(
        r#"
quiet = true

[[sites]]
hosts = ["a.test"]
root = "a"
auth = {{ ann = "{ann}" }}

[[sites]]
hosts = ["b.test"]
root = "b"
auth = {{ bob = "{bob}" }}
"#
    );
    let server = start(&tree, &config, &[]);
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode("ann:ann's password");
    let ask = |host: &str| {
        server
            .request(&format!(
                "GET / HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {token}\r\n\r\n"
            ))
            .status
    };
    assert_eq!(ask("a.test"), 200, "ann is a user of site a");
    // Verified for site a a moment ago; site b has no such user.
    assert_eq!(ask("b.test"), 401);
}

#[test]
fn a_mismatched_host_over_http2_and_tls_gets_421() {
    let tree = tree();
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["a.test", "*.b.test"]).write(tree.path(), "both");
    let config = format!(
        "quiet = true\ntls-cert = [\"{}\"]\ntls-key = [\"{}\"]\n\n[[sites]]\nhosts = [\"a.test\"]\nroot = \"a\"\n\n[[sites]]\nhosts = [\"*.b.test\"]\nroot = \"b\"\n",
        cert.display(),
        key.display()
    );
    let server = start(&tree, &config, &[]);
    let Some(curl) = curl_with_http2() else {
        eprintln!("SKIPPED: curl with HTTP/2 is not installed");
        return;
    };
    let port = server.addr.port();
    let ask = |host: &str| {
        let out = std::process::Command::new(&curl)
            .args([
                "-sk",
                "--http2",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
            ])
            .args(["--resolve", &format!("x.b.test:{port}:127.0.0.1"), "-H"])
            .arg(format!("Host: {host}"))
            .arg(format!("https://x.b.test:{port}/"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(ask("x.b.test"), "2 200");
    assert_eq!(ask("a.test"), "2 421");
}
