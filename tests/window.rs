//! A window into HTTP: --dump, --reply, --echo and `henaserver raw`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The dump files, sorted by name, with their contents.
fn dumped(dir: &Path, expect: usize) -> Vec<(String, Vec<u8>)> {
    let start = Instant::now();
    loop {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        (name, std::fs::read(e.path()).unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        if files.len() >= expect || start.elapsed() > PATIENCE {
            return files;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn name_ok(name: &str) -> bool {
    let parts: Vec<&str> = name.split(['-', '.']).collect();
    parts.len() == 5
        && parts[0].len() == 6
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && parts[1].starts_with('c')
        && parts[2].starts_with('r')
        && (parts[3] == "request" || parts[3] == "response")
        && parts[4] == "http"
}

#[test]
fn dump_writes_exact_bytes_in_order() {
    let root = Tree::new();
    root.file("a.txt", "alpha").file("b.txt", "bravo");
    let out = Tree::new();
    let dir = out.path().join("dumps");
    let s = TestServer::start(root.path(), &["--quiet", "--dump", dir.to_str().unwrap()]);
    // One connection with three pipelined requests, one with a body.
    let r1 = "GET /a.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n";
    let r2 = "POST /b.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\nx=1&y=2";
    let r3 = "GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut c = s.connect();
    c.send(format!("{r1}{r2}{r3}").as_bytes());
    let mut heads = Vec::new();
    for _ in 0..3 {
        heads.push(c.response());
    }
    // A malformed request on a second connection.
    let bad = "GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n";
    let mut c2 = s.connect();
    c2.send(bad.as_bytes());
    let bad_response = c2.response();
    assert_eq!(bad_response.status, 400);

    let files = dumped(&dir, 8);
    assert_eq!(
        files.len(),
        8,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, _) in &files {
        assert!(name_ok(name), "{name}");
    }
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert!(names[0].ends_with("-r1.request.http") && names[1].ends_with("-r1.response.http"));
    assert!(names[2].ends_with("-r2.request.http") && names[4].ends_with("-r3.request.http"));
    let conn_of = |n: &str| n.split('-').nth(1).unwrap().to_string();
    assert_eq!(conn_of(names[0]), conn_of(names[4]));
    assert_ne!(conn_of(names[0]), conn_of(names[6]));
    assert_eq!(files[0].1, r1.as_bytes());
    assert_eq!(files[2].1, r2.as_bytes());
    assert_eq!(files[4].1, r3.as_bytes());
    assert_eq!(files[6].1, bad.as_bytes());
    // Response files: the exact head as sent, then the body's size.
    let resp = String::from_utf8(files[1].1.clone()).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    let head_end = resp.find("\r\n\r\n").unwrap() + 4;
    for (name, value) in &heads[0].headers {
        assert!(
            resp[..head_end].contains(&format!("{name}: {value}\r\n")),
            "{name}"
        );
    }
    assert!(resp[head_end..].contains("5 bytes"), "{resp}");
    let resp = String::from_utf8(files[3].1.clone()).unwrap();
    assert!(resp.starts_with("HTTP/1.1 405 "), "{resp}");
    let resp = String::from_utf8(files[7].1.clone()).unwrap();
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
}

#[test]
fn dump_redacts_secrets_unless_asked() {
    let root = Tree::new();
    root.file("a.txt", "alpha");
    let out = Tree::new();
    let request = "GET /a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dXNlcjpwYXNz\r\nCookie: session=s3cr3t\r\nProxy-Authorization: Basic cHJveHk=\r\nX-Cookie: visible\r\n\r\n";
    for (secrets, dir) in [(false, "plain"), (true, "secrets")] {
        let dir = out.path().join(dir);
        let mut args = vec!["--quiet", "--dump", dir.to_str().unwrap()];
        if secrets {
            args.push("--dump-secrets");
        }
        let s = TestServer::start(root.path(), &args);
        assert_eq!(s.request(request).status, 200);
        let files = dumped(&dir, 2);
        let text = String::from_utf8(files[0].1.clone()).unwrap();
        if secrets {
            assert_eq!(text, request);
        } else {
            assert!(
                !text.contains("dXNlcjpwYXNz")
                    && !text.contains("s3cr3t")
                    && !text.contains("cHJveHk=")
            );
            assert!(text.contains("Authorization: <redacted>\r\n"));
            assert!(text.contains("Cookie: <redacted>\r\n"));
            assert!(text.contains("Proxy-Authorization: <redacted>\r\n"));
            assert!(text.contains("X-Cookie: visible\r\n"));
        }
    }
}

#[test]
fn dump_stops_at_its_cap_and_serving_goes_on() {
    let root = Tree::new();
    root.file("a.txt", "alpha");
    let out = Tree::new();
    let dir = out.path().join("d");
    let s = TestServer::start(
        root.path(),
        &[
            "--quiet",
            "--dump",
            dir.to_str().unwrap(),
            "--dump-max",
            "4",
        ],
    );
    for _ in 0..6 {
        assert_eq!(s.get("/a.txt").body, b"alpha");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dumped(&dir, 4).len(), 4);
    let warned = s
        .stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("dump limit"))
        .count();
    assert_eq!(warned, 1);
}

#[test]
fn an_unwritable_dump_never_fails_requests() {
    let root = Tree::new();
    root.file("a.txt", "alpha");
    let out = Tree::new();
    let dir = out.path().join("gone");
    let s = TestServer::start(root.path(), &["--quiet", "--dump", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "now a file").unwrap();
    for _ in 0..3 {
        assert_eq!(s.get("/a.txt").body, b"alpha");
    }
    // A directory that cannot be created: refuse to start, one clear line.
    let blocker = out.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let bad = blocker.join("sub");
    let o = Command::new(bin())
        .args(["--port", "0", "--dump", bad.to_str().unwrap()])
        .arg(root.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("dump"), "{err}");
}

fn reply_server(content: &[u8]) -> (Tree, TestServer) {
    let t = Tree::new();
    t.file("reply.http", content);
    let s = TestServer::start(
        Path::new(""),
        &[
            "--quiet",
            "--reply",
            t.path().join("reply.http").to_str().unwrap(),
        ],
    );
    (t, s)
}

#[test]
fn reply_serves_the_file_with_crlf_and_a_right_length() {
    for file in [
        &b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-From: file\r\nContent-Length: 18\r\n\r\n<h1>Replayed</h1>\n"[..],
        b"HTTP/1.1 200 OK\nContent-Type: text/html\nX-From: file\nContent-Length: 18\n\n<h1>Replayed</h1>\n",
        b"HTTP/1.1 200 OK\nContent-Type: text/html\nX-From: file\nContent-Length: 3\n\n<h1>Replayed</h1>\n",
        b"HTTP/1.1 200 OK\nContent-Type: text/html\nX-From: file\n\n<h1>Replayed</h1>\n",
    ] {
        let (_t, s) = reply_server(file);
        let mut c = s.connect();
        for path in ["/", "/anything?x=1"] {
            c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
            let r = c.response();
            assert_eq!(r.status, 200);
            assert_eq!(r.header("X-From"), Some("file"));
            assert_eq!(r.header("Connection"), Some("keep-alive"));
            // The body in the file wins over a wrong or missing length.
            assert_eq!(r.body, b"<h1>Replayed</h1>\n");
            assert_eq!(r.header("Content-Length"), Some("18"));
        }
        c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let h = c.head_response();
        assert_eq!(h.header("Connection"), Some("close"));
        assert!(c.closed());
    }
}

#[test]
fn reply_checks_its_file() {
    let t = Tree::new();
    t.file("bad.http", "this is not a response");
    let o = Command::new(bin())
        .args([
            "--port",
            "0",
            "--reply",
            t.path().join("bad.http").to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--reply"), "{err}");
    t.file("ok.http", "HTTP/1.1 204 No Content\r\n\r\n");
    let o = Command::new(bin())
        .args([
            "--port",
            "0",
            "--reply",
            t.path().join("ok.http").to_str().unwrap(),
        ])
        .arg(t.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "ROOT with --reply is refused");
}

#[test]
fn echo_answers_with_the_request() {
    let s = TestServer::start(Path::new(""), &["--quiet", "--echo"]);
    let form = "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 27\r\n\r\nname=Hena+Server&lang=ja%21";
    let r = s.request(form);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.text(), form);
    let chunked =
        "PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(s.request(chunked).text(), chunked);
    let get = "GET /?q=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    assert_eq!(s.request(get).text(), get);
}

fn raw(args: &[&str], stdin: Option<&[u8]>) -> (Option<i32>, Vec<u8>, String) {
    use std::io::Write;
    let mut child = Command::new(bin())
        .arg("raw")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn raw_sends_bytes_and_prints_the_answer() {
    let root = Tree::new();
    root.file("a.txt", "alpha");
    let s = TestServer::start(root.path(), &["--quiet"]);
    let addr = s.addr.to_string();
    // A request typed in an editor: LF line endings.
    root.file("req.txt", "GET /a.txt HTTP/1.1\nHost: x\n\n");
    let req = root.path().join("req.txt");
    let (code, out, err) = raw(&[&addr, req.to_str().unwrap()], None);
    assert_eq!(code, Some(0), "{err}");
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nalpha"), "{text}");
    // From standard input, to a file; an interim 100 is kept.
    let saved = root.path().join("answer.http");
    let body_req = b"PUT /a.txt HTTP/1.1\nHost: x\nContent-Length: 2\n\nhi";
    let (code, out, _) = raw(
        &[&format!("http://{addr}/"), "--out", saved.to_str().unwrap()],
        Some(body_req),
    );
    assert_eq!(code, Some(0));
    assert!(out.is_empty());
    let saved_text = std::fs::read_to_string(&saved).unwrap();
    assert!(saved_text.starts_with("HTTP/1.1 405 "), "{saved_text}");
    // --binary sends lone LFs as they are: the server still understands.
    let (code, out, _) = raw(
        &[&addr, "--binary"],
        Some(b"GET /a.txt HTTP/1.1\nHost: x\n\n"),
    );
    assert_eq!(code, Some(0));
    assert!(out.ends_with(b"alpha"));
    // A server that never answers: the timeout ends it, one line, non-zero.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let (code, _, err) = raw(
        &[&silent_addr, "--timeout", "300ms"],
        Some(b"GET / HTTP/1.1\n\n"),
    );
    assert_ne!(code, Some(0));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("timeout"), "{err}");
    drop(silent);
}

#[test]
fn the_whole_exercise_dump_raw_reply() {
    // 1. Capture a request with --dump.
    let site = Tree::new();
    site.file("index.html", "<h1>Welcome to HenaServer!</h1>\n");
    let work = Tree::new();
    let dir = work.path().join("dumps");
    let origin = TestServer::start(site.path(), &["--quiet", "--dump", dir.to_str().unwrap()]);
    let browser =
        "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html\r\n\r\n";
    assert_eq!(origin.request(browser).status, 200);
    let files = dumped(&dir, 2);
    let captured = work.path().join("captured.http");
    std::fs::write(&captured, &files[0].1).unwrap();
    // 2. Send it with raw to a server and save the answer.
    let answer = work.path().join("answer.http");
    let (code, _, err) = raw(
        &[
            &origin.addr.to_string(),
            captured.to_str().unwrap(),
            "--out",
            answer.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    // 3. Serve the answer back with --reply.
    let replayer = TestServer::start(
        Path::new(""),
        &["--quiet", "--reply", answer.to_str().unwrap()],
    );
    let r = replayer.get("/whatever");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<h1>Welcome to HenaServer!</h1>\n");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
}

#[test]
fn reply_follows_changes_to_its_file() {
    let (t, s) = reply_server(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst");
    assert_eq!(s.get("/").text(), "first");
    std::thread::sleep(Duration::from_millis(20));
    t.file(
        "reply.http",
        "HTTP/1.1 201 Created\nContent-Type: text/plain\n\nsecond, longer",
    );
    let r = s.get("/");
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), "second, longer");
    // A broken edit keeps the last good response.
    t.file("reply.http", "not a response at all");
    let r = s.get("/");
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), "second, longer");
}
