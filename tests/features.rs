//! The everyday features: listings, fallback, error pages, clean URLs,
//! headers, CORS, Basic authentication, several listeners.

mod common;

use std::process::{Command, Stdio};

use common::*;

fn site() -> Tree {
    let t = Tree::new();
    t.file("index.html", "<h1>home</h1>")
        .file("docs/<script>.html", "x")
        .file("docs/a&b.txt", "ab")
        .file("docs/.secret", "hidden")
        .file("docs/sub/inner.txt", "inner")
        .file("about.html", "<h1>about</h1>")
        .file("blog/index.html", "blog")
        .file("app.html", "<div id=app></div>")
        .file("404.html", "<h1>custom missing</h1>")
        .file("assets/app.js", "js");
    let outside = t.path().join("..").join(format!(
        "{}-outside.txt",
        t.path().file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&outside, "OUTSIDE").unwrap();
    symlink(&outside, t.path().join("docs/escape.txt")).unwrap();
    t
}

#[test]
fn listing_is_off_by_default() {
    let t = site();
    let s = TestServer::start(t.path(), &["--quiet"]);
    assert_eq!(s.get("/docs/").status, 403);
}

#[test]
fn html_listing_escapes_and_hides() {
    let t = site();
    let s = TestServer::start(t.path(), &["--quiet", "--listing"]);
    let r = s.request("GET /docs/ HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let page = r.text();
    assert!(!page.contains("<script>.html"), "unescaped name");
    assert!(page.contains("&lt;script&gt;.html"));
    assert!(page.contains("a&amp;b.txt"));
    assert!(!page.contains(".secret"));
    assert!(
        !page.contains("escape.txt"),
        "a link out of the root is listed"
    );
    assert!(page.contains("href=\"../\""));
    assert!(page.contains("name=\"viewport\""));
    let sub = page.find("sub/").unwrap();
    let file = page.find("a&amp;b.txt").unwrap();
    assert!(sub < file, "directories come first");
    // The root has no parent link.
    let t2 = Tree::new();
    t2.file("x.txt", "x");
    let s2 = TestServer::start(t2.path(), &["--quiet", "--listing"]);
    assert!(!s2.get("/").text().contains("href=\"../\""));
}

#[test]
fn json_listing_parses_back() {
    let t = site();
    let s = TestServer::start(t.path(), &["--quiet", "--listing"]);
    let r = s.request("GET /docs/ HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let entries = v.as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["sub", "<script>.html", "a&b.txt"]);
    assert_eq!(entries[0]["type"], "directory");
    assert_eq!(entries[2]["type"], "file");
    assert_eq!(entries[2]["size"], 2);
    assert!(httpdate::parse_http_date(entries[2]["modified"].as_str().unwrap()).is_ok());
}

#[test]
fn fallback_serves_the_app_for_html_requests() {
    let t = site();
    let s = TestServer::start(t.path(), &["--quiet", "--fallback", "app.html"]);
    let r = s.request(
        "GET /some/client/route HTTP/1.1\r\nHost: x\r\nAccept: text/html,*/*;q=0.8\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<div id=app></div>");
    // A missing script is still a 404.
    let r = s.request("GET /assets/missing.js HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    assert_eq!(r.status, 404);
    // Existing files are served as they are.
    assert_eq!(s.get("/assets/app.js").text(), "js");
}

#[test]
fn custom_error_pages_keep_their_status() {
    let t = site();
    let s = TestServer::start(t.path(), &["--quiet", "--error-page", "404=404.html"]);
    let r = s.get("/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "<h1>custom missing</h1>");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    // Other statuses keep the built-in page.
    assert!(s
        .request("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n")
        .text()
        .contains("405"));
}

#[test]
fn clean_urls() {
    let t = site();
    let s = TestServer::start(t.path(), &["--quiet", "--clean-urls"]);
    assert_eq!(s.get("/about").text(), "<h1>about</h1>");
    let r = s.get("/about.html?x=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/about?x=1"));
    let r = s.get("/blog/index.html");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/blog/"));
    assert_eq!(s.get("/blog/").text(), "blog");
    assert_eq!(s.get("/nothing").status, 404);
    // Without the flag, nothing changes.
    let plain = TestServer::start(t.path(), &["--quiet"]);
    assert_eq!(plain.get("/about").status, 404);
    assert_eq!(plain.get("/about.html").status, 200);
}

#[test]
fn extra_headers_on_every_response() {
    let t = site();
    let s = TestServer::start(
        t.path(),
        &[
            "--quiet",
            "--header",
            "X-Frame-Options: DENY",
            "--header",
            "Referrer-Policy: no-referrer",
        ],
    );
    for path in ["/", "/nope"] {
        let r = s.get(path);
        assert_eq!(r.header("X-Frame-Options"), Some("DENY"), "{path}");
        assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"), "{path}");
    }
    let (code, _, err) = run(&["--header", "Bad Name: x", "."]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--header"), "{err}");
}

#[test]
fn cors() {
    let t = site();
    let any = TestServer::start(t.path(), &["--quiet", "--cors"]);
    let r = any.request("GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    let r = any.get("/");
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    let pre = any.request(
        "OPTIONS /about.html HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range, if-none-match\r\n\r\n",
    );
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        pre.header("Access-Control-Allow-Methods"),
        Some("GET, HEAD, OPTIONS")
    );
    assert_eq!(
        pre.header("Access-Control-Allow-Headers"),
        Some("range, if-none-match")
    );
    assert!(pre.header("Access-Control-Max-Age").is_some());

    let one = TestServer::start(t.path(), &["--quiet", "--cors", "https://good.example"]);
    let r = one.request("GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://good.example\r\n\r\n");
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://good.example")
    );
    assert!(r.header("Vary").unwrap_or("").contains("Origin"));
    let r = one.request("GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n");
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    run_bin(args, &[])
}

fn hash(password: &str) -> String {
    password_hash(password)
}

#[test]
fn basic_authentication() {
    use base64::Engine;
    let t = site();
    let h = hash("correct horse");
    assert!(h.starts_with("$argon2"), "{h}");
    assert!(!h.contains("correct horse"));
    let dumps = Tree::new();
    let dir = dumps.path().join("d");
    let s = TestServer::start(
        t.path(),
        &[
            "--auth",
            &format!("ann:{h}"),
            "--dump",
            dir.to_str().unwrap(),
        ],
    );
    let r = s.get("/");
    assert_eq!(r.status, 401);
    assert!(r
        .header("WWW-Authenticate")
        .unwrap()
        .starts_with("Basic realm="));
    let creds =
        |u: &str, p: &str| base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
    let with = |c: String| {
        s.request(&format!(
            "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {c}\r\n\r\n"
        ))
    };
    assert_eq!(with(creds("ann", "wrong")).status, 401);
    assert_eq!(with(creds("bob", "correct horse")).status, 401);
    let ok = with(creds("ann", "correct horse"));
    assert_eq!(ok.status, 200);
    assert_eq!(ok.text(), "<h1>home</h1>");
    assert_eq!(with(creds("ann", "correct horse")).status, 200);
    // The password appears in no log line and no dump.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let secret = creds("ann", "correct horse");
    for line in s
        .stdout
        .lock()
        .unwrap()
        .iter()
        .chain(s.stderr.lock().unwrap().iter())
    {
        assert!(
            !line.contains(&secret) && !line.contains("correct horse"),
            "{line}"
        );
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(&secret), "{text}");
    }
    // A hash that is not one is a clear error.
    let (code, _, err) = run(&["--auth", "ann:plaintext", "."]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--auth"), "{err}");
}

#[test]
fn several_listeners_and_ipv6() {
    let t = site();
    let v6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let mut args = vec!["--quiet", "--bind", "127.0.0.1"];
    if v6 {
        args.extend_from_slice(&["--bind", "::1"]);
    }
    let s = TestServer::start(t.path(), &args);
    let first = s.stdout.lock().unwrap()[0].clone();
    assert!(first.contains(&format!("http://{}/", s.addr)), "{first}");
    if v6 {
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://[::1]"))
            .unwrap_or_else(|| panic!("no IPv6 URL in {first}"));
        let addr: std::net::SocketAddr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");
        assert_eq!(c.response().text(), "<h1>home</h1>");
    }
}

#[test]
fn systemd_socket_activation() {
    socket_activation(false);
    // As systemd's DeferAccept= hands it over: connections come to the
    // server with their first bytes.
    if cfg!(target_os = "linux") {
        socket_activation(true);
    }
}

fn socket_activation(deferred: bool) {
    // A socket bound by a "service manager" (here python3) and handed over
    // as file descriptor 3 with LISTEN_FDS and LISTEN_PID.
    let has_python = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_python {
        eprintln!("SKIPPED: systemd_socket_activation needs python3");
        return;
    }
    let t = site();
    let script = r#"
import os, socket, subprocess, sys
s = socket.socket()
if sys.argv[3] == "deferred":
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 3)
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1")
p = subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', sys.argv[1], sys.argv[2], "--quiet"],
                     pass_fds=[3], env=env, stdout=subprocess.DEVNULL)
sys.stdin.read()
print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) if sys.platform == "linux" else 0, flush=True)
p.terminate()
p.wait()
"#;
    let mut helper = Command::new("python3")
        .args([
            "-c",
            script,
            bin().to_str().unwrap(),
            t.path().to_str().unwrap(),
            if deferred { "deferred" } else { "bound" },
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(helper.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    // Waiting for the server, then two requests on one connection and
    // one on a connection of its own.
    let mut c = Client::connect(addr);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().text(), "<h1>home</h1>", "deferred: {deferred}");
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().text(), "<h1>home</h1>", "deferred: {deferred}");
    let mut once = Client::connect(addr);
    once.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(once.response().text(), "<h1>home</h1>");
    assert!(once.closed(), "deferred: {deferred}");
    // The socket keeps what the service manager gave it: henaserver's
    // own --defer-accept is for sockets it binds.
    drop(helper.stdin.take());
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let kept = if deferred { "3" } else { "0" };
    if cfg!(target_os = "linux") {
        assert_eq!(line.trim(), kept, "deferred: {deferred}");
    }
    let _ = helper.wait();
}
