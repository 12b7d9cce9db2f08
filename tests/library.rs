//! henaserver as a library: bind, serve until a future completes, stop.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::*;

#[test]
fn a_rust_program_can_embed_the_server() {
    let tree = Tree::new();
    tree.file("hello.txt", "hello from a library");
    let mut config = henaserver::Config::new(tree.path(), 0).unwrap();
    config.access_log = false;
    config.threads = 1;
    let server = henaserver::Server::bind(config).unwrap();
    let addr = server.local_addrs()[0];
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = std::thread::spawn(move || {
        server.run(async {
            let _ = stop_rx.await;
        })
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("hello from a library"));
    stop_tx.send(()).unwrap();
    running.join().unwrap().unwrap();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after stop"
    );
}

/// `serve_on` spawned on `runtime` with a listener on an ephemeral port:
/// its address, the sender that stops it, and its task.
fn serve_on(
    runtime: &tokio::runtime::Runtime,
    config: henaserver::Config,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), henaserver::Error>>,
) {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(henaserver::Server::serve_on(
        config,
        vec![listener],
        async {
            let _ = stop_rx.await;
        },
    ));
    (addr, stop_tx, serving)
}

/// Serves inside a multi-threaded runtime of the caller's, on a listener
/// the caller bound, and stops when the caller's future completes: an idle
/// keep-alive connection is closed, and `serve_on` returns.
#[test]
fn the_server_runs_inside_the_callers_runtime() {
    let tree = Tree::new();
    tree.file("hello.txt", "hello from the caller's runtime");
    let mut config = henaserver::Config::new(tree.path(), 0).unwrap();
    config.access_log = false;
    // Only the stop can close the idle connection within PATIENCE.
    config.limits.keepalive_timeout = std::time::Duration::from_secs(3600);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, stop_tx, serving) = serve_on(&runtime, config);
    // Two requests on one connection, which then waits idle.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut client = Client::over(idle.try_clone().unwrap());
    for _ in 0..2 {
        client.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = client.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "hello from the caller's runtime");
    }
    stop_tx.send(()).unwrap();
    // The idle connection is closed at once, not after the keep-alive
    // timeout.
    let mut rest = Vec::new();
    let read = idle.read_to_end(&mut rest);
    assert!(read.is_ok(), "{read:?}");
    let result = runtime.block_on(async { tokio::time::timeout(PATIENCE, serving).await });
    assert!(
        matches!(result, Ok(Ok(Ok(())))),
        "serve_on ended with {result:?}"
    );
    // Nothing listens any more.
    assert!(TcpStream::connect(addr).is_err());
}

/// The access log of a server inside the caller's runtime is written as
/// requests are answered, on a runtime of one thread and of several.
#[test]
fn the_access_log_is_written_while_serving_inside_the_callers_runtime() {
    for threads in [0, 2] {
        let tree = Tree::new();
        tree.file("www/hello.txt", "logged");
        let log = tree.path().join("access.log");
        let mut config = henaserver::Config::new(tree.path().join("www"), 0).unwrap();
        config.access_log = true;
        config.access_log_file = Some(log.clone());
        let runtime = match threads {
            0 => tokio::runtime::Builder::new_current_thread(),
            n => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(n);
                b
            }
        }
        .enable_all()
        .build()
        .unwrap();
        let (addr, stop_tx, serving) = serve_on(&runtime, config);
        // A current-thread runtime runs its tasks while it is driven.
        let driving = std::thread::spawn(move || {
            runtime.block_on(async {
                let _ = tokio::time::timeout(PATIENCE * 2, serving).await;
            })
        });
        for n in 0..3 {
            let mut c = Client::connect(addr);
            c.send(format!("GET /hello.txt?{n} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
            assert_eq!(c.response().status, 200);
        }
        let start = std::time::Instant::now();
        let mut text = String::new();
        while start.elapsed() < PATIENCE && text.lines().count() < 3 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            text = std::fs::read_to_string(&log).unwrap_or_default();
        }
        assert_eq!(
            text.lines()
                .filter(|l| l.contains("GET /hello.txt?"))
                .count(),
            3,
            "runtime of {threads} threads (0: current-thread), while serving: {text:?}"
        );
        stop_tx.send(()).unwrap();
        driving.join().unwrap();
    }
}

/// Two servers in one process, each with its admin listener: each one's
/// metrics count its own requests only, and each keeps its own caches.
#[test]
fn two_servers_in_one_process_count_apart() {
    let tree = Tree::new();
    tree.file("a/hello.txt", "from a");
    tree.file("b/hello.txt", "from b");
    let start = |dir: &str| {
        let mut config = henaserver::Config::new(tree.path().join(dir), 0).unwrap();
        config.access_log = false;
        config.threads = 1;
        config.admin = Some("127.0.0.1:0".parse().unwrap());
        let server = henaserver::Server::bind(config).unwrap();
        let addr = server.local_addrs()[0];
        let admin = server.admin_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = std::thread::spawn(move || {
            server.run(async {
                let _ = stopped.await;
            })
        });
        (addr, admin, stop, running)
    };
    let (a, a_admin, a_stop, a_running) = start("a");
    let (b, b_admin, b_stop, b_running) = start("b");
    let get = |addr, path: &str| {
        let mut c = Client::connect(addr);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        c.response()
    };
    for _ in 0..3 {
        assert_eq!(get(a, "/hello.txt").text(), "from a");
    }
    assert_eq!(get(b, "/hello.txt").text(), "from b");
    let served = |admin| {
        let text = get(admin, "/metrics").text();
        text.lines()
            .find(|l| {
                l.starts_with(
                    "henaserver_requests_total{protocol=\"http/1.1\",method=\"GET\",status=\"2xx\"}",
                )
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let lookups = |admin| {
        let text = get(admin, "/metrics").text();
        ["hits", "misses"]
            .iter()
            .map(|kind| {
                let name = format!("henaserver_file_cache_{kind}_total ");
                text.lines()
                    .find(|l| l.starts_with(&name))
                    .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum::<u64>()
    };
    assert_eq!(served(a_admin), 3);
    assert_eq!(served(b_admin), 1);
    assert_eq!(
        lookups(a_admin),
        3,
        "a's open-file cache, looked up 3 times"
    );
    assert_eq!(lookups(b_admin), 1, "b's, once");
    a_stop.send(()).unwrap();
    b_stop.send(()).unwrap();
    a_running.join().unwrap().unwrap();
    b_running.join().unwrap().unwrap();
}
