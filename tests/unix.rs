//! Unix sockets: `--bind unix:PATH` served like any listener, its mode,
//! a stale socket file replaced and a live one refused, the peer logged as
//! `unix`, trusted with `--trusted-proxy unix`, and socket activation.
#![cfg(unix)]

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};

fn site() -> Tree {
    let tree = Tree::new();
    tree.file("www/index.html", "<h1>home</h1>\n")
        .file("www/big.bin", vec![7u8; 300_000]);
    tree
}

fn start(tree: &Tree, socket: &std::path::Path, extra: &[&str]) -> TestServer {
    let bind = format!("unix:{}", socket.display());
    let mut args = vec!["--bind", "127.0.0.1", "--bind", &bind];
    args.extend_from_slice(extra);
    TestServer::start(&tree.path().join("www"), &args)
}

fn over_unix(socket: &std::path::Path) -> Client<UnixStream> {
    let stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    Client::over(stream)
}

#[test]
fn served_over_a_unix_socket_with_its_mode() {
    let tree = site();
    let socket = tree.path().join("henaserver.sock");
    let server = start(&tree, &socket, &[]);
    let line = server.stdout.lock().unwrap()[0].clone();
    assert!(
        line.contains(&format!("unix:{}", socket.display())),
        "{line}"
    );
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let mut c = over_unix(&socket);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.text()), (200, "<h1>home</h1>\n".into()));
    // Keep-alive, and a file body large enough for sendfile.
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, vec![7u8; 300_000]);
    let logged = server
        .wait_stdout(|l| l.contains("/big.bin"))
        .expect("a log line");
    assert!(logged.starts_with("unix - - ["), "{logged}");
    // The TCP listener serves as well.
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn socket_mode_is_honoured() {
    let tree = site();
    let socket = tree.path().join("s.sock");
    let _server = start(&tree, &socket, &["--socket-mode", "0600"]);
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let (status, _, err) = run_bin(&["--socket-mode", "999"], &[]);
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("--socket-mode"), "{err}");
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_refused() {
    let tree = site();
    let socket = tree.path().join("s.sock");
    // A socket file nobody accepts on, as a crashed run leaves it.
    drop(UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let server = start(&tree, &socket, &[]);
    let mut c = over_unix(&socket);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().status, 200);

    // While it runs, a second server on the same path is refused.
    let bind = format!("unix:{}", socket.display());
    let www = tree.path().join("www").display().to_string();
    let (status, _, err) = run_bin(&[&www, "--bind", &bind], &[]);
    assert_eq!(status, Some(1), "{err}");
    assert!(err.contains("listening"), "{err}");
    let mut c = over_unix(&socket);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().status, 200, "the first server still serves");
    drop(server);

    // A file that is not a socket is never removed.
    let file = tree.path().join("plain");
    std::fs::write(&file, "keep me").unwrap();
    let bind = format!("unix:{}", file.display());
    let (status, _, err) = run_bin(&[&www, "--bind", &bind], &[]);
    assert_eq!(status, Some(1), "{err}");
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn forwarded_fields_from_a_unix_peer_only_when_trusted() {
    let tree = site();
    let socket = tree.path().join("s.sock");
    for (trust, want) in [
        (&[][..], "unix - - ["),
        (&["--trusted-proxy", "unix"][..], "203.0.113.9 - - ["),
    ] {
        let server = start(&tree, &socket, trust);
        let mut c = over_unix(&socket);
        c.send(b"GET /?who HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n");
        assert_eq!(c.response().status, 200);
        let logged = server
            .wait_stdout(|l| l.contains("/?who"))
            .expect("a log line");
        assert!(logged.starts_with(want), "{trust:?}: {logged}");
    }
}

#[test]
fn a_unix_socket_from_socket_activation() {
    use command_fds::{CommandFdExt, FdMapping};
    let tree = site();
    let socket = tree.path().join("activated.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let mut command = Command::new(bin());
    command
        .arg(tree.path().join("www"))
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
        .fd_mappings(vec![FdMapping {
            parent_fd: listener.into(),
            child_fd: 3,
        }])
        .unwrap();
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("unix:"), "{line}");
    let mut c = over_unix(&socket);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().text(), "<h1>home</h1>\n");
    let _ = child.kill();
    let _ = child.wait();
}
