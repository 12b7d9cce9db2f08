//! `--trusted-proxy`: the client a proxy names is believed from trusted
//! peers only.

mod common;
use common::*;

fn logged_client(server: &TestServer, path: &str, extra: &str) -> String {
    let mut c = server.connect();
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes());
    assert_eq!(c.response().status, 200);
    let line = server
        .wait_stdout(|l| l.contains(path))
        .expect("an access log line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    v["client"].as_str().unwrap().to_string()
}

#[test]
fn forwarded_clients_are_believed_from_trusted_proxies_only() {
    let tree = Tree::new();
    tree.file("index.html", "hello\n");
    let trusting = TestServer::start(
        tree.path(),
        &["--log-format", "json", "--trusted-proxy", "127.0.0.0/8"],
    );
    assert_eq!(
        logged_client(
            &trusting,
            "/index.html?a",
            "X-Forwarded-For: 203.0.113.9, 127.0.0.5\r\n"
        ),
        "203.0.113.9"
    );
    assert_eq!(
        logged_client(
            &trusting,
            "/index.html?b",
            "Forwarded: for=\"[2001:db8::7]:4711\";proto=https\r\n"
        ),
        "2001:db8::7"
    );
    let wary = TestServer::start(
        tree.path(),
        &["--log-format", "json", "--trusted-proxy", "10.0.0.0/8"],
    );
    let client = logged_client(&wary, "/index.html?c", "X-Forwarded-For: 203.0.113.9\r\n");
    assert!(client.starts_with("127.0.0.1:"), "{client}");
    let (code, _, err) = run_bin(
        &[
            &tree.path().display().to_string(),
            "--trusted-proxy",
            "nope",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
}
