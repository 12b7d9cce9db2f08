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
