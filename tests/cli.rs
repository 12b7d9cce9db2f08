//! The command: arguments, start-up line, errors, signals, the access log,
//! and a real HTTP client against the server.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    run_bin(args, &[])
}

#[test]
fn help_and_version() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    for flag in [
        "--bind",
        "--port",
        "--index",
        "--quiet",
        "--header-timeout",
        "[ROOT]",
    ] {
        assert!(out.contains(flag), "help lacks {flag}");
    }
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("henaserver "));
}

/// `--help` says which options and signals are not everywhere.
#[test]
fn help_names_what_is_unix_only() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for said in [
        "unix:PATH for a Unix socket (Unix-only)",
        "in octal (Unix-only)",
        "with no supplementary groups (Linux and FreeBSD)",
        "sendfile(2); Linux only)",
        "All of these are Unix-only: on Windows, Ctrl-C",
    ] {
        assert!(flat.contains(said), "--help does not say {said:?}");
    }
}

fn assert_one_line_error(args: &[&str], code: i32, needle: &str) {
    let (got, out, err) = run(args);
    assert_eq!(got, Some(code), "{args:?}: {err}");
    assert!(out.is_empty(), "{args:?} printed {out:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
    assert!(err.contains(needle), "{args:?}: {err:?}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"));
}

#[test]
fn bad_command_lines_get_one_line_and_status_2() {
    assert_one_line_error(&["--no-such-flag"], 2, "--no-such-flag");
    assert_one_line_error(&["--port", "http"], 2, "--port");
    assert_one_line_error(&["--port", "70000"], 2, "--port");
    assert_one_line_error(&["--header-timeout", "soon", "."], 2, "--header-timeout");
    assert_one_line_error(&["/no/such/directory/here"], 2, "does not exist");
    let file = tempfile::NamedTempFile::new().unwrap();
    assert_one_line_error(&[file.path().to_str().unwrap()], 2, "not a directory");
    assert_one_line_error(&["--bind", "not a host!", "."], 2, "--bind");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let tree = Tree::new();
    let (code, _, err) = run(&[tree.path().to_str().unwrap(), "--port", &port]);
    assert_ne!(code, Some(0));
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    assert!(err.contains("address already in use"), "{err:?}");
}

#[test]
fn the_start_line_names_the_root_and_the_real_url() {
    let tree = Tree::new();
    tree.file("a.txt", "alpha");
    let s = TestServer::start(tree.path(), &[]);
    let first = s.stdout.lock().unwrap()[0].clone();
    let root = tree.path().canonicalize().unwrap();
    assert!(first.contains(root.to_str().unwrap()), "{first}");
    assert!(first.contains(&format!("http://{}/", s.addr)), "{first}");
    assert_ne!(s.addr.port(), 0);
}

#[test]
fn sigterm_and_sigint_stop_with_status_0() {
    // One worker runs on the main thread; two on threads of their own.
    for threads in ["1", "2"] {
        for sig in ["TERM", "INT"] {
            let tree = Tree::new();
            tree.file("a.txt", "alpha");
            let mut s = TestServer::start(tree.path(), &["--quiet", "--threads", threads]);
            assert_eq!(s.get("/a.txt").status, 200);
            let idle = s.connect();
            s.signal(sig);
            assert_eq!(
                s.wait_exit(PATIENCE),
                Some(0),
                "SIG{sig}, {threads} threads"
            );
            drop(idle);
        }
    }
}

/// With one worker, the process is one thread: the worker's event loop
/// is the main thread's, which also answers signals.
#[cfg(target_os = "linux")]
#[test]
fn one_worker_makes_a_process_of_one_thread() {
    let tree = Tree::new();
    tree.file("a.txt", "alpha");
    let threads = |s: &TestServer| {
        std::fs::read_dir(format!("/proc/{}/task", s.child.id()))
            .unwrap()
            .count()
    };
    let one = TestServer::start(tree.path(), &["--quiet", "--threads", "1"]);
    assert_eq!(one.get("/a.txt").status, 200);
    assert_eq!(threads(&one), 1);
    let two = TestServer::start(tree.path(), &["--quiet", "--threads", "2"]);
    assert_eq!(two.get("/a.txt").status, 200);
    assert_eq!(
        threads(&two),
        2,
        "the main thread, which runs the first worker, and one more"
    );
}

#[test]
fn shutdown_finishes_responses_in_flight_and_closes_idle_connections() {
    for threads in ["1", "2"] {
        shutdown_finishes_in_flight(threads);
    }
}

fn shutdown_finishes_in_flight(threads: &str) {
    let tree = Tree::new();
    let big = vec![b'x'; 32 << 20];
    tree.file("big.bin", &big).file("a.txt", "alpha");
    let mut s = TestServer::start(
        tree.path(),
        &["--quiet", "--shutdown-grace", "20s", "--threads", threads],
    );

    let mut idle = s.connect();
    idle.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(idle.response().status, 200);

    let mut busy = s.connect();
    busy.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = busy.raw_head();
    assert!(head.starts_with("HTTP/1.1 200"));
    // The client reads slowly; the server is told to stop meanwhile.
    s.signal("TERM");
    assert!(idle.closed(), "idle connection not closed at once");
    // New connections are refused while the response goes on.
    let refused = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        std::net::TcpStream::connect(s.addr).is_err()
    });
    assert!(refused, "still accepting after SIGTERM");
    let started = Instant::now();
    let mut got = busy.pending().len();
    let mut chunk = vec![0u8; 1 << 16];
    while got < big.len() {
        let n = busy.stream.read(&mut chunk).unwrap();
        assert!(n > 0, "body cut at {got} bytes");
        got += n;
        if got < (1 << 20) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(got, big.len());
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
    assert!(started.elapsed() < PATIENCE);
}

#[test]
fn shutdown_does_not_wait_past_the_grace_period() {
    let tree = Tree::new();
    tree.file("big.bin", vec![b'x'; 32 << 20]);
    let mut s = TestServer::start(tree.path(), &["--quiet", "--shutdown-grace", "300ms"]);
    let mut stalled = s.connect();
    stalled.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let _ = stalled.raw_head();
    s.signal("TERM");
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
}

#[test]
fn the_access_log() {
    let tree = Tree::new();
    tree.file("a.txt", "alpha");
    let s = TestServer::start(tree.path(), &[]);
    let mut c = s.connect();
    c.send(b"GET /a.txt?q=\"x\" HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().status, 200);
    let local = c.stream.local_addr().unwrap();
    let line = s
        .wait_stdout(|l| l.contains("/a.txt"))
        .expect("no access log line");
    assert!(line.starts_with(&local.to_string()), "{line}");
    assert!(
        line.contains("\"GET /a.txt?q=\\\"x\\\" HTTP/1.1\" 200 5 "),
        "{line}"
    );
    assert!(line.ends_with("ms"), "{line}");
    let time = &line[line.find('[').unwrap() + 1..line.find(']').unwrap()];
    assert!(time.ends_with(" +0000"), "{time}");

    s.request("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    let line = s.wait_stdout(|l| l.contains("/missing")).unwrap();
    assert!(line.contains("\" 404 "), "{line}");
    let mut bad = s.connect();
    bad.send(b"get / HTTP/1.1\r\n\r\n");
    let _ = bad.read_to_close();
    let line = s.wait_stdout(|l| l.contains("\"get / HTTP/1.1\"")).unwrap();
    assert!(line.contains("\" 400 "), "{line}");
}

#[test]
fn quiet_turns_the_access_log_off() {
    let tree = Tree::new();
    tree.file("a.txt", "alpha");
    let mut s = TestServer::start(tree.path(), &["--quiet"]);
    for _ in 0..5 {
        assert_eq!(s.get("/a.txt").status, 200);
    }
    s.signal("TERM");
    assert_eq!(s.wait_exit(PATIENCE), Some(0));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.stdout.lock().unwrap().len(), 1, "only the start line");
}

#[test]
fn a_real_http_client() {
    let s = TestServer::start(&demo_root(), &["--quiet"]);
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let base = format!("http://{}", s.addr);
    let page = agent.get(&format!("{base}/")).call().unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.content_type(), "text/html");
    assert_eq!(page.charset(), "utf-8");
    assert!(page
        .into_string()
        .unwrap()
        .contains("Welcome to HenaServer!"));
    let logo = agent.get(&format!("{base}/logo.png")).call().unwrap();
    assert_eq!(logo.content_type(), "image/png");
    let mut bytes = Vec::new();
    logo.into_reader().read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, std::fs::read(demo_root().join("logo.png")).unwrap());
    match agent.get(&format!("{base}/missing.html")).call() {
        Err(ureq::Error::Status(404, r)) => {
            assert!(r.into_string().unwrap().contains("Not Found"))
        }
        other => panic!("expected 404, got {other:?}"),
    }
    // Many requests over the agent's pooled keep-alive connections.
    for _ in 0..50 {
        let r = agent.get(&format!("{base}/index.css")).call().unwrap();
        assert!(r.into_string().unwrap().contains("red"));
    }
}
