//! SIGUSR2: the binary is started again with the listening sockets, and
//! the old process hands over without a failed request.
#![cfg(unix)]

mod common;
use common::*;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ends a process this test started (by its pid) when dropped.
struct Kill(Option<u32>);

impl Drop for Kill {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| !s.contains("State:\tZ"))
}

#[test]
fn sigusr2_hands_over_to_the_new_binary_without_a_failed_request() {
    // One worker runs on the main thread, beside the upgrade; two on
    // threads of their own.
    for threads in ["1", "2"] {
        hands_over(threads);
    }
}

fn hands_over(threads: &str) {
    let tree = Tree::new();
    tree.file("www/index.html", "hello\n");
    let pid_file = tree.path().join("henaserver.pid");
    let mut server = TestServer::start(
        &tree.path().join("www"),
        &[
            "--quiet",
            "--threads",
            threads,
            "--pid-file",
            &pid_file.display().to_string(),
        ],
    );
    let old = server.child.id();
    let addr = server.addr;

    // Requests on new connections, one after another, all along.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let client = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let answered = std::panic::catch_unwind(|| {
                    let mut c = Client::connect(addr);
                    c.send(b"GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                    c.response().status
                });
                match answered {
                    Ok(200) => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    server.signal("USR2");
    assert_eq!(
        server.wait_exit(PATIENCE),
        Some(0),
        "the old process drains and exits"
    );
    let new: u32 = std::fs::read_to_string(&pid_file)
        .expect("the new process's pid file")
        .trim()
        .parse()
        .unwrap();
    let _kill = Kill(Some(new));
    assert_ne!(new, old);
    assert!(alive(new));
    let served_before = ok.load(Ordering::SeqCst);
    let until = Instant::now() + PATIENCE;
    while ok.load(Ordering::SeqCst) < served_before + 20 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "a request failed during the upgrade"
    );
    assert!(
        ok.load(Ordering::SeqCst) >= served_before + 20,
        "the new binary serves"
    );
}

#[test]
fn a_new_binary_that_cannot_start_leaves_the_old_one_serving() {
    let tree = Tree::new();
    tree.file("www/index.html", "hello\n");
    let server = TestServer::start(&tree.path().join("www"), &["--quiet"]);
    // The new binary would find no root.
    std::fs::rename(tree.path().join("www"), tree.path().join("moved")).unwrap();
    server.signal("USR2");
    let said = server.wait_stderr(|l| l.contains("upgrade failed") && l.contains("exited"));
    assert!(said.is_some(), "{:?}", server.stderr.lock().unwrap());
    let r = server.get("/index.html");
    assert_eq!(r.status, 200, "the old process still serves");
}

#[test]
fn sigusr2_hands_the_quic_socket_over_too() {
    let tree = Tree::new();
    tree.file("www/index.html", "hello\n");
    let ca = common::tls::Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let pid_file = tree.path().join("henaserver.pid");
    let mut server = TestServer::start(
        &tree.path().join("www"),
        &[
            "--quiet",
            "--http3",
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
            "--pid-file",
            &pid_file.display().to_string(),
        ],
    );
    let old = server.child.id();
    let quic = server.addr;
    let get = |ca: &common::tls::Ca| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (endpoint, client) = common::h3::connect(quic, &ca.client_config(&[])).await;
            let r = common::h3::send(&client, "GET", "/index.html", &[]).await;
            drop(client);
            endpoint.close(0u32.into(), b"");
            endpoint.wait_idle().await;
            r.status
        })
    };
    assert_eq!(get(&ca), 200);
    server.signal("USR2");
    assert_eq!(
        server.wait_exit(PATIENCE),
        Some(0),
        "the old process drains and exits"
    );
    let new: u32 = std::fs::read_to_string(&pid_file)
        .expect("the new process's pid file")
        .trim()
        .parse()
        .unwrap();
    let _kill = Kill(Some(new));
    assert_ne!(new, old);
    // The new process serves HTTP/3 on the same UDP socket.
    assert_eq!(get(&ca), 200);
}
