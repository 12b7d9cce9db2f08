//! Access log formats, a log file, and reopening it on SIGHUP.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn site() -> Tree {
    let t = Tree::new();
    t.file("a.txt", "alpha")
        .file("style.css", ".a { color: red; }\n".repeat(100));
    t
}

fn wait_lines(path: &std::path::Path, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n || start.elapsed() > PATIENCE {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn common_and_combined() {
    let t = site();
    let s = TestServer::start(t.path(), &["--log-format", "common"]);
    s.request("GET /a.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: tester/1\r\n\r\n");
    let line = s.wait_stdout(|l| l.contains("/a.txt")).unwrap();
    assert!(line.contains("\"GET /a.txt HTTP/1.1\" 200 5 "), "{line}");
    assert!(!line.contains("tester/1"), "{line}");
    assert!(line.ends_with("ms"));

    let s = TestServer::start(t.path(), &[]);
    s.request("GET /a.txt HTTP/1.1\r\nHost: x\r\nReferer: http://ref.example/\r\nUser-Agent: tester/1\r\n\r\n");
    let line = s.wait_stdout(|l| l.contains("/a.txt")).unwrap();
    assert!(
        line.contains("\"GET /a.txt HTTP/1.1\" 200 5 \"http://ref.example/\" \"tester/1\" "),
        "{line}"
    );
    s.request("GET /a.txt?2 HTTP/1.1\r\nHost: x\r\n\r\n");
    let line = s.wait_stdout(|l| l.contains("/a.txt?2")).unwrap();
    assert!(line.contains(" 200 5 \"-\" \"-\" "), "{line}");
}

#[test]
fn json_lines() {
    let t = site();
    let s = TestServer::start(t.path(), &["--log-format", "json"]);
    s.request(
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nUser-Agent: \"quoted\"\r\n\r\n",
    );
    s.request("GET /style.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    let ranged = s.wait_stdout(|l| l.contains("/a.txt")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&ranged).unwrap();
    assert_eq!(v["status"], 206);
    assert_eq!(v["bytes"], 2);
    assert_eq!(v["range"], "bytes=0-1");
    assert_eq!(v["request"], "GET /a.txt HTTP/1.1");
    assert_eq!(v["user_agent"], "\"quoted\"");
    assert!(v["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(v["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(v["time"].as_str().unwrap().ends_with("+0000"));
    let coded = s.wait_stdout(|l| l.contains("/style.css")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&coded).unwrap();
    assert_eq!(v["encoding"], "gzip");
}

#[test]
fn a_log_file_is_reopened_on_sighup() {
    let t = site();
    let logs = Tree::new();
    let path = logs.path().join("access.log");
    let s = TestServer::start(t.path(), &["--access-log", path.to_str().unwrap()]);
    s.get("/a.txt");
    assert_eq!(wait_lines(&path, 1).len(), 1);
    // Rotate: move the file away, then signal.
    let rotated = logs.path().join("access.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    s.signal("HUP");
    std::thread::sleep(Duration::from_millis(200));
    s.get("/a.txt?after");
    let fresh = wait_lines(&path, 1);
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert!(fresh[0].contains("/a.txt?after"));
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(!old.contains("after"));
    // Only the start line went to stdout.
    assert_eq!(s.stdout.lock().unwrap().len(), 1);
}

#[test]
fn an_unopenable_log_file_stops_the_start() {
    let t = site();
    let o = std::process::Command::new(bin())
        .args([
            "--port",
            "0",
            "--access-log",
            "/nonexistent-dir/x/access.log",
        ])
        .arg(t.path())
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("access log"), "{err}");
}

#[test]
fn the_server_exits_on_sigterm_with_its_access_log_written() {
    let tree = Tree::new();
    tree.file("index.html", "<h1>bye</h1>");
    let file = tree.path().join("access.log");
    let file_arg = file.display().to_string();
    for args in [vec![], vec!["--access-log", file_arg.as_str()]] {
        let mut server = TestServer::start(tree.path(), &args);
        assert_eq!(server.get("/index.html").status, 200);
        server.signal("TERM");
        assert_eq!(
            server.wait_exit(PATIENCE),
            Some(0),
            "{args:?}: exits, and with 0"
        );
        let line = "\"GET /index.html HTTP/1.1\" 200";
        if args.is_empty() {
            assert!(
                server.wait_stdout(|l| l.contains(line)).is_some(),
                "no log line"
            );
        } else {
            let logged = std::fs::read_to_string(&file).unwrap();
            assert!(logged.contains(line), "{logged}");
        }
    }
}

/// Voluntary context switches of every thread of process `pid`: each is a
/// wait that ended.
#[cfg(target_os = "linux")]
fn wakeups(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .map(|n| n.trim().parse::<u64>().unwrap())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// An idle server sleeps: its log lines go out after the request that
/// made them, and then nothing wakes it (a ticker of 50 ms used to, 20
/// times a second on every worker, the log on or off).
#[cfg(target_os = "linux")]
#[test]
fn an_idle_server_does_not_wake() {
    let t = site();
    for args in [&["--threads", "2"][..], &["--threads", "1"], &["--quiet"]] {
        let s = TestServer::start(t.path(), args);
        s.request("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if !args.contains(&"--quiet") {
            assert!(
                s.wait_stdout(|l| l.contains("/a.txt")).is_some(),
                "{args:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
        let before = wakeups(s.child.id());
        std::thread::sleep(Duration::from_secs(1));
        let woken = wakeups(s.child.id()) - before;
        assert!(woken < 5, "{woken} wakeups in an idle second with {args:?}");
    }
}
