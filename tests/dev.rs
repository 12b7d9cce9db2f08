//! Development mode: `--live` (the watcher, the event stream over HTTP/1.1
//! and HTTP/2, the script in HTML only, with its own lengths and
//! validators), `--inspect` (the exchanges of another client, redacted,
//! live and as JSON), and `--explain` (the trace of each outcome).

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn site() -> Tree {
    let tree = Tree::new();
    tree.file(
        "index.html",
        "<html><head><link rel=\"stylesheet\" href=\"/css/site.css\"></head><body><h1>hello</h1></body></html>\n",
    )
    .file("css/site.css", "h1 { color: red }\n")
    .file("notes.txt", "plain text, never injected\n")
    .file("fragment.html", "<p>no body element</p>")
    .file(".secret", "hidden\n");
    tree
}

/// An event stream read on a thread of its own, kept whole.
struct Stream {
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Stream {
    /// Opens `path` on `addr` and keeps what arrives.
    fn open(addr: SocketAddr, path: &str) -> Stream {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = tcp.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                keep.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let stream = Stream { seen };
        stream.wait_for("retry: 1000");
        stream
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits until `needle` has arrived; returns everything so far.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in {text:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

#[test]
fn live_reload_events_for_each_kind_of_change() {
    let tree = site();
    let server = TestServer::start(tree.path(), &["--quiet", "--live"]);
    let events = Stream::open(server.addr, "/.henaserver/live");
    let head = events.text();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");

    // A stylesheet: a css event naming it.
    std::fs::write(tree.path().join("css/site.css"), "h1 { color: blue }\n").unwrap();
    events.wait_for("event: css\n");
    let text = events.wait_for("data: /css/site.css");
    assert!(!text.contains("event: reload"), "{text}");
    // A page written, renamed, deleted; a file in a new directory.
    std::fs::write(tree.path().join("index.html"), "<body>two</body>").unwrap();
    events.wait_for("data: /index.html");
    std::fs::rename(tree.path().join("notes.txt"), tree.path().join("moved.txt")).unwrap();
    events.wait_for("data: /moved.txt");
    std::fs::remove_file(tree.path().join("fragment.html")).unwrap();
    events.wait_for("data: /fragment.html");
    std::fs::create_dir(tree.path().join("new")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(tree.path().join("new/page.html"), "new").unwrap();
    events.wait_for("data: /new/page.html");
    assert!(events.count("event: reload") >= 4);

    // A burst of edits is one event.
    std::thread::sleep(Duration::from_millis(500));
    let before = events.count("event: ");
    for i in 0..30 {
        std::fs::write(
            tree.path().join("css/site.css"),
            format!("h1 {{ margin: {i}px }}"),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let deadline = Instant::now() + PATIENCE;
    while events.count("event: ") == before {
        assert!(Instant::now() < deadline, "no event for the burst");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(events.count("event: ") - before, 1, "{}", events.text());

    // Hidden files are never served, so their changes say nothing.
    let before = events.count("event: ");
    std::fs::write(tree.path().join(".index.html.swp"), "x").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(events.count("event: "), before);
    // Nor does serving a page: reading is no change.
    assert_eq!(server.get("/index.html").status, 200);
    assert_eq!(server.get("/css/site.css").status, 200);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(events.count("event: "), before, "{}", events.text());
}

#[test]
fn the_script_goes_into_html_only_with_its_own_length_and_validator() {
    let tree = site();
    let plain = TestServer::start(tree.path(), &["--quiet"]);
    let live = TestServer::start(tree.path(), &["--quiet", "--live"]);
    let original = plain.get("/index.html");
    let page = live.get("/index.html");
    assert_eq!(page.status, 200);
    let text = page.text();
    let at = text.find("<script>").expect("the script");
    assert!(text[at..].contains("/.henaserver/live"));
    assert!(
        text.ends_with("</script>\n</body></html>\n"),
        "before </body>: {text}"
    );
    assert_eq!(
        page.header("Content-Length").unwrap(),
        page.body.len().to_string()
    );
    let etag = page.header("ETag").unwrap().to_string();
    assert_ne!(
        Some(etag.as_str()),
        original.header("ETag"),
        "a representation of its own"
    );
    assert!(!original.text().contains("<script>"));
    // Its validator works, and ranges are of the page with the script.
    let r = live.request(&format!(
        "GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"
    ));
    assert_eq!(r.status, 304);
    let tail = live.request("GET /index.html HTTP/1.1\r\nHost: x\r\nRange: bytes=-15\r\n\r\n");
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, page.body[page.body.len() - 15..].to_vec());
    assert_eq!(
        tail.header("Content-Range").unwrap(),
        format!(
            "bytes {}-{}/{}",
            page.body.len() - 15,
            page.body.len() - 1,
            page.body.len()
        )
    );
    // Not compressed, even when asked.
    let r = live.request("GET /index.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.body, page.body);
    // Without </body>: at the end. Not into other types.
    assert!(live
        .get("/fragment.html")
        .text()
        .starts_with("<p>no body element</p><script>"));
    let txt = live.get("/notes.txt");
    assert_eq!(txt.text(), "plain text, never injected\n");
    assert_eq!(live.get("/css/site.css").text(), "h1 { color: red }\n");
    // The 404 page reloads too, once the file exists.
    let missing = live.get("/later.html");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("/.henaserver/live"));
}

#[test]
fn reserved_paths_are_not_found_without_the_flags() {
    let tree = site();
    let server = TestServer::start(tree.path(), &["--quiet"]);
    for path in [
        "/.henaserver/live",
        "/.henaserver/inspect",
        "/.henaserver/inspect/events",
        "/.henaserver/inspect/exchanges",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.header("Henaserver-Explain"), None);
    }
}

#[test]
fn the_event_stream_over_http2_and_its_end_on_shutdown() {
    let tree = site();
    let mut server = TestServer::start(tree.path(), &["--quiet", "--live"]);
    let curl = std::process::Command::new("curl")
        .args(["-sN", "--http2-prior-knowledge", "--max-time", "60"])
        .arg(format!("http://{}/.henaserver/live", server.addr))
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut curl) = curl else {
        eprintln!("SKIPPED: the HTTP/2 event stream needs curl");
        return;
    };
    let mut out = curl.stdout.take().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 1024];
        while let Ok(n) = out.read(&mut chunk) {
            if n == 0 {
                break;
            }
            keep.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    let wait = |needle: &str| {
        let deadline = Instant::now() + PATIENCE;
        while !String::from_utf8_lossy(&seen.lock().unwrap()).contains(needle) {
            assert!(Instant::now() < deadline, "no {needle}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("retry: 1000");
    std::fs::write(tree.path().join("css/site.css"), "h1 { color: green }\n").unwrap();
    wait("data: /css/site.css");
    // Shutdown ends the stream cleanly: curl sees its end and succeeds.
    server.signal("TERM");
    assert_eq!(server.wait_exit(PATIENCE), Some(0));
    let status = curl.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "curl: {status}");
}

#[test]
fn the_inspector_shows_another_clients_exchanges_redacted() {
    let tree = site();
    let server = TestServer::start(tree.path(), &["--quiet", "--inspect"]);
    let page = server.get("/.henaserver/inspect");
    assert_eq!(page.status, 200);
    assert!(page
        .header("Content-Type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page
        .text()
        .contains("EventSource(\"/.henaserver/inspect/events\")"));
    assert!(
        !page.text().contains("http://") && !page.text().contains("https://"),
        "no network"
    );

    let events = Stream::open(server.addr, "/.henaserver/inspect/events");
    let r = server.request(
        "GET /notes.txt?x=1 HTTP/1.1\r\nHost: x\r\nCookie: session=hunter2\r\nAuthorization: Basic c2VjcmV0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let text = events.wait_for("\"target\":\"/notes.txt?x=1\"");
    assert!(
        !text.contains("hunter2") && !text.contains("c2VjcmV0"),
        "{text}"
    );
    let list = server.get("/.henaserver/inspect/exchanges");
    let json: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    let all = json.as_array().unwrap();
    let record = all
        .iter()
        .find(|x| x["target"] == "/notes.txt?x=1")
        .expect("the exchange");
    assert_eq!(record["status"], 200);
    assert_eq!(record["method"], "GET");
    assert_eq!(record["protocol"], "HTTP/1.1");
    assert_eq!(record["bytes"], 27);
    let request = record["request"].as_str().unwrap();
    assert!(
        request.starts_with("GET /notes.txt?x=1 HTTP/1.1\r\nHost: x\r\n"),
        "{request}"
    );
    assert!(!request.contains("hunter2"), "{request}");
    let response = record["response"].as_str().unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Henaserver-Explain: "), "{response}");
    // The inspector's own requests are not listed.
    assert!(all
        .iter()
        .all(|x| !x["target"].as_str().unwrap().starts_with("/.henaserver/")));
    // The page's address gives the list too, to a client asking for JSON.
    let r = server.request(
        "GET /.henaserver/inspect HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n",
    );
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let again: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(again
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["target"] == "/notes.txt?x=1"));
}

#[test]
fn the_inspector_shows_secrets_with_dump_secrets() {
    let tree = site();
    let server = TestServer::start(tree.path(), &["--quiet", "--inspect", "--dump-secrets"]);
    server.request("GET / HTTP/1.1\r\nHost: x\r\nCookie: session=hunter2\r\n\r\n");
    let list = server.get("/.henaserver/inspect/exchanges");
    assert!(list.text().contains("hunter2"));
}

fn explain(server: &TestServer, request: &str) -> String {
    let r = server.request(request);
    r.header("Henaserver-Explain")
        .unwrap_or_else(|| panic!("no trace for {request:?}"))
        .to_string()
}

fn get_explained(server: &TestServer, path: &str) -> String {
    explain(server, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

#[test]
fn explain_traces_each_outcome_with_relative_paths() {
    let tree = site();
    tree.file("docs/guide.txt", "guide")
        .file("empty/.keep", "")
        .file("big.txt", "x".repeat(4096))
        .file("pre.txt", "precompressed")
        .file("pre.txt.br", "br bytes")
        .file("about.html", "<p>about</p>")
        .file("404.html", "<p>custom</p>");
    symlink("/etc", tree.path().join("escape")).unwrap();
    let fifo = tree.path().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    let config = tree.path().join("rules.toml");
    std::fs::write(
        &config,
        "[[rules]]\nglob = \"/docs/**\"\ncache-control = \"max-age=60\"\n",
    )
    .unwrap();
    let root = tree.path().display().to_string();
    let server = TestServer::start(
        tree.path(),
        &[
            "--quiet",
            "--explain",
            "--clean-urls",
            "--error-page",
            "404=404.html",
            "--config",
            &config.display().to_string(),
        ],
    );
    let cases = [
        ("/", "path /; index index.html"),
        ("/nothing", "404: no such file"),
        ("/.secret", "404: a dot file or directory, never served"),
        ("/escape/passwd", "404: a symbolic link leaves the root"),
        (
            "/empty/",
            "403: a directory without index.html and listing off",
        ),
        ("/docs", "301: a directory, asked for without its slash"),
        ("/about", "clean URL: about.html"),
        ("/docs/guide.txt", "rule /docs/**"),
        ("/about.html", "301: --clean-urls: /about"),
        ("/nothing", "error page 404.html"),
        (
            "/notes.txt",
            "representation: identity (no Accept-Encoding)",
        ),
    ];
    for (path, want) in cases {
        let trace = get_explained(&server, path);
        assert!(trace.contains(want), "{path}: {trace}");
        assert!(
            !trace.contains(&root),
            "{path}: an absolute path in {trace}"
        );
    }
    if made.is_ok_and(|s| s.success()) {
        let trace = get_explained(&server, "/pipe");
        assert!(trace.contains("404: a special file"), "{trace}");
    } else {
        eprintln!("SKIPPED: the special-file trace needs mkfifo");
    }
    let ask = |extra: &str, path: &str| {
        explain(
            &server,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n"),
        )
    };
    assert!(ask("Accept-Encoding: br\r\n", "/pre.txt")
        .contains("representation: precompressed pre.txt.br"));
    assert!(ask("Accept-Encoding: gzip\r\n", "/big.txt")
        .contains("representation: gzip compressed on the fly"));
    assert!(ask("Range: bytes=0-9\r\n", "/big.txt").contains("206: bytes 0-9"));
    assert!(ask("Range: bytes=9000-\r\n", "/big.txt").contains("416: no range"));
    let etag = server.get("/big.txt").header("ETag").unwrap().to_string();
    assert!(ask(&format!("If-None-Match: {etag}\r\n"), "/big.txt")
        .contains("304: the client's copy is current"));
    assert!(ask("If-Match: \"other\"\r\n", "/big.txt").contains("412"));
    let bad = explain(
        &server,
        "GET /a/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(bad.starts_with("400") || bad.contains("404"), "{bad}");
}

#[test]
fn explain_is_absent_without_the_flag_and_in_json_logs_with_it() {
    let tree = site();
    let server = TestServer::start(tree.path(), &["--quiet"]);
    assert_eq!(server.get("/").header("Henaserver-Explain"), None);
    let server = TestServer::start(tree.path(), &["--explain", "--log-format", "json"]);
    server.get("/notes.txt");
    let line = server
        .wait_stdout(|l| l.contains("/notes.txt"))
        .expect("a log line");
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(
        json["explain"].as_str().unwrap().contains("file notes.txt"),
        "{line}"
    );
}

/// An address of this machine other than loopback, if it has one.
fn outside_address() -> Option<std::net::IpAddr> {
    // Routing towards a documentation address picks the interface, and
    // sends nothing.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.255:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn the_inspector_answers_this_machine_only_unless_public() {
    let Some(ip) = outside_address() else {
        eprintln!(
            "SKIPPED: the_inspector_answers_this_machine_only needs an address other than loopback"
        );
        return;
    };
    let tree = site();
    let bind = ip.to_string();
    for (public, want) in [(false, 403), (true, 200)] {
        let mut args = vec!["--quiet", "--inspect", "--bind", &bind];
        if public {
            args.push("--inspect-public");
        }
        let server = TestServer::start(tree.path(), &args);
        let r = server.get("/.henaserver/inspect/exchanges");
        assert_eq!(r.status, want, "public: {public}");
        // The site itself answers everyone.
        assert_eq!(server.get("/notes.txt").status, 200);
    }
}

#[cfg(unix)]
#[test]
fn open_runs_the_browser_opener_and_warns_when_it_fails() {
    let tree = site();
    let bin_dir = tree.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let opened = tree.path().join("opened.txt");
    let opener = bin_dir.join("xdg-open");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", opened.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let server =
        TestServer::start_with_env(tree.path(), &["--quiet", "--open"], &[("PATH", &path)]);
    let deadline = Instant::now() + PATIENCE;
    while !opened.exists() || std::fs::read_to_string(&opened).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the opener never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = std::fs::read_to_string(&opened).unwrap();
    assert_eq!(url.trim(), format!("http://{}/", server.addr));
    drop(server);

    std::fs::write(&opener, "#!/bin/sh\nexit 3\n").unwrap();
    let server =
        TestServer::start_with_env(tree.path(), &["--quiet", "--open"], &[("PATH", &path)]);
    let warning = server
        .wait_stderr(|l| l.contains("--open"))
        .expect("a warning");
    assert!(warning.contains("WARN"), "{warning}");
    assert_eq!(server.get("/notes.txt").status, 200, "serving goes on");
}

#[test]
fn the_inspector_lists_http2_exchanges_too() {
    let tree = site();
    let server = TestServer::start(tree.path(), &["--quiet", "--inspect"]);
    let out = std::process::Command::new("curl")
        .args(["-s", "--http2-prior-knowledge", "-o", "/dev/null"])
        .arg(format!("http://{}/notes.txt", server.addr))
        .status();
    if !out.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: the_inspector_lists_http2_exchanges_too needs curl with HTTP/2");
        return;
    }
    let list = server.get("/.henaserver/inspect/exchanges");
    let json: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    let record = json
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["protocol"] == "HTTP/2.0")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(record["target"], "/notes.txt");
    let request = record["request"].as_str().unwrap();
    assert!(
        request.starts_with(":method: GET\r\n"),
        "pseudo-header fields first: {request}"
    );
    assert!(record["response"]
        .as_str()
        .unwrap()
        .contains("henaserver-explain: "));
}
